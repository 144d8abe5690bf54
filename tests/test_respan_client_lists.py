"""The read endpoints driven by the official client (respan-api 0.1.49) against a real `modelreg serve`.

Reuses test_respan_client's live-server fixtures: a server subprocess per backend over the test
database, and clients whose every exchange is recorded.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

os.environ.pop("RESPAN_API_KEY", None)  # read once at import by the client; it would override our keys

from respan.core.api_error import ApiError
from respan.errors import BadRequestError

import test_respan_client as live_fixtures
from conftest import Org
from modelreg.catalog.load import Catalog
from test_respan_client import Live, run

server = live_fixtures.server
live = live_fixtures.live

PAGER_FILTERS = {
    "model_name": [
        {"operator": "startswith", "value": ["pager-"]},
        {
            "operator": "in",
            "value": ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "missing/x"],
            "connector": "OR",
        },
    ]
}
PAGER_CUSTOMS = 17


async def seeded_org(live: Live, count: int = PAGER_CUSTOMS) -> Org:
    org = await live.env.org()
    m = live.client(org).models
    await run(m.create_custom_provider, provider_id="pager-prov", provider_name="Pager")
    for i in range(count):
        await run(
            m.create_custom_model,
            model_name=f"pager-{i:02d}",
            custom_provider_id="pager-prov",
            input_cost=float(i % 5) if i % 4 else None,
        )
    await run(m.create_custom_model, model_name="unrelated", custom_provider_id="pager-prov")
    return org


def all_at_once(live: Live, org: Org | None, filters: Any, sort_by: str) -> tuple[int, list[str]]:
    headers = org.headers if org is not None else {}
    r = httpx.post(
        f"{live.server.base_url}/api/models/list/",
        params={"all": "true", "sort_by": sort_by},
        json={"filters": filters},
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["count"], [m["model_name"] for m in r.json()["results"]]


class TestFilterModelsPager:
    async def test_list_of_pager_is_everything(self, live: Live, catalog: Catalog) -> None:
        org = await seeded_org(live)
        builtins = [n for n in PAGER_FILTERS["model_name"][1]["value"] if n in catalog.models]
        client, wire = live.client_and_wire(key=org.admin_key)
        for sort_by in ("model_name", "-input_cost"):
            before = len(wire.exchanges)
            pager = await run(client.models.filter_models, page_size=7, sort_by=sort_by, filters=PAGER_FILTERS)
            assert pager.response.count == PAGER_CUSTOMS + len(builtins) == 20
            assert len(pager.items) == 7  # first page only
            items = await run(list, pager)
            count, expected = all_at_once(live, org, PAGER_FILTERS, sort_by)
            assert count == pager.response.count
            assert [m.model_name for m in items] == expected
            assert len(items) == count and len({m.model_name for m in items}) == count

            # The pager asked for page 1..4; page 4 is past the end and came back 200 with no results.
            exchanges = wire.exchanges[before:]
            assert [e.url.params["page"] for e in exchanges] == ["1", "2", "3", "4"]
            assert all(e.status == 200 and e.url.params["page_size"] == "7" for e in exchanges)
            assert exchanges[-1].sent == {"filters": PAGER_FILTERS}
            last_page = json.loads(exchanges[-1].text)
            assert (last_page["results"], last_page["next"]) == ([], None)

        # The typed items carry the model fields.
        first = items[0]
        assert first.id == first.model_name and first.affiliation_category in ("custom", "keywordsai")

    async def test_iter_pages_and_anonymous(self, live: Live, catalog: Catalog) -> None:
        org = await seeded_org(live)
        mine = live.client(org).models
        pager = await run(mine.filter_models, page_size=7, sort_by="model_name", filters=PAGER_FILTERS)
        sizes = [len(page.items or []) for page in await run(lambda: list(pager.iter_pages()))]
        assert sizes == [7, 7, 6]

        anonymous = live.client().models
        anon_pager = await run(anonymous.filter_models, page_size=7, sort_by="model_name", filters=PAGER_FILTERS)
        anon_items = await run(list, anon_pager)
        _, expected = all_at_once(live, None, PAGER_FILTERS, "model_name")
        assert [m.model_name for m in anon_items] == expected
        assert all(m.model_name in catalog.models for m in anon_items) and anon_pager.response.count == len(expected)

    async def test_async_pager(self, live: Live) -> None:
        org = await seeded_org(live)
        client, wire = live.async_client(org)
        pager = await client.models.filter_models(page_size=7, sort_by="-model_name", filters=PAGER_FILTERS)
        items = [m async for m in pager]
        _, expected = all_at_once(live, org, PAGER_FILTERS, "-model_name")
        assert [m.model_name for m in items] == expected and len(items) == pager.response.count
        assert [e.url.params["page"] for e in wire.exchanges] == ["1", "2", "3", "4"]

    async def test_bad_filter_is_a_typed_400(self, live: Live) -> None:
        org = await live.env.org()
        m = live.client(org).models
        for filters in ({"nope": {"operator": "", "value": ["x"]}}, {"model_name": {"operator": "gt", "value": ["x"]}}):
            with pytest.raises(BadRequestError) as caught:
                await run(m.filter_models, filters=filters)
            assert caught.value.status_code == 400 and "filters" in caught.value.body
        with pytest.raises(BadRequestError) as too_big:
            await run(m.filter_models, page_size=1001)
        assert too_big.value.status_code == 400


class TestSummary:
    async def test_anonymous_and_authenticated(self, live: Live, catalog: Catalog) -> None:
        org = await seeded_org(live, count=3)
        anonymous = await run(live.client().models.filter_models_summary)
        assert (
            anonymous.summary.total_count,
            anonymous.summary.global_count,
            anonymous.summary.custom_count,
        ) == (len(catalog), len(catalog), 0)

        mine = live.client(org).models
        summary = (await run(mine.filter_models_summary)).summary
        assert (summary.total_count, summary.global_count, summary.custom_count) == (len(catalog) + 4, len(catalog), 4)

        filtered = (await run(mine.filter_models_summary, filters=PAGER_FILTERS)).summary
        builtins = sum(1 for n in PAGER_FILTERS["model_name"][1]["value"] if n in catalog.models)
        assert (filtered.total_count, filtered.global_count, filtered.custom_count) == (3 + builtins, builtins, 3)

        custom_only = {"affiliation_category": {"operator": "", "value": ["custom"]}}
        anon_custom = (await run(live.client().models.filter_models_summary, filters=custom_only)).summary
        assert (anon_custom.total_count, anon_custom.custom_count) == (0, 0)

    async def test_bad_key_is_401(self, live: Live) -> None:
        await live.env.org()
        client = live.client(key="sk_live_not-a-real-key")
        with pytest.raises(ApiError) as caught:
            await run(client.models.filter_models_summary)
        assert caught.value.status_code == 401


class TestPublicCatalog:
    async def test_both_shapes(self, live: Live, catalog: Catalog) -> None:
        org = await seeded_org(live, count=1)
        client, wire = live.client_and_wire(key=org.admin_key)
        nested = await run(client.models.list_models)
        assert hasattr(nested, "models"), type(nested)
        assert wire.last("GET").url.path == "/api/models/public/"
        names = [item.model_name for item in nested.models]
        assert names == sorted(catalog.models) and "pager-00" not in names

        bare = await run(client.models.list_models, unnest=True)
        assert isinstance(bare, list)
        assert wire.last("GET").url.params["unnest"] == "true"
        assert [item.model_name for item in bare] == names

        by_name = {item.model_name: item for item in bare}
        gpt, source = by_name["openai/gpt-4o"], catalog.models["openai/gpt-4o"]
        assert (gpt.input_cost, gpt.output_cost, gpt.prompt_cost, gpt.completion_cost) == (
            source.input_cost,
            source.output_cost,
            source.input_cost,
            source.output_cost,
        )
        assert gpt.max_context_window == source.max_context_window
        assert gpt.provider is not None and gpt.provider.provider_id == "openai"
        assert isinstance(gpt.provider.credential_fields, list)

        # No key at all, and a bad key: the public catalog answers either way.
        for anonymous in (live.client(), live.client(key="sk_live_not-a-real-key")):
            assert [i.model_name for i in (await run(anonymous.models.list_models)).models] == names
