"""Change counters: a write bumps its counter in the same transaction; every server process polls the
counters (one tiny query per poll interval, none per request) and drops its in-memory caches when a
counter moved. This is what makes `modelreg key revoke` in another process take effect in a running server."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.store.rows import ChangeCounterRow

__all__ = ["IDENTITY", "bump", "read_all"]

IDENTITY = "identity"
CATALOG = "catalog"
USAGE = "usage"
"""Bumped when model_throughput was recomputed (services/metering.py)."""


async def bump(session: AsyncSession, name: str) -> None:
    result = await session.execute(
        update(ChangeCounterRow).where(ChangeCounterRow.name == name).values(value=ChangeCounterRow.value + 1)
    )
    if getattr(result, "rowcount", 0) == 0:
        session.add(ChangeCounterRow(name=name, value=1))
        await session.flush()


async def read_all(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(ChangeCounterRow.name, ChangeCounterRow.value))
    return {str(name): int(value) for name, value in rows.all()}
