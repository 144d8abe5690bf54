"""Tiered prices: the billing rule (pure), `pricing_tiers` in both dialects (inheritance, validation), and calls
priced with their tier through the gateway and through request logs, as usage, status and throughput show.

One real `modelreg serve` (flushing every 0.2 s) per backend sits between the openai SDK and the fake upstream,
which counts one prompt token per word; the module shares it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from conftest import Env, Org
from fake_upstream import FakeUpstream, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server
from modelreg.domain.errors import InvalidInput
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.pricing import Prices, PriceTier, prices_for, validate_tiers
from modelreg.domain.usage import TokenUsage, call_cost
from test_gateway import Gateway, run
from test_gateway import running_server as gateway_server
from test_metering import eventually

BASE = {"input_cost": 1.0, "output_cost": 4.0, "cache_hit_input_cost": 0.5, "cache_creation_input_cost": 1.5}
LONG = {"input_cost": 2.0, "output_cost": 8.0, "cache_hit_input_cost": 1.0, "cache_creation_input_cost": 3.0}
TIERS = [{"above_input_tokens": 200_000, **LONG}]
RESOLVED_TIERS = TIERS  # every price given, so the wire shows them as sent


# ---- the rule, pure ------------------------------------------------------------------------------


def _model(**fields: Any) -> LLMModel:
    return LLMModel(name="m", affiliation="custom", **fields)


class TestRule:
    tiers = (
        PriceTier(above_input_tokens=128_000, input_cost=2.0),
        PriceTier(above_input_tokens=200_000, input_cost=3.0, output_cost=12.0, cache_hit_input_cost=0.3),
    )
    base = Prices(input_cost=1.0, output_cost=4.0, cache_hit_input_cost=0.1, cache_creation_input_cost=None)

    @pytest.mark.parametrize(
        ("prompt", "expected"),
        [
            (0, 1.0),
            (128_000, 1.0),  # at the threshold: not above it
            (128_001, 2.0),
            (200_000, 2.0),
            (200_001, 3.0),
            (10**9, 3.0),
        ],
    )
    def test_the_highest_tier_strictly_above_prices_the_call(self, prompt: int, expected: float) -> None:
        assert prices_for(self.base, self.tiers, prompt).input_cost == expected

    def test_a_price_the_tier_leaves_null_is_the_untiered_one(self) -> None:
        first = prices_for(self.base, self.tiers, 150_000)
        assert (first.output_cost, first.cache_hit_input_cost, first.cache_creation_input_cost) == (4.0, 0.1, None)
        second = prices_for(self.base, self.tiers, 250_000)
        assert (second.output_cost, second.cache_hit_input_cost) == (12.0, 0.3)

    def test_the_whole_call_is_priced_at_the_tier(self) -> None:
        model = _model(**BASE, pricing_tiers=validate_tiers(TIERS))
        usage = TokenUsage(prompt_tokens=250_000, completion_tokens=1000, cache_hit_tokens=50_000)
        expected = (200_000 * 2.0 + 50_000 * 1.0 + 1000 * 8.0) / 1e6
        assert call_cost(model, usage) == pytest.approx(expected)
        at = TokenUsage(prompt_tokens=200_000, completion_tokens=1000, cache_hit_tokens=50_000)
        assert call_cost(model, at) == pytest.approx((150_000 * 1.0 + 50_000 * 0.5 + 1000 * 4.0) / 1e6)

    def test_cache_creation_falls_back_to_the_tier_input_when_no_cache_price_exists(self) -> None:
        model = _model(
            input_cost=1.0, output_cost=1.0, pricing_tiers=(PriceTier(above_input_tokens=10, input_cost=5.0),)
        )
        usage = TokenUsage(prompt_tokens=20, cache_creation_tokens=20)
        assert call_cost(model, usage) == pytest.approx(20 * 5.0 / 1e6)

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"above_input_tokens": 1}, "must be a list"),
            ([{"above_input_tokens": 2, "input_cost": 1}, {"above_input_tokens": 2, "input_cost": 1}], "ascending"),
            ([{"above_input_tokens": 5, "input_cost": 1}, {"above_input_tokens": 2, "input_cost": 1}], "ascending"),
            ([{"above_input_tokens": 0, "input_cost": 1}], "above_input_tokens"),
            ([{"above_input_tokens": 1.5, "input_cost": 1}], "above_input_tokens"),
            ([{"above_input_tokens": 10}], "input_cost is required"),
            ([{"above_input_tokens": 10, "input_cost": -1}], "between 0"),
            ([{"above_input_tokens": 10, "input_cost": 1, "output_cost": float("nan")}], "must be a number"),
            ([{"above_input_tokens": 10, "input_cost": 1, "discount": 1}], "unknown field"),
            ([{"above_input_tokens": i + 1, "input_cost": 1} for i in range(17)], "at most 16"),
        ],
    )
    def test_validation(self, raw: Any, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            validate_tiers(raw)


# ---- the live server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_server(
        database_url, tmp_path_factory.mktemp("modelreg-tiers"), MODELREG_USAGE_FLUSH_SECONDS="0.2"
    ) as started:
        yield started


@pytest.fixture
async def gw(env: Env, server: Server, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    upstream.clear()
    helper = Gateway(server, env, upstream, upstream, upstream)
    yield helper
    await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"


async def _tiered_org(gw: Gateway) -> Org:
    """An organization with provider `fake` and `long` (no base, BASE prices, TIERS)."""
    org = await gw.env.org("tiers")
    await gw.provider(org)
    await gw.model(org, "long", **BASE, pricing_tiers=TIERS, model_type="chat")
    return org


class TestBothDialects:
    async def test_respan_writes_and_inheritance(self, gw: Gateway) -> None:
        org = await _tiered_org(gw)
        assert (await gw.call(org, "GET", "/api/models/long/")).json()["pricing_tiers"] == RESOLVED_TIERS
        # A child inherits the base's tiers as a whole ...
        await gw.model(org, "child", provider=None, base_model_name="long")
        child = (await gw.call(org, "GET", "/api/models/child/")).json()
        assert child["pricing_tiers"] == RESOLVED_TIERS and child["input_cost"] == 1.0
        # ... its own replace them as a whole (no merging by threshold) ...
        own = [{"above_input_tokens": 100_000, "input_cost": 9.0}]
        patched = (await gw.call(org, "PATCH", "/api/models/child/", {"pricing_tiers": own})).json()
        assert patched["pricing_tiers"] == [
            {**own[0], "output_cost": None, "cache_hit_input_cost": None, "cache_creation_input_cost": None}
        ]
        # ... [] means none, whatever the base has; null inherits again.
        none = (await gw.call(org, "PATCH", "/api/models/child/", {"pricing_tiers": []})).json()
        assert none["pricing_tiers"] == []
        again = (await gw.call(org, "PATCH", "/api/models/child/", {"pricing_tiers": None})).json()
        assert again["pricing_tiers"] == RESOLVED_TIERS
        # A change to the base shows through.
        await gw.call(
            org, "PATCH", "/api/models/long/", {"pricing_tiers": [{"above_input_tokens": 5, "input_cost": 7}]}
        )
        assert (await gw.call(org, "GET", "/api/models/child/")).json()["pricing_tiers"][0]["input_cost"] == 7.0
        # PUT replaces every field: tiers left out inherit again.
        await gw.call(org, "PUT", "/api/models/child/", {"base_model_name": "long", "pricing_tiers": []})
        put = (await gw.call(org, "PUT", "/api/models/child/", {"base_model_name": "long"})).json()
        assert put["pricing_tiers"][0]["input_cost"] == 7.0
        # Lists carry the resolved tiers too.
        custom_only = {"filters": {"affiliation_category": {"operator": "", "value": ["custom"]}}}
        listed = (await gw.call(org, "POST", "/api/models/list/", custom_only)).json()
        by_name = {m["model_name"]: m for m in listed["results"]}
        assert by_name["child"]["pricing_tiers"][0]["input_cost"] == 7.0

    @pytest.mark.parametrize(
        "tiers",
        [
            [{"above_input_tokens": 200, "input_cost": 1}, {"above_input_tokens": 100, "input_cost": 1}],
            [{"above_input_tokens": 100, "input_cost": -1}],
            [{"above_input_tokens": 100}],
            [{"above_input_tokens": 0, "input_cost": 1}],
            [{"above_input_tokens": 100, "input_cost": 1, "bogus": 1}],
            {"above_input_tokens": 100, "input_cost": 1},
            "cheap",
        ],
    )
    async def test_bad_tiers_are_400_in_both_dialects_and_change_nothing(self, gw: Gateway, tiers: Any) -> None:
        org = await _tiered_org(gw)
        respan = await gw.call(org, "PATCH", "/api/models/long/", {"pricing_tiers": tiers}, expect=400)
        assert "pricing_tiers" in respan.text
        form = {"id": "long", "name": "Long", "params": {}, "meta": {}, "pricing_tiers": tiers}
        webui = await gw.call(org, "POST", "/api/v1/models/model/update", form, expect=400)
        assert "pricing_tiers" in webui.text
        assert (await gw.call(org, "GET", "/api/models/long/")).json()["pricing_tiers"] == RESOLVED_TIERS

    async def test_open_webui_counterpart(self, gw: Gateway) -> None:
        org = await _tiered_org(gw)
        shown = (await gw.call(org, "GET", "/api/v1/models/model?id=long")).json()
        assert shown["pricing_tiers"] == RESOLVED_TIERS
        form = {"id": "long", "name": "Long", "params": {}, "meta": {}}
        kept = (await gw.call(org, "POST", "/api/models/model/update", form)).json()
        assert kept["pricing_tiers"] == RESOLVED_TIERS  # omitted: kept
        other = [{"above_input_tokens": 1000, "input_cost": 3.0, "output_cost": 6.0}]
        changed = (await gw.call(org, "POST", "/api/models/model/update", {**form, "pricing_tiers": other})).json()
        assert changed["pricing_tiers"][0]["above_input_tokens"] == 1000
        respan = (await gw.call(org, "GET", "/api/models/long/")).json()
        assert respan["pricing_tiers"] == changed["pricing_tiers"]
        cleared = (await gw.call(org, "POST", "/api/models/model/update", {**form, "pricing_tiers": None})).json()
        assert cleared["pricing_tiers"] == []  # inherits again; `long` has no base


def _log(model: str, prompt: int, **extra: Any) -> dict[str, Any]:
    return {"model": model, "prompt_tokens": prompt, "completion_tokens": 1000, "latency": 0.5, **extra}


def _cost(prices: dict[str, float], prompt: int, completion: int, hits: int = 0) -> float:
    fresh = prompt - hits
    return (
        fresh * prices["input_cost"] + hits * prices["cache_hit_input_cost"] + completion * prices["output_cost"]
    ) / 1e6


class TestCallsArePricedWithTheirTier:
    async def test_request_logs_below_at_and_above_the_threshold(self, gw: Gateway) -> None:
        org = await _tiered_org(gw)
        for name in ("below", "at", "above", "far-above"):
            await gw.model(org, name, provider=None, base_model_name="long")
        logs = [
            _log("below", 199_999),
            _log("at", 200_000, prompt_cache_hit_tokens=100_000),
            _log("above", 200_001, prompt_cache_hit_tokens=100_000),
            _log("far-above", 250_000),
        ]
        await gw.call(org, "POST", "/api/request-logs/", logs, expect=202)
        report = await eventually(gw, org, "/api/usage/", lambda b: b["totals"]["requests"] == 4)
        costs = {m["model"]: m["cost"] for m in report["models"]}
        assert costs["below"] == pytest.approx(_cost(BASE, 199_999, 1000))
        assert costs["at"] == pytest.approx(_cost(BASE, 200_000, 1000, 100_000))
        assert costs["above"] == pytest.approx(_cost(LONG, 200_001, 1000, 100_000))
        assert costs["far-above"] == pytest.approx(_cost(LONG, 250_000, 1000))
        assert costs["far-above"] == pytest.approx((250_000 * 2.0 + 1000 * 8.0) / 1e6)
        # The Open WebUI view's throughput and the status summary carry the same priced cost.
        webui = await eventually(gw, org, "/api/v1/models/model?id=far-above", lambda b: b["throughput"] is not None)
        assert webui["throughput"]["cost"] == pytest.approx(costs["far-above"])
        now = int(time.time())
        window = f"start_time={now - 3600}&end_time={now + 60}&time_tick=hour"
        status = (await gw.call(org, "GET", f"/api/models/above/status/?{window}")).json()
        assert status["status"]["cost"] == pytest.approx(costs["above"])

    async def test_a_250k_prompt_through_the_gateway_is_billed_at_the_higher_tier(self, gw: Gateway) -> None:
        org = await _tiered_org(gw)
        sdk = gw.sdk(org.admin_key)
        long_prompt = [{"role": "user", "content": " ".join(["w"] * 250_000)}]
        short_prompt = [{"role": "user", "content": " ".join(["w"] * 200_000)}]
        await run(sdk.chat.completions.create, model="long", messages=long_prompt)
        await run(sdk.chat.completions.create, model="long", messages=short_prompt)
        long_usage, short_usage = expected_usage("long", long_prompt), expected_usage("long", short_prompt)
        assert long_usage["prompt_tokens"] == 250_000 and short_usage["prompt_tokens"] == 200_000
        expected = sum(
            _cost(prices, u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"])
            for prices, u in ((LONG, long_usage), (BASE, short_usage))
        )
        report = await eventually(gw, org, "/api/usage/", lambda b: b["totals"]["requests"] == 2)
        assert report["totals"]["cost"] == pytest.approx(expected)
        flat = sum(
            _cost(BASE, u["prompt_tokens"], u["completion_tokens"], u["prompt_tokens_details"]["cached_tokens"])
            for u in (long_usage, short_usage)
        )
        assert report["totals"]["cost"] > flat  # not the base rate
