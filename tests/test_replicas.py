"""Two `modelreg serve` replicas on one PostgreSQL database (the suite's server, a database of their own).

The replicas poll for changes only every 10 s here, so anything seen sooner arrived through LISTEN/NOTIFY
(store/listener.py): a create, a PATCH, a revocation and a catalog sync made through one replica (or by
the CLI) show on the other within PROPAGATION_BOUND. Writes split across both stay correct: parallel
upserts of one name make one row, If-Match lets exactly one writer win, and gateway calls add up.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

import live_server
from conftest import SECRET
from fake_upstream import FakeUpstream, running_fake_upstream
from modelreg.catalog.load import SNAPSHOT_PATH
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head
from modelreg.store.rows import CustomModelRow, UsageMinuteRow
from pg_server import PgServer

PROPAGATION_BOUND = 2.0
"""Generous for a loaded CI machine, yet far below the 10 s poll: only a notification explains it."""
MODELREG = str(Path(sys.executable).with_name("modelreg"))


@dataclass
class Pair:
    url: str
    a: httpx.Client
    b: httpx.Client
    key: str
    upstream: FakeUpstream

    def both(self) -> tuple[httpx.Client, httpx.Client]:
        return self.a, self.b


async def _org(url: str) -> str:
    db = Database(url)
    try:
        async with db.write() as session:
            return (await identity.create_organization(session, "replicated", "admin@replicated.example")).api_key
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def pair(postgres: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    postgres.create_database("replicas")
    url = postgres.sqlalchemy_url("replicas")
    upgrade_to_head(url)
    key = asyncio.run(_org(url))
    env = {
        "MODELREG_CACHE_POLL_SECONDS": "10",
        "MODELREG_USAGE_FLUSH_SECONDS": "1",
        "MODELREG_UPSTREAM_ALLOW": "127.0.0.0/8",
    }
    headers = {"Authorization": f"Bearer {key}"}
    with (
        running_fake_upstream() as upstream,
        live_server.running_server(url, tmp_path_factory.mktemp("replica-a"), **env) as one,
        live_server.running_server(url, tmp_path_factory.mktemp("replica-b"), **env) as two,
        httpx.Client(base_url=one.base_url, headers=headers, timeout=30) as a,
        httpx.Client(base_url=two.base_url, headers=headers, timeout=30) as b,
    ):
        yield Pair(url, a, b, key, upstream)
        for server in (one, two):
            assert "Traceback" not in server.log_text(), server.log_text()[-3000:]


def seen_after(client: httpx.Client, path: str, ok: Callable[[httpx.Response], bool]) -> float:
    """Seconds until `client` answers `path` as `ok` wants (fails past PROPAGATION_BOUND)."""
    started = time.perf_counter()
    while True:
        response = client.get(path)
        elapsed = time.perf_counter() - started
        if ok(response):
            return elapsed
        assert elapsed < PROPAGATION_BOUND, (path, response.status_code, response.text[:300])
        time.sleep(0.002)


def test_changes_reach_the_other_replica(pair: Pair) -> None:
    created = pair.a.post("/api/models/", json={"model_name": "shared", "base_model_name": "gpt-4o"})
    assert created.status_code == 201
    seen_after(pair.b, "/api/models/shared/", lambda r: r.status_code == 200)

    delays = []
    for i in range(40):
        writer, reader = (pair.a, pair.b) if i % 2 == 0 else (pair.b, pair.a)
        patched = writer.patch("/api/models/shared/", json={"input_cost": i + 1})
        assert patched.status_code == 200, patched.text
        delays.append(seen_after(reader, "/api/models/shared/", lambda r, v=i + 1: r.json().get("input_cost") == v))
    delays.sort()
    p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
    print(f"\nreplica propagation after an acknowledged PATCH: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")


def test_a_revocation_reaches_both_replicas(pair: Pair) -> None:
    async def spare() -> tuple[str, str]:
        db = Database(pair.url)
        try:
            async with db.write() as session:
                user = await identity.find_user(session, email="admin@replicated.example")
                created = await identity.create_api_key(session, user.id)
                return created.key_id, created.api_key
        finally:
            await db.dispose()

    async def revoke(key_id: str) -> None:
        db = Database(pair.url)
        try:
            async with db.write() as session:
                await identity.revoke_api_key(session, key_id)
        finally:
            await db.dispose()

    key_id, key = asyncio.run(spare())
    spare_headers = {"Authorization": f"Bearer {key}"}
    for client in pair.both():  # cached as valid on both
        assert client.get("/api/models/gpt-4o/", headers=spare_headers).status_code == 200
    asyncio.run(revoke(key_id))  # a third process (as the CLI would)
    for client in pair.both():
        started = time.perf_counter()
        while client.get("/api/models/gpt-4o/", headers=spare_headers).status_code != 401:
            assert time.perf_counter() - started < PROPAGATION_BOUND, "the revoked key still works"
            time.sleep(0.005)


def test_a_catalog_sync_reaches_both_replicas(pair: Pair, tmp_path: Path) -> None:
    snapshot: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text())
    first = snapshot["models"][0]
    snapshot["models"].append(
        {**first, "model_name": "openai/replicated-new", "native_name": "replicated-new", "aliases": []}
    )
    source = tmp_path / "catalog.json"
    source.write_text(json.dumps(snapshot))
    environ = {"MODELREG_DATABASE_URL": pair.url, "MODELREG_SECRET_KEY": SECRET, "MODELREG_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [MODELREG, "catalog", "sync", "--from", str(source)],
        env={**live_server.os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for client in pair.both():  # parsing the new catalog takes a moment on top of the notification
        started = time.perf_counter()
        while client.get("/api/models/openai/replicated-new/").status_code != 200:
            assert time.perf_counter() - started < PROPAGATION_BOUND + 3
            time.sleep(0.01)


def test_writes_split_across_replicas(pair: Pair) -> None:
    clients = pair.both()
    bodies = [{"model_name": "raced", "base_model_name": "gpt-4o", "input_cost": i} for i in range(50)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        upserts = list(pool.map(lambda ib: clients[ib[0] % 2].post("/api/models/", json=ib[1]), enumerate(bodies)))
    assert Counter(r.status_code for r in upserts) == {201: 1, 200: 49}, [r.text[:200] for r in upserts]

    async def rows() -> int:
        db = Database(pair.url)
        try:
            async with db.read() as session:
                query = select(func.count()).select_from(CustomModelRow).where(CustomModelRow.model_name == "raced")
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    assert asyncio.run(rows()) == 1

    etag = pair.a.get("/api/models/raced/").headers["etag"]
    with ThreadPoolExecutor(max_workers=10) as pool:
        patches = list(
            pool.map(
                lambda i: clients[i % 2].patch(
                    "/api/models/raced/", json={"output_cost": i}, headers={"If-Match": etag}
                ),
                range(20),
            )
        )
    assert Counter(r.status_code for r in patches) == {200: 1, 412: 19}, [r.text[:200] for r in patches]


def test_gateway_calls_split_across_replicas_add_up(pair: Pair) -> None:
    provider = {"provider_id": "fake", "provider_name": "Fake", "extra_kwargs": {"base_url": pair.upstream.base_url}}
    assert pair.a.post("/api/providers/", json={**provider, "api_key": "sk-up"}).status_code == 201
    model = {"model_name": "metered", "base_model_name": "gpt-4o", "custom_provider_id": "fake"}
    assert pair.a.post("/api/models/", json=model).status_code == 201
    seen_after(pair.b, "/api/models/metered/", lambda r: r.status_code == 200)
    calls = 20
    for i in range(calls):
        body = {"model": "metered", "messages": [{"role": "user", "content": "hi"}]}
        response = pair.both()[i % 2].post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text

    async def measured() -> int:
        db = Database(pair.url)
        try:
            async with db.read() as session:
                query = select(func.coalesce(func.sum(UsageMinuteRow.requests), 0)).where(
                    UsageMinuteRow.model_name == "metered"
                )
                return int(await session.scalar(query) or 0)
        finally:
            await db.dispose()

    deadline = time.monotonic() + 30
    while asyncio.run(measured()) != calls or not all(
        (c.get("/api/models/metered/").json().get("throughput") or {}).get("number_of_requests") == calls
        for c in pair.both()
    ):
        assert time.monotonic() < deadline, "the calls of both replicas never added up"
        time.sleep(0.2)
