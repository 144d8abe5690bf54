"""Measured calls: what the fake upstream produced is what `throughput`, the status series and usage show.

A real `modelreg serve` (flushing every 0.2 s) sits between the official openai SDK and the fake upstream;
the expected figures are computed from the fake's deterministic usage and the model's custom prices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from conftest import Env
from fake_upstream import FakeUpstream, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server
from modelreg.catalog.load import Catalog
from test_gateway import MESSAGES, Gateway, chat, collect_stream, run
from test_gateway import running_server as gateway_server

PRICES = {"input_cost": 2.5, "output_cost": 10.0, "cache_hit_input_cost": 1.25}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_server(
        database_url, tmp_path_factory.mktemp("modelreg-metering"), MODELREG_USAGE_FLUSH_SECONDS="0.2"
    ) as started:
        yield started


@pytest.fixture
async def gw(env: Env, server: Server, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    upstream.clear()
    helper = Gateway(server, env, upstream, upstream, upstream)
    yield helper
    await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"


def expected_cost(usage: dict[str, Any]) -> float:
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    fresh = usage["prompt_tokens"] - cached
    return (
        fresh * PRICES["input_cost"] + cached * PRICES["cache_hit_input_cost"] + usage["completion_tokens"] * 10.0
    ) / 1e6


async def eventually(gw: Gateway, org: Any, path: str, ready: Any, timeout: float = 15.0) -> Any:
    """GET `path` until `ready(body)` holds (the meter flushes every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        body = (await gw.call(org, "GET", path)).json()
        if ready(body):
            return body
        assert time.monotonic() < deadline, f"not ready in {timeout} s: {body}"
        await asyncio.sleep(0.1)


class TestThroughputAndCost:
    async def test_figures_equal_what_the_upstream_produced(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.call(acme.org, "PATCH", "/api/models/team-gpt/", PRICES)
        before = (await gw.call(acme.org, "GET", "/api/models/team-gpt/")).json()
        assert before["throughput"] is None

        for _ in range(3):
            await run(chat, acme.sdk, "team-gpt")
        streamed = await run(collect_stream, acme.sdk, "team-gpt")
        # The caller did not ask for usage: the usage-only chunk the gateway requested is not relayed.
        assert all(chunk.usage is None for _, chunk in streamed)
        assert gw.upstream.requests("/v1/chat/completions")[-1]["body"]["stream_options"] == {"include_usage": True}

        model = await eventually(
            gw,
            acme.org,
            "/api/models/team-gpt/",
            lambda b: b["throughput"] is not None and b["throughput"]["number_of_requests"] == 4,
        )
        figures = model["throughput"]
        assert set(figures) == {"average_tps", "average_ttft", "average_latency", "number_of_requests"}
        assert figures["average_latency"] > 0 and figures["average_tps"] > 0
        assert figures["average_ttft"] > 0  # from the one streamed call

        usage = expected_usage("gpt-4o", MESSAGES)
        webui = (await gw.call(acme.org, "GET", "/api/v1/models/model?id=team-gpt")).json()
        assert webui["throughput"]["number_of_requests"] == 4
        assert webui["throughput"]["prompt_tokens"] == 4 * usage["prompt_tokens"]
        assert webui["throughput"]["completion_tokens"] == 4 * usage["completion_tokens"]
        assert webui["throughput"]["cost"] == pytest.approx(4 * expected_cost(usage))
        assert webui["throughput"]["average_latency"] == pytest.approx(figures["average_latency"])

        report = (await gw.call(acme.org, "GET", "/api/usage/")).json()
        assert [m["model"] for m in report["models"]] == ["team-gpt"]
        assert report["totals"]["requests"] == 4
        assert report["totals"]["cost"] == pytest.approx(4 * expected_cost(usage))
        assert report["totals"]["cache_hit_tokens"] == 4 * usage["prompt_tokens_details"]["cached_tokens"]

        now = int(time.time())
        status = (
            await gw.call(
                acme.org,
                "GET",
                f"/api/models/team-gpt/status/?start_time={now - 3600}&end_time={now + 60}&time_tick=minute",
            )
        ).json()
        assert status["status"]["number_of_requests"] == 4
        assert status["status"]["uptime_percent"] == 100.0
        assert status["status"]["cost"] == pytest.approx(4 * expected_cost(usage))
        assert sum(b["number_of_requests"] for b in status["metrics_series"]) == 4
        ticks = len(range(now - 3600 - (now - 3600) % 60, now + 60, 60))
        assert len(status["metrics_series"]) == len(status["data"]) == len(status["respan_uptime"]) == ticks

        # Another organization sees none of it.
        rival = await gw.tenant("rival")
        theirs = (await gw.call(rival.org, "GET", "/api/models/team-gpt/")).json()
        assert theirs["throughput"] is None

    async def test_embeddings_are_measured_at_the_inherited_input_price(self, gw: Gateway, catalog: Catalog) -> None:
        acme = await gw.tenant()
        embedded = await run(acme.sdk.embeddings.create, model="team-embed", input=["one two three", "four"])
        assert embedded.usage.prompt_tokens == 4
        report = await eventually(gw, acme.org, "/api/usage/", lambda b: b["totals"]["requests"] == 1)
        price = catalog.models["openai/text-embedding-3-small"].input_cost
        assert price is not None and price > 0
        assert report["totals"]["prompt_tokens"] == 4 and report["totals"]["completion_tokens"] == 0
        assert report["totals"]["cost"] == pytest.approx(4 * price / 1e6)
        assert report["totals"]["unpriced_requests"] == 0
        model = await eventually(gw, acme.org, "/api/models/team-embed/", lambda b: b["throughput"] is not None)
        assert model["throughput"]["number_of_requests"] == 1
        assert model["throughput"]["average_ttft"] is None and model["throughput"]["average_tps"] is None

    async def test_a_window_ending_inside_a_second_includes_that_second(self, gw: Gateway) -> None:
        """A call at mm:00.2 lies inside a window that ends at mm:00.5 (an end_time is never cut to whole seconds
        below it: a report asked for "now" in the first second of a minute used to miss that minute)."""
        acme = await gw.tenant()
        boundary = int(time.time()) // 60 * 60 - 120
        log = {"model": "team-gpt", "latency": 0.1, "start_time": boundary + 0.2}
        await gw.call(acme.org, "POST", "/api/request-logs/", log, expect=202)
        await eventually(gw, acme.org, "/api/usage/", lambda b: b["totals"]["requests"] == 1)
        window = f"start_time={boundary - 3600}&end_time={boundary + 0.5}"
        report = (await gw.call(acme.org, "GET", f"/api/usage/?{window}")).json()
        assert report["totals"]["requests"] == 1
        status = (await gw.call(acme.org, "GET", f"/api/models/team-gpt/status/?{window}&time_tick=hour")).json()
        assert status["status"]["number_of_requests"] == 1
