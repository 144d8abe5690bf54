"""Parallel writes: upserts of one name end in one row (one 201, the rest 200), If-Match lets exactly one of
many writers holding the same ETag win, and nothing answers 5xx. Both backends (the `env` fixture).

Litestar's AsyncTestClient hands each request to the app through a blocking portal, so requests sent with
asyncio.gather over it still run one after another (`env.client` would make these tests pass without any
concurrency). The requests here go to a second instance of the app through httpx's ASGI transport, in this
event loop, where they really interleave; every test checks that they did overlap.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import Env, Org, make_settings
from modelreg.app import create_app
from modelreg.domain.etags import entity_tag
from modelreg.store.database import Database
from modelreg.store.memory import org_counter
from modelreg.store.rows import ChangeCounterRow, CustomModelRow, ProviderRow

UPSERTS = 50
PATCHES = 20


class InFlight:
    """ASGI wrapper that records the largest number of HTTP requests being handled at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.current = 0
        self.peak = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await self.app(scope, receive, send)
        finally:
            self.current -= 1


@dataclass
class Parallel:
    client: httpx.AsyncClient
    in_flight: InFlight
    database_url: str

    async def burst(self, method: str, path: str, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list:
        self.in_flight.peak = 0
        responses = await asyncio.gather(*(self.client.request(method, path, json=b, headers=headers) for b in bodies))
        assert self.in_flight.peak > 1, "the requests did not overlap: this test would prove nothing"
        server_errors = [(r.status_code, r.text[:200]) for r in responses if r.status_code >= 500]
        assert not server_errors, server_errors
        return responses

    async def rows(self, table: type[CustomModelRow] | type[ProviderRow], org: Org, name: str) -> list[Any]:
        key = CustomModelRow.model_name if table is CustomModelRow else ProviderRow.provider_id
        db = Database(self.database_url)
        try:
            async with db.read() as session:
                query = select(table).where(table.organization_id == org.organization_id, key == name)
                return list(await session.scalars(query))
        finally:
            await db.dispose()


@pytest.fixture
async def parallel(env: Env, catalog) -> AsyncIterator[Parallel]:
    app = create_app(make_settings(env.database_url), catalog)
    ready, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:  # entered and left in one task, as anyio's task group requires
        async with app.lifespan():
            ready.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    while not ready.is_set():
        if lifespan.done():
            lifespan.result()  # startup failed: raise its error
        await asyncio.sleep(0.01)
    in_flight = InFlight(app)
    transport = httpx.ASGITransport(app=in_flight)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://modelreg.test", timeout=120) as client:
            yield Parallel(client, in_flight, env.database_url)
    finally:
        stop.set()
        await lifespan


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


async def test_parallel_model_upserts_make_one_row(env: Env, parallel: Parallel) -> None:
    org = await env.org()
    bodies = [{"model_name": "race", "base_model_name": "gpt-4o", "input_cost": i} for i in range(UPSERTS)]
    responses = await parallel.burst("POST", "/api/models/", bodies, org.headers)
    assert statuses(responses) == {201: 1, 200: UPSERTS - 1}, [(r.status_code, r.text[:200]) for r in responses]
    assert {r.json()["model_name"] for r in responses} == {"race"}
    etags = [r.headers["etag"] for r in responses]
    assert len(set(etags)) == UPSERTS, "two upserts produced the same version: one of them was lost"

    rows = await parallel.rows(CustomModelRow, org, "race")
    assert len(rows) == 1
    assert rows[0].base_model_name == "openai/gpt-4o" and rows[0].input_cost in range(UPSERTS)
    got = await parallel.client.get("/api/models/race/", headers=org.headers)
    assert got.status_code == 200 and got.json()["input_cost"] == rows[0].input_cost
    assert got.headers["etag"] in etags


async def test_parallel_provider_upserts_make_one_row(env: Env, parallel: Parallel) -> None:
    org = await env.org()
    bodies = [
        {"provider_id": "race", "provider_name": f"Race {i}", "extra_kwargs": {"base_url": f"http://h{i}/v1"}}
        for i in range(UPSERTS)
    ]
    responses = await parallel.burst("POST", "/api/providers/", bodies, org.headers)
    assert statuses(responses) == {201: 1, 200: UPSERTS - 1}, [(r.status_code, r.text[:200]) for r in responses]
    assert {r.json()["provider_id"] for r in responses} == {"race"}
    etags = [r.headers["etag"] for r in responses]
    assert len(set(etags)) == UPSERTS, "two upserts produced the same version: one of them was lost"

    rows = await parallel.rows(ProviderRow, org, "race")
    assert len(rows) == 1
    index = int(rows[0].provider_name.removeprefix("Race "))
    assert rows[0].extra_kwargs == {"base_url": f"http://h{index}/v1"}  # one writer's whole body, not a mix
    got = await parallel.client.get("/api/providers/race/", headers=org.headers)
    assert got.status_code == 200 and got.json()["provider_name"] == rows[0].provider_name
    assert got.headers["etag"] in etags


async def test_parallel_upserts_of_one_name_in_two_organizations(env: Env, parallel: Parallel) -> None:
    acme, other = await env.org("acme"), await env.org("other")
    body = {"model_name": "shared", "base_model_name": "gpt-4o"}
    results = await asyncio.gather(
        parallel.burst("POST", "/api/models/", [body] * (UPSERTS // 2), acme.headers),
        parallel.burst("POST", "/api/models/", [body] * (UPSERTS // 2), other.headers),
    )
    for org, responses in zip((acme, other), results, strict=True):
        assert statuses(responses) == {201: 1, 200: UPSERTS // 2 - 1}
        assert len(await parallel.rows(CustomModelRow, org, "shared")) == 1


@pytest.mark.parametrize("resource", ["model", "provider"])
async def test_parallel_patches_with_one_etag_let_exactly_one_win(env: Env, parallel: Parallel, resource: str) -> None:
    org = await env.org()
    if resource == "model":
        created = await parallel.client.post(
            "/api/models/", json={"model_name": "m", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        path, key, bodies = "/api/models/m/", "input_cost", [{"input_cost": i} for i in range(PATCHES)]
    else:
        created = await parallel.client.post(
            "/api/providers/", json={"provider_id": "p", "provider_name": "P"}, headers=org.headers
        )
        path, key, bodies = "/api/providers/p/", "provider_name", [{"provider_name": f"P{i}"} for i in range(PATCHES)]
    assert created.status_code == 201, created.text
    etag = created.headers["etag"]

    responses = await parallel.burst("PATCH", path, bodies, {**org.headers, "If-Match": etag})
    assert statuses(responses) == {200: 1, 412: PATCHES - 1}, [(r.status_code, r.text[:200]) for r in responses]
    for r in responses:
        if r.status_code == 412:
            assert r.headers["content-type"].startswith("application/json") and r.json()["detail"]
    winner = next(r for r in responses if r.status_code == 200)
    got = await parallel.client.get(path, headers=org.headers)
    assert got.json()[key] == winner.json()[key]  # the stored value is the winner's, nobody else's
    assert got.headers["etag"] == winner.headers["etag"] != etag

    rows = await parallel.rows(CustomModelRow if resource == "model" else ProviderRow, org, path.split("/")[-2])
    assert len(rows) == 1
    row = rows[0]
    ident = row.model_name if resource == "model" else row.provider_id
    assert entity_tag(resource, org.organization_id, ident, row.created_at, row.revision) == winner.headers["etag"]


@pytest.mark.parametrize("if_match", [True, False], ids=["if-match", "no-if-match"])
async def test_parallel_deletes_delete_once(env: Env, parallel: Parallel, if_match: bool) -> None:
    org = await env.org()
    created = await parallel.client.post(
        "/api/models/", json={"model_name": "doomed", "base_model_name": "gpt-4o"}, headers=org.headers
    )
    headers = {**org.headers, **({"If-Match": created.headers["etag"]} if if_match else {})}
    parallel.in_flight.peak = 0
    responses = await asyncio.gather(
        *(parallel.client.delete("/api/models/doomed/", headers=headers) for _ in range(20))
    )
    assert parallel.in_flight.peak > 1
    counts = statuses(responses)
    assert counts[204] == 1 and set(counts) <= {204, 404, 412}, counts
    assert await parallel.rows(CustomModelRow, org, "doomed") == []


async def test_first_parallel_writes_of_new_organizations(env: Env, parallel: Parallel) -> None:
    """The organization's change counter does not exist before its first write: concurrent first writes
    must create it once and count every write, not fail on its primary key (PostgreSQL found it)."""
    for trial in range(5):
        org = await env.org(f"fresh{trial}")
        bodies = [{"model_name": f"first-{i}", "base_model_name": "gpt-4o"} for i in range(16)]
        responses = await parallel.burst("POST", "/api/models/", bodies, org.headers)
        assert statuses(responses) == {201: 16}, [(r.status_code, r.text[:200]) for r in responses]
        db = Database(env.database_url)
        try:
            async with db.read() as session:
                value = await session.scalar(
                    select(ChangeCounterRow.value).where(ChangeCounterRow.name == org_counter(org.organization_id))
                )
        finally:
            await db.dispose()
        assert value == 16, "every write bumps the counter once"
