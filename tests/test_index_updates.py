"""The in-memory index applies this process's own model writes in place (store/memory.py): every read after a
create, PATCH, delete or a base's change shows the write, in the model and in its dependents, in lists too;
and a write that cannot be applied that way (another process wrote meanwhile, a provider changed) drops the
organization's snapshot instead of serving a stale one."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from conftest import Env, Org, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.store import counters
from modelreg.store.memory import org_counter


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
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's poll (PostgreSQL's NOTIFY listener drops the snapshot on every notification)")
    org = await env.org()
    body = {"model_name": "kept", "base_model_name": "gpt-4o"}
    assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    index = env.client.app.state.registry.index
    loaded = await index.org(org.organization_id)
    for cost in (1.0, 2.0):
        r = await env.client.patch("/api/models/kept/", json={"input_cost": cost}, headers=org.headers)
        assert r.status_code == 200, r.text
    async with env.client.app.state.registry.db.read() as session:
        value = (await counters.read_all(session))[org_counter(org.organization_id)]
    updated = await index.org(org.organization_id)
    assert updated is not loaded and updated.by_name["kept"].input_cost == 2.0  # applied in place
    index.observe(org.organization_id, value - 1)  # a read from before the last PATCH
    assert await index.org(org.organization_id) is updated
    index.observe(org.organization_id, value)
    assert await index.org(org.organization_id) is updated
    index.observe(org.organization_id, value + 1)  # someone else wrote
    assert await index.org(org.organization_id) is not updated
