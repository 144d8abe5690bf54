"""Fetching and installing a catalog: the one path shared by `modelreg catalog sync` / `rollback` (cli.py)
and the scheduled sync of a server (catalog/scheduled.py).

- Every failure is a CatalogError with a one-line message naming the source without credentials.
- `install` runs inside the caller's write transaction: the removal guard (catalog/history.py), referenced
  built-ins kept as deprecated, views rewritten, the history row and the audit entry (sync.install_snapshot).
  Anything raised rolls the whole transaction back: a catalog is never applied partially.
- On PostgreSQL the transaction first takes an advisory lock, so concurrent installs (several replicas
  running the scheduled sync) run one after the other; the second then diffs against the first's result.
  On SQLite, write transactions are serialized by BEGIN IMMEDIATE already.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog import history, sync
from modelreg.catalog.sources import CatalogFormatError

__all__ = ["MAX_CATALOG_BYTES", "CatalogError", "Refused", "candidate_from", "fetch", "install"]

MAX_CATALOG_BYTES = 200 * 1024 * 1024
INSTALL_LOCK_KEY = 0x6D72_6361  # "mrca": the advisory lock id of catalog installs (PostgreSQL)


class CatalogError(Exception):
    """A source that cannot be read or parsed, or a catalog refused by the guard; str() is one line."""


class Refused(CatalogError):
    def __init__(self, message: str, would_remove: list[str]) -> None:
        super().__init__(message)
        self.would_remove = would_remove


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def fetch(source: str, timeout: float = 60.0) -> bytes:
    """The bytes of a file path or an http(s) URL (blocking: run it in a thread from a server)."""
    if source.startswith(("http://", "https://")):
        import httpx

        origin = history.safe_origin(source)
        try:
            with (
                httpx.Client(timeout=timeout, follow_redirects=True) as client,
                client.stream("GET", source) as response,
            ):
                response.raise_for_status()
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_CATALOG_BYTES:
                        raise CatalogError(f"{origin} is larger than {MAX_CATALOG_BYTES} bytes")
                    chunks.append(chunk)
        except httpx.HTTPStatusError as exc:
            raise CatalogError(f"cannot fetch {origin}: HTTP {exc.response.status_code}") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise CatalogError(f"cannot fetch {origin}: {_first_line(exc)}") from None
        return b"".join(chunks)
    path = Path(source)
    if not path.is_file():
        raise CatalogError(f"{source}: no such file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read {source}: {exc.strerror}") from None


def candidate_from(raw: bytes, fmt: str | None, current: dict[str, Any]) -> dict[str, Any]:
    """The source converted to a full snapshot, checked to load completely before anything is written."""
    try:
        converted = sync.convert(raw, fmt, current)
        sync.parse_catalog(converted)
    except (CatalogFormatError, ValueError, TypeError, KeyError, msgspec.ValidationError) as exc:
        raise CatalogError(f"invalid catalog: {_first_line(exc)}") from None
    return converted


async def install(
    session: AsyncSession,
    candidate_of: Callable[[dict[str, Any]], Awaitable[tuple[dict[str, Any], str]]],
    *,
    dry_run: bool = False,
    allow_removals: bool = False,
    skip_unchanged: bool = False,
) -> sync.CatalogDiff:
    """Diff the candidate (`candidate_of(current)` gives it and its origin label) against the catalog in
    force and, unless a dry run (or, with skip_unchanged, an identical catalog), install it in the caller's
    transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INSTALL_LOCK_KEY})
    current = await sync.installed_snapshot(session)
    candidate, origin = await candidate_of(current)
    refused = None if dry_run or allow_removals else history.refusal(current, candidate)
    if refused is not None:
        raise Refused(*refused)
    removed = {e["model_name"] for e in current["models"]} - {e["model_name"] for e in candidate["models"]}
    referenced = await sync.referenced_builtins(session, removed)
    final, kept = sync.keep_referenced(current, candidate, referenced)
    diff = sync.diff_snapshots(current, final, kept)
    unchanged = not (diff.added or diff.changed or diff.removed) and final.get("sources") == current.get("sources")
    if not dry_run and not (skip_unchanged and unchanged):
        await sync.install_snapshot(session, final, sync.parse_catalog(final), diff, origin)
    return diff
