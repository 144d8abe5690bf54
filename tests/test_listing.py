"""Model lists and summaries over HTTP: envelope, pagination, sorting, quick filters, visibility,
the public catalog, the bare GET /api/models/ array, anonymous access and its rate limit, and
freshness after writes (same process, and another process sharing the database).

Tests that can differ between the two read paths take the `lister` fixture: the memory path (the
`env` app itself) or an app forced onto SQL over the same database (`memory_index_max_models=0`).
Writes always go through `env.client`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from conftest import Env, Org, app_client, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog

LIST = "/api/models/list/"
SUMMARY = "/api/models/summary/"
CUSTOM = {"affiliation_category": {"operator": "", "value": ["custom"]}}
BAD_KEY = {"Authorization": "Bearer sk_live_definitely-not-a-key"}


@pytest.fixture(params=["memory", "sql"])
async def lister(request: pytest.FixtureRequest, env: Env, catalog: Catalog) -> AsyncIterator[AsyncTestClient[Any]]:
    if request.param == "memory":
        yield env.client
        return
    async with app_client(env.database_url, catalog, memory_index_max_models=0) as client:
        yield client


async def make_provider(env: Env, org: Org, provider_id: str = "p1", name: str = "Provider One") -> None:
    r = await env.client.post(
        "/api/providers/", json={"provider_id": provider_id, "provider_name": name}, headers=org.headers
    )
    assert r.status_code == 201, r.text


async def make_model(env: Env, org: Org, name: str, **fields: Any) -> dict[str, Any]:
    body = {"model_name": name, **fields}
    if "base_model_name" not in fields:
        body.setdefault("custom_provider_id", "p1")
    r = await env.client.post("/api/models/", json=body, headers=org.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def org_with(env: Env, names: list[str], **fields: Any) -> Org:
    org = await env.org()
    await make_provider(env, org)
    for name in names:
        await make_model(env, org, name, **fields)
    return org


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [m["model_name"] for m in response.json()["results"]]


def query(url: str | None) -> dict[str, list[str]]:
    assert url is not None
    return parse_qs(urlsplit(url).query)


def assert_400(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"]
    return dict(body)


def builtin_count(catalog: Catalog, **attrs: Any) -> int:
    return sum(1 for m in catalog.models.values() if all(getattr(m, k) == v for k, v in attrs.items()))


BAD_PAGING: list[dict[str, Any]] = [
    {"page": 0},
    {"page": -1},
    {"page_size": 0},
    {"page_size": -5},
    {"page_size": 1001},
    {"page": "abc"},
    {"page_size": "abc"},
    {"page": "1.5"},
    {"all": "maybe"},
]
BAD_FILTER_BODIES: list[dict[str, Any]] = [
    {"filters": {"nope": {"operator": "", "value": ["x"]}}},
    {"filters": {"model_name": {"operator": "like", "value": ["x"]}}},
    {"filters": {"input_cost": {"operator": "gt", "value": ["cheap"]}}},
    {"filters": {"model_name": {"operator": "regex", "value": ["("]}}},
    {"filters": {"input_cost": {"operator": "gt", "value": [1, 2]}}},
    {"filters": {"model_name": [{"operator": "", "value": ["x"]}] * 201}},
    {"filters": {"model_name": "x"}},
]


# ---- the envelope ---------------------------------------------------------------------------------


class TestEnvelope:
    async def test_shape_links_and_pages(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [f"env-{i}" for i in range(1, 6)])
        body = {"filters": {"affiliation_category": {"operator": "eq", "value": "custom"}}}
        first = await lister.post(
            LIST, params={"page": 1, "page_size": 2, "sort_by": "model_name"}, json=body, headers=org.headers
        )
        data = first.json()
        assert set(data) == {"count", "next", "previous", "current_filters", "results"}
        assert data["count"] == 5  # the total number of matches, not the page size
        assert data["previous"] is None
        assert data["current_filters"] == {"affiliation_category": {"operator": "", "value": ["custom"]}}
        assert names(first) == ["env-1", "env-2"]
        link = urlsplit(data["next"])
        assert link.scheme == "http" and link.netloc and link.path == "/api/models/list/"
        assert query(data["next"]) == {"page": ["2"], "page_size": ["2"], "sort_by": ["model_name"]}
        for item in data["results"]:
            assert item["id"] == item["model_name"] and item["affiliation_category"] == "custom"

        # `next` is a usable absolute URL.
        second = await lister.post(data["next"], json=body, headers=org.headers)
        assert names(second) == ["env-3", "env-4"]
        assert second.json()["count"] == 5
        assert query(second.json()["previous"])["page"] == ["1"] and query(second.json()["next"])["page"] == ["3"]

        last = await lister.post(LIST, params={"page": 3, "page_size": 2}, json=body, headers=org.headers)
        assert names(last) == ["env-5"]
        assert last.json()["next"] is None and query(last.json()["previous"])["page"] == ["2"]
        assert last.json()["count"] == 5

    async def test_links_keep_the_trailing_slash(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, ["a1", "a2", "a3"])
        for path in ("/api/models/list", "/api/models/list/"):
            r = await lister.post(
                path, params={"page": 2, "page_size": 1}, json={"filters": CUSTOM}, headers=org.headers
            )
            data = r.json()
            assert urlsplit(data["next"]).path == "/api/models/list/"
            assert urlsplit(data["previous"]).path == "/api/models/list/"

    async def test_get_links_keep_quick_filters(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, ["g1", "g2", "g3"])
        r = await lister.get(LIST, params={"affiliation_category": "custom", "page_size": 2}, headers=org.headers)
        assert names(r) == ["g1", "g2"] and r.json()["count"] == 3
        assert query(r.json()["next"]) == {"affiliation_category": ["custom"], "page": ["2"], "page_size": ["2"]}
        followed = await lister.get(r.json()["next"], headers=org.headers)
        assert names(followed) == ["g3"] and followed.json()["next"] is None

    async def test_current_filters_are_normalized(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, ["n1"])
        filters = {
            "provider_id": {"operator": "==", "value": "p1"},
            "name": {"operator": "ILIKE", "value": ["n"]},
            "input_cost": [{"operator": "gte", "value": ["0"]}, {"operator": "lt", "value": [2.5], "connector": "or"}],
            "function_call": {"operator": "in", "value": [True, "0"]},
            "is_managed": {"operator": "not_in", "value": ["true"]},
            "base_model_name": {"operator": "notEmpty", "value": [""]},
            "my_group": {"connector": "or", "filter_params": {"model_type": {"operator": "!=", "value": "chat"}}},
        }
        r = await lister.post(LIST, json={"filters": filters}, headers=org.headers)
        assert r.status_code == 200, r.text
        assert r.json()["current_filters"] == {
            "provider__provider_id": {"operator": "", "value": ["p1"]},
            "model_name": {"operator": "icontains", "value": ["n"]},
            "input_cost": [{"operator": "gte", "value": [0]}, {"operator": "lt", "value": [2.5], "connector": "OR"}],
            "function_call": {"operator": "", "value": [1, 0]},
            "is_managed": {"operator": "not", "value": [True]},
            "base_model_name": {"operator": "not_empty", "value": []},
            "filter_bundle": {
                "connector": "OR",
                "filter_params": {"model_type": {"operator": "not", "value": ["chat"]}},
            },
        }

    async def test_no_filters(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await org_with(env, ["x"])
        for body in ({}, {"filters": None}, {"filters": {}}, {"is_exporting": True}):
            r = await lister.post(LIST, params={"page_size": 1}, json=body, headers=org.headers)
            assert r.status_code == 200, (body, r.text)
            assert r.json()["count"] == len(catalog) + 1 and r.json()["current_filters"] == {}
        empty_body = await lister.post(LIST, params={"page_size": 1}, content=b"", headers=org.headers)
        assert empty_body.status_code == 200 and empty_body.json()["count"] == len(catalog) + 1


class TestPagination:
    async def test_exact_multiple_and_past_the_end(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, ["m1", "m2", "m3", "m4"])
        body = {"filters": CUSTOM}
        second = await lister.post(LIST, params={"page": 2, "page_size": 2}, json=body, headers=org.headers)
        assert names(second) == ["m3", "m4"] and second.json()["next"] is None
        for page in (3, 100):
            beyond = await lister.post(LIST, params={"page": page, "page_size": 2}, json=body, headers=org.headers)
            assert beyond.status_code == 200
            data = beyond.json()
            assert (data["results"], data["next"], data["count"]) == ([], None, 4)
            assert query(data["previous"])["page"] == ["2"]  # the last page that has results

    async def test_empty_result(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, ["m1"])
        r = await lister.post(
            LIST,
            json={"filters": {"model_name": {"operator": "", "value": ["nothing-like-this"]}}},
            headers=org.headers,
        )
        assert r.json() == {
            "count": 0,
            "next": None,
            "previous": None,
            "current_filters": {"model_name": {"operator": "", "value": ["nothing-like-this"]}},
            "results": [],
        }

    async def test_bad_paging_is_400_json(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        for params in BAD_PAGING:
            assert_400(await lister.post(LIST, params=params, json={}, headers=org.headers))
            assert_400(await lister.get(LIST, params=params, headers=org.headers))
            assert_400(await lister.post(LIST, params=params, json={}))  # anonymous too

    async def test_page_size_bounds_and_default(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        r = await lister.post(LIST, params={"page_size": 1000}, json={}, headers=org.headers)
        assert r.status_code == 200 and len(r.json()["results"]) == 1000
        assert query(r.json()["next"])["page_size"] == ["1000"]
        default = await lister.post(LIST, json={}, headers=org.headers)
        assert len(default.json()["results"]) == 100 and query(default.json()["next"])["page_size"] == ["100"]
        one = await lister.post(LIST, params={"page_size": 1}, json={}, headers=org.headers)
        assert len(one.json()["results"]) == 1

    async def test_all_returns_everything(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [f"all-{i:02d}" for i in range(12)])
        for params in ({"all": "true"}, {"all": "true", "page": 3, "page_size": 2}, {"all": "1"}):
            r = await lister.post(LIST, params=params, json={"filters": CUSTOM}, headers=org.headers)
            data = r.json()
            assert names(r) == [f"all-{i:02d}" for i in range(12)], params
            assert (data["count"], data["next"], data["previous"]) == (12, None, None)
        paged = await lister.post(
            LIST, params={"all": "false", "page_size": 5}, json={"filters": CUSTOM}, headers=org.headers
        )
        assert len(names(paged)) == 5 and paged.json()["next"] is not None

    async def test_pages_concatenate_to_all(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [f"c{i}" for i in range(9)])
        filters = {
            **CUSTOM,
            "x": {
                "connector": "OR",
                "filter_params": {"model_name": {"operator": "startswith", "value": ["openai/gpt-4o-mini"]}},
            },
        }
        for sort_by in ("model_name", "-input_cost", "max_context_window"):
            everything = names(
                await lister.post(
                    LIST, params={"all": "true", "sort_by": sort_by}, json={"filters": filters}, headers=org.headers
                )
            )
            seen: list[str] = []
            page = 1
            while True:
                r = await lister.post(
                    LIST,
                    params={"page": page, "page_size": 4, "sort_by": sort_by},
                    json={"filters": filters},
                    headers=org.headers,
                )
                seen += names(r)
                if r.json()["next"] is None:
                    break
                page += 1
            assert seen == everything and len(everything) > 12


class TestSortAndFilterErrors:
    async def test_unknown_sort_is_400(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        for sort_by in ("nope", "-nope", "provider", "throughput", "-"):
            body = assert_400(await lister.post(LIST, params={"sort_by": sort_by}, json={}, headers=org.headers))
            assert "sort_by" in body, sort_by
            assert_400(await lister.get(LIST, params={"sort_by": sort_by}, headers=org.headers))
            assert_400(await lister.get("/api/models/", params={"sort_by": sort_by}, headers=org.headers))

    async def test_bad_filters_are_400(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        for body in BAD_FILTER_BODIES:
            assert "filters" in assert_400(await lister.post(LIST, json=body, headers=org.headers)), body
            assert "filters" in assert_400(await lister.post(SUMMARY, json=body, headers=org.headers)), body
            assert "filters" in assert_400(await lister.post(LIST, json=body)), body  # anonymous too

    async def test_malformed_bodies_are_400(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        headers = {**org.headers, "Content-Type": "application/json"}
        for raw in (b"{not json", b"[]", b'{"filters": []}', b'{"filters": "x"}', b'{"is_exporting": "yes"}'):
            assert_400(await lister.post(LIST, content=raw, headers=headers))
            assert_400(await lister.post(SUMMARY, content=raw, headers=headers))

    async def test_respan_is_an_alias_of_keywordsai(
        self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog
    ) -> None:
        """Built-ins are `keywordsai` on the wire; the reference's `respan` should select them too."""
        org = await org_with(env, ["mine"])
        keywordsai = await lister.post(
            LIST,
            params={"page_size": 1},
            json={"filters": {"affiliation_category": {"operator": "", "value": ["keywordsai"]}}},
            headers=org.headers,
        )
        assert keywordsai.json()["count"] == len(catalog)
        respan = await lister.post(
            LIST,
            params={"page_size": 1},
            json={"filters": {"affiliation_category": {"operator": "", "value": ["respan"]}}},
            headers=org.headers,
        )
        assert respan.status_code == 200
        assert respan.json()["count"] == len(catalog)


# ---- GET quick filters ----------------------------------------------------------------------------


async def typed_org(env: Env) -> Org:
    org = await env.org()
    await make_provider(env, org)
    specs = [
        ("q-chat-1", "chat", 0.5),
        ("q-chat-2", "chat", 2.0),
        ("q-embed-1", "embedding", 0.1),
        ("q-embed-2", "embedding", None),
        ("q-speech", "speech", 5.0),
    ]
    for name, model_type, cost in specs:
        await make_model(env, org, name, model_type=model_type, input_cost=cost)
    return org


class TestQuickFilters:
    async def test_plain_equality(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await typed_org(env)
        r = await lister.get(
            LIST, params={"model_type": "embedding", "affiliation_category": "custom"}, headers=org.headers
        )
        assert names(r) == ["q-embed-1", "q-embed-2"]
        assert r.json()["current_filters"] == {
            "model_type": {"operator": "", "value": ["embedding"]},
            "affiliation_category": {"operator": "", "value": ["custom"]},
        }
        everything = await lister.get(LIST, params={"model_type": "embedding", "page_size": 1}, headers=org.headers)
        assert everything.json()["count"] == builtin_count(catalog, model_type="embedding") + 2
        anonymous = await lister.get(LIST, params={"model_type": "embedding", "page_size": 1})
        assert anonymous.json()["count"] == builtin_count(catalog, model_type="embedding")

    async def test_structured_operator(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await typed_org(env)
        r = await lister.get(
            "/api/models/list/?affiliation_category=custom&input_cost[operator]=lt&input_cost[value]=1",
            headers=org.headers,
        )
        assert names(r) == ["q-chat-1", "q-embed-1"]
        assert r.json()["current_filters"]["input_cost"] == {"operator": "lt", "value": [1]}
        posted = await lister.post(
            LIST,
            params={"all": "true"},
            json={"filters": {**CUSTOM, "input_cost": {"operator": "lt", "value": [1]}}},
            headers=org.headers,
        )
        assert names(posted) == names(r)

    async def test_repeated_values_mean_any(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await typed_org(env)
        r = await lister.get(
            "/api/models/list/?affiliation_category=custom&model_type=embedding&model_type=speech", headers=org.headers
        )
        assert names(r) == ["q-embed-1", "q-embed-2", "q-speech"]
        assert r.json()["current_filters"]["model_type"] == {"operator": "", "value": ["embedding", "speech"]}
        structured = await lister.get(
            "/api/models/list/?affiliation_category=custom&model_type[operator]=in"
            "&model_type[value]=chat&model_type[value]=speech",
            headers=org.headers,
        )
        assert names(structured) == ["q-chat-1", "q-chat-2", "q-speech"]

    async def test_connector_and_reserved_parameters(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await typed_org(env)
        r = await lister.get(
            "/api/models/list/?model_type=speech&affiliation_category=custom"
            "&input_cost[operator]=isnull&input_cost[value]=true&input_cost[connector]=OR"
            "&page=1&page_size=50&sort_by=affiliation_category&all=false&is_exporting=true",
            headers=org.headers,
        )
        # (speech AND custom) OR input_cost is null: built-ins without a price come along.
        data = r.json()
        assert data["current_filters"] == {
            "model_type": {"operator": "", "value": ["speech"]},
            "affiliation_category": {"operator": "", "value": ["custom"]},
            "input_cost": {"operator": "isnull", "value": [True], "connector": "OR"},
        }
        # Customs sort first (custom < keywordsai), ties by name.
        assert names(r)[:2] == ["q-embed-2", "q-speech"]
        assert "q-chat-1" not in names(r)
        assert data["count"] > 2 and all(m["input_cost"] is None for m in data["results"][2:])

    async def test_bad_quick_filters_are_400(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await org_with(env, [])
        for url in (
            "/api/models/list/?nope=1",
            "/api/models/list/?input_cost[oops]=1",
            "/api/models/list/?input_cost=abc",
            "/api/models/list/?input_cost[operator]=gt",
            "/api/models/list/?function_call=2",
            "/api/models/list/?model_type=chat&model_type[operator]=not&model_type[value]=x",
            "/api/models/summary/?nope=1",
            "/api/models/summary/?created_at[operator]=gt&created_at[value]=soon",
        ):
            assert_400(await lister.get(url, headers=org.headers))

    async def test_summary_quick_filters(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await typed_org(env)
        r = await lister.get(SUMMARY, params={"model_type": "embedding"}, headers=org.headers)
        embeddings = builtin_count(catalog, model_type="embedding")
        assert r.json() == {"summary": {"total_count": embeddings + 2, "global_count": embeddings, "custom_count": 2}}


# ---- summaries ------------------------------------------------------------------------------------


class TestSummary:
    async def test_anonymous(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        await org_with(env, ["hidden-1", "hidden-2"])
        expected = {"summary": {"total_count": len(catalog), "global_count": len(catalog), "custom_count": 0}}
        assert (await lister.post(SUMMARY, json={})).json() == expected
        assert (await lister.post(SUMMARY, content=b"")).json() == expected
        assert (await lister.get(SUMMARY)).json() == expected
        assert (await lister.post(SUMMARY, json={}, headers={"Authorization": ""})).json() == expected
        custom_only = await lister.post(SUMMARY, json={"filters": CUSTOM})
        assert custom_only.json() == {"summary": {"total_count": 0, "global_count": 0, "custom_count": 0}}

    async def test_authenticated(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await typed_org(env)
        await org_with(env, ["someone-elses"])
        r = await lister.post(SUMMARY, json={}, headers=org.headers)
        assert r.json() == {
            "summary": {"total_count": len(catalog) + 5, "global_count": len(catalog), "custom_count": 5}
        }
        assert (await lister.get(SUMMARY, headers=org.headers)).json() == r.json()

    async def test_after_filters(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await typed_org(env)
        embeddings = builtin_count(catalog, model_type="embedding")
        r = await lister.post(
            SUMMARY, json={"filters": {"model_type": {"operator": "", "value": ["embedding"]}}}, headers=org.headers
        )
        assert r.json() == {"summary": {"total_count": embeddings + 2, "global_count": embeddings, "custom_count": 2}}
        cheap = {"input_cost": {"operator": "lt", "value": [1]}}
        r = await lister.post(SUMMARY, json={"filters": cheap}, headers=org.headers)
        cheap_builtins = sum(1 for m in catalog.models.values() if m.input_cost is not None and m.input_cost < 1)
        assert r.json()["summary"] == {
            "total_count": cheap_builtins + 2,
            "global_count": cheap_builtins,
            "custom_count": 2,
        }
        listed = await lister.post(LIST, params={"page_size": 1}, json={"filters": cheap}, headers=org.headers)
        assert listed.json()["count"] == cheap_builtins + 2


# ---- the public catalog ---------------------------------------------------------------------------


class TestPublicCatalog:
    async def test_both_paths_no_auth(self, env: Env, catalog: Catalog) -> None:
        bodies = []
        for path in ("/api/models/public", "/api/models/public/"):
            for headers in ({}, BAD_KEY, {"Authorization": ""}):
                r = await env.client.get(path, headers=headers)
                assert r.status_code == 200, (path, headers, r.text)
                assert r.headers["content-type"].startswith("application/json")
                bodies.append(r.json())
        assert all(b == bodies[0] for b in bodies)
        models = bodies[0]["models"]
        assert set(bodies[0]) == {"models"}
        assert [m["model_name"] for m in models] == sorted(catalog.models)

    async def test_items(self, env: Env, catalog: Catalog) -> None:
        models = (await env.client.get("/api/models/public/")).json()["models"]
        for item in models:
            assert {
                "model_name",
                "max_context_window",
                "input_cost",
                "output_cost",
                "prompt_cost",
                "completion_cost",
                "provider",
            } <= set(item)
            assert item["prompt_cost"] == item["input_cost"] and item["completion_cost"] == item["output_cost"]
            assert set(item["provider"]) >= {"provider_name", "provider_id", "moderation", "credential_fields"}
            assert isinstance(item["provider"]["credential_fields"], list)
        by_name = {m["model_name"]: m for m in models}
        gpt = by_name["openai/gpt-4o"]
        source = catalog.models["openai/gpt-4o"]
        assert (gpt["input_cost"], gpt["output_cost"], gpt["max_context_window"]) == (
            source.input_cost,
            source.output_cost,
            source.max_context_window,
        )
        assert gpt["provider"]["provider_id"] == "openai"
        assert gpt["provider"]["provider_name"] == catalog.providers["openai"].provider_name
        assert gpt["provider"]["moderation"] in ("Filtered", "Unfiltered", "")
        assert "id" not in gpt and "affiliation_category" not in gpt  # a public descriptor, not the model object

    async def test_unnest(self, env: Env) -> None:
        nested = (await env.client.get("/api/models/public/")).json()["models"]
        for path in ("/api/models/public?unnest=true", "/api/models/public/?unnest=true"):
            bare = await env.client.get(path)
            assert bare.status_code == 200 and bare.json() == nested
        assert (await env.client.get("/api/models/public/?unnest=false")).json() == {"models": nested}

    async def test_only_builtins(self, env: Env, catalog: Catalog) -> None:
        org = await org_with(env, ["my-private-model"])
        for headers in ({}, org.headers):
            listed = {
                m["model_name"] for m in (await env.client.get("/api/models/public/", headers=headers)).json()["models"]
            }
            assert listed == set(catalog.models)
            assert "my-private-model" not in listed


# ---- GET /api/models/ -----------------------------------------------------------------------------


def assert_sorted(items: list[dict[str, Any]], field: str, descending: bool) -> None:
    """Nulls last in both directions, ties by model_name ascending."""
    values = [m[field] for m in items]
    first_null = next((i for i, v in enumerate(values) if v is None), len(values))
    assert all(v is None for v in values[first_null:]), f"{field}: a value after a null"
    present = items[:first_null]
    for a, b in itertools.pairwise(present):
        if a[field] == b[field]:
            assert a["model_name"] < b["model_name"], (a["model_name"], b["model_name"])
        else:
            assert (a[field] > b[field]) if descending else (a[field] < b[field]), (a["model_name"], b["model_name"])
    tail = [m["model_name"] for m in items[first_null:]]
    assert tail == sorted(tail)


class TestBareList:
    async def test_everything_visible_sorted(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await org_with(env, ["zz-last", "AA-first", "mid-model"], input_cost=1.5)
        other = await org_with(env, ["not-mine"])
        r = await lister.get("/api/models/", headers=org.headers)
        assert r.status_code == 200
        items = r.json()
        assert isinstance(items, list)
        listed = [m["model_name"] for m in items]
        assert listed == sorted(listed)
        assert set(listed) == set(catalog.models) | {"zz-last", "AA-first", "mid-model"}
        assert "not-mine" not in listed
        assert {m["model_name"] for m in (await lister.get("/api/models/", headers=other.headers)).json()} == set(
            catalog.models
        ) | {"not-mine"}
        with_all = await lister.get("/api/models/", params={"all": "true"}, headers=org.headers)
        assert [m["model_name"] for m in with_all.json()] == listed

    async def test_sort_by(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        org = await env.org()
        await make_provider(env, org)
        await make_model(env, org, "priced-high", input_cost=999999.0, max_context_window=5)
        await make_model(env, org, "priced-none")  # null cost: last in both directions
        await make_model(env, org, "priced-tie", input_cost=2.5, display_name="GPT-4o")
        for sort_by in ("input_cost", "-input_cost", "-max_context_window", "display_name", "-model_name"):
            r = await lister.get("/api/models/", params={"sort_by": sort_by}, headers=org.headers)
            assert r.status_code == 200, r.text
            items = r.json()
            assert_sorted(items, sort_by.lstrip("-"), sort_by.startswith("-"))
            listed = [m["model_name"] for m in items]
            if sort_by == "-input_cost":
                assert listed[0] == "priced-high"
            if sort_by.lstrip("-") == "input_cost":
                assert listed.index("priced-none") > listed.index("priced-high")
                assert listed.index("priced-none") > listed.index("priced-tie")

    async def test_needs_a_valid_key(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        anonymous = await lister.get("/api/models/")
        assert anonymous.status_code == 401
        assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
        bad = await lister.get("/api/models/", headers=BAD_KEY)
        assert bad.status_code == 401 and bad.json() == {"detail": "Invalid or expired credentials."}


# ---- anonymous callers and bad keys -------------------------------------------------------------------


class TestAnonymous:
    async def test_builtins_only(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await org_with(env, ["secret-a", "secret-b"])
        for headers in ({}, {"Authorization": ""}):
            everything = await lister.post(LIST, params={"page_size": 3}, json={}, headers=headers)
            assert everything.status_code == 200
            assert everything.json()["count"] == len(catalog)
            assert all(m["affiliation_category"] == "keywordsai" for m in everything.json()["results"])
            custom = await lister.post(LIST, json={"filters": CUSTOM}, headers=headers)
            assert custom.json()["count"] == 0 and names(custom) == []
            named = await lister.post(
                LIST,
                json={
                    "filters": {"model_name": {"operator": "in", "value": ["secret-a", "secret-b", "openai/gpt-4o"]}}
                },
                headers=headers,
            )
            assert names(named) == ["openai/gpt-4o"]
            got = await lister.get(LIST, params={"model_name": "secret-a"}, headers=headers)
            assert names(got) == []
        assert (await lister.post(LIST, json={"filters": CUSTOM}, headers=org.headers)).json()["count"] == 2

    async def test_invalid_key_is_401(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        for method, path in (
            ("POST", LIST),
            ("GET", LIST),
            ("POST", SUMMARY),
            ("GET", SUMMARY),
            ("GET", "/api/models/"),
        ):
            r = await lister.request(method, path, json={} if method == "POST" else None, headers=BAD_KEY)
            assert r.status_code == 401, (method, path)
            assert r.json() == {"detail": "Invalid or expired credentials."}

    async def test_rate_limit(self, env: Env, catalog: Catalog) -> None:
        org = await org_with(env, ["rl"])
        app = create_app(make_settings(env.database_url, anonymous_rate_limit="3/60"), catalog)
        async with AsyncTestClient(app=app) as client:
            assert (await client.post(LIST, params={"page_size": 1}, json={})).status_code == 200
            assert (await client.get(SUMMARY)).status_code == 200
            assert (await client.post(SUMMARY, json={})).status_code == 200
            limited = await client.post(LIST, params={"page_size": 1}, json={})
            assert limited.status_code == 429
            assert limited.headers["content-type"].startswith("application/json")
            assert int(limited.headers["retry-after"]) >= 1
            assert isinstance(limited.json()["detail"], str) and limited.json()["detail"]
            assert (await client.get(LIST)).status_code == 429
            assert (await client.get(SUMMARY)).status_code == 429
            # Authenticated callers are not limited; the public catalog never is.
            for _ in range(6):
                assert (
                    await client.post(LIST, params={"page_size": 1}, json={}, headers=org.headers)
                ).status_code == 200
                assert (await client.get(SUMMARY, headers=org.headers)).status_code == 200
                assert (await client.get("/api/models/public/")).status_code == 200
            # A bad key is refused as such, never counted as anonymous.
            assert (await client.post(LIST, json={}, headers=BAD_KEY)).status_code == 401


# ---- visibility: list ⇔ retrieve ---------------------------------------------------------------------


class TestVisibility:
    async def test_listed_iff_retrievable(self, env: Env, lister: AsyncTestClient[Any]) -> None:
        owner = await org_with(env, ["vis-own", "vis-own/slashed"])
        await make_model(env, owner, "shared-name", input_cost=1.0)
        rival = await org_with(env, ["vis-rival"])
        await make_model(env, rival, "shared-name", input_cost=2.0)
        candidates = [
            "vis-own",
            "vis-own/slashed",
            "vis-rival",
            "shared-name",
            "openai/gpt-4o",
            "gpt-4o",  # an alias: retrieve answers with the canonical model
            "anthropic/claude-x-does-not-exist",
            "does-not-exist",
        ]
        expectations = {
            "owner": (owner, {"vis-own", "vis-own/slashed", "shared-name", "openai/gpt-4o"}, 1.0),
            "rival": (rival, {"vis-rival", "shared-name", "openai/gpt-4o"}, 2.0),
        }
        for label, (org, expected, shared_cost) in expectations.items():
            retrieved: dict[str, str] = {}
            for name in candidates:
                r = await lister.get(f"/api/models/{name}/", headers=org.headers)
                assert r.status_code in (200, 404), (label, name, r.status_code)
                if r.status_code == 200:
                    retrieved[name] = r.json()["model_name"]
                    if name == "shared-name":
                        assert r.json()["input_cost"] == shared_cost
            visible = set(retrieved.values())
            listed = await lister.post(
                LIST,
                params={"all": "true"},
                json={"filters": {"model_name": {"operator": "in", "value": sorted(set(candidates) | visible)}}},
                headers=org.headers,
            )
            assert set(names(listed)) == visible == expected, label
            shared = [m for m in listed.json()["results"] if m["model_name"] == "shared-name"]
            assert len(shared) == 1 and shared[0]["input_cost"] == shared_cost
            summary = await lister.post(
                SUMMARY, json={"filters": {"model_name": {"operator": "in", "value": candidates}}}, headers=org.headers
            )
            assert summary.json()["summary"]["total_count"] == len(set(candidates) & expected)

        # Anonymous: retrieve needs a key, so the rule is "built-ins only".
        assert (await lister.get("/api/models/openai/gpt-4o/")).status_code == 401
        anonymous = await lister.post(
            LIST, params={"all": "true"}, json={"filters": {"model_name": {"operator": "in", "value": candidates}}}
        )
        assert names(anonymous) == ["openai/gpt-4o"]


# ---- freshness after writes ------------------------------------------------------------------------


class TestFreshness:
    async def test_own_writes_show_immediately(self, env: Env, lister: AsyncTestClient[Any], catalog: Catalog) -> None:
        org = await org_with(env, ["fresh-1"])
        cheap = {"filters": {**CUSTOM, "input_cost": {"operator": "gte", "value": [5]}}}

        async def state() -> tuple[list[str], list[str], int, list[str]]:
            listed = names(await lister.post(LIST, json={"filters": CUSTOM}, headers=org.headers))
            filtered = names(await lister.post(LIST, json=cheap, headers=org.headers))
            summary = (await lister.post(SUMMARY, json={}, headers=org.headers)).json()["summary"]["custom_count"]
            bare = [m["model_name"] for m in (await lister.get("/api/models/", headers=org.headers)).json()]
            return listed, filtered, summary, [n for n in bare if n.startswith("fresh-")]

        assert await state() == (["fresh-1"], [], 1, ["fresh-1"])  # warms every cache
        await make_model(env, org, "fresh-2", input_cost=1.0)
        assert await state() == (["fresh-1", "fresh-2"], [], 2, ["fresh-1", "fresh-2"])
        r = await env.client.patch("/api/models/fresh-2/", json={"input_cost": 7.0}, headers=org.headers)
        assert r.status_code == 200
        assert await state() == (["fresh-1", "fresh-2"], ["fresh-2"], 2, ["fresh-1", "fresh-2"])
        assert (await env.client.delete("/api/models/fresh-1/", headers=org.headers)).status_code == 204
        assert await state() == (["fresh-2"], ["fresh-2"], 1, ["fresh-2"])

        # A provider change is part of the listed value too.
        assert (await env.client.delete("/api/providers/p1/", headers=org.headers)).status_code == 204
        listed = await lister.post(LIST, json={"filters": CUSTOM}, headers=org.headers)
        assert [m["provider"] for m in listed.json()["results"]] == [None]
        orphaned = await lister.post(
            LIST,
            json={"filters": {**CUSTOM, "provider_id": {"operator": "isnull", "value": [True]}}},
            headers=org.headers,
        )
        assert names(orphaned) == ["fresh-2"]

    async def test_another_process_is_noticed_within_the_poll_interval(self, env: Env, catalog: Catalog) -> None:
        """A second app over the same database stands for another worker/replica or the CLI."""
        org = await org_with(env, ["seen-first"])
        assert await custom_names(env.client, org) == ["seen-first"]  # the first app now holds the org in memory
        await asyncio.sleep(0.6)  # a few poll intervals (0.2 s): the watcher has its baseline
        other = create_app(make_settings(env.database_url), catalog)
        async with AsyncTestClient(app=other) as second:
            r = await second.post(
                "/api/models/", json={"model_name": "from-elsewhere", "custom_provider_id": "p1"}, headers=org.headers
            )
            assert r.status_code == 201, r.text
            await eventually(env.client, org, CUSTOM, ["from-elsewhere", "seen-first"])

            r = await second.patch("/api/models/from-elsewhere/", json={"input_cost": 9.0}, headers=org.headers)
            assert r.status_code == 200
            costly = {**CUSTOM, "input_cost": {"operator": "gt", "value": [8]}}
            await eventually(env.client, org, costly, ["from-elsewhere"])

            assert (await second.delete("/api/models/seen-first/", headers=org.headers)).status_code == 204
            await eventually(env.client, org, CUSTOM, ["from-elsewhere"])
            summary = (await env.client.post(SUMMARY, json={}, headers=org.headers)).json()["summary"]
            assert summary["custom_count"] == 1

    async def test_writes_before_the_first_poll_are_noticed(self, env: Env, catalog: Catalog) -> None:
        """A snapshot loaded before the change watcher's first poll must not miss a write committed by
        another process in between (with a 1.5 s poll interval the window is wide enough to hit surely)."""
        org = await org_with(env, ["early"])
        first = create_app(make_settings(env.database_url, cache_poll_seconds=1.5), catalog)
        async with AsyncTestClient(app=first) as client:
            started = time.monotonic()
            assert await custom_names(client, org) == ["early"]  # snapshot loaded right after start
            r = await env.client.post(  # "another process": the env app
                "/api/models/", json={"model_name": "in-between", "custom_provider_id": "p1"}, headers=org.headers
            )
            assert r.status_code == 201
            assert time.monotonic() - started < 1.0, "too slow to land the write before the first poll"
            await eventually(client, org, CUSTOM, ["early", "in-between"])


async def custom_names(client: AsyncTestClient[Any], org: Org, filters: dict[str, Any] | None = None) -> list[str]:
    return names(await client.post(LIST, json={"filters": filters or CUSTOM}, headers=org.headers))


async def eventually(
    client: AsyncTestClient[Any], org: Org, filters: dict[str, Any], expected: list[str], timeout: float = 5.0
) -> float:
    """Poll the list until it shows `expected`; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await custom_names(client, org, filters) == expected:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"after {timeout} s still {await custom_names(client, org, filters)}, wanted {expected}")
