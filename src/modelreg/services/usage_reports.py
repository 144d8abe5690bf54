"""Reading the measured calls back: per-tick series for a model (the status endpoint) and an
organization's usage per model and day. Everything is summed from usage_minutes in SQL; averages are
derived from the sums, so a tick's average is over its calls, not an average of averages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, select

from modelreg.domain.errors import InvalidInput
from modelreg.domain.usage import Totals
from modelreg.services.metering import totals_columns, totals_from
from modelreg.store.database import Database
from modelreg.store.rows import UsageMinuteRow

__all__ = ["TICKS", "OrganizationUsage", "UsageReports", "Window", "parse_time", "parse_window"]

U = UsageMinuteRow
TICKS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_WINDOW_SECONDS = 90 * 86400
MAX_BUCKETS = 10_080
"""One week of minutes: a finer series than this is refused with a hint to choose a larger tick."""


class Window(msgspec.Struct, frozen=True):
    start: int
    """Unix seconds, inclusive."""
    end: int
    """Unix seconds, exclusive."""
    tick: str
    seconds: int

    def buckets(self) -> list[int]:
        first = self.start - self.start % self.seconds
        return list(range(first, self.end, self.seconds))


def parse_time(value: Any, field: str) -> float:
    """ISO-8601 (a trailing Z is fine; no zone means UTC) or a unix timestamp in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise InvalidInput("Enter a valid ISO-8601 datetime or unix timestamp.", field) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
    else:
        raise InvalidInput("This field is required.", field)
    if not 0 <= seconds < 253402300800:  # year 10000
        raise InvalidInput("Enter a valid ISO-8601 datetime or unix timestamp.", field)
    return seconds


def parse_window(start_raw: Any, end_raw: Any, tick_raw: Any) -> Window:
    # Whole seconds that cover the window: a call at 12:07:00.3 is inside a window ending "now" at 12:07:00.4.
    start = math.floor(parse_time(start_raw, "start_time"))
    end = math.ceil(parse_time(end_raw, "end_time"))
    if end <= start:
        raise InvalidInput("end_time must be after start_time.", "end_time")
    if end - start > MAX_WINDOW_SECONDS:
        raise InvalidInput("The window may span at most 90 days.", "end_time")
    if tick_raw in (None, ""):
        span = end - start
        tick = "minute" if span <= 6 * 3600 else "hour" if span <= 7 * 86400 else "day"
    elif isinstance(tick_raw, str) and tick_raw in TICKS:
        tick = tick_raw
    else:
        raise InvalidInput("time_tick must be one of: minute, hour, day.", "time_tick")
    window = Window(start, end, tick, TICKS[tick])
    if (end - start) // window.seconds > MAX_BUCKETS:
        raise InvalidInput("Too many buckets for this window: choose a larger time_tick.", "time_tick")
    return window


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class OrganizationUsage(msgspec.Struct):
    days: list[tuple[int, str, Totals]]
    """(UTC day start, model name, totals), by day then model."""
    per_model: dict[str, Totals]
    totals: Totals


class UsageReports:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def model_series(
        self, organization_id: str | None, model_name: str, window: Window, provider_id: str | None = None
    ) -> dict[int, Totals]:
        """A model's buckets as the status endpoint reports them: the organization's calls, or (None) the
        public figures of a built-in summed over every organization."""
        scope: ColumnElement[bool] = U.model_name == model_name
        scope = and_(scope, U.organization_id == organization_id if organization_id else U.is_public.is_(True))
        if provider_id is not None:
            scope = and_(scope, U.provider_id == provider_id)
        return await self.series(scope, window)

    async def organization_usage(self, organization_id: str, window: Window) -> OrganizationUsage:
        days = await self.per_model_and_day(organization_id, window.start, window.end)
        per_model: dict[str, Totals] = {}
        for _, name, totals in days:
            per_model.setdefault(name, Totals()).merge(totals)
        return OrganizationUsage(days, per_model, summed(per_model.values()))

    async def series(self, scope: ColumnElement[bool], window: Window) -> dict[int, Totals]:
        """Totals per bucket start (only buckets with calls) for the minutes matching `scope`."""
        bucket = U.minute - U.minute % window.seconds
        query = (
            select(bucket.label("bucket"), *totals_columns())
            .where(scope, U.minute >= window.start - window.start % 60, U.minute < window.end)
            .group_by(bucket)
        )
        async with self._db.read() as session:
            rows = (await session.execute(query)).all()
        return {int(row.bucket): totals_from(row) for row in rows}

    async def per_model_and_day(self, organization_id: str, start: int, end: int) -> list[tuple[int, str, Totals]]:
        day = U.minute - U.minute % 86400
        query = (
            select(day.label("day"), U.model_name, *totals_columns())
            .where(U.organization_id == organization_id, U.minute >= start - start % 60, U.minute < end)
            .group_by(day, U.model_name)
            .order_by(day, U.model_name)
        )
        async with self._db.read() as session:
            rows = (await session.execute(query)).all()
        return [(int(row.day), str(row.model_name), totals_from(row)) for row in rows]


def summed(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.merge(part)
    return total
