"""Rows a transaction inserts at its end, many per statement: an import writes a revision, an audit entry and
often a price entry per model, and 30,000 ORM objects flushed one class at a time cost more than the rest of
the import. Writers call `add_row` whether or not their transaction defers (a single write adds the ORM row
as before); `defer_rows` turns it on for a transaction and `insert_deferred` writes what was collected.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.store.rows import RowBase

__all__ = ["add_row", "defer_rows", "insert_deferred", "insert_into", "table_of"]

_DEFERRED = "modelreg.deferred_rows"
"""session.info key: {row class: [column values, ...]} while the transaction defers its inserts."""
_CHUNK = 1_000


def table_of(row_class: type[RowBase]) -> Table:
    """The mapped class's table, for Core statements (executemany without the ORM's per-row steps)."""
    return cast(Table, row_class.__table__)


@functools.cache
def insert_into(row_class: type[RowBase]) -> Insert:
    """A Core INSERT into the class's table, built once: a statement built per call has its cache key
    computed again at every execution (SQLAlchemy memoizes it on the statement object)."""
    return insert(table_of(row_class))


def defer_rows(session: AsyncSession) -> None:
    session.info.setdefault(_DEFERRED, {})


def add_row(session: AsyncSession, table: type[RowBase], values: dict[str, Any]) -> None:
    pending: dict[type[RowBase], list[dict[str, Any]]] | None = session.info.get(_DEFERRED)
    if pending is None:
        session.add(table(**values))
    else:
        pending.setdefault(table, []).append(values)


async def insert_deferred(session: AsyncSession) -> None:
    """One executemany per table and chunk; the transaction defers no longer."""
    pending: dict[type[RowBase], list[dict[str, Any]]] = session.info.pop(_DEFERRED, {})
    for table, rows in pending.items():
        for start in range(0, len(rows), _CHUNK):
            await session.execute(insert_into(table), rows[start : start + _CHUNK])  # Core: no ORM steps
