"""Liveness and readiness, for load balancers and orchestrators.

- `GET /healthz` (liveness): the process serves HTTP. Always 200 while it runs; restart it only if this fails.
- `GET /readyz` (readiness): 200 when the database answers within READY_TIMEOUT_SECONDS, its schema is at
  this version's newest migration and the catalog is loaded; else 503 (with Retry-After) and which check
  failed. Take the instance out of rotation while it is 503; it may still answer reads from memory.
  `catalog_sync` reports the scheduled catalog sync (catalog/scheduled.py) without affecting readiness: a
  failed sync changes nothing, the catalog in force keeps serving.
Both are anonymous and say nothing secret (no URLs, no error texts, only the fault's kind).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get

from modelreg.api import unavailable
from modelreg.api.common import registry
from modelreg.api.contract import documented
from modelreg.store.faults import fault_kind
from modelreg.store.migrate import current_heads, expected_heads

__all__ = ["Health", "Readiness", "healthz", "readyz"]

READY_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    """The same flat shape for 200 and 503 (a 503 is also a valid `{"detail": ...}` error body)."""

    status: str
    """"ready" or "not ready"."""
    detail: str
    """"ready", or which checks failed."""
    database: str
    """"ok: answered in N ms" or "failed: not answering (<kind of fault>)"."""
    migrations: str
    catalog: str
    catalog_sync: str
    """"off", "pending", "ok: last success at <UTC time>" or "failed N times: <reason>; last success ..."."""


def _sync_text(reg: Any) -> str:
    if not reg.settings.catalog_sync_url:
        return "off"
    status = reg.catalog_sync
    last = (
        "never"
        if status.last_success is None
        else datetime.fromtimestamp(status.last_success, UTC).isoformat(timespec="seconds")
    )
    if status.last_error is not None:
        return f"failed {status.failures} times: {status.last_error}; last success: {last}"
    return "pending" if status.last_success is None else f"ok: last success at {last}"


@get("/healthz", opt=documented(auth="none"))
async def healthz() -> Health:
    """Liveness: the process answers (always 200 while it runs)."""
    return Health(status="ok")


@get("/readyz", opt=documented(auth="none", response=Readiness, errors=(503,)))
async def readyz(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """Readiness: the database answers, its schema is current and the catalog is loaded; else 503."""
    reg = registry(request)
    checks: dict[str, tuple[bool, str]] = {}
    started = time.perf_counter()
    try:
        async with reg.db.read(probe=True) as session, asyncio.timeout(READY_TIMEOUT_SECONDS):
            # The timeout inside the transaction: the fault is recorded like any other (store/faults.py).
            connection = await session.connection()
            heads = await connection.run_sync(current_heads)
    except Exception as error:  # noqa: BLE001 - readiness answers whatever went wrong
        kind = fault_kind(error) or type(error).__name__
        checks["database"] = (False, f"not answering ({kind})")
        checks["migrations"] = (False, "unknown: the database did not answer")
    else:
        checks["database"] = (True, f"answered in {(time.perf_counter() - started) * 1000:.0f} ms")
        wanted = expected_heads(reg.db.url)
        at_head = heads == wanted
        checks["migrations"] = (
            at_head,
            "at the newest migration" if at_head else f"at {sorted(heads)}, needs {sorted(wanted)}",
        )
    models = len(reg.index.catalog.models)
    checks["catalog"] = (models > 0, f"{models} built-in models loaded")
    failed = [name for name, (ok, _) in checks.items() if not ok]
    text = {name: f"{'ok' if ok else 'failed'}: {detail}" for name, (ok, detail) in checks.items()}
    body = Readiness(
        status="not ready" if failed else "ready",
        detail=f"not ready: {', '.join(failed)}" if failed else "ready",
        database=text["database"],
        migrations=text["migrations"],
        catalog=text["catalog"],
        catalog_sync=_sync_text(reg),
    )
    return Response(body, status_code=503 if failed else 200, headers=unavailable.retry_headers() if failed else None)
