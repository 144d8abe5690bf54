"""The in-memory index applies this process's own model writes in place (store/memory.py): every read after a
create, PATCH, delete or a base's change shows the write, in the model and in its dependents, in lists too;
and a write that cannot be applied that way (another process wrote meanwhile, a provider changed) drops the
organization's snapshot instead of serving a stale one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from conftest import Env, Org, _wipe, app_client, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.store import counters
from modelreg.store.memory import MODEL_BUMPS, ModelIndex, OrgModels, org_counter
from modelreg.store.views import CHANGED

BOUND = 2.0
"""Seconds a notification may take to reach the other replica on a loaded machine (as tests/test_replicas.py);
the replicas here poll once an hour, so only a notification explains a change seen sooner."""


def _on_app(env: Env, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)` on the app's own event loop (awaited if a coroutine): the test client serves the app from
    a thread and loop of its own, and the app's PostgreSQL connections belong to that loop."""
    return env.client.blocking_portal.call(call, *args)


def _index(env: Env) -> ModelIndex:
    index: ModelIndex = env.client.app.state.registry.index
    return index


def _snapshot(env: Env, organization_id: str) -> OrgModels:
    snapshot: OrgModels = _on_app(env, _index(env).org, organization_id)
    return snapshot


def _counter(env: Env, org: Org) -> int:
    async def read() -> int:
        async with env.client.app.state.registry.db.read() as session:
            return (await counters.read_all(session))[org_counter(org.organization_id)]

    value: int = _on_app(env, read)
    return value


async def _get(env: Env, org: Org, name: str) -> dict[str, Any]:
    r = await env.client.get(f"/api/models/{name}/", headers=org.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _listed(env: Env, org: Org) -> dict[str, Any]:
    r = await env.client.post(
        "/api/models/list/?page_size=100",
        json={"filters": {"affiliation_category": {"operator": "", "value": ["custom"]}}},
        headers=org.headers,
    )
    assert r.status_code == 200, r.text
    return {m["model_name"]: m for m in r.json()["results"]}


async def test_reads_follow_creates_patches_deletes_and_base_changes(env: Env) -> None:
    org = await env.org()
    for body in (
        {"model_name": "base", "base_model_name": "gpt-4o", "input_cost": 1.5},
        {"model_name": "child", "base_model_name": "base"},
        {"model_name": "grandchild", "base_model_name": "child", "output_cost": 7.0},
    ):
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    assert (await _get(env, org, "grandchild"))["input_cost"] == 1.5  # the snapshot is loaded here

    r = await env.client.patch("/api/models/base/", json={"input_cost": 2.5}, headers=org.headers)
    assert r.status_code == 200, r.text
    for name in ("base", "child", "grandchild"):
        assert (await _get(env, org, name))["input_cost"] == 2.5, name
    listed = await _listed(env, org)
    assert {n: m["input_cost"] for n, m in listed.items()} == {"base": 2.5, "child": 2.5, "grandchild": 2.5}

    # Re-basing the middle model on another built-in: the grandchild follows, the base does not.
    r = await env.client.patch("/api/models/child/", json={"base_model_name": "gpt-4o-mini"}, headers=org.headers)
    assert r.status_code == 200, r.text
    mini = (await _get(env, org, "gpt-4o-mini"))["input_cost"]
    assert mini != 2.5
    assert [(await _get(env, org, n))["input_cost"] for n in ("base", "child", "grandchild")] == [2.5, mini, mini]
    assert (await _get(env, org, "grandchild"))["output_cost"] == 7.0

    # An ETag read right after a write is the new one (If-Match with it succeeds).
    tag = (await env.client.get("/api/models/grandchild/", headers=org.headers)).headers["etag"]
    r = await env.client.patch(
        "/api/models/grandchild/", json={"display_name": "G"}, headers={**org.headers, "If-Match": tag}
    )
    assert r.status_code == 200, r.text
    assert (await _get(env, org, "grandchild"))["display_name"] == "G"

    r = await env.client.delete("/api/models/grandchild/", headers=org.headers)
    assert r.status_code == 204, r.text
    assert (await env.client.get("/api/models/grandchild/", headers=org.headers)).status_code == 404
    assert set(await _listed(env, org)) == {"base", "child"}
    body = {"model_name": "grandchild", "base_model_name": "base"}
    assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    assert (await _get(env, org, "grandchild"))["input_cost"] == 2.5
    assert (await _get(env, org, "grandchild"))["output_cost"] != 7.0  # a new model, not the deleted one


async def test_a_provider_change_reaches_the_models_that_use_it(env: Env) -> None:
    org = await env.org()
    body = {"provider_id": "vllm", "provider_name": "vLLM one", "extra_kwargs": {"base_url": "http://vllm:8000/v1"}}
    assert (await env.client.post("/api/providers/", json=body, headers=org.headers)).status_code == 201
    body = {"model_name": "served", "custom_provider_id": "vllm", "base_model_name": "gpt-4o"}
    assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    assert (await _get(env, org, "served"))["provider"]["provider_name"] == "vLLM one"
    r = await env.client.patch("/api/providers/vllm/", json={"provider_name": "vLLM two"}, headers=org.headers)
    assert r.status_code == 200, r.text
    assert (await _get(env, org, "served"))["provider"]["provider_name"] == "vLLM two"


async def test_a_write_after_another_process_wrote_does_not_keep_a_stale_snapshot(
    env: Env, database_url: str, catalog: Catalog
) -> None:
    """Process A holds a snapshot; process B changes a model; A writes another model before its change
    watcher noticed B's write (a poll interval of an hour): A must not apply its own write to the old
    snapshot, or it would serve B's model as it was before B's change."""
    org = await env.org()
    for name in ("shared", "other"):
        body = {"model_name": name, "base_model_name": "gpt-4o", "input_cost": 1.0}
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    slow = create_app(make_settings(database_url, cache_poll_seconds=3600.0), catalog)
    other = create_app(make_settings(database_url), catalog)
    async with AsyncTestClient(app=slow) as a, AsyncTestClient(app=other) as b:
        got = await a.get("/api/models/shared/", headers=org.headers)
        assert got.json()["input_cost"] == 1.0  # A's snapshot is loaded
        assert (await a.patch("/api/models/other/", json={"input_cost": 2.0}, headers=org.headers)).status_code == 200
        r = await b.patch("/api/models/shared/", json={"input_cost": 3.0}, headers=org.headers)
        assert r.status_code == 200, r.text
        assert (await a.patch("/api/models/other/", json={"input_cost": 4.0}, headers=org.headers)).status_code == 200
        assert (await a.get("/api/models/shared/", headers=org.headers)).json()["input_cost"] == 3.0
        assert (await a.get("/api/models/other/", headers=org.headers)).json()["input_cost"] == 4.0


async def test_a_counter_read_older_than_our_own_writes_keeps_the_snapshot(env: Env, database_url: str) -> None:
    """The change watcher reads the counters on a reader's thread while this process goes on writing: a value
    it reads may already be older than what this process's own writes made it. Counters only grow, so only a
    higher value is another process's change (an older one dropped the snapshot about once a poll under
    steady writes, and every read then waited for a reload)."""
    org = await env.org()
    body = {"model_name": "kept", "base_model_name": "gpt-4o"}
    assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    index = _index(env)
    loaded = _snapshot(env, org.organization_id)
    for cost in (1.0, 2.0):
        r = await env.client.patch("/api/models/kept/", json={"input_cost": cost}, headers=org.headers)
        assert r.status_code == 200, r.text
    value = _counter(env, org)
    updated = _snapshot(env, org.organization_id)
    assert updated is not loaded and updated.by_name["kept"].input_cost == 2.0  # applied in place
    _on_app(env, index.observe, org.organization_id, value - 1)  # a read from before the last PATCH
    assert _snapshot(env, org.organization_id) is updated
    _on_app(env, index.observe, org.organization_id, value)
    assert _snapshot(env, org.organization_id) is updated
    _on_app(env, index.observe, org.organization_id, value + 1)  # someone else wrote
    assert _snapshot(env, org.organization_id) is not updated


async def test_transactions_that_finish_out_of_order_keep_the_snapshot_and_the_later_writer(env: Env) -> None:
    """On PostgreSQL this process's write transactions run concurrently, and the task of the first to commit
    can resume after the second's: the second is applied ahead (its predecessor is this process's own, still
    committing), and when the first is applied, a model both wrote keeps the second's version. A first whose
    commit failed (outcome unknown) leaves a gap nothing would fill: the snapshot is dropped."""
    org = await env.org()
    for name in ("x", "y", "untouched"):
        body = {"model_name": name, "base_model_name": "gpt-4o", "input_cost": 1.0}
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    index, organization_id = _index(env), org.organization_id
    loaded, value = _snapshot(env, organization_id), _counter(env, org)
    untouched = loaded.by_name["untouched"]

    def written(at: int, **costs: float) -> dict[str, Any]:
        """session.info of a model write that moved the counter to `at`."""
        changes = {n: msgspec.structs.replace(loaded.by_name[n], input_cost=c) for n, c in costs.items()}
        return {
            counters.BUMPS: {org_counter(organization_id): (1, at)},
            MODEL_BUMPS: {organization_id: 1},
            CHANGED: {organization_id: changes},
        }

    def costs() -> dict[str, float | None]:
        snapshot = _snapshot(env, organization_id)
        assert snapshot.by_name["untouched"] is untouched  # never reloaded
        return {n: snapshot.by_name[n].input_cost for n in ("x", "y")}

    first, second = written(value + 1, x=2.0), written(value + 2, x=3.0, y=3.0)
    _on_app(env, index.committing, organization_id, first)
    _on_app(env, index.committing, organization_id, second)
    # A transaction that rolled back before its commit (its value is reused) releases nothing it did not hold.
    _on_app(env, index.abandoned, organization_id, written(value + 1, x=9.0))
    _on_app(env, index.committed, organization_id, second)
    assert costs() == {"x": 3.0, "y": 3.0}
    assert not _on_app(env, index.observe, organization_id, value + 1)  # their notifications: own values
    assert not _on_app(env, index.observe, organization_id, value + 2)
    _on_app(env, index.committed, organization_id, first)
    assert costs() == {"x": 3.0, "y": 3.0}  # the later writer's x stays
    assert not _on_app(env, index.observe, organization_id, value + 2)

    third, fourth = written(value + 3, x=4.0), written(value + 4, y=5.0)
    _on_app(env, index.committing, organization_id, third)
    _on_app(env, index.committing, organization_id, fourth)
    _on_app(env, index.committed, organization_id, fourth)
    assert costs() == {"x": 3.0, "y": 5.0}
    _on_app(env, index.abandoned, organization_id, third)  # did x change? unknown: dropped
    assert _snapshot(env, organization_id).by_name["untouched"] is not untouched
    assert _on_app(env, index.observe, organization_id, value + 5)  # later values are changes again


def test_a_notification_carries_the_counters_value_and_a_bare_name_is_still_understood() -> None:
    assert counters.parse_notification("models:org_1f:42") == ("models:org_1f", 42)
    assert counters.parse_notification("identity:7") == ("identity", 7)
    # The previous version's payload (a rolling upgrade): the bare name, changed to a value not given.
    assert counters.parse_notification("models:org_1f") == ("models:org_1f", None)
    assert counters.parse_notification("catalog") == ("catalog", None)
    assert counters.parse_notification("models:org_1f:x7") == ("models:org_1f:x7", None)
    assert counters.parse_notification("models:org_1f:\u0662") == ("models:org_1f:\u0662", None)  # not ASCII


@pytest.fixture
async def replicas(postgres_url: str, catalog: Catalog) -> AsyncIterator[tuple[Env, Env]]:
    """Two apps on one PostgreSQL database (two replicas in one process), polling once an hour."""
    async with (
        app_client(postgres_url, catalog, cache_poll_seconds=3600.0) as a,
        app_client(postgres_url, catalog, cache_poll_seconds=3600.0) as b,
    ):
        yield Env(a, postgres_url), Env(b, postgres_url)
    await _wipe(postgres_url)


async def _until(what: str, done: Callable[[], Awaitable[bool]]) -> None:
    """Await `done()` until it is true (fails past BOUND): yields to the listener between tries."""
    started = time.monotonic()
    while not await done():
        assert time.monotonic() - started < BOUND, what
        await asyncio.sleep(0.005)


async def test_a_replica_keeps_its_snapshot_on_its_own_writes_and_drops_it_on_anothers(
    replicas: tuple[Env, Env],
) -> None:
    """On PostgreSQL every write's notification reaches every replica, the writer's own included, and often
    before the writer's commit has returned: the writer must recognize its own counter values and keep the
    snapshot it updated in place (a reload of thousands of rows per write, before), while another replica's
    write still drops it at once."""
    a, b = replicas
    org, marker = await a.org(), await a.org("marker")
    for name in ("kept", "untouched"):
        body = {"model_name": name, "base_model_name": "gpt-4o", "input_cost": 1.0}
        assert (await a.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    body = {"model_name": "flag", "base_model_name": "gpt-4o", "input_cost": 1.0}
    assert (await a.client.post("/api/models/", json=body, headers=marker.headers)).status_code == 201
    assert (await _get(a, org, "untouched"))["input_cost"] == 1.0
    assert (await _get(a, marker, "flag"))["input_cost"] == 1.0
    untouched = _snapshot(a, org.organization_id).by_name["untouched"]

    for cost in range(2, 22):
        r = await a.client.patch("/api/models/kept/", json={"input_cost": cost}, headers=org.headers)
        assert r.status_code == 200, r.text
        assert (await _get(a, org, "kept"))["input_cost"] == cost
    # Notifications arrive in commit order: once A has acted on B's later write, it has seen all of its own.
    r = await b.client.patch("/api/models/flag/", json={"input_cost": 2.0}, headers=marker.headers)
    assert r.status_code == 200, r.text

    async def flag_seen() -> bool:
        return bool((await _get(a, marker, "flag"))["input_cost"] == 2.0)

    await _until("B's write never reached A", flag_seen)
    snapshot = _snapshot(a, org.organization_id)
    assert snapshot.by_name["untouched"] is untouched  # 20 writes, never reloaded
    assert snapshot.by_name["kept"].input_cost == 21

    # Another replica's write to this organization: dropped at once, the next read shows it.
    r = await b.client.patch("/api/models/untouched/", json={"input_cost": 3.0}, headers=org.headers)
    assert r.status_code == 200, r.text

    async def untouched_seen() -> bool:
        return bool((await _get(a, org, "untouched"))["input_cost"] == 3.0)

    await _until("B's write to the organization never reached A", untouched_seen)
    assert (await _get(a, org, "kept"))["input_cost"] == 21


async def test_a_notification_without_a_value_drops_the_snapshot(replicas: tuple[Env, Env]) -> None:
    """A server of the previous version (a rolling upgrade) notifies with the counter's bare name: changed,
    value unknown, so the snapshot is dropped; a notification of a value already accounted for is not."""
    a, _ = replicas
    org, marker = await a.org(), await a.org("marker")
    for who in (org, marker):
        body = {"model_name": "kept", "base_model_name": "gpt-4o"}
        assert (await a.client.post("/api/models/", json=body, headers=who.headers)).status_code == 201
    loaded, marked = _snapshot(a, org.organization_id), _snapshot(a, marker.organization_id)
    name = org_counter(org.organization_id)

    def notify(payload: str) -> None:
        async def send() -> None:
            async with a.client.app.state.registry.db.write() as session:
                await session.execute(select(func.pg_notify(counters.CHANNEL, payload)))

        _on_app(a, send)

    def dropped(organization_id: str, snapshot: OrgModels) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            return _snapshot(a, organization_id) is not snapshot

        return done

    notify(f"{name}:{_counter(a, org)}")  # a value this process accounted for: kept
    notify(org_counter(marker.organization_id))  # delivered after the first, so handled after it
    await _until("a bare name did not drop the snapshot", dropped(marker.organization_id, marked))
    assert _snapshot(a, org.organization_id) is loaded

    notify(name)  # the previous version's payload
    await _until("a bare name did not drop the snapshot", dropped(org.organization_id, loaded))
