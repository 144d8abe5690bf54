"""The meter's guarantees when the database misbehaves: a failed flush loses nothing, and pending sums
stay bounded. Real SQLite files; the meter is driven directly (the gateway tests cover the HTTP path)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from modelreg.catalog.load import Catalog
from modelreg.domain.usage import Call, TokenUsage
from modelreg.services import metering
from modelreg.services.metering import Meter
from modelreg.store.database import Database
from modelreg.store.memory import ModelIndex
from modelreg.store.migrate import upgrade_to_head
from modelreg.store.rows import UsageMinuteRow


def call(model: str = "team-gpt", prompt: int = 10) -> Call:
    return Call(
        organization_id="org_1",
        model_name=model,
        provider_id="fake",
        outcome="ok",
        usage=TokenUsage(prompt_tokens=prompt, completion_tokens=5),
        latency=0.5,
        cost=0.001,
        at=time.time(),
    )


async def test_a_failed_flush_keeps_its_sums_for_the_next_one(tmp_path: Path, catalog: Catalog) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/meter.db"
    db = Database(url)
    index = ModelIndex(db, catalog)
    meter = Meter(db, index, window_seconds=86400)
    try:
        meter.record(call(prompt=10), public=False)
        with pytest.raises(Exception):  # noqa: B017 - no tables yet: whatever the driver raises
            await meter.flush()
        assert meter.pending_calls == 1
        meter.record(call(prompt=20), public=False)  # arrives while the database is down

        await asyncio.to_thread(upgrade_to_head, url)
        assert await meter.flush() is True
        assert meter.pending_calls == 0
        async with db.read() as session:
            rows = list(await session.scalars(select(UsageMinuteRow)))
        assert sum(r.requests for r in rows) == 2
        assert sum(r.prompt_tokens for r in rows) == 30
        await meter.recompute()  # and the index serves the figures
        assert index.throughput_of("org_1")["team-gpt"].number_of_requests == 2
    finally:
        await db.dispose()


async def test_pending_sums_are_bounded(tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "MAX_PENDING_BUCKETS", 3)
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    meter = Meter(db, ModelIndex(db, catalog), window_seconds=86400)
    try:
        for name in ("a", "b", "c", "d", "e"):
            meter.record(call(model=name), public=False)
        meter.record(call(model="a"), public=False)  # an existing bucket still adds up
        assert meter.pending_calls == 4
        assert meter.dropped_calls == 2
    finally:
        await db.dispose()
