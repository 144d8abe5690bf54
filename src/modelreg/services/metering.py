"""The meter: every call's figures, summed in memory per (organization, model, provider, UTC minute) and
written in batches, never a database write per call.

- `record` is all the request path does: a dictionary lookup and a few additions.
- `flush` (every `usage_flush_seconds`, and on shutdown) adds the pending sums to `usage_minutes` in one
  transaction (insert-or-add, so several processes can flush the same minute). A failed flush puts its
  sums back, so nothing is lost while the database is unreachable; a clean shutdown flushes last.
- After a flush, and whenever minutes age out of the rolling window, `model_throughput` is recomputed
  from `usage_minutes`, and the figures are handed to the in-memory index (store/memory.py); other
  processes notice the `usage` counter and reload them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Float, case, cast, delete, exists, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.usage import Call, Throughput, Totals
from modelreg.store import counters
from modelreg.store.database import Database
from modelreg.store.memory import ModelIndex
from modelreg.store.rows import ModelThroughputRow, UsageMinuteRow

__all__ = ["TOTAL_FIELDS", "Meter", "totals_columns"]

log = logging.getLogger("modelreg.meter")

U = UsageMinuteRow
T = ModelThroughputRow
TOTAL_FIELDS = tuple(Totals.__struct_fields__)
_KEY_FIELDS = ("organization_id", "model_name", "provider_id", "minute", "is_public")

Key = tuple[str, str, str, int, bool]
MAX_PENDING_BUCKETS = 200_000
"""About 100 MB of pending sums: minutes x models x providers that could not be written yet."""


def totals_columns() -> list[Any]:
    """sum() of every Totals field over usage_minutes, labelled by field name (for Totals(**row))."""
    return [func.coalesce(func.sum(getattr(U, name)), 0).label(name) for name in TOTAL_FIELDS]


_FIELD_TYPES = {name: type(getattr(Totals(), name)) for name in TOTAL_FIELDS}
"""int or float per field: SQL sums come back as Decimal (PostgreSQL) or int for float columns (SQLite)."""


def totals_from(row: Any) -> Totals:
    values = row._mapping
    return Totals(**{name: kind(values[name] or 0) for name, kind in _FIELD_TYPES.items()})


class Meter:
    def __init__(self, db: Database, index: ModelIndex, *, window_seconds: float) -> None:
        self._db = db
        self._index = index
        self.window_seconds = window_seconds
        self._pending: dict[Key, Totals] = {}
        self.dropped_calls = 0
        """Calls not recorded because MAX_PENDING_BUCKETS were pending (logged at the next flush)."""
        self._cutoff = 0
        """The window's start at the last recompute (minute rows before it no longer count)."""
        self.last_flush_at = time.monotonic()
        """When a flush last succeeded or found nothing to write (metrics: flush age)."""

    # ---- the request path -------------------------------------------------------------------------

    def record(self, call: Call, *, public: bool) -> None:
        """`public`: counts in the platform-wide status of built-in models that anonymous callers see
        (gateway calls of built-ins; never calls reported by another gateway, which nobody can verify)."""
        minute = int(call.at // 60) * 60
        key = (call.organization_id, call.model_name, call.provider_id, minute, public)
        totals = self._pending.get(key)
        if totals is None:
            if len(self._pending) >= MAX_PENDING_BUCKETS:
                # The database has been unreachable for long: bounded memory wins over new buckets.
                self.dropped_calls += 1
                return
            totals = self._pending[key] = Totals()
        totals.add(call)

    @property
    def pending_buckets(self) -> int:
        return len(self._pending)

    @property
    def pending_calls(self) -> int:
        return sum(t.requests for t in self._pending.values())

    # ---- background work ----------------------------------------------------------------------------

    async def tick(self) -> None:
        """One round of the background loop: flush, then recompute if anything changed or aged out."""
        flushed = await self.flush()
        if flushed or await self._aged_out():
            await self.recompute()

    async def flush(self) -> bool:
        pending = self._pending
        if self.dropped_calls:
            log.error("meter: %d calls were not recorded (database unreachable for long)", self.dropped_calls)
            self.dropped_calls = 0
        if not pending:
            self.last_flush_at = time.monotonic()
            return False
        self._pending = {}
        try:
            async with self._db.write() as session:
                await self._add_minutes(session, pending)
        except BaseException:
            # Put the sums back (merged with what arrived meanwhile): retried on the next flush.
            for key, totals in pending.items():
                current = self._pending.get(key)
                if current is None:
                    self._pending[key] = totals
                else:
                    current.merge(totals)
            raise
        self.last_flush_at = time.monotonic()
        return True

    async def _add_minutes(self, session: AsyncSession, pending: dict[Key, Totals]) -> None:
        dialect = session.get_bind().dialect.name
        inserted = postgresql.insert(U) if dialect == "postgresql" else sqlite.insert(U)
        statement = inserted.on_conflict_do_update(
            index_elements=list(_KEY_FIELDS),
            set_={name: getattr(U, name) + inserted.excluded[name] for name in TOTAL_FIELDS},
        )
        # Sorted keys: two processes adding to the same minutes lock rows in the same order (no deadlock).
        rows = [{**dict(zip(_KEY_FIELDS, key, strict=True)), **_sums(pending[key])} for key in sorted(pending)]
        for start in range(0, len(rows), 500):
            await session.execute(statement, rows[start : start + 500])

    async def _aged_out(self) -> bool:
        """Did minutes with traffic leave the window since the last recompute?"""
        cutoff = self._window_start()
        if cutoff <= self._cutoff:
            return False
        async with self._db.read() as session:
            return bool(await session.scalar(select(exists().where(U.minute >= self._cutoff, U.minute < cutoff))))

    def _window_start(self) -> int:
        return int((time.time() - self.window_seconds) // 60) * 60

    async def recompute(self) -> None:
        """Rewrite model_throughput from the minutes inside the window, then serve the new figures."""
        cutoff = self._window_start()
        async with self._db.write() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Replicas recompute concurrently: one at a time, or their inserts collide.
                await session.execute(text("LOCK TABLE model_throughput IN EXCLUSIVE MODE"))
            await session.execute(delete(T))
            await session.execute(
                insert(T).from_select(
                    [
                        "organization_id",
                        "model_name",
                        "average_tps",
                        "average_ttft",
                        "average_latency",
                        "number_of_requests",
                        "cost",
                        "prompt_tokens",
                        "completion_tokens",
                    ],
                    select(
                        U.organization_id,
                        U.model_name,
                        _average(U.tps_sum, U.tps_count),
                        _average(U.ttft_sum, U.ttft_count),
                        _average(U.latency_sum, U.latency_count),
                        func.sum(U.requests),
                        func.sum(U.cost),
                        func.sum(U.prompt_tokens),
                        func.sum(U.completion_tokens),
                    )
                    .where(U.minute >= cutoff)
                    .group_by(U.organization_id, U.model_name),
                )
            )
            await counters.bump(session, counters.USAGE)
        self._cutoff = cutoff
        await self.load()

    async def load(self) -> None:
        """Hand model_throughput to the in-memory index (at start-up, and when another process recomputed)."""
        figures: dict[str, dict[str, Throughput]] = {}
        async with self._db.read() as session:
            for row in await session.scalars(select(T)):
                figures.setdefault(row.organization_id, {})[row.model_name] = Throughput(
                    average_tps=row.average_tps,
                    average_ttft=row.average_ttft,
                    average_latency=row.average_latency,
                    number_of_requests=int(row.number_of_requests),
                    cost=float(row.cost),
                    prompt_tokens=int(row.prompt_tokens),
                    completion_tokens=int(row.completion_tokens),
                )
        self._index.set_throughput(figures)


def _average(total: Any, count: Any) -> Any:
    return case((func.sum(count) > 0, cast(func.sum(total), Float) / cast(func.sum(count), Float)), else_=None)


def _sums(totals: Totals) -> dict[str, Any]:
    return {name: getattr(totals, name) for name in TOTAL_FIELDS}
