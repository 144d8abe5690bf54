"""Lists of organizations served by SQL (too large for the in-memory index; here forced with
memory_index_max_models=0): paging over the memoized order (services/sql_listing.py) returns every
model exactly once, with filters, sorts and a member's restricted visibility, equal to the memory
path; pages follow writes; the streamed answers (GET /api/models/, list ?all=true) are the very bytes
the memory path builds whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import Env, Org, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.domain.principal import Principal
from modelreg.filters.parse import parse_filters
from modelreg.services.listing import parse_sort
from modelreg.services.sql_listing import keyset_batch
from modelreg.store.access_sql import readable_sql
from modelreg.store.rows import ModelViewRow

LIST = "/api/models/list/"
CUSTOM = {"affiliation_category": {"operator": "", "value": ["custom"]}}
CHEAP = {"input_cost": {"operator": "lt", "value": [3]}}
MODELS = 60
PAGE = 7
STREAM_BATCH = 4
FEW = 12
"""Models enough for a few batches, where a test needs no more."""


@pytest.fixture
async def sql_client(env: Env, catalog: Catalog) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(env.database_url, memory_index_max_models=0), catalog)
    async with AsyncTestClient(app=app) as client:
        # Streams read a few models per batch here: every list below crosses many batch boundaries.
        app.state.registry.listing.batch = STREAM_BATCH
        yield client


async def _org(env: Env, models: int = MODELS) -> tuple[Org, dict[str, str], set[str]]:
    """An organization of `models` custom models; a member who cannot read every third one."""
    org = await env.org()
    _, member_key = await env.member(org)
    hidden = set()
    for i in range(models):
        name = f"large-{i:03d}" if i % 2 else f"Large/{i:03d}"
        body: dict[str, Any] = {"model_name": name, "base_model_name": "gpt-4o", "input_cost": (i * 7) % 6}
        if i % 3 == 0:
            body["access_grants"] = []
            hidden.add(name)
        r = await env.client.post("/api/models/", json=body, headers=org.headers)
        assert r.status_code == 201, r.text
    return org, {"Authorization": f"Bearer {member_key}"}, hidden


async def _all_pages(
    client: AsyncTestClient[Any], headers: dict[str, str], body: dict[str, Any], sort: str, size: int = PAGE
) -> Any:
    names: list[str] = []
    page, count = 1, None
    while True:
        params: dict[str, Any] = {"page": page, "page_size": size, "sort_by": sort}
        r = await client.post(LIST, params=params, json=body, headers=headers)
        assert r.status_code == 200, r.text
        data = r.json()
        assert count in (None, data["count"])
        count = data["count"]
        names += [m["model_name"] for m in data["results"]]
        if data["next"] is None:
            assert len(names) == count
            return names
        page += 1


async def test_pages_list_every_model_once_like_the_memory_path(env: Env, sql_client: AsyncTestClient[Any]) -> None:
    org, member, hidden = await _org(env)
    for headers, who in ((org.headers, "admin"), (member, "member")):
        for filters in ({**CUSTOM}, {**CUSTOM, **CHEAP}):
            for sort in ("model_name", "-input_cost"):
                paged = await _all_pages(sql_client, headers, {"filters": filters}, sort)
                assert len(paged) == len(set(paged)), (who, sort, "a model listed twice")
                everything = {"all": "true", "sort_by": sort}
                whole = await sql_client.post(LIST, params=everything, json={"filters": filters}, headers=headers)
                assert [m["model_name"] for m in whole.json()["results"]] == paged
                memory = await _all_pages(env.client, headers, {"filters": filters}, sort)
                assert paged == memory, (who, filters, sort)
                if who == "member":
                    assert not hidden & set(paged)
                elif filters == CUSTOM:
                    assert len(paged) == MODELS
        # Built-ins merged with custom models: every page of the unfiltered list, against the memory path.
        for sort in ("-input_cost", "model_name"):
            unfiltered = await _all_pages(sql_client, headers, {}, sort, 997)
            assert unfiltered == await _all_pages(env.client, headers, {}, sort, 997), sort


async def test_pages_follow_writes_between_them(env: Env, sql_client: AsyncTestClient[Any]) -> None:
    """Pages are offsets into the current list (the Respan contract): a model created after the pages
    already read shows on a later page, one deleted is gone from the next page read."""
    org, _, _ = await _org(env)
    body = {"filters": CUSTOM}
    first = await sql_client.post(LIST, params={"page": 1, "page_size": PAGE}, json=body, headers=org.headers)
    seen = [m["model_name"] for m in first.json()["results"]]
    late = {"model_name": "zz-late", "base_model_name": "gpt-4o"}
    r = await env.client.post("/api/models/", json=late, headers=org.headers)
    assert r.status_code == 201
    assert (await env.client.delete("/api/models/large-059/", headers=org.headers)).status_code == 204
    rest = await _all_pages(sql_client, org.headers, body, "model_name")
    assert rest[:PAGE] == seen
    assert "zz-late" in rest and "large-059" not in rest and len(rest) == MODELS


async def test_streamed_lists_are_the_bytes_of_the_whole_answer(env: Env, sql_client: AsyncTestClient[Any]) -> None:
    org, member, _ = await _org(env)
    for headers in (org.headers, member):
        for sort in ("model_name", "-model_name", "-input_cost"):
            streamed = await sql_client.get("/api/models/", params={"sort_by": sort}, headers=headers)
            whole = await env.client.get("/api/models/", params={"sort_by": sort}, headers=headers)
            assert streamed.status_code == whole.status_code == 200
            assert "content-length" not in streamed.headers  # written batch by batch
            assert streamed.headers["content-type"].startswith("application/json")
            assert streamed.content == whole.content
        for filters in ({}, CHEAP, {"model_name": {"operator": "", "value": ["none-such"]}}):
            streamed = await sql_client.post(LIST, params={"all": "true"}, json={"filters": filters}, headers=headers)
            whole = await env.client.post(LIST, params={"all": "true"}, json={"filters": filters}, headers=headers)
            assert streamed.status_code == whole.status_code == 200
            assert streamed.content == whole.content


async def test_bad_paging_is_400(env: Env, sql_client: AsyncTestClient[Any]) -> None:
    org = await env.org()
    for params, field in (({"page_size": 0}, "page_size"), ({"page_size": 1001}, "page_size"), ({"page": 0}, "page")):
        r = await sql_client.post(LIST, params=params, json={}, headers=org.headers)
        assert r.status_code == 400, r.text
        assert field in r.text
    r = await sql_client.get("/api/v1/models/list", params={"page": 0}, headers=org.headers)
    assert r.status_code == 400, r.text


def _facets(page: str) -> str:
    match = re.search(r'<div class="grid facets">(.*?)</div>', page, re.S)
    assert match is not None
    return match.group(1)


async def _console(client: AsyncTestClient[Any], api_key: str) -> None:
    form = await client.get("/ui/signin")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = await client.post(
        "/ui/signin", data={"_csrf_token": token.group(1), "api_key": api_key}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text


async def test_other_unbounded_lists_are_bounded_like_the_memory_path(
    env: Env, sql_client: AsyncTestClient[Any]
) -> None:
    """For an organization served by SQL: `/v1/models` (callable models only) and Open WebUI's export
    (writable custom models only) are written batch by batch, never built whole, and are the very bytes the
    memory path answers; the console's counts per provider and per type come from SQL's GROUP BY (no model
    is read) with the same counts, names and order. For an admin and for a member who may see less."""
    org, member, hidden = await _org(env)
    provider = {
        "provider_id": "team-vllm",
        "provider_name": "Team vLLM",
        "extra_kwargs": {"base_url": "https://vllm.example/v1"},
    }
    assert (await env.client.post("/api/providers/", json=provider, headers=org.headers)).status_code == 201
    for i in range(5):
        body = {"model_name": f"served-{i}", "provider_id": "team-vllm", "model_type": "embedding", "is_active": i != 3}
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    for headers in (org.headers, member):
        for path in ("/v1/models", "/api/v1/models/export"):
            streamed = await sql_client.get(path, headers=headers)
            whole = await env.client.get(path, headers=headers)
            assert streamed.status_code == whole.status_code == 200, streamed.text
            assert "content-length" not in streamed.headers  # written batch by batch
            assert streamed.headers["content-type"].startswith("application/json")
            assert streamed.content == whole.content, path
    called = [m["id"] for m in (await sql_client.get("/v1/models", headers=org.headers)).json()["data"]]
    assert {"served-0", "served-4"} <= set(called) and "served-3" not in called
    exported = [m["id"] for m in (await sql_client.get("/api/v1/models/export", headers=org.headers)).json()]
    assert len(exported) == 60 + 5 and not {"gpt-4o"} & set(exported)
    assert not hidden & {m["id"] for m in (await sql_client.get("/api/v1/models/export", headers=member)).json()}
    # The console's facets, signed in as the member.
    for client in (sql_client, env.client):
        await _console(client, member["Authorization"].removeprefix("Bearer "))
    for query in ("", "?type=embedding", "?q=large", "?provider=team-vllm&type=chat"):
        sql_page = await sql_client.get(f"/ui/{query}")
        memory_page = await env.client.get(f"/ui/{query}")
        assert sql_page.status_code == memory_page.status_code == 200
        assert _facets(sql_page.text) == _facets(memory_page.text), query
    # The member does not see the inactive served-3 (inactive models are visible to their writers only).
    assert "Team vLLM</a><span>4</span>" in _facets((await sql_client.get("/ui/?type=embedding")).text)


async def test_a_stream_by_name_walks_the_index_and_sees_writes_ahead_of_it(
    env: Env, sql_client: AsyncTestClient[Any]
) -> None:
    """A list sorted by name is streamed by keyset pagination (services/sql_listing.py, `by_name`): the
    count and first batch are read at once; each later batch sees what was committed before it: a model
    created ahead of the stream's position shows, one created behind it does not, one deleted ahead is
    gone; no name comes twice and the order holds."""
    org, _, _ = await _org(env, FEW)
    registry = sql_client.app.state.registry
    # The app's database connections live on the client's loop: call the service there.
    call = sql_client.blocking_portal.call
    principal = call(registry.authenticator.authenticate, org.headers["Authorization"])
    streamed = call(registry.listing.stream, principal, parse_filters(CUSTOM), parse_sort("model_name"))
    assert streamed.total == FEW
    batches = streamed.batches()
    names = [m.name for m in call(batches.__anext__)]
    assert len(names) == STREAM_BATCH
    for name in ("Large/000-behind", "zz-ahead"):
        body = {"model_name": name, "base_model_name": "gpt-4o"}
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    assert (await env.client.delete("/api/models/large-011/", headers=org.headers)).status_code == 204
    while True:
        try:
            names += [m.name for m in call(batches.__anext__)]
        except StopAsyncIteration:
            break
    assert names == sorted(names) and len(names) == len(set(names))
    assert "zz-ahead" in names and "Large/000-behind" not in names and "large-011" not in names
    assert len(names) == FEW


async def test_postgresql_walks_names_in_code_point_order_by_index(env: Env) -> None:
    """On PostgreSQL the keyset's order (`COLLATE "C"`) has its own index (migration 0011): no batch
    sorts the organization."""
    if not env.database_url.startswith("postgresql"):
        pytest.skip("SQLite's unique index on (organization_id, model_name) is in code-point order already")
    member = Principal(user_id="u", organization_id="o", role="member", email="m@example.com")
    scopes = [  # an admin's stream, and a member's (only what grants allow: store/access_sql.py)
        ModelViewRow.organization_id == "o",
        (ModelViewRow.organization_id == "o") & readable_sql(member),
    ]
    plans: list[str] = []
    engine = create_async_engine(env.database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET LOCAL enable_sort = off"))
            for scope, descending, after in [
                (s, d, a) for s in scopes for d, a in ((False, None), (False, "a"), (True, "z"))
            ]:
                # The statement the stream runs (services/sql_listing.py), as PostgreSQL would be sent it.
                statement = keyset_batch(scope, "postgresql", descending, 4, after)
                sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
                plan = await connection.execute(text(f"EXPLAIN {sql}"))
                plans.append("\n".join(row[0] for row in plan))
    finally:
        await engine.dispose()
    for lines in plans:
        assert "ix_model_views_org_name_c" in lines and "Sort" not in lines, lines


async def test_a_database_fault_mid_stream_ends_the_body_at_once(
    env: Env, sql_client: AsyncTestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The status is sent before the models are: a fault after it (here the breaker a statement timeout
    opens, store/faults.py) ends the body at once, unterminated (never valid JSON, so never taken for the
    whole list), with one log line and no traceback."""
    org, _, _ = await _org(env, FEW)
    app = sql_client.app
    messages: list[dict[str, Any]] = []

    requested, done = False, asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client stays until the response ends
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()
        if message["type"] == "http.response.body" and len(messages) == 2:
            app.state.registry.db.health.failed("timeout")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/models/",
        "raw_path": b"/api/models/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"authorization", org.headers["Authorization"].encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
    }
    with caplog.at_level(logging.WARNING):
        sql_client.blocking_portal.call(app, scope, receive, send)
    assert messages[0]["type"] == "http.response.start" and messages[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in messages[1:])
    assert body.startswith(b"[{") and not body.endswith(b"]")
    assert messages[-1]["type"] == "http.response.body" and not messages[-1].get("more_body", False)
    assert len(body) < 3 * STREAM_BATCH * 2000  # a batch or two, not the list
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    ended = [r for r in caplog.records if "ended early" in r.getMessage()]
    assert len(ended) == 1 and ended[0].exc_info is None and "timeout" in ended[0].getMessage()
