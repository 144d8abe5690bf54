"""Catalog safety: every install is kept (catalog_snapshots, newest wins), listed by `modelreg catalog
history` and restorable by `modelreg catalog rollback [ID]`; a snapshot that would remove many built-ins
is refused unless the operator says so.

- The guard: a new catalog that is empty, or removes more than REMOVAL_LIMIT of the built-ins in force, is
  refused (`--allow-removals` overrides it). One wrong file or a truncated download cannot wipe the
  catalog of every organization.
- A rollback installs a copy of an earlier snapshot as the newest one, through the same path as a sync
  (one transaction, the same guard, referenced models kept, views rewritten): history only grows.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import SNAPSHOT_PATH
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.store.rows import CatalogSnapshotRow

__all__ = [
    "REMOVAL_LIMIT",
    "HistoryEntry",
    "history",
    "refusal",
    "rollback_target",
    "safe_origin",
]

REMOVAL_LIMIT = 0.05
"""The share of built-in models a sync may remove without --allow-removals."""


class HistoryEntry(msgspec.Struct):
    id: int
    installed_at: datetime
    origin: str | None
    models: int
    added: int | None
    changed: int | None
    removed: int | None
    current: bool


def safe_origin(source: str) -> str:
    """The source as history shows it: a URL loses credentials, query and fragment (tokens live there)."""
    if not source.startswith(("http://", "https://")):
        return source
    parts = urlsplit(source)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def refusal(current: dict[str, Any], candidate: dict[str, Any]) -> tuple[str, list[str]] | None:
    """Why the candidate must not replace the current catalog without --allow-removals (and what it would
    remove), or None when it may."""
    before = {entry["model_name"] for entry in current["models"]}
    removed = sorted(before - {entry["model_name"] for entry in candidate["models"]})
    if not candidate["models"]:
        return f"the new catalog is empty: it would remove all {len(before)} built-in models", removed
    if before and len(removed) > REMOVAL_LIMIT * len(before):
        share = f"{len(removed) / len(before):.0%}"
        return (
            f"the new catalog would remove {len(removed)} of {len(before)} built-in models ({share}, more than "
            f"{REMOVAL_LIMIT:.0%})",
            removed,
        )
    return None


async def history(session: AsyncSession) -> list[HistoryEntry]:
    """Every installed catalog, newest first."""
    rows = list(
        await session.execute(
            select(
                CatalogSnapshotRow.id,
                CatalogSnapshotRow.created_at,
                CatalogSnapshotRow.origin,
                CatalogSnapshotRow.model_count,
                CatalogSnapshotRow.added,
                CatalogSnapshotRow.changed,
                CatalogSnapshotRow.removed,
            ).order_by(CatalogSnapshotRow.id.desc())
        )
    )
    return [
        HistoryEntry(
            id=row.id,
            installed_at=row.created_at,
            origin=row.origin,
            models=row.model_count,
            added=row.added,
            changed=row.changed,
            removed=row.removed,
            current=index == 0,
        )
        for index, row in enumerate(rows)
    ]


async def rollback_target(session: AsyncSession, snapshot_id: int | None) -> tuple[dict[str, Any], str]:
    """(snapshot, origin label) to restore: the given one, else the one in force before the newest (the
    catalog shipped in the package when only one was installed)."""
    if snapshot_id is None:
        ids = list(await session.scalars(select(CatalogSnapshotRow.id).order_by(CatalogSnapshotRow.id.desc()).limit(2)))
        if not ids:
            raise InvalidInput("no catalog was installed: the shipped catalog is in force, nothing to roll back")
        if len(ids) == 1:
            shipped: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_bytes())
            return shipped, "rollback to the shipped catalog"
        snapshot_id = ids[1]
    row = await session.get(CatalogSnapshotRow, snapshot_id)
    if row is None:
        raise NotFound(f"no catalog #{snapshot_id} in the history (see `modelreg catalog history`)")
    snapshot: dict[str, Any] = json.loads(gzip.decompress(row.content_gz))
    return snapshot, f"rollback to #{snapshot_id}"
