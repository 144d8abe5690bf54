"""`modelreg serve --workers 2` on SQLite: every worker has its own in-memory index and caches, so a write
through one worker must reach the other through the database (the change counters each worker polls every
MODELREG_CACHE_POLL_SECONDS; PostgreSQL adds notifications, tests/test_replicas.py). One real two-worker
server; every read uses a new connection, so the reads spread over both workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import live_server
from conftest import Env, Org
from live_server import Server

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

READS = 16
SETTLE_S = 5.0
"""How long a write may take to reach every worker: the poll interval is 0.2 s here (live_server.py)."""


@pytest.fixture(scope="module")
def two_workers(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live_server.running_server(sqlite_url, Path(tmp_path_factory.mktemp("two-workers")), workers=2) as server:
        yield server


async def _reads(server: Server, org: Org, path: str) -> list[tuple[int, Any]]:
    """READS reads, each on a new connection (no keep-alive; granian's workers share the listening socket)."""
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10, limits=no_reuse) as client:
        answers = [await client.get(path, headers=org.headers) for _ in range(READS)]
    return [(response.status_code, response.json().get("input_cost")) for response in answers]


async def _settled(server: Server, org: Org, path: str, want: tuple[int, Any]) -> None:
    """Every read answers `want` within SETTLE_S of the write, and stays so."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        got = await _reads(server, org, path)
        if all(answer == want for answer in got):
            break
        assert time.monotonic() < deadline, f"a worker still answers stale data: {got}"
        await asyncio.sleep(0.1)
    assert all(answer == want for answer in await _reads(server, org, path))


async def test_a_write_through_one_worker_is_seen_by_the_other(env: Env, two_workers: Server) -> None:
    org = await env.org()
    path = "/api/models/two-workers-model/"
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=10) as client:
        created = await client.post(
            "/api/models/",
            json={"model_name": "two-workers-model", "base_model_name": "gpt-4o", "input_cost": 1.0},
            headers=org.headers,
        )
        assert created.status_code == 201, created.text
        await _settled(two_workers, org, path, (200, 1.0))  # both workers now hold the model in memory

        patched = await client.patch(path, json={"input_cost": 2.5}, headers=org.headers)
        assert patched.status_code == 200, patched.text
        await _settled(two_workers, org, path, (200, 2.5))

        deleted = await client.delete(path, headers=org.headers)
        assert deleted.status_code == 204, deleted.text
        await _settled(two_workers, org, path, (404, None))
    assert two_workers.process.poll() is None
