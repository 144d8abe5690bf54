"""The OpenAI surface completed (issue 10): `models.retrieve`, `completions.create` and `responses.create` through
the official openai SDK against a live `modelreg serve` and the fake upstream (streaming and not, routed with the
provider's key and the native model name, guarded like chat completions, measured); OpenAI-shaped errors for
unknown /v1 paths and for bad bodies (before anything goes upstream); CORS off by default and on with
MODELREG_CORS_ORIGINS.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from conftest import Env
from fake_upstream import FakeUpstream, expected_reply, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server
from test_gateway import UPSTREAM_KEY, Gateway, run
from test_gateway import running_server as gateway_server

SERVER_ENV = {"MODELREG_USAGE_FLUSH_SECONDS": "0.2", "MODELREG_CORS_ORIGINS": "https://chat.example.com"}
PROMPT = "say hello to the registry"
PROMPT_TOKENS = expected_usage("gpt-4o", [{"role": "user", "content": PROMPT}])["prompt_tokens"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_server(database_url, tmp_path_factory.mktemp("modelreg-openai-surface"), **SERVER_ENV) as up:
        yield up


@pytest.fixture
async def gw(env: Env, server: Server, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    upstream.clear()
    helper = Gateway(server, env, upstream, upstream, upstream)
    try:
        yield helper
    finally:
        await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def _measured(gw: Gateway, org: Any, name: str, calls: int) -> dict[str, Any]:
    """The model's Respan view once its throughput counts `calls` (the meter flushes every 0.2 s)."""
    for _ in range(150):
        body = (await gw.call(org, "GET", f"/api/models/{name}/")).json()
        if body["throughput"] is not None and body["throughput"]["number_of_requests"] == calls:
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} not measured {calls} times: {body}")


async def test_models_retrieve_with_slashes_and_404s(gw: Gateway) -> None:
    acme = await gw.tenant()
    await gw.model(acme.org, "team/gpt-slash", base_model_name="gpt-4o")
    got = await run(acme.sdk.models.retrieve, "team/gpt-slash")
    assert (got.id, got.object) == ("team/gpt-slash", "model")
    assert (await run(acme.sdk.models.retrieve, "raw-model")).id == "raw-model"
    listed = await gw.listed(acme.sdk)
    for name in listed:  # retrieve agrees with the list
        assert (await run(acme.sdk.models.retrieve, name)).id == name
    for missing in ("no-such-model", "openai/gpt-4o", "team/none"):  # gpt-4o: no "openai" provider, no route
        with pytest.raises(openai.NotFoundError) as caught:
            await run(acme.sdk.models.retrieve, missing)
        assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    other = await gw.tenant("beta")
    with pytest.raises(openai.NotFoundError):
        await run(other.sdk.models.retrieve, "team/gpt-slash")


async def test_completions_create_routed_and_measured(gw: Gateway) -> None:
    acme = await gw.tenant()
    answer = await run(acme.sdk.completions.create, model="team-gpt", prompt=PROMPT, max_tokens=16)
    assert answer.choices[0].text == expected_reply("gpt-4o", _user(PROMPT))
    assert (
        answer.usage is not None
        and answer.usage.prompt_tokens == expected_usage("gpt-4o", _user(PROMPT))["prompt_tokens"]
    )
    sent = gw.upstream.requests("/v1/completions")[-1]
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["body"]["model"] == "gpt-4o" and sent["body"]["prompt"] == PROMPT
    assert sent["body"]["temperature"] == 0.2  # the model's default params, as for chat completions

    stream = await run(acme.sdk.completions.create, model="team-gpt", prompt=PROMPT, stream=True)
    text = await run(lambda: "".join(chunk.choices[0].text for chunk in stream if chunk.choices))
    assert text == expected_reply("gpt-4o", _user(PROMPT))
    streamed = gw.upstream.requests("/v1/completions")[-1]["body"]
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
    model = await _measured(gw, acme.org, "team-gpt", 2)
    assert model["throughput"]["average_ttft"] is not None


async def test_responses_create_routed_and_measured(gw: Gateway) -> None:
    acme = await gw.tenant()
    answer = await run(acme.sdk.responses.create, model="team-gpt", input=PROMPT)
    assert answer.output_text == expected_reply("gpt-4o", _user(PROMPT))
    assert (
        answer.usage is not None
        and answer.usage.input_tokens == expected_usage("gpt-4o", _user(PROMPT))["prompt_tokens"]
    )
    sent = gw.upstream.requests("/v1/responses")[-1]
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}" and sent["body"]["model"] == "gpt-4o"

    items = [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]
    stream = await run(acme.sdk.responses.create, model="team-gpt", input=items, stream=True)
    events = await run(lambda: list(stream))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == expected_reply("gpt-4o", _user(PROMPT))
    assert events[-1].type == "response.completed"
    streamed = gw.upstream.requests("/v1/responses")[-1]["body"]
    assert streamed["stream"] is True and "stream_options" not in streamed  # the Responses API has none
    model = await _measured(gw, acme.org, "team-gpt", 2)
    # Both calls' tokens counted: the streamed usage came from response.completed.
    usage = (await gw.call(acme.org, "GET", "/api/usage/")).json()
    while usage["totals"]["requests"] < 2:
        usage = (await gw.call(acme.org, "GET", "/api/usage/")).json()
    assert usage["totals"]["prompt_tokens"] == 2 * PROMPT_TOKENS
    assert model["throughput"]["average_ttft"] is not None


async def test_new_calls_are_guarded_like_chat(gw: Gateway) -> None:
    acme = await gw.tenant()
    _, member_key = await gw.env.member(acme.org)
    await gw.model(acme.org, "private-gpt", base_model_name="gpt-4o", access_grants=[])
    member = gw.sdk(member_key)
    for call in (
        lambda: member.completions.create(model="private-gpt", prompt="x"),
        lambda: member.responses.create(model="private-gpt", input="x"),
    ):
        with pytest.raises(openai.NotFoundError):
            await run(call)
    anonymous = httpx.AsyncClient(base_url=gw.server.base_url)
    try:
        for path in ("/v1/completions", "/v1/responses", "/v1/models/team-gpt"):
            method = "GET" if "models" in path else "POST"
            r = await anonymous.request(method, path, json={"model": "team-gpt", "prompt": "x", "input": "x"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key", r.text
    finally:
        await anonymous.aclose()
    assert gw.upstream.requests("/v1/completions") == gw.upstream.requests("/v1/responses") == []


BAD_BODIES = [
    ("/v1/chat/completions", {"model": "team-gpt"}, "messages"),
    ("/v1/chat/completions", {"model": "team-gpt", "messages": []}, "messages"),
    ("/v1/chat/completions", {"model": "team-gpt", "messages": "hi"}, "messages"),
    ("/v1/chat/completions", {"model": "team-gpt", "messages": [1]}, "messages"),
    ("/v1/chat/completions", {"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ("/v1/chat/completions", {"model": ["a"], "messages": [{"role": "user", "content": "x"}]}, "model"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "model"),
    ("/v1/completions", {"model": "team-gpt"}, "prompt"),
    ("/v1/completions", {"model": "team-gpt", "prompt": 7}, "prompt"),
    ("/v1/responses", {"model": "team-gpt"}, "input"),
    ("/v1/responses", {"model": {"id": "team-gpt"}, "input": "x"}, "model"),
    ("/v1/embeddings", {"model": "team-embed"}, "input"),
]


async def test_bad_bodies_are_openai_400s_before_anything_goes_upstream(gw: Gateway) -> None:
    acme = await gw.tenant()
    for path, body, param in BAD_BODIES:
        r = await gw.call(acme.org, "POST", path, body, expect=400)
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, (path, body, r.text)
    assert gw.upstream.requests() == []


async def test_unknown_v1_paths_answer_openai_errors(gw: Gateway) -> None:
    acme = await gw.tenant()
    for method, path in [("GET", "/v1/nope"), ("POST", "/v1/audio/speech"), ("DELETE", "/v1/models"), ("GET", "/v1")]:
        r = await gw.call(acme.org, method, path, None, expect=None)
        assert r.status_code in (404, 405), (method, path, r.text)
        error = r.json()["error"]
        assert isinstance(error["message"], str) and error["type"] == "invalid_request_error", (method, path, r.text)
    with pytest.raises(openai.NotFoundError):
        await run(acme.sdk.audio.speech.create, model="team-gpt", voice="alloy", input="x")


async def test_cors_preflight_and_headers_for_configured_origins(gw: Gateway) -> None:
    acme = await gw.tenant()
    allowed, other = "https://chat.example.com", "https://evil.example.net"
    async with httpx.AsyncClient(base_url=gw.server.base_url) as client:
        preflight = await client.options(
            "/v1/chat/completions",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        r = await client.get("/v1/models", headers={**acme.org.headers, "Origin": allowed})
        assert r.headers["access-control-allow-origin"] == allowed
        r = await client.get("/v1/models", headers={**acme.org.headers, "Origin": other})
        assert "access-control-allow-origin" not in r.headers


async def test_cors_is_off_by_default(env: Env, tmp_path_factory: pytest.TempPathFactory) -> None:
    with contextlib.ExitStack() as stack:
        plain = stack.enter_context(gateway_server(env.database_url, tmp_path_factory.mktemp("modelreg-no-cors")))
        async with httpx.AsyncClient(base_url=plain.base_url) as client:
            r = await client.get("/healthz", headers={"Origin": "https://chat.example.com"})
            assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
            preflight = await client.options(
                "/v1/models", headers={"Origin": "https://chat.example.com", "Access-Control-Request-Method": "GET"}
            )
            assert "access-control-allow-origin" not in preflight.headers
