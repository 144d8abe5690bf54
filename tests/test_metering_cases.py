"""Metering, case by case: what the gateway measures (streams with usage, outcomes and uptime), what the status
endpoint shows to whom, request logs from other gateways, the usage report, lists filtered and sorted by
throughput (memory and SQL paths), and a clean shutdown that loses nothing.

A real `modelreg serve` (flushing every 0.2 s) sits between the official openai SDK and the fake upstream
(tests/fake_upstream.py); custom models without a base are called by their custom name, so their name selects
the fake's behaviour (`fail-503`, `delay-300`, `slow-stream-40`, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from conftest import Env, Org
from fake_upstream import FakeUpstream, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server
from modelreg.store.database import Database
from modelreg.store.rows import ModelThroughputRow, UsageMinuteRow
from test_gateway import CHAT, MESSAGES, OPENAI_PROVIDER_KEY, Gateway, chat, collect_stream, failing, run
from test_gateway import running_server as gateway_server

PRICES = {"input_cost": 2.5, "output_cost": 10.0, "cache_hit_input_cost": 1.25}
LOG_PRICES = {"input_cost": 2.0, "output_cost": 8.0, "cache_hit_input_cost": 0.5, "cache_creation_input_cost": 3.0}
VOLUME_BUCKET_FIELDS = {"total_count", "down_count", "number_of_requests", "cost"}
VOLUME_STATUS_FIELDS = {
    "number_of_requests",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_hit_tokens",
    "prompt_cache_creation_tokens",
}
SERVER_ENV = {"MODELREG_USAGE_FLUSH_SECONDS": "0.2", "MODELREG_ANONYMOUS_RATE_LIMIT": "100000/60"}


# ---- processes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_server(database_url, tmp_path_factory.mktemp("modelreg-metering-cases"), **SERVER_ENV) as started:
        yield started


@pytest.fixture(scope="module")
def sql_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Organizations with more than one custom model are served by SQL here (filters/to_sql.py)."""
    with gateway_server(
        database_url,
        tmp_path_factory.mktemp("modelreg-metering-sql"),
        MODELREG_MEMORY_INDEX_MAX_MODELS="1",
        **SERVER_ENV,
    ) as started:
        yield started


@pytest.fixture(params=["memory-index", "sql-listing"])
def listing_server(request: pytest.FixtureRequest, server: Server) -> Server:
    """The listing path under test: the module server (memory index) or the SQL-served one."""
    if request.param == "sql-listing":
        return request.getfixturevalue("sql_server")  # type: ignore[no-any-return]
    return server


@contextlib.asynccontextmanager
async def gateway_on(server: Server, env: Env, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    helper = Gateway(server, env, upstream, upstream, upstream)
    try:
        yield helper
    finally:
        await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"


@pytest.fixture
async def gw(env: Env, server: Server, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    upstream.clear()
    async with gateway_on(server, env, upstream) as helper:
        yield helper


# ---- helpers -------------------------------------------------------------------------------------


def expected_cost(usage: dict[str, Any]) -> float:
    """The cost of one team-gpt call at PRICES (cached input at the cache-hit price)."""
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    fresh = usage["prompt_tokens"] - cached
    return (
        fresh * PRICES["input_cost"]
        + cached * PRICES["cache_hit_input_cost"]
        + usage["completion_tokens"] * PRICES["output_cost"]
    ) / 1e6


def window(tick: str | None = "minute", back: int = 3600, ahead: int = 60) -> dict[str, Any]:
    now = int(time.time())
    params: dict[str, Any] = {"start_time": now - back, "end_time": now + ahead}
    if tick is not None:
        params["time_tick"] = tick
    return params


def status_path(name: str, **params: Any) -> str:
    query = urlencode({**window(), **params})
    return f"/api/models/{name}/status/?{query}"


async def get(gw: Gateway, org: Org | None, path: str) -> httpx.Response:
    """GET as the organization's admin, or anonymously (no Authorization header) when org is None."""
    return await gw.http.get(path, headers=org.headers if org is not None else {})


async def poll(fetch: Callable[[], Awaitable[Any]], ready: Callable[[Any], bool], timeout: float = 15.0) -> Any:
    """fetch() until ready(result) holds (the meter flushes every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if ready(result):
            return result
        assert time.monotonic() < deadline, f"not ready in {timeout} s: {result}"
        await asyncio.sleep(0.1)


async def status_when(gw: Gateway, org: Org | None, name: str, requests: int, **params: Any) -> dict[str, Any]:
    """The model's status (last hour, by minute) once it counts `requests` calls (authenticated callers)."""

    async def fetch() -> dict[str, Any]:
        response = await get(gw, org, status_path(name, **params))
        assert response.status_code == 200, response.text
        return dict(response.json())

    return await poll(fetch, lambda b: b.get("status", {}).get("number_of_requests") == requests)  # type: ignore[no-any-return]


async def model_when(gw: Gateway, org: Org, name: str, requests: int) -> dict[str, Any]:
    """The Respan view of the model once its throughput counts `requests` calls."""

    async def fetch() -> dict[str, Any]:
        return dict((await gw.call(org, "GET", f"/api/models/{name}/")).json())

    return await poll(  # type: ignore[no-any-return]
        fetch, lambda b: b["throughput"] is not None and b["throughput"]["number_of_requests"] == requests
    )


async def usage_when(gw: Gateway, org: Org, requests: int, query: str = "") -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        return dict((await gw.call(org, "GET", f"/api/usage/{query}")).json())

    return await poll(fetch, lambda b: b["totals"]["requests"] >= requests)  # type: ignore[no-any-return]


def iso_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).isoformat().replace("+00:00", "Z")


def volume_keys(body: dict[str, Any]) -> set[str]:
    """Every volume field found in a status body's buckets and summary."""
    found: set[str] = set()
    for series in ("data", "respan_uptime", "metrics_series"):
        for bucket in body.get(series, []):
            found |= set(bucket) & VOLUME_BUCKET_FIELDS
    found |= set(body.get("status", {})) & VOLUME_STATUS_FIELDS
    return found


def bucket_sum(body: dict[str, Any], series: str, field: str) -> int:
    return sum(bucket[field] for bucket in body[series])


# ---- 1. streams that asked for usage -------------------------------------------------------------


class TestStreamWithUsage:
    async def test_usage_chunk_is_relayed_and_recorded(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.call(acme.org, "PATCH", "/api/models/team-gpt/", PRICES)
        chunks = [c for _, c in await run(collect_stream, acme.sdk, "team-gpt", stream_options={"include_usage": True})]

        usage_chunks = [c for c in chunks if c.usage is not None]
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1], [c.model_dump() for c in chunks]
        assert usage_chunks[0].choices == []
        got, want = usage_chunks[0].usage, expected_usage("gpt-4o", MESSAGES)
        assert (got.prompt_tokens, got.completion_tokens, got.total_tokens) == (
            want["prompt_tokens"],
            want["completion_tokens"],
            want["total_tokens"],
        )
        assert got.prompt_tokens_details is not None
        assert got.prompt_tokens_details.cached_tokens == want["prompt_tokens_details"]["cached_tokens"]
        assert gw.upstream.requests(CHAT)[-1]["body"]["stream_options"] == {"include_usage": True}

        # The same figures are recorded.
        model = await model_when(gw, acme.org, "team-gpt", 1)
        figures = model["throughput"]
        assert figures["average_ttft"] is not None and 0 < figures["average_ttft"] <= figures["average_latency"]
        assert figures["average_tps"] is not None and figures["average_tps"] > 0
        webui = (await gw.call(acme.org, "GET", "/api/v1/models/model?id=team-gpt")).json()["throughput"]
        assert (webui["prompt_tokens"], webui["completion_tokens"]) == (
            want["prompt_tokens"],
            want["completion_tokens"],
        )
        assert webui["cost"] == pytest.approx(expected_cost(want))
        status = await status_when(gw, acme.org, "team-gpt", 1)
        assert status["status"]["prompt_cache_hit_tokens"] == want["prompt_tokens_details"]["cached_tokens"]
        assert status["status"]["cost"] == pytest.approx(expected_cost(want))
        assert status["status"]["uptime_percent"] == 100.0

    async def test_include_usage_false_gets_no_usage_chunk_but_is_measured(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        chunks = [
            c for _, c in await run(collect_stream, acme.sdk, "team-gpt", stream_options={"include_usage": False})
        ]
        assert chunks and all(c.usage is None and c.choices for c in chunks)
        assert gw.upstream.requests(CHAT)[-1]["body"]["stream_options"] == {"include_usage": True}
        want = expected_usage("gpt-4o", MESSAGES)
        status = await status_when(gw, acme.org, "team-gpt", 1)
        assert (status["status"]["prompt_tokens"], status["status"]["completion_tokens"]) == (
            want["prompt_tokens"],
            want["completion_tokens"],
        )


# ---- 2. outcomes and uptime ----------------------------------------------------------------------


class TestOutcomes:
    async def test_only_upstream_failures_count_as_down(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        for name in ("fail-503", "fail-400", "drop", "slow-stream-40"):
            await gw.model(acme.org, name)

        # Upstream 5xx (plain and streamed) and a dropped connection: 502, down.
        for call in (lambda: chat(acme.sdk, "fail-503"), lambda: collect_stream(acme.sdk, "fail-503")):
            assert (await failing(call)).status_code == 502
        assert (await failing(lambda: chat(acme.sdk, "drop"))).status_code == 502
        # Upstream 4xx: the caller's mistake, passed through, not down.
        for call in (lambda: chat(acme.sdk, "fail-400"), lambda: collect_stream(acme.sdk, "fail-400")):
            assert (await failing(call)).status_code == 400

        # A caller that leaves mid-stream: a call, not a failure of the model.
        def read_one_then_leave() -> int:
            stream = chat(acme.sdk, "slow-stream-40", stream=True)
            received = 0
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received += 1
                    break
            stream.close()
            return received

        assert await run(read_one_then_leave) == 1
        await run(chat, acme.sdk, "team-gpt")

        expected = {
            "fail-503": (2, 2),
            "drop": (1, 1),
            "fail-400": (2, 0),
            "slow-stream-40": (1, 0),
            "team-gpt": (1, 0),
        }
        for name, (total, down) in expected.items():
            body = await status_when(gw, acme.org, name, total)
            assert bucket_sum(body, "data", "total_count") == total, (name, body["data"])
            assert bucket_sum(body, "data", "down_count") == down, (name, body["data"])
            assert bucket_sum(body, "metrics_series", "number_of_requests") == total
            assert body["status"]["uptime_percent"] == pytest.approx(100.0 * (total - down) / total), name
            # The gateway itself failed nowhere.
            assert all(b["uptime"] in (None, 100.0) for b in body["respan_uptime"]), (name, body["respan_uptime"])
            busy = [b for b in body["data"] if b["total_count"]]
            assert busy and all(
                b["uptime"] == pytest.approx(100.0 * (b["total_count"] - b["down_count"]) / b["total_count"])
                for b in busy
            )
        assert (await status_when(gw, acme.org, "fail-503", 2))["status"]["uptime_percent"] < 100
        # Neither failures nor a cancelled call have a latency to average.
        for name in ("fail-503", "fail-400", "slow-stream-40"):
            assert (await status_when(gw, acme.org, name, expected[name][0]))["status"]["average_latency"] is None

        report = (await gw.call(acme.org, "GET", "/api/usage/")).json()
        assert report["totals"]["requests"] == 7
        assert report["totals"]["failed_requests"] == 3


# ---- 3. the status endpoint ----------------------------------------------------------------------


class TestStatusEndpoint:
    async def test_builtins_global_for_anonymous_and_per_organization_otherwise(self, gw: Gateway) -> None:
        acme = await gw.tenant("acme")
        await gw.provider(acme.org, "openai", api_key=OPENAI_PROVIDER_KEY)
        other = await gw.tenant("other")
        await gw.provider(other.org, "openai", api_key=OPENAI_PROVIDER_KEY)
        rival = await gw.env.org("rival")  # no traffic at all
        for _ in range(2):
            await run(chat, acme.sdk, "openai/gpt-4o")
        await run(chat, other.sdk, "openai/gpt-4o")
        assert [r["body"]["model"] for r in gw.upstream.requests(CHAT)] == ["gpt-4o"] * 3

        mine = await status_when(gw, acme.org, "openai/gpt-4o", 2)
        theirs = await status_when(gw, other.org, "openai/gpt-4o", 1)
        assert mine["model"] == "openai/gpt-4o"
        assert bucket_sum(mine, "data", "total_count") == 2 and bucket_sum(theirs, "data", "total_count") == 1
        assert mine["status"]["uptime_percent"] == 100.0

        # Anonymous: every organization's calls of the built-in, performance figures only.
        anonymous = (await get(gw, None, status_path("openai/gpt-4o"))).json()
        assert volume_keys(anonymous) == set(), volume_keys(anonymous)
        assert len(anonymous["data"]) == len(mine["data"]) == len(anonymous["metrics_series"])
        assert anonymous["status"]["uptime_percent"] == 100.0
        overall = (2 * mine["status"]["average_latency"] + theirs["status"]["average_latency"]) / 3
        assert anonymous["status"]["average_latency"] == pytest.approx(overall)
        assert [b["uptime"] for b in anonymous["data"] if b["uptime"] is not None] != []

        # Another organization, authenticated: its own calls only (none).
        nothing = (await gw.call(rival, "GET", status_path("openai/gpt-4o"))).json()
        assert bucket_sum(nothing, "data", "total_count") == 0
        assert all(b["uptime"] is None for b in nothing["data"])
        assert nothing["status"]["number_of_requests"] == 0 and nothing["status"]["uptime_percent"] is None
        assert nothing["status"]["average_latency"] is None

        # The model views agree: the built-in carries each organization's own figures.
        assert (await model_when(gw, acme.org, "openai/gpt-4o", 2))["throughput"]["number_of_requests"] == 2
        assert (await gw.call(rival, "GET", "/api/models/openai/gpt-4o/")).json()["throughput"] is None

    async def test_reported_calls_never_move_the_public_figures(self, gw: Gateway) -> None:
        """Request logs cannot be verified: they count for the reporting organization only, never in the
        platform-wide view anonymous callers get (or one tenant could post 503s and sink a model's uptime)."""
        acme = await gw.tenant("acme")
        failures = [{"model": "openai/gpt-4o-mini", "status_code": 503, "latency": 0.5} for _ in range(3)]
        accepted = await gw.call(acme.org, "POST", "/api/request-logs/", failures, expect=202)
        assert accepted.json() == {"accepted": 3}
        mine = await status_when(gw, acme.org, "openai/gpt-4o-mini", 3)
        assert mine["status"]["uptime_percent"] == 0.0 and bucket_sum(mine, "data", "down_count") == 3
        anonymous = (await get(gw, None, status_path("openai/gpt-4o-mini"))).json()
        assert anonymous["status"]["uptime_percent"] is None
        assert all(b["uptime"] is None for b in anonymous["data"])

    async def test_anonymous_callers_see_no_custom_model(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        await status_when(gw, acme.org, "team-gpt", 1)
        params = window()
        response = await get(gw, None, status_path("team-gpt", **params))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "model": "team-gpt",
            "provider_id": None,
            "time_tick": "minute",
            "start_time": iso(params["start_time"]),
            "end_time": iso(params["end_time"]),
            "data": [],
            "metrics_series": [],
            "respan_uptime": [],
        }
        # Through POST too.
        posted = await gw.http.post("/api/models/team-gpt/status/", json=params)
        assert posted.status_code == 200 and posted.json() == response.json()

    async def test_unknown_and_foreign_models_answer_empty_series(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        await status_when(gw, acme.org, "team-gpt", 1)
        rival = await gw.env.org("rival")
        params = window()
        unknown = await gw.call(rival, "GET", status_path("no-such-model", **params))
        foreign = await gw.call(rival, "GET", status_path("team-gpt", **params))
        own_unknown = await gw.call(acme.org, "GET", status_path("no-such-model", **params))
        assert unknown.json()["data"] == unknown.json()["metrics_series"] == unknown.json()["respan_uptime"] == []
        assert "status" not in unknown.json()
        assert foreign.json() == {**unknown.json(), "model": "team-gpt"}
        assert own_unknown.json() == unknown.json()

        # A model of the caller's own organization that the caller may not read: the same.
        await gw.model(acme.org, "private-gpt", base_model_name="gpt-4o", access_grants=[])
        await run(chat, acme.sdk, "private-gpt")
        await status_when(gw, acme.org, "private-gpt", 1)
        _, member_key = await gw.env.member(acme.org)
        member = {"Authorization": f"Bearer {member_key}"}
        hidden = await gw.http.get(status_path("private-gpt", **params), headers=member)
        assert hidden.status_code == 200 and hidden.json() == {**unknown.json(), "model": "private-gpt"}
        visible = await gw.http.get(status_path("team-gpt", **params), headers=member)
        assert bucket_sum(visible.json(), "data", "total_count") == 1

    async def test_bad_windows_are_400(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        now = int(time.time())
        cases: list[dict[str, Any]] = [
            {"end_time": now},  # no start_time
            {"start_time": now - 60},  # no end_time
            {},
            {"start_time": "yesterday", "end_time": now},
            {"start_time": now - 60, "end_time": "2024-13-45T00:00:00Z"},
            {"start_time": "", "end_time": now},
            {"start_time": "-60", "end_time": now},
            {"start_time": now, "end_time": now},  # end == start
            {"start_time": now, "end_time": now - 60},  # end < start
            {"start_time": now - 91 * 86400, "end_time": now},  # more than 90 days
            {"start_time": now - 3600, "end_time": now, "time_tick": "week"},
            {"start_time": now - 3600, "end_time": now, "time_tick": "MINUTE"},
            {"start_time": now - 30 * 86400, "end_time": now, "time_tick": "minute"},  # 43,200 buckets
            {"start_time": "nan", "end_time": now},
            {"start_time": "inf", "end_time": now},
            {"start_time": now - 60, "end_time": "1e400"},
            {"start_time": now - 3600, "end_time": now, "provider_id": "p" * 300},
        ]
        for org in (acme.org, None):
            for params in cases:
                response = await get(gw, org, f"/api/models/team-gpt/status/?{urlencode(params)}")
                assert response.status_code == 400, (org is None, params, response.status_code, response.text)
                assert "detail" in response.json(), response.text
        # POST bodies are checked the same way.
        for body in (
            {"start_time": now, "end_time": now - 60},
            {"start_time": True, "end_time": now},
            {"start_time": now - 60, "end_time": now, "time_tick": 60},
            {"start_time": now - 60, "end_time": now, "provider_id": {"x": 1}},
            [now - 60, now],
        ):
            response = await gw.call(acme.org, "POST", "/api/models/team-gpt/status/", body, expect=400)
            assert "detail" in response.json()
        response = await gw.http.post("/api/models/team-gpt/status/", content=b"{not json", headers=acme.org.headers)
        assert response.status_code == 400, response.text
        # The limits themselves are fine: 90 days by day, 7 days by minute.
        for params in (
            {"start_time": now - 90 * 86400, "end_time": now, "time_tick": "day"},
            {"start_time": now - 7 * 86400, "end_time": now, "time_tick": "minute"},
            {"start_time": now - 30 * 86400, "end_time": now, "time_tick": "hour"},
        ):
            await gw.call(acme.org, "GET", f"/api/models/team-gpt/status/?{urlencode(params)}")

    async def test_iso_and_epoch_post_body_and_query_precedence(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        await status_when(gw, acme.org, "team-gpt", 1)
        now = int(time.time())
        start, end = now - now % 60 - 1800, now - now % 60 + 120
        by_epoch = (await gw.call(acme.org, "GET", status_path("team-gpt", start_time=start, end_time=end))).json()
        start_iso = datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")
        end_naive = datetime.fromtimestamp(end, UTC).replace(tzinfo=None).isoformat()  # no zone: UTC
        end_offset = datetime.fromtimestamp(end, UTC).astimezone().isoformat()  # the local offset
        for start_value, end_value in ((start_iso, end_naive), (str(start), end_offset), (f"{start}.0", end)):
            body = (
                await gw.call(acme.org, "GET", status_path("team-gpt", start_time=start_value, end_time=end_value))
            ).json()
            assert body == by_epoch, (start_value, end_value)
        assert (by_epoch["start_time"], by_epoch["end_time"]) == (iso(start), iso(end))
        assert len(by_epoch["data"]) == 32 and by_epoch["status"]["number_of_requests"] == 1

        # POST: a JSON body (numbers or strings); query parameters win over it.
        posted = await gw.call(
            acme.org,
            "POST",
            "/api/models/team-gpt/status/",
            {"start_time": start, "end_time": end, "time_tick": "minute"},
        )
        assert posted.json() == by_epoch
        overridden = await gw.call(
            acme.org,
            "POST",
            "/api/models/team-gpt/status/?time_tick=hour&start_time=" + str(start - 3600),
            {"start_time": "not even a time", "end_time": str(end), "time_tick": "minute"},
        )
        body = overridden.json()
        assert body["time_tick"] == "hour" and body["start_time"] == iso(start - 3600)
        assert bucket_sum(body, "data", "total_count") == 1
        # Without time_tick the tick follows the window's length.
        assert (await gw.call(acme.org, "GET", status_path("team-gpt", time_tick=""))).json()["time_tick"] == "minute"

    async def test_provider_id_omits_uptime_summary(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        whole = await status_when(gw, acme.org, "team-gpt", 1)
        assert "respan_uptime" in whole and "status" in whole
        for org in (acme.org, None):
            body = (await get(gw, org, status_path("team-gpt", provider_id="fake"))).json()
            assert "respan_uptime" not in body and "status" not in body, body.keys()
        mine = (await gw.call(acme.org, "GET", status_path("team-gpt", provider_id="fake"))).json()
        assert mine["provider_id"] == "fake"
        assert bucket_sum(mine, "data", "total_count") == 1 and len(mine["data"]) == len(whole["data"])
        elsewhere = (await gw.call(acme.org, "GET", status_path("team-gpt", provider_id="elsewhere"))).json()
        assert bucket_sum(elsewhere, "data", "total_count") == 0 and "status" not in elsewhere

    async def test_names_with_slashes(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "team/nested-gpt", base_model_name="gpt-4o")
        await run(chat, acme.sdk, "team/nested-gpt")
        nested = await status_when(gw, acme.org, "team/nested-gpt", 1)
        assert nested["model"] == "team/nested-gpt"
        for org in (acme.org, None):
            response = await get(gw, org, status_path("openai/gpt-4o"))
            assert response.status_code == 200 and response.json()["model"] == "openai/gpt-4o"
            assert len(response.json()["data"]) == len(nested["data"]) and "status" in response.json()
        # Without the trailing slash, and through POST.
        no_slash = await gw.http.get(
            status_path("openai/gpt-4o").replace("/status/", "/status"), headers=acme.org.headers
        )
        assert no_slash.status_code == 200 and no_slash.json()["model"] == "openai/gpt-4o"
        posted = await gw.call(acme.org, "POST", "/api/models/team/nested-gpt/status/", window())
        assert bucket_sum(posted.json(), "data", "total_count") == 1

    async def test_odd_input_is_never_a_500(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        await status_when(gw, acme.org, "team-gpt", 1)
        good = urlencode(window())
        paths = [
            f"/api/models/{'x' * 10_000}/status/?{good}",
            f"/api/models/%F0%9F%98%80-model/status/?{good}",
            f"/api/models/team-gpt%2Fstatus/?{good}",
            f"/api/models/../status/?{good}",
            f"/api/models/status/?{good}",
            f"/api/models//status/?{good}",
            f"/api/models/team-gpt/status/?{good}&time_tick=%00",
            f"/api/models/team-gpt/status/?{good}&start_time=9999999999999",
            f"/api/models/team-gpt/status/?{good}&start_time=9999-12-31T23:59:59",
            f"/api/models/team-gpt/status/?{good}&provider_id=",
            f"/api/models/team-gpt/status/?{good}&provider_id=%F0%9F%98%80",
            f"/api/models/team-gpt/status/?{good}&page=abc&page_size=-1",
        ]
        for org in (acme.org, None):
            for path in paths:
                response = await get(gw, org, path)
                assert response.status_code < 500, (org is None, path[:120], response.status_code, response.text)
                response.json()
        assert gw.server.process.poll() is None


class TestStatusEndpointControlCharacters:
    """Names and provider ids with control characters, which no model or provider can have."""

    async def test_nul_in_status_model_name(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        path = f"/api/models/bad%00name/status/?{urlencode(window())}"
        assert (await gw.http.get(path)).status_code == 200  # anonymous: never reaches the database
        response = await gw.http.get(path, headers=acme.org.headers)
        assert response.status_code < 500, (path, response.status_code, response.text)
        assert response.json()["data"] == []

    async def test_nul_in_status_provider_id(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        path = f"/api/models/team-gpt/status/?{urlencode(window())}&provider_id=%00"
        response = await gw.http.get(path, headers=acme.org.headers)
        assert response.status_code < 500, (path, response.status_code, response.text)

    async def test_nul_in_request_log_model(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        body = {"model": "bad\u0000name", "latency": 1}
        response = await gw.call(acme.org, "POST", "/api/request-logs/", body, expect=None)
        assert response.status_code in (400, 404), (response.status_code, response.text)


# ---- 4. request logs -----------------------------------------------------------------------------


class TestRequestLogs:
    async def test_accepted_logs_show_everywhere_with_computed_cost(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "logged", **LOG_PRICES)
        first = {
            "model": "logged",
            "provider_id": "fake",
            "prompt_tokens": 1000,
            "prompt_cache_hit_tokens": 200,
            "prompt_cache_creation_tokens": 300,
            "completion_tokens": 500,
            "latency": 2.0,
            "time_to_first_token": 0.5,
        }
        accepted = await gw.call(acme.org, "POST", "/api/request-logs/", first, expect=202)
        assert accepted.json() == {"accepted": 1}
        now = time.time()
        batch = [
            {
                "model": "logged",
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "latency": 1.0,
                "start_time": iso(now - 120),
            },
            {"model": "logged", "status_code": 503, "latency": 0.5, "start_time": int(now) - 60},
        ]
        accepted = await gw.call(acme.org, "POST", "/api/request-logs/", batch, expect=202)
        assert accepted.json() == {"accepted": 2}

        cost_first = (500 * 2.0 + 200 * 0.5 + 300 * 3.0 + 500 * 8.0) / 1e6  # fresh, cache hits, creation, output
        cost_second = (100 * 2.0 + 50 * 8.0) / 1e6
        cost = cost_first + cost_second
        assert cost == pytest.approx(0.0066)

        model = await model_when(gw, acme.org, "logged", 3)
        figures = model["throughput"]
        assert figures["average_latency"] == pytest.approx(1.5)  # the failed call has no latency to average
        assert figures["average_ttft"] == pytest.approx(0.5)
        assert figures["average_tps"] == pytest.approx((500 / 1.5 + 50 / 1.0) / 2)
        webui = (await gw.call(acme.org, "GET", "/api/v1/models/model?id=logged")).json()["throughput"]
        assert webui["cost"] == pytest.approx(cost, rel=1e-9)
        assert (webui["prompt_tokens"], webui["completion_tokens"]) == (1100, 550)

        report = (await gw.call(acme.org, "GET", "/api/usage/")).json()
        assert [m["model"] for m in report["models"]] == ["logged"]
        row = report["models"][0]
        assert row["requests"] == 3 and row["failed_requests"] == 1 and row["unpriced_requests"] == 0
        assert (row["prompt_tokens"], row["completion_tokens"]) == (1100, 550)
        assert (row["cache_hit_tokens"], row["cache_creation_tokens"]) == (200, 300)
        assert row["cost"] == pytest.approx(cost, rel=1e-9)
        assert report["totals"]["cost"] == pytest.approx(cost, rel=1e-9)

        status = await status_when(gw, acme.org, "logged", 3)
        summary = status["status"]
        assert summary["cost"] == pytest.approx(cost, rel=1e-9)
        assert summary["uptime_percent"] == pytest.approx(200 / 3)
        assert (summary["prompt_cache_hit_tokens"], summary["prompt_cache_creation_tokens"]) == (200, 300)
        assert summary["cache_hit_percentage"] == pytest.approx(100 * 200 / 1100)
        assert summary["input_cost"] == 2.0
        assert bucket_sum(status, "data", "down_count") == 1
        assert sum(1 for b in status["data"] if b["total_count"]) >= 2  # spread over their start minutes

    async def test_bad_logs_are_rejected_and_record_nothing(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "logged", **LOG_PRICES)
        rival = await gw.env.org("rival")
        await gw.provider(rival, "rival-provider")
        await gw.model(rival, "rival-only", provider="rival-provider")
        good = {"model": "logged", "prompt_tokens": 10, "completion_tokens": 5, "latency": 0.3}
        now = time.time()
        rejected: list[tuple[Any, int]] = [
            ({**good, "bogus": 1}, 400),  # unknown field
            ({**good, "cost": 0.0}, 400),  # cost is computed, never taken
            ({**good, "latency": "fast"}, 400),
            ({**good, "model": 5}, 400),
            ({**good, "prompt_tokens": "ten"}, 400),
            ({**good, "prompt_tokens": 1.5}, 400),
            ({**good, "prompt_tokens": True}, 400),
            ({**good, "status_code": "200"}, 400),
            ({**good, "start_time": ["now"]}, 400),
            ({**good, "provider_id": ""}, 400),
            ({**good, "model": ""}, 400),
            ({**good, "prompt_tokens": -1}, 400),
            ({**good, "completion_tokens": -5}, 400),
            ({**good, "latency": -0.1}, 400),
            ({**good, "time_to_first_token": -0.1}, 400),
            ({**good, "prompt_tokens": 2**41}, 400),
            ({**good, "prompt_tokens": 10**30}, 400),
            ({**good, "latency": 1e9}, 400),
            ({**good, "status_code": 600}, 400),
            ({**good, "status_code": 99}, 400),
            ({k: v for k, v in good.items() if k != "latency"}, 400),
            ({k: v for k, v in good.items() if k != "model"}, 400),
            ({**good, "time_to_first_token": 0.5}, 400),  # more than the latency
            ({**good, "prompt_cache_hit_tokens": 11}, 400),  # more than prompt_tokens
            ({**good, "prompt_cache_hit_tokens": 6, "prompt_cache_creation_tokens": 5}, 400),
            ({**good, "start_time": now - 91 * 86400}, 400),
            ({**good, "start_time": iso(now - 91 * 86400)}, 400),
            ({**good, "start_time": now + 3600}, 400),
            ({**good, "start_time": "soon"}, 400),
            ({**good, "start_time": 1e300}, 400),
            ([], 400),
            ([good] * 1001, 400),
            ("a log", 400),
            (None, 400),
            ({**good, "model": "m" * 10_240}, 400),
            ({**good, "model": "模型-ünïcode-🙂"}, 404),
            ({**good, "model": "rival-only"}, 404),
            ({**good, "provider_id": "rival-provider"}, 404),
            ({**good, "provider_id": "no-such-provider"}, 404),
            ([good, {**good, "latency": -1}], 400),  # one bad entry rejects the batch
            ([good, good, {**good, "model": "rival-only"}], 404),
            ([good, {**good, "provider_id": "rival-provider"}], 404),
        ]
        missing = await gw.call(acme.org, "POST", "/api/request-logs/", {**good, "model": "no-such-model"}, None)
        assert missing.status_code == 404
        for body, status in rejected:
            response = await gw.call(acme.org, "POST", "/api/request-logs/", body, expect=None)
            shown = json.dumps(body)[:160]
            assert response.status_code == status, (shown, response.status_code, response.text[:500])
            payload = response.json()
            assert isinstance(payload, dict) and "detail" in payload, (shown, payload)
            if status == 404:
                assert payload == missing.json(), (shown, payload)
        for raw in (b"{not json", b"[", b"\xff\xfe"):
            response = await gw.http.post("/api/request-logs/", content=raw, headers=acme.org.headers)
            assert response.status_code == 400, (raw, response.status_code, response.text)
        # No or bad credentials.
        assert (await gw.http.post("/api/request-logs/", json=good)).status_code == 401
        bad_key = {"Authorization": "Bearer sk_live_not-a-real-key"}
        assert (await gw.http.post("/api/request-logs/", json=good, headers=bad_key)).status_code == 401
        # The rival's model is untouched.
        assert (await gw.call(rival, "GET", "/api/models/rival-only/")).json()["throughput"] is None

        # Nothing of the rejected logs was recorded: after one good log, exactly one request is counted (a log
        # is recorded in memory when it is accepted, so the flush that writes this one would write them too).
        await gw.call(acme.org, "POST", "/api/request-logs/", good, expect=202)
        report = await usage_when(gw, acme.org, 1)
        assert report["totals"]["requests"] == 1, report
        model = await model_when(gw, acme.org, "logged", 1)
        assert model["throughput"]["number_of_requests"] == 1
        assert (await usage_when(gw, rival, 0))["totals"]["requests"] == 0


# ---- 5. the usage report -------------------------------------------------------------------------


class TestUsageReport:
    async def test_admins_only_per_model_and_day(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.call(acme.org, "PATCH", "/api/models/team-gpt/", PRICES)
        before = time.time()
        await run(chat, acme.sdk, "team-gpt")
        for _ in range(2):
            await run(chat, acme.sdk, "raw-model")  # no prices: unpriced
        after = time.time()
        two_days_ago = before - 2 * 86400
        log = {
            "model": "team-gpt",
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "latency": 1,
            "start_time": two_days_ago,
        }
        await gw.call(acme.org, "POST", "/api/request-logs/", log, expect=202)

        report = await usage_when(gw, acme.org, 4)
        usage = expected_usage("gpt-4o", MESSAGES)
        raw_usage = expected_usage("raw-model", MESSAGES)
        logged_cost = (100 * 2.5 + 10 * 10.0) / 1e6
        assert report["organization_id"] == acme.org.organization_id
        assert report["totals"]["requests"] == 4 and report["totals"]["unpriced_requests"] == 2
        assert report["totals"]["cost"] == pytest.approx(expected_cost(usage) + logged_cost)
        models = {m["model"]: m for m in report["models"]}
        assert list(models) == ["raw-model", "team-gpt"]
        assert models["raw-model"]["requests"] == 2 and models["raw-model"]["unpriced_requests"] == 2
        assert models["raw-model"]["cost"] == 0
        assert models["raw-model"]["prompt_tokens"] == 2 * raw_usage["prompt_tokens"]
        assert models["team-gpt"]["requests"] == 2 and models["team-gpt"]["unpriced_requests"] == 0
        assert models["team-gpt"]["prompt_tokens"] == usage["prompt_tokens"] + 100

        days = report["days"]
        assert {(d["date"], d["model"]) for d in days if d["date"] == iso_day(two_days_ago)} == {
            (iso_day(two_days_ago), "team-gpt")
        }
        recent = [d for d in days if d["date"] != iso_day(two_days_ago)]
        assert {d["date"] for d in recent} <= {iso_day(before), iso_day(after)}
        assert sum(d["requests"] for d in recent if d["model"] == "raw-model") == 2
        assert sum(d["requests"] for d in recent if d["model"] == "team-gpt") == 1
        assert [d["date"] for d in days] == sorted(d["date"] for d in days)
        old = next(d for d in days if d["date"] == iso_day(two_days_ago))
        assert old["requests"] == 1 and old["cost"] == pytest.approx(logged_cost)

        # The logged call of two days ago is outside the 24 h throughput window.
        assert (await model_when(gw, acme.org, "team-gpt", 1))["throughput"]["number_of_requests"] == 1
        # A window that ends before it sees only it; a window of the last day does not.
        end = int(before - 86400)
        only_old = (await gw.call(acme.org, "GET", f"/api/usage/?end_time={end}")).json()
        assert only_old["totals"]["requests"] == 1 and [m["model"] for m in only_old["models"]] == ["team-gpt"]
        last_day = (await gw.call(acme.org, "GET", f"/api/usage/?start_time={int(before) - 3600}")).json()
        assert last_day["totals"]["requests"] == 3

        # Admins only.
        _, member_key = await gw.env.member(acme.org)
        member = await gw.http.get("/api/usage/", headers={"Authorization": f"Bearer {member_key}"})
        assert member.status_code == 403, member.text
        assert (await gw.http.get("/api/usage/")).status_code == 401
        for query in (
            "?start_time=yesterday",
            "?start_time=",
            "?end_time=nope",
            f"?start_time={int(after) + 60}&end_time={int(before)}",
            f"?start_time={int(before) - 91 * 86400}",
        ):
            response = await gw.call(acme.org, "GET", f"/api/usage/{query}", expect=None)
            assert response.status_code == 400, (query, response.status_code, response.text)
            assert "detail" in response.json()


# ---- 6. lists filtered and sorted by throughput --------------------------------------------------


def names(body: dict[str, Any]) -> list[str]:
    return [m["model_name"] for m in body["results"]]


class TestListsByThroughput:
    async def test_filter_and_sort_by_measured_figures(
        self, env: Env, server: Server, listing_server: Server, upstream: FakeUpstream
    ) -> None:
        async with gateway_on(listing_server, env, upstream) as gw, gateway_on(server, env, upstream) as memory:
            acme = await gw.tenant()
            for name in ("delay-50", "delay-300"):
                await gw.model(acme.org, name)
            for name in ("delay-50", "delay-50", "delay-300"):
                await run(chat, acme.sdk, name)
            await model_when(gw, acme.org, "delay-50", 2)
            await model_when(gw, acme.org, "delay-300", 1)
            await model_when(memory, acme.org, "delay-300", 1)  # the memory-index server has the figures too

            with_traffic = {"filters": {"number_of_requests": {"operator": "gte", "value": 1}}}
            path = "/api/models/list/?sort_by=-average_latency"
            listed = (await gw.call(acme.org, "POST", path, with_traffic)).json()
            assert names(listed) == ["delay-300", "delay-50"] and listed["count"] == 2
            figures = {m["model_name"]: m["throughput"] for m in listed["results"]}
            assert figures["delay-300"]["average_latency"] > figures["delay-50"]["average_latency"] >= 0.05
            assert (figures["delay-50"]["number_of_requests"], figures["delay-300"]["number_of_requests"]) == (2, 1)

            ascending = (
                await gw.call(acme.org, "POST", "/api/models/list/?sort_by=average_latency", with_traffic)
            ).json()
            assert names(ascending) == ["delay-50", "delay-300"]
            twice = {"filters": {"number_of_requests": {"operator": "gt", "value": [1]}}}
            assert names((await gw.call(acme.org, "POST", "/api/models/list/", twice)).json()) == ["delay-50"]
            slow = {"filters": {"average_latency": {"operator": "gte", "value": 0.3}}}
            assert names((await gw.call(acme.org, "POST", "/api/models/list/", slow)).json()) == ["delay-300"]
            untouched = {
                "filters": {
                    "affiliation_category": {"operator": "", "value": ["custom"]},
                    "number_of_requests": {"operator": "isnull", "value": True},
                }
            }
            assert names((await gw.call(acme.org, "POST", "/api/models/list/", untouched)).json()) == [
                "raw-model",
                "team-embed",
                "team-gpt",
            ]
            quick = (
                "/api/models/list/?number_of_requests[operator]=gte&number_of_requests[value]=1"
                "&sort_by=-average_latency"
            )
            assert (await gw.call(acme.org, "GET", quick)).json() == listed
            # Nulls last either way: the first entries of the whole list are the measured ones.
            everything = (
                await gw.call(acme.org, "GET", "/api/models/list/?sort_by=-average_latency&page_size=5")
            ).json()
            assert names(everything)[:2] == ["delay-300", "delay-50"]

            # The memory-index server answers exactly the same.
            for method, list_path, body in (
                ("POST", path, with_traffic),
                ("POST", "/api/models/list/", untouched),
                ("GET", quick, None),
            ):
                here = (await gw.call(acme.org, method, list_path, body)).json()
                there = (await memory.call(acme.org, method, list_path, body)).json()
                assert here == there, (list_path, here, there)

            # Open WebUI's list carries the figures (cost and tokens included).
            page = (await gw.call(acme.org, "GET", "/api/v1/models/list?order_by=id")).json()
            items = {item["id"]: item for item in page["items"]}
            assert set(items) == {"delay-50", "delay-300", "raw-model", "team-embed", "team-gpt"}
            assert items["delay-50"]["throughput"]["number_of_requests"] == 2
            assert items["delay-300"]["throughput"]["number_of_requests"] == 1
            assert items["delay-300"]["throughput"]["average_latency"] == pytest.approx(
                figures["delay-300"]["average_latency"]
            )
            usage = expected_usage("delay-50", MESSAGES)
            assert items["delay-50"]["throughput"]["prompt_tokens"] == 2 * usage["prompt_tokens"]
            assert items["delay-50"]["throughput"]["cost"] == 0
            assert items["raw-model"]["throughput"] is None
            assert page == (await memory.call(acme.org, "GET", "/api/v1/models/list?order_by=id")).json()


# ---- 7. a clean shutdown loses nothing ------------------------------------------------------------


async def _usage_rows(database_url: str, organization_id: str) -> list[UsageMinuteRow]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            return list(
                await session.scalars(select(UsageMinuteRow).where(UsageMinuteRow.organization_id == organization_id))
            )
    finally:
        await db.dispose()


async def _throughput_rows(database_url: str, organization_id: str) -> list[ModelThroughputRow]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            query = select(ModelThroughputRow).where(ModelThroughputRow.organization_id == organization_id)
            return list(await session.scalars(query))
    finally:
        await db.dispose()


class TestShutdown:
    async def test_clean_shutdown_writes_pending_calls(
        self, env: Env, upstream: FakeUpstream, database_url: str, tmp_path: Path
    ) -> None:
        with gateway_server(database_url, tmp_path, MODELREG_USAGE_FLUSH_SECONDS="3600") as lazy:
            async with gateway_on(lazy, env, upstream) as gw:
                acme = await gw.tenant()
                await run(chat, acme.sdk, "team-gpt")
                await run(collect_stream, acme.sdk, "team-gpt")
                assert await _usage_rows(database_url, acme.org.organization_id) == []  # not flushed yet
        assert lazy.process.returncode is not None

        rows = await _usage_rows(database_url, acme.org.organization_id)
        usage = expected_usage("gpt-4o", MESSAGES)
        assert sum(r.requests for r in rows) == 2, lazy.log_text()[-3000:]
        assert {(r.model_name, r.provider_id, r.is_public) for r in rows} == {("team-gpt", "fake", False)}
        assert sum(r.prompt_tokens for r in rows) == 2 * usage["prompt_tokens"]
        assert sum(r.completion_tokens for r in rows) == 2 * usage["completion_tokens"]
        assert sum(r.upstream_failures + r.gateway_failures for r in rows) == 0
        assert sum(r.ttft_count for r in rows) == 1 and sum(r.latency_count for r in rows) == 2
        # ... and throughput was recomputed from them.
        figures = await _throughput_rows(database_url, acme.org.organization_id)
        assert [(f.model_name, f.number_of_requests) for f in figures] == [("team-gpt", 2)]
