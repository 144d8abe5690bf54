"""Settings, read once from the environment.

| variable                     | default                                   |
|------------------------------|-------------------------------------------|
| MODELREG_DATABASE_URL        | sqlite+aiosqlite:///./var/modelreg.db     |
| MODELREG_SECRET_KEY          | generated once into ./var/secret_key      |
| MODELREG_OLD_SECRET_KEYS     | comma-separated keys still accepted for decryption (rotation) |
| MODELREG_HOST / _PORT        | 127.0.0.1 / 8000                          |
| MODELREG_JWT_TTL_SECONDS     | 3600                                      |
| MODELREG_VAR_DIR             | ./var                                     |
| MODELREG_CACHE_POLL_SECONDS  | 1.0 (how often a server looks for writes by other processes) |
| MODELREG_MEMORY_INDEX_MAX_MODELS | 20000 (larger organizations are listed and filtered in SQL) |
| MODELREG_UPSTREAM_ALLOW      | empty: private/loopback upstreams the gateway may reach (CIDRs, host names) |
| MODELREG_KEY_CACHE_SECONDS   | 30: cached API keys are re-read after this long |
| MODELREG_ANONYMOUS_RATE_LIMIT | 120/60: anonymous list/summary requests per client address per 60 s |
| MODELREG_USAGE_FLUSH_SECONDS | 5: how often measured calls are written (batched); a crash loses at most this window |
| MODELREG_DB_CONNECT_TIMEOUT  | 3: seconds to open a database connection  |
| MODELREG_DB_POOL_TIMEOUT     | 5: seconds to wait for a free pooled connection |
| MODELREG_DB_STATEMENT_TIMEOUT | 5: seconds one statement may take (SQLite: the busy timeout) |
| MODELREG_LOG_FORMAT          | text; json: JSON lines with request ids, one access line per request |
| MODELREG_METRICS             | admin: GET /metrics for admin credentials; off: no /metrics |
| MODELREG_DB_WAIT_SECONDS     | 30: how long `modelreg serve` waits for the database at start (0: not at all) |
| MODELREG_THROUGHPUT_WINDOW_HOURS | 24: the rolling window of `throughput` on models |
| MODELREG_PUBLIC_STATUS       | true: anonymous status callers see built-ins' platform-wide figures |
| MODELREG_AUDIT_RETENTION_DAYS | 365: audit log entries older than this are deleted (servers prune hourly) |
| MODELREG_SESSION_TTL_SECONDS | 43200: a console session's lifetime (sign in again after it)         |
| MODELREG_SECURE_COOKIES      | false: true marks console cookies Secure (serve the console over https) |
| MODELREG_SIGNIN_RATE_LIMIT   | 10/60: console sign-in attempts per client address per 60 s          |
| MODELREG_CATALOG_SYNC_URL    | empty (off): URL or file path servers sync the catalog from |
| MODELREG_CATALOG_SYNC_SECONDS | 86400: how often (first sync at start)                               |
| MODELREG_CORS_ORIGINS        | empty (CORS off): comma-separated origins browsers may call from (`*` for any) |
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import msgspec

from modelreg.store.database import DatabaseTimeouts

__all__ = ["Settings", "database_timeouts", "load_settings"]

log = logging.getLogger("modelreg.config")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    secret_key: str
    old_secret_keys: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_ttl_seconds: int = 3600
    jwt_issuer: str = "modelreg"
    jwt_audience: str = "modelreg-api"
    var_dir: str = "./var"
    cache_poll_seconds: float = 1.0
    """How often a server checks the change counters that other processes bump (CLI, other replicas)."""
    last_used_flush_seconds: float = 30.0
    upstream_allow: str = ""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call from a browser (MODELREG_CORS_ORIGINS); empty: CORS off."""
    """CIDRs and host names the gateway may reach although private or loopback (MODELREG_UPSTREAM_ALLOW)."""
    key_cache_seconds: float = 30.0
    """Cached API keys are re-read after this long (bounds what an out-of-band database edit takes to show)."""

    def rate_limit(self) -> tuple[int, float]:
        return _limit(self.anonymous_rate_limit, "MODELREG_ANONYMOUS_RATE_LIMIT")

    def signin_limit(self) -> tuple[int, float]:
        return _limit(self.signin_rate_limit, "MODELREG_SIGNIN_RATE_LIMIT")

    anonymous_rate_limit: str = "120/60"
    """Anonymous list/summary requests allowed per client address: "<requests>/<seconds>" ("0/1" disables)."""
    memory_index_max_models: int = 20_000
    """Organizations with more custom models than this are served by SQL instead of the in-memory index."""
    usage_flush_seconds: float = 5.0
    """How often the meter writes its per-minute sums and recomputes throughput (and on shutdown)."""
    throughput_window_hours: float = 24.0
    """The rolling window `throughput` covers."""
    price_poll_seconds: float = 30.0
    """How often each process looks for scheduled prices written by other processes (its own wake it at once;
    an entry is applied at its time by the process that knows of it)."""
    audit_retention_days: int = 365
    """Audit log entries older than this are pruned (at start and hourly); model revisions are kept."""
    db_connect_timeout: float = 3.0
    db_pool_timeout: float = 5.0
    db_statement_timeout: float = 5.0
    db_wait_seconds: float = 30.0
    """`modelreg serve` retries the database this long (with backoff) before giving up."""
    log_format: str = "text"
    """"json": one JSON object per log line with the request id, and an access line per request."""
    metrics: str = "admin"
    """GET /metrics: "admin" (admin credentials) or "off"."""
    session_ttl_seconds: int = 43_200
    """A console session's absolute lifetime."""
    secure_cookies: bool = False
    """Console cookies carry `Secure` (set it when the console is served over https)."""
    signin_rate_limit: str = "10/60"
    """Console sign-in attempts per client address: "<requests>/<seconds>"."""
    catalog_sync_url: str = ""
    """Scheduled catalog sync source (empty: off)."""
    catalog_sync_seconds: float = 86400.0
    public_status: bool = True
    """Anonymous status callers see built-in models' figures summed over every organization's gateway calls
    (performance only); false answers them empty series, as for an unknown model."""


def _limit(value: str, name: str) -> tuple[int, float]:
    requests, _, seconds = value.partition("/")
    try:
        return int(requests), float(seconds or 60)
    except ValueError:
        raise ValueError(f"{name} must look like 120/60") from None


def _persisted_secret(var_dir: Path) -> str:
    """Return the secret kept under var/, creating it (mode 0600) on first use."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.warning(
        "MODELREG_SECRET_KEY is not set: generated one and stored it in %s. "
        "Set MODELREG_SECRET_KEY in production; losing it makes stored provider keys unreadable.",
        path,
    )
    return value


def _flag(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false")


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    environ = dict(os.environ if env is None else env)
    var_dir = Path(environ.get("MODELREG_VAR_DIR", "./var"))
    database_url = environ.get("MODELREG_DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'modelreg.db'}"
    secret_key = environ.get("MODELREG_SECRET_KEY") or str(overrides.pop("secret_key", "")) or ""
    if not secret_key:
        secret_key = _persisted_secret(var_dir)
    old_keys = tuple(k.strip() for k in environ.get("MODELREG_OLD_SECRET_KEYS", "").split(",") if k.strip())
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": secret_key,
        "old_secret_keys": old_keys,
        "host": environ.get("MODELREG_HOST", "127.0.0.1"),
        "port": int(environ.get("MODELREG_PORT", "8000")),
        "jwt_ttl_seconds": int(environ.get("MODELREG_JWT_TTL_SECONDS", "3600")),
        "var_dir": str(var_dir),
        "cache_poll_seconds": float(environ.get("MODELREG_CACHE_POLL_SECONDS", "1.0")),
        "upstream_allow": environ.get("MODELREG_UPSTREAM_ALLOW", ""),
        "cors_origins": tuple(o.strip() for o in environ.get("MODELREG_CORS_ORIGINS", "").split(",") if o.strip()),
        "key_cache_seconds": float(environ.get("MODELREG_KEY_CACHE_SECONDS", "30")),
        "memory_index_max_models": int(environ.get("MODELREG_MEMORY_INDEX_MAX_MODELS", "20000")),
        "anonymous_rate_limit": environ.get("MODELREG_ANONYMOUS_RATE_LIMIT", "120/60"),
        "usage_flush_seconds": float(environ.get("MODELREG_USAGE_FLUSH_SECONDS", "5")),
        "db_connect_timeout": float(environ.get("MODELREG_DB_CONNECT_TIMEOUT", "3")),
        "db_pool_timeout": float(environ.get("MODELREG_DB_POOL_TIMEOUT", "5")),
        "db_statement_timeout": float(environ.get("MODELREG_DB_STATEMENT_TIMEOUT", "5")),
        "db_wait_seconds": float(environ.get("MODELREG_DB_WAIT_SECONDS", "30")),
        "throughput_window_hours": float(environ.get("MODELREG_THROUGHPUT_WINDOW_HOURS", "24")),
        "log_format": environ.get("MODELREG_LOG_FORMAT", "text").strip().lower(),
        "metrics": environ.get("MODELREG_METRICS", "admin").strip().lower(),
        "public_status": _flag(environ.get("MODELREG_PUBLIC_STATUS", "true"), "MODELREG_PUBLIC_STATUS"),
        "audit_retention_days": int(environ.get("MODELREG_AUDIT_RETENTION_DAYS", "365")),
        "price_poll_seconds": float(environ.get("MODELREG_PRICE_POLL_SECONDS", "30")),
        "session_ttl_seconds": int(environ.get("MODELREG_SESSION_TTL_SECONDS", "43200")),
        "secure_cookies": _flag(environ.get("MODELREG_SECURE_COOKIES", "false"), "MODELREG_SECURE_COOKIES"),
        "signin_rate_limit": environ.get("MODELREG_SIGNIN_RATE_LIMIT", "10/60"),
        "catalog_sync_url": environ.get("MODELREG_CATALOG_SYNC_URL", "").strip(),
        "catalog_sync_seconds": float(environ.get("MODELREG_CATALOG_SYNC_SECONDS", "86400")),
    }
    values.update(overrides)
    settings = msgspec.convert(values, Settings)
    settings.rate_limit()  # fail at start on a malformed limit
    if not 1 <= settings.audit_retention_days <= 36500:
        raise ValueError("MODELREG_AUDIT_RETENTION_DAYS must be between 1 and 36500")
    settings.signin_limit()
    if not settings.usage_flush_seconds > 0 or not 0 < settings.throughput_window_hours <= 24 * 90:
        raise ValueError("MODELREG_USAGE_FLUSH_SECONDS must be > 0 and MODELREG_THROUGHPUT_WINDOW_HOURS in (0, 2160]")
    if not 0 < settings.price_poll_seconds <= 3600:
        raise ValueError("MODELREG_PRICE_POLL_SECONDS must be in (0, 3600]")
    if settings.log_format not in ("text", "json"):
        raise ValueError("MODELREG_LOG_FORMAT must be text or json")
    if settings.metrics not in ("admin", "off"):
        raise ValueError("MODELREG_METRICS must be admin or off")
    if not 10 <= settings.catalog_sync_seconds <= 30 * 86400:
        raise ValueError("MODELREG_CATALOG_SYNC_SECONDS must be between 10 and 2592000")
    timeouts = (settings.db_connect_timeout, settings.db_pool_timeout, settings.db_statement_timeout)
    if not all(0 < t <= 3600 for t in timeouts) or not 0 <= settings.db_wait_seconds <= 86400:
        raise ValueError("MODELREG_DB_*_TIMEOUT must be in (0, 3600] and MODELREG_DB_WAIT_SECONDS in [0, 86400]")
    return settings


def database_timeouts(settings: Settings) -> DatabaseTimeouts:
    return DatabaseTimeouts(
        connect=settings.db_connect_timeout, pool=settings.db_pool_timeout, statement=settings.db_statement_timeout
    )
