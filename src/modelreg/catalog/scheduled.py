"""Scheduled catalog sync: with MODELREG_CATALOG_SYNC_URL set, a server fetches that catalog every
MODELREG_CATALOG_SYNC_SECONDS (default 86400) and installs it through the same path as
`modelreg catalog sync` (catalog/apply.py): the removal guard (never overridden here), one transaction,
history and audit entry. A failure changes nothing, is logged as one line and shows in /readyz
(`catalog_sync`) and /metrics (modelreg_catalog_sync_*).

Several replicas: each runs the schedule, but installs are serialized (apply.py) and one whose catalog
equals the one in force installs nothing (skip_unchanged), so a given source version is applied once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from modelreg.catalog import apply
from modelreg.catalog.history import safe_origin
from modelreg.services import audit

if TYPE_CHECKING:
    from modelreg.registry import Registry

__all__ = ["SyncStatus", "run_scheduled_sync", "sync_once"]

log = logging.getLogger("modelreg.catalog")


class SyncStatus:
    """What the last scheduled syncs did (per process; read by /readyz and /metrics)."""

    def __init__(self) -> None:
        self.last_success: float | None = None
        """Unix time of the last sync that succeeded (installed, or found the catalog unchanged)."""
        self.failures = 0
        self.last_error: str | None = None
        """The last failure's one-line reason, cleared by a success."""
        self.installs = 0


async def sync_once(reg: Registry, url: str) -> None:
    """Fetch, validate and install once; raises apply.CatalogError (or a database error) on failure."""
    raw = await asyncio.to_thread(apply.fetch, url)

    async def candidate(current: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return apply.candidate_from(raw, None, current), f"scheduled sync from {safe_origin(url)}"

    with audit.acting("scheduled-sync"):  # the audit entry says which path installed it
        async with reg.db.write() as session:
            diff = await apply.install(session, candidate, skip_unchanged=True)
    changed = bool(diff.added or diff.changed or diff.removed)
    if changed:
        reg.catalog_sync.installs += 1
        log.info(
            "scheduled catalog sync: %d added, %d changed, %d removed",
            len(diff.added),
            len(diff.changed),
            len(diff.removed),
        )


async def run_scheduled_sync(reg: Registry, url: str, interval: float) -> None:
    """Sync now, then every `interval` seconds; the change watcher loads what was installed."""
    status = reg.catalog_sync
    while True:
        try:
            await sync_once(reg, url)
        except Exception as error:  # noqa: BLE001 - logged as one line, retried on the next round
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            status.failures += 1
            status.last_error = reason[:300]
            log.warning("scheduled catalog sync failed, nothing changed: %s", status.last_error)
        else:
            status.last_success = time.time()
            status.last_error = None
        await asyncio.sleep(interval)
