"""Dated prices: a price scheduled for later applies at its time (an injected clock, no sleeping), calls are
billed at the prices in force when they started (gateway, request logs, usage reports), earlier calls keep
their cost, inheritance follows the base's schedule, and who may schedule (docs/pricing.md).

The app runs in-process with a clock the test moves; the gateway reaches the fake upstream over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from conftest import Env, Org, _wipe, make_settings
from fake_upstream import FakeUpstream, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from modelreg.app import create_app
from modelreg.catalog.load import SNAPSHOT_PATH, Catalog, catalog_from_snapshot
from modelreg.catalog.sources import CatalogFormatError, apply_genai_prices, from_litellm, from_modelreg
from modelreg.registry import Registry
from test_gateway import UPSTREAM_KEY

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class Priced(Env):
    def __init__(self, client: AsyncTestClient[Any], database_url: str, clock: Clock, upstream: FakeUpstream):
        super().__init__(client, database_url)
        self.clock = clock
        self.upstream = upstream
        self.start = clock.now

    @property
    def reg(self) -> Registry:
        registry: Registry = self.client.app.state["registry"]
        return registry

    async def call(self, org: Org | dict[str, str], method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        headers = org.headers if isinstance(org, Org) else org
        response = await self.client.request(method, path, json=body, headers=headers)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    async def setup(self, name: str) -> Org:
        org = await self.org(name)
        extra = {"base_url": self.upstream.base_url, "timeout": 5}
        provider = {"provider_id": "fake", "provider_name": "Fake", "extra_kwargs": extra, "api_key": UPSTREAM_KEY}
        await self.call(org, "POST", "/api/providers/", provider, 201)
        return org

    async def chat(self, org: Org, model: str, words: int) -> dict[str, Any]:
        messages = [{"role": "user", "content": " ".join(["w"] * words)}]
        body = {"model": model, "messages": messages}
        await self.call(org, "POST", "/v1/chat/completions", body)
        return expected_usage(model, messages)

    async def usage(self, org: Org, requests: int) -> dict[str, Any]:
        """The organization's usage over the test's span, once the meter wrote its `requests` calls."""
        window = f"start_time={int(self.start - HOUR)}&end_time={int(self.start + 10 * HOUR)}"
        for _ in range(300):
            report = dict(await self.call(org, "GET", f"/api/usage/?{window}"))
            if report["totals"]["requests"] >= requests:
                assert report["totals"]["requests"] == requests
                return report
            await asyncio.sleep(0.02)
        raise AssertionError("the meter did not write the calls")

    async def move_to(self, seconds: float) -> None:
        """Move the clock and wait until the app's price loop (polling every 0.05 s here) applied what came due.
        The app runs in its own event loop: only plain attribute reads cross over."""
        self.clock.now = seconds
        for _ in range(300):
            await asyncio.sleep(0.02)
            if not self.reg.prices.due():
                return
        raise AssertionError("the price loop did not apply the due entries")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def cost(prices: dict[str, float], usage: dict[str, Any]) -> float:
    return (usage["prompt_tokens"] * prices["input_cost"] + usage["completion_tokens"] * prices["output_cost"]) / 1e6


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@contextlib.asynccontextmanager
async def priced_app(
    database_url: str, catalog: Catalog, upstream: FakeUpstream, clock: Clock
) -> AsyncIterator[Priced]:
    app = create_app(
        make_settings(database_url, upstream_allow="127.0.0.0/8", usage_flush_seconds=0.1, price_poll_seconds=0.05),
        catalog,
        clock=clock,
    )
    async with AsyncTestClient(app=app) as client:
        yield Priced(client, database_url, clock, upstream)
    await _wipe(database_url)


@pytest.fixture
async def env(database_url: str, catalog: Catalog, upstream: FakeUpstream) -> AsyncIterator[Priced]:
    async with priced_app(database_url, catalog, upstream, Clock()) as priced:
        yield priced


OLD = {"input_cost": 1.0, "output_cost": 4.0}
NEW = {"input_cost": 2.0, "output_cost": 4.0}


async def test_a_scheduled_price_applies_at_its_time_and_earlier_calls_keep_their_cost(env: Priced) -> None:
    org = await env.setup("dated")
    await env.call(org, "POST", "/api/models/", {"model_name": "m", "custom_provider_id": "fake", **OLD}, 201)
    change_at = env.start + HOUR
    entry = await env.call(
        org, "POST", "/api/models/m/prices/", {"effective_from": iso(change_at), "input_cost": 2}, 201
    )
    assert entry["status"] == "scheduled" and entry["source"] == "own" and entry["origin"] == "schedule"
    assert (entry["input_cost"], entry["output_cost"]) == (2.0, 4.0)  # a price not sent keeps its value
    assert (await env.call(org, "GET", "/api/models/m/"))["input_cost"] == 1.0

    before = await env.chat(org, "m", 300)
    await env.move_to(change_at - 1)
    assert (await env.call(org, "GET", "/api/models/m/"))["input_cost"] == 1.0  # not yet
    await env.move_to(change_at)
    assert (await env.call(org, "GET", "/api/models/m/"))["input_cost"] == 2.0  # applied by itself
    after = await env.chat(org, "m", 300)
    # A call reported late is billed at the prices in force when it started, one started at the change at the
    # new ones (by default a log started `latency` ago: that is before the change, at the old ones).
    logs = [
        {
            "model": "m",
            "prompt_tokens": 1000,
            "completion_tokens": 100,
            "latency": 1,
            "start_time": iso(change_at - 60),
        },
        {"model": "m", "prompt_tokens": 1000, "completion_tokens": 100, "latency": 1, "start_time": change_at},
        {"model": "m", "prompt_tokens": 1000, "completion_tokens": 100, "latency": 1},
    ]
    await env.call(org, "POST", "/api/request-logs/", logs, 202)
    log_usage = {"prompt_tokens": 1000, "completion_tokens": 100}

    expected = cost(OLD, before) + cost(NEW, after) + 2 * cost(OLD, log_usage) + cost(NEW, log_usage)
    report = await env.usage(org, 5)
    assert report["totals"]["cost"] == pytest.approx(expected)
    # Changing the price again (now, and scheduled) never rewrites what was recorded.
    await env.call(org, "PATCH", "/api/models/m/", {"input_cost": 10})
    await env.call(org, "POST", "/api/models/m/prices/", {"effective_from": change_at + HOUR, "input_cost": 20}, 201)
    await asyncio.sleep(0.2)  # a flush or two later
    assert (await env.usage(org, 5))["totals"]["cost"] == pytest.approx(expected)

    history = await env.call(org, "GET", "/api/models/m/prices/")
    assert [(e["origin"], e["input_cost"], e["status"]) for e in history["results"]] == [
        ("create", 1.0, "superseded"),
        ("schedule", 2.0, "superseded"),
        ("update", 10.0, "in_force"),
        ("schedule", 20.0, "scheduled"),
    ]
    assert history["current"]["input_cost"] == 10.0
    revisions = await env.call(org, "GET", "/api/models/m/revisions/")
    assert [r["action"] for r in revisions["results"]] == ["update", "price_effective", "create"]
    assert revisions["results"][1]["via"] == "scheduler" and revisions["results"][1]["after"]["input_cost"] == 2.0


async def test_a_call_started_at_the_moment_of_the_change_is_billed_at_the_new_price(env: Priced) -> None:
    org = await env.setup("edge")
    await env.call(org, "POST", "/api/models/", {"model_name": "e", "custom_provider_id": "fake", **OLD}, 201)
    change_at = env.start + 600
    await env.call(org, "POST", "/api/models/e/prices/", {"effective_from": change_at, "input_cost": 2}, 201)
    env.clock.now = change_at  # whether the loop or the gateway's own check applies it first
    usage = await env.chat(org, "e", 50)
    logs = [{"model": "e", "prompt_tokens": 10, "completion_tokens": 0, "latency": 0, "start_time": change_at}]
    await env.call(org, "POST", "/api/request-logs/", logs, 202)
    report = await env.usage(org, 2)
    assert report["totals"]["cost"] == pytest.approx(cost(NEW, usage) + 10 * 2.0 / 1e6)


async def test_a_child_follows_its_base_schedule(env: Priced) -> None:
    org = await env.setup("inherit")
    await env.call(org, "POST", "/api/models/", {"model_name": "base", "custom_provider_id": "fake", **OLD}, 201)
    await env.call(org, "POST", "/api/models/", {"model_name": "child", "base_model_name": "base"}, 201)
    change_at = env.start + HOUR
    await env.call(org, "POST", "/api/models/base/prices/", {"effective_from": iso(change_at), "input_cost": 5}, 201)
    await env.move_to(change_at + 10)
    assert (await env.call(org, "GET", "/api/models/child/"))["input_cost"] == 5.0
    logs = [
        {"model": "child", "prompt_tokens": 1000, "completion_tokens": 0, "latency": 1, "start_time": change_at - 5},
        {"model": "child", "prompt_tokens": 1000, "completion_tokens": 0, "latency": 1, "start_time": change_at + 5},
    ]
    await env.call(org, "POST", "/api/request-logs/", logs, 202)
    assert (await env.usage(org, 2))["totals"]["cost"] == pytest.approx((1000 * 1.0 + 1000 * 5.0) / 1e6)

    history = await env.call(org, "GET", "/api/models/child/prices/")
    assert {(e["model_name"], e["source"], e["input_cost"], e["status"]) for e in history["results"]} == {
        ("base", "base", 1.0, "superseded"),
        ("base", "base", 5.0, "in_force"),
    }
    # A built-in root shows the catalog's prices as the last link.
    await env.call(org, "POST", "/api/models/", {"model_name": "on-gpt", "base_model_name": "gpt-4o"}, 201)
    catalog_rows = (await env.call(org, "GET", "/api/models/on-gpt/prices/"))["results"]
    assert catalog_rows and {e["source"] for e in catalog_rows} == {"catalog"}
    assert any(e["status"] == "in_force" for e in catalog_rows)


BAD_SCHEDULES: list[tuple[dict[str, Any], str]] = [
    ({"effective_from": "2001-01-01T00:00:00Z", "input_cost": 1}, "effective_from"),
    ({"effective_from": "next tuesday", "input_cost": 1}, "effective_from"),
    ({"input_cost": 1}, "effective_from"),
    ({"effective_from": "2999-01-01T00:00:00Z", "input_cost": -1}, "input_cost"),
    ({"effective_from": "2999-01-01T00:00:00Z", "surprise": 1}, "surprise"),
    (
        {
            "effective_from": "2999-01-01T00:00:00Z",
            "pricing_tiers": [
                {"above_input_tokens": 200_000, "input_cost": 2},
                {"above_input_tokens": 100_000, "input_cost": 3},
            ],
        },
        "pricing_tiers",
    ),
]


async def test_bad_schedules_are_400_and_store_nothing(env: Priced) -> None:
    org = await env.setup("bad")
    await env.call(org, "POST", "/api/models/", {"model_name": "m", "custom_provider_id": "fake", **OLD}, 201)
    for body, field in BAD_SCHEDULES:
        response = await env.client.post("/api/models/m/prices/", json=body, headers=org.headers)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text, (body, response.text)
    history = await env.call(org, "GET", "/api/models/m/prices/")
    assert [e["origin"] for e in history["results"]] == ["create"]


async def test_who_may_schedule_and_delete(env: Priced) -> None:
    org = await env.setup("perm")
    await env.call(org, "POST", "/api/models/", {"model_name": "m", "custom_provider_id": "fake", **OLD}, 201)
    later = {"effective_from": iso(env.start + HOUR), "input_cost": 3}
    _, member_key = await env.member(org)
    member = {"Authorization": f"Bearer {member_key}"}
    other = await env.setup("other")

    assert (await env.call(member, "GET", "/api/models/m/prices/"))["results"]  # readers see prices
    await env.call(member, "POST", "/api/models/m/prices/", later, 403)
    await env.call(other, "GET", "/api/models/m/prices/", expect=404)
    await env.call(other, "POST", "/api/models/m/prices/", later, 404)
    await env.call(org, "POST", "/api/models/gpt-4o/prices/", later, 403)  # built-ins are read-only
    await env.call(org, "POST", "/api/models/missing/prices/", later, 404)

    entry = await env.call(org, "POST", "/api/models/m/prices/", later, 201)
    await env.call(member, "DELETE", f"/api/models/m/prices/{entry['id']}/", expect=403)
    await env.call(other, "DELETE", f"/api/models/m/prices/{entry['id']}/", expect=404)
    await env.call(org, "DELETE", f"/api/models/m/prices/{entry['id']}/", expect=204)
    await env.call(org, "DELETE", f"/api/models/m/prices/{entry['id']}/", expect=404)
    in_force = (await env.call(org, "GET", "/api/models/m/prices/"))["results"][0]
    assert in_force["status"] == "in_force" and in_force["id"] is not None
    await env.call(org, "DELETE", f"/api/models/m/prices/{in_force['id']}/", expect=400)
    # Names the routes would shadow are refused.
    await env.call(org, "POST", "/api/models/", {"model_name": "x/prices", "custom_provider_id": "fake"}, 400)
    await env.call(org, "POST", "/api/models/", {"model_name": "x/prices/7", "custom_provider_id": "fake"}, 400)


# ---- the catalog's dated prices ------------------------------------------------------------------


def _dated_catalog(change_at: float) -> dict[str, Any]:
    model = {
        "model_name": "openai/dated-x",
        "native_name": "dated-x",
        "provider_id": "openai",
        "input_cost": 1.0,
        "output_cost": 2.0,
        "dated_prices": [
            {"effective_from": None, "input_cost": 1.0, "output_cost": 2.0},
            {"effective_from": iso(change_at).replace("+00:00", "Z"), "input_cost": 3.0, "output_cost": 6.0},
        ],
    }
    snapshot = {"format": "modelreg-catalog/3", "sources": {}, "providers": {"openai": {"provider_name": "OpenAI"}}}
    return from_modelreg({**snapshot, "models": [model]})


async def test_catalog_dated_prices_switch_at_their_date(
    database_url: str, upstream: FakeUpstream, catalog: Catalog
) -> None:
    clock = Clock()
    change_at = float(int(clock.now + HOUR))
    dated = catalog_from_snapshot(_dated_catalog(change_at), now=clock.now)
    assert dated.models["openai/dated-x"].input_cost == 1.0 and dated.next_transition == change_at
    async with priced_app(database_url, dated, upstream, clock) as env:
        org = await env.setup("catalog")
        await env.call(org, "POST", "/api/models/", {"model_name": "heir", "base_model_name": "openai/dated-x"}, 201)
        await env.move_to(change_at)
        assert (await env.call(org, "GET", "/api/models/openai/dated-x/"))["input_cost"] == 3.0
        assert (await env.call(org, "GET", "/api/models/heir/"))["input_cost"] == 3.0  # its view was rewritten
        logs = [
            {"model": "heir", "prompt_tokens": 1000, "completion_tokens": 0, "latency": 1, "start_time": change_at - 1},
            {"model": "heir", "prompt_tokens": 1000, "completion_tokens": 0, "latency": 1, "start_time": change_at},
        ]
        await env.call(org, "POST", "/api/request-logs/", logs, 202)
        assert (await env.usage(org, 2))["totals"]["cost"] == pytest.approx((1000 * 1.0 + 1000 * 3.0) / 1e6)
        history = (await env.call(org, "GET", "/api/models/heir/prices/"))["results"]
        assert [(e["source"], e["input_cost"], e["status"]) for e in history] == [
            ("catalog", 1.0, "superseded"),
            ("catalog", 3.0, "in_force"),
        ]


def test_genai_prices_dated_prices_are_kept() -> None:
    litellm = {"dated-x": {"mode": "chat", "litellm_provider": "openai", "input_cost_per_token": 9e-06}}
    genai = [
        {
            "id": "openai",
            "name": "OpenAI",
            "models": [
                {
                    "id": "dated-x",
                    "match": {"equals": "dated-x"},
                    "prices": [
                        {"prices": {"input_mtok": 1.0, "output_mtok": 2.0}},
                        {"constraint": {"start_date": "2027-01-01"}, "prices": {"input_mtok": 3.0}},
                    ],
                }
            ],
        }
    ]
    model = apply_genai_prices(from_litellm(litellm), genai)["models"][0]
    assert (model["input_cost"], model["output_cost"]) == (1.0, 2.0)  # in force at DEFAULT_PRICES_AS_OF
    assert [(e["effective_from"], e["input_cost"], e["output_cost"]) for e in model["dated_prices"]] == [
        (None, 1.0, 2.0),
        ("2027-01-01T00:00:00Z", 3.0, None),  # genai-prices gives no output price there: the snapshot's (none)
    ]
    with pytest.raises(CatalogFormatError, match=r"dated_prices\[2\]: effective_from must be strictly ascending"):
        bad = _dated_catalog(2_000_000_000)
        bad["models"][0]["dated_prices"].append(dict(bad["models"][0]["dated_prices"][1]))
        from_modelreg(bad)
    with pytest.raises(CatalogFormatError, match=r"only the first entry may have effective_from null"):
        bad = _dated_catalog(2_000_000_000)
        bad["models"][0]["dated_prices"].reverse()
        from_modelreg(bad)


def test_the_committed_catalog_carries_dated_prices() -> None:
    raw = json.loads(SNAPSHOT_PATH.read_text())
    dated = [m["model_name"] for m in raw["models"] if m["dated_prices"]]
    assert len(dated) >= 50
    mistral = next(m for m in raw["models"] if m["model_name"] == "mistral/mistral-large-4")
    assert [e["input_cost"] for e in mistral["dated_prices"]] == [0.68, 1.36, 0.7]
    # Resolved at the time of loading: before, between and after its two dates.
    for day, price in (("2026-10-19", 0.68), ("2026-10-25", 1.36), ("2026-11-05", 0.7)):
        moment = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
        assert catalog_from_snapshot(raw, now=moment).models["mistral/mistral-large-4"].input_cost == price
