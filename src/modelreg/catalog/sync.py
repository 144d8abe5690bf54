"""Catalog sync: validate a new catalog completely, diff it against the installed one, then install it
in one transaction (a bad input changes nothing).

- Installed catalogs live in the database (catalog_snapshots); the newest one wins over the snapshot
  shipped in the package. Every server polls the `catalog` change counter and swaps its in-memory
  catalog within the poll interval (default 1 s) plus the time to parse it (well under a second).
- A built-in model that custom models use as their base is never silently removed: the sync reports
  it and keeps it, marked deprecated (deprecation date = the sync day).
- The views of custom models that inherit from a changed or removed built-in are rewritten in the
  same transaction, so resolved prices follow the new catalog.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import SNAPSHOT_PATH, Catalog, catalog_from_snapshot
from modelreg.catalog.sources import FORMAT, CatalogFormatError, apply_genai_prices, from_litellm, from_modelreg
from modelreg.services import audit
from modelreg.store import counters
from modelreg.store.memory import org_counter
from modelreg.store.rows import CatalogSnapshotRow, CustomModelRow
from modelreg.store.views import refresh_views

__all__ = [
    "CatalogDiff",
    "convert",
    "diff_snapshots",
    "install_snapshot",
    "installed_snapshot",
    "installed_version",
    "keep_referenced",
]


class CatalogDiff(msgspec.Struct):
    added: list[str]
    changed: list[str]
    removed: list[str]
    kept_deprecated: list[str]
    """Removed from the source but kept (deprecated) because custom models inherit from them."""

    def summary(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "kept_deprecated": self.kept_deprecated,
        }


def _entries(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["model_name"]: entry for entry in snapshot["models"]}


def encode_snapshot(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()


async def installed_snapshot(session: AsyncSession) -> dict[str, Any]:
    """The catalog in force: the newest installed one, else the package's snapshot."""
    row = (
        await session.execute(select(CatalogSnapshotRow).order_by(CatalogSnapshotRow.id.desc()).limit(1))
    ).scalar_one_or_none()
    raw = gzip.decompress(row.content_gz) if row is not None else SNAPSHOT_PATH.read_bytes()
    value: dict[str, Any] = json.loads(raw)
    if value.get("format") != FORMAT:  # installed before a format change: compare like with like
        value = from_modelreg(value)
    return value


async def installed_version(session: AsyncSession) -> int:
    """Id of the newest installed catalog (catalog/history.py); 0 when none was installed."""
    newest = await session.scalar(select(CatalogSnapshotRow.id).order_by(CatalogSnapshotRow.id.desc()).limit(1))
    return int(newest or 0)


async def referenced_builtins(session: AsyncSession, names: set[str]) -> set[str]:
    """Which of `names` some organization's custom model uses as its base."""
    found: set[str] = set()
    ordered = sorted(names)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        rows = await session.scalars(
            select(CustomModelRow.base_model_name).where(CustomModelRow.base_model_name.in_(chunk)).distinct()
        )
        found.update(name for name in rows if name)
    return found


def keep_referenced(
    old: dict[str, Any], new: dict[str, Any], referenced: set[str], today: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Put back the removed models that are still referenced, as deprecated."""
    day = today or datetime.now(UTC).date().isoformat()
    new_entries = _entries(new)
    kept: list[str] = []
    models = list(new["models"])
    providers = dict(new["providers"])
    for name, entry in _entries(old).items():
        if name in new_entries or name not in referenced:
            continue
        kept_entry = dict(entry)
        if not kept_entry.get("deprecation_date") or kept_entry["deprecation_date"] > day:
            kept_entry["deprecation_date"] = day
        models.append(kept_entry)
        kept.append(name)
        pid = entry.get("provider_id")
        if pid and pid not in providers and pid in old.get("providers", {}):
            providers[pid] = old["providers"][pid]
    models.sort(key=lambda e: e["model_name"])
    return {**new, "models": models, "providers": providers}, sorted(kept)


def diff_snapshots(old: dict[str, Any], new: dict[str, Any], kept: list[str]) -> CatalogDiff:
    before, after = _entries(old), _entries(new)
    kept_set = set(kept)
    return CatalogDiff(
        added=sorted(set(after) - set(before)),
        changed=sorted(n for n in set(before) & set(after) if before[n] != after[n] and n not in kept_set),
        removed=sorted(set(before) - set(after)),
        kept_deprecated=kept,
    )


async def install_snapshot(
    session: AsyncSession, snapshot: dict[str, Any], catalog: Catalog, diff: CatalogDiff, origin: str
) -> None:
    """Store the new catalog (kept with its origin and diff: catalog/history.py), rewrite the views that
    inherit from changed, removed or kept built-ins, bump the counter, and record the sync in the audit
    log (a platform-wide entry: every organization's admins see it)."""
    previous = (
        await session.execute(select(CatalogSnapshotRow).order_by(CatalogSnapshotRow.id.desc()).limit(1))
    ).scalar_one_or_none()
    await audit.record(
        session,
        organization_id=None,
        action="sync",
        object_type="catalog",
        object_id="catalog",
        before=None if previous is None else {"sources": previous.sources, "model_count": previous.model_count},
        after={
            "sources": dict(snapshot.get("sources", {})),
            "model_count": len(snapshot["models"]),
            "origin": origin[:500],
            **diff.summary(),
        },
    )
    session.add(
        CatalogSnapshotRow(
            sources=dict(snapshot.get("sources", {})),
            model_count=len(snapshot["models"]),
            content_gz=gzip.compress(encode_snapshot(snapshot)),
            origin=origin[:500],
            added=len(diff.added),
            changed=len(diff.changed),
            removed=len(diff.removed),
        )
    )
    touched = set(diff.changed) | set(diff.removed) | set(diff.kept_deprecated)
    if touched:
        rows = await session.execute(
            select(CustomModelRow.organization_id, CustomModelRow.model_name).where(
                CustomModelRow.base_model_name.in_(sorted(touched))
            )
        )
        per_org: dict[str, list[str]] = {}
        for organization_id, name in rows.all():
            per_org.setdefault(organization_id, []).append(name)
        for organization_id, names in per_org.items():
            await refresh_views(session, catalog, organization_id, names)
            await counters.bump(session, org_counter(organization_id))
    await counters.bump(session, counters.CATALOG)


FORMATS = ("litellm", "genai-prices", "modelreg")


def detect_format(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("format"), str) and data["format"].startswith("modelreg-catalog"):
        return "modelreg"
    if isinstance(data, list) or (isinstance(data, dict) and isinstance(data.get("providers"), list)):
        return "genai-prices"
    if isinstance(data, dict):
        return "litellm"
    raise CatalogFormatError("cannot tell the catalog format; pass --format")


def convert(raw: bytes, fmt: str | None, current: dict[str, Any]) -> dict[str, Any]:
    """Source bytes -> a full snapshot in modelreg's format. genai-prices only refreshes prices and
    names of the models the current catalog already has."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogFormatError(f"not valid JSON: {exc}") from None
    chosen = fmt or detect_format(data)
    if chosen == "modelreg":
        return from_modelreg(data)
    if chosen == "litellm":
        return from_litellm(data)
    if chosen == "genai-prices":
        return apply_genai_prices(current, data, prices_as_of=datetime.now(UTC).date())
    raise CatalogFormatError(f"unknown format {chosen!r}; use one of {', '.join(FORMATS)}")


def parse_catalog(snapshot: dict[str, Any]) -> Catalog:
    return catalog_from_snapshot(snapshot)
