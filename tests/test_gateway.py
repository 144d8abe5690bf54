"""The OpenAI-compatible gateway (`/v1/models`, `/v1/chat/completions`, `/v1/embeddings`) through the official
`openai` SDK, over real HTTP, against real upstream processes.

Per backend (the `database_url` fixture), a real `modelreg serve` runs as a subprocess with
`MODELREG_UPSTREAM_ALLOW=127.0.0.0/8`, and fake OpenAI-compatible upstreams (tests/fake_upstream.py) run as
processes: `upstream` (what the providers point at), `decoy` (an allowed host the caller tries to redirect
calls to; it must never be reached) and `ipv6` (on `::1`, loopback but outside the allow list; it must never be
reached either). Every upstream request is recorded with its headers and body, so what the gateway forwards
(provider key, native model name, parameter defaults) is checked on the wire.

The SDK is used with `max_retries=0`, so every status the gateway answers is seen exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

import live_server
from conftest import Env, Org, row_counts
from fake_upstream import FakeUpstream, error_body, expected_embedding, expected_reply, expected_usage
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server, free_port
from modelreg.catalog.load import Catalog
from modelreg.store import counters
from modelreg.store.database import Database
from modelreg.store.memory import org_counter
from modelreg.store.rows import ProviderRow
from modelreg.store.views import refresh_views

T = TypeVar("T")

UPSTREAM_KEY = "sk-upstream-provider-7f3a9c1e"
OPENAI_PROVIDER_KEY = "sk-org-openai-2b8d4e6f"
RIVAL_UPSTREAM_KEY = "sk-rival-upstream-55aa33cc"
CALLER_INJECTED_KEY = "sk-caller-injected-0badf00d"
DEFAULT_PARAMS = {"temperature": 0.2, "top_p": 0.5, "seed": 7}
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello gateway world"}]
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


# ---- processes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def decoy() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def ipv6() -> Iterator[FakeUpstream]:
    with _running_fake_upstream(host="::1") as fake:
        yield fake


def running_server(database_url: str, var_dir: Path, **extra_env: str) -> contextlib.AbstractContextManager[Server]:
    """The live server, allowed to reach upstreams on loopback (the fake upstream)."""
    return live_server.running_server(database_url, var_dir, MODELREG_UPSTREAM_ALLOW="127.0.0.0/8", **extra_env)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Once per backend for this module (TestModelsList overrides it to cover both listing paths)."""
    with running_server(database_url, tmp_path_factory.mktemp("modelreg-gateway")) as started:
        yield started


@pytest.fixture(scope="module", params=["memory-index", "sql-listing"])
def listing_path_server(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """For TestModelsList: both listing paths, the in-memory index and SQL (organizations above
    MODELREG_MEMORY_INDEX_MAX_MODELS custom models, here 1), so that listing equals enforcement on each."""
    extra = {"MODELREG_MEMORY_INDEX_MAX_MODELS": "1"} if request.param == "sql-listing" else {}
    with running_server(database_url, tmp_path_factory.mktemp(f"modelreg-gateway-{request.param}"), **extra) as up:
        yield up


# ---- the helper every test uses ------------------------------------------------------------------


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the sync SDK off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass
class Tenant:
    org: Org
    sdk: OpenAI


class Gateway:
    """Setup through the live server's own APIs (Respan, Open WebUI), and SDK clients for the gateway."""

    def __init__(self, server: Server, env: Env, upstream: FakeUpstream, decoy: FakeUpstream, ipv6: FakeUpstream):
        self.server = server
        self.env = env
        self.upstream = upstream
        self.decoy = decoy
        self.ipv6 = ipv6
        self.http = httpx.AsyncClient(base_url=server.base_url, timeout=30, follow_redirects=False)
        self._sdks: list[OpenAI] = []

    def sdk(self, key: str) -> OpenAI:
        client = OpenAI(base_url=f"{self.server.base_url}/v1", api_key=key, max_retries=0, timeout=30)
        self._sdks.append(client)
        return client

    async def call(self, org: Org, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        response = await self.http.request(method, path, json=body, headers=org.headers)
        if expect is not None:
            assert response.status_code == expect, (method, path, body, response.status_code, response.text)
        return response

    async def provider(
        self,
        org: Org,
        provider_id: str = "fake",
        *,
        base_url: str | None = None,
        api_key: str = UPSTREAM_KEY,
        timeout: float | None = 5,
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"base_url": base_url or self.upstream.base_url}
        if timeout is not None:
            extra["timeout"] = timeout
        body = {"provider_id": provider_id, "provider_name": f"Provider {provider_id}", "extra_kwargs": extra}
        response = await self.call(org, "POST", "/api/providers/", {**body, "api_key": api_key}, expect=201)
        return dict(response.json())

    async def model(self, org: Org, name: str, *, provider: str | None = "fake", **fields: Any) -> dict[str, Any]:
        body = {"model_name": name, **fields}
        if provider is not None:
            body["custom_provider_id"] = provider
        response = await self.call(org, "POST", "/api/models/", body, expect=201)
        return dict(response.json())

    async def tenant(self, name: str = "acme") -> Tenant:
        """An organization with provider `fake` (the upstream) and three custom models on it:
        `team-gpt` (base gpt-4o, DEFAULT_PARAMS), `raw-model` (no base) and `team-embed` (an embedding base)."""
        org = await self.env.org(name)
        await self.provider(org)
        await self.model(org, "team-gpt", base_model_name="gpt-4o", params=DEFAULT_PARAMS)
        await self.model(org, "raw-model")
        await self.model(org, "team-embed", base_model_name="openai/text-embedding-3-small")
        return Tenant(org, self.sdk(org.admin_key))

    async def listed(self, sdk: OpenAI) -> list[str]:
        page = await run(sdk.models.list)
        return [m.id for m in page.data]

    async def close(self) -> None:
        for client in self._sdks:
            client.close()
        await self.http.aclose()


@pytest.fixture
async def gw(
    env: Env, server: Server, upstream: FakeUpstream, decoy: FakeUpstream, ipv6: FakeUpstream
) -> AsyncIterator[Gateway]:
    counts = await row_counts(env.database_url)
    assert set(counts.values()) == {0}, f"rows left over from an earlier test: {counts}"
    for fake in (upstream, decoy, ipv6):
        fake.clear()
    helper = Gateway(server, env, upstream, decoy, ipv6)
    yield helper
    await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"
    assert decoy.requests() == [], "the decoy upstream was reached"
    assert ipv6.requests() == [], "the IPv6 loopback upstream (not in MODELREG_UPSTREAM_ALLOW) was reached"


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    return dict(error)


def status_error(call: Callable[[], Any]) -> openai.APIStatusError:
    """Run a sync SDK call that must fail with an HTTP status; return the SDK's exception."""
    try:
        call()
    except openai.APIStatusError as exc:
        return exc
    raise AssertionError("the call succeeded; an error status was expected")


async def failing(call: Callable[[], Any]) -> openai.APIStatusError:
    return await run(status_error, call)


def chat(sdk: OpenAI, model: str, **kwargs: Any) -> Any:
    return sdk.chat.completions.create(model=model, messages=MESSAGES, **kwargs)


def collect_stream(sdk: OpenAI, model: str, **kwargs: Any) -> list[tuple[float, Any]]:
    """Every chunk of a streamed chat completion with its arrival time (monotonic seconds)."""
    stream = sdk.chat.completions.create(model=model, messages=MESSAGES, stream=True, **kwargs)
    with stream:
        return [(time.monotonic(), chunk) for chunk in stream]


def header_values(record: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in record["headers"].items())


def only_request(fake: FakeUpstream, path: str) -> dict[str, Any]:
    records = fake.requests(path)
    assert len(records) == 1, [(r["path"], r["body"]) for r in records]
    return records[0]


def assert_forwarded_by_provider(record: dict[str, Any], org: Org, provider_key: str) -> None:
    """The upstream saw the provider's key and nothing of the caller's modelreg key."""
    assert record["headers"].get("authorization") == f"Bearer {provider_key}", record["headers"]
    assert org.admin_key not in header_values(record)
    assert org.admin_key not in json.dumps(record["body"])


# ---- /v1/models: listing equals enforcement ------------------------------------------------------


class TestModelsList:
    @pytest.fixture
    def server(self, listing_path_server: Server) -> Server:
        return listing_path_server

    async def test_lists_exactly_the_callable_models(self, gw: Gateway, catalog: Catalog) -> None:
        acme = await gw.tenant()
        customs = {"team-gpt", "raw-model", "team-embed"}

        # No provider for built-ins yet: only the custom models on the custom provider are callable.
        listed = await gw.listed(acme.sdk)
        assert sorted(listed) == sorted(customs)
        missing = await failing(lambda: chat(acme.sdk, "openai/gpt-4o"))
        assert_openai_error(missing.response, 404)
        assert gw.upstream.requests(CHAT) == []

        # A provider whose provider_id is the built-in provider id makes that provider's built-ins callable.
        await gw.provider(acme.org, "openai", api_key=OPENAI_PROVIDER_KEY)
        listed = await gw.listed(acme.sdk)
        assert len(listed) == len(set(listed)), "duplicate ids"
        openai_builtins = {
            name for name, m in catalog.models.items() if m.provider and m.provider.provider_id == "openai"
        }
        assert customs <= set(listed) and "openai/gpt-4o" in listed
        assert set(listed) <= customs | openai_builtins, sorted(set(listed) - customs - openai_builtins)
        page = await run(acme.sdk.models.list)
        assert all(m.object == "model" for m in page.data)

        # Every listed model is callable (listing == enforcement), through the openai provider for built-ins.
        gw.upstream.clear()
        for name in sorted(set(listed) - customs):
            kind = catalog.models[name].model_type
            if kind == "chat":
                reply = await run(chat, acme.sdk, name)
                assert reply.choices[0].message.content == expected_reply(
                    catalog.models[name].native_name or "", MESSAGES
                )
            elif kind == "embedding":
                embedded = await run(acme.sdk.embeddings.create, model=name, input="x")
                assert len(embedded.data) == 1
        for record in gw.upstream.requests():
            assert_forwarded_by_provider(record, acme.org, OPENAI_PROVIDER_KEY)
        for name in customs - {"team-embed"}:
            await run(chat, acme.sdk, name)

        # A built-in of a provider the organization has not configured is neither listed nor callable.
        anthropic = next(n for n, m in catalog.models.items() if n.startswith("anthropic/") and m.model_type == "chat")
        assert anthropic not in listed
        assert_openai_error((await failing(lambda: chat(acme.sdk, anthropic))).response, 404)

    async def test_another_organization_sees_and_calls_none_of_it(self, gw: Gateway) -> None:
        acme = await gw.tenant("acme")
        await gw.provider(acme.org, "openai", api_key=OPENAI_PROVIDER_KEY)
        rival_org = await gw.env.org("rival")
        rival = gw.sdk(rival_org.admin_key)

        assert await gw.listed(rival) == []
        for name in ("team-gpt", "raw-model", "openai/gpt-4o"):
            assert_openai_error((await failing(lambda n=name: chat(rival, n))).response, 404)
        not_found = await failing(lambda: rival.embeddings.create(model="team-embed", input="x"))
        assert_openai_error(not_found.response, 404)
        assert gw.upstream.requests() == []

        # The same names are separate namespaces: the rival's own team-gpt goes through the rival's provider.
        await gw.provider(rival_org, api_key=RIVAL_UPSTREAM_KEY)
        await gw.model(rival_org, "team-gpt", base_model_name="gpt-4o-mini")
        assert await gw.listed(rival) == ["team-gpt"]
        await run(chat, rival, "team-gpt")
        record = only_request(gw.upstream, CHAT)
        assert record["body"]["model"] == "gpt-4o-mini"
        assert_forwarded_by_provider(record, rival_org, RIVAL_UPSTREAM_KEY)
        assert "temperature" not in record["body"], "acme's params leaked into the rival's call"

    async def test_inactive_model_is_404_and_unlisted(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        toggled = await gw.call(acme.org, "POST", "/api/v1/models/model/toggle?id=team-gpt", expect=200)
        assert toggled.json()["is_active"] is False

        assert "team-gpt" not in await gw.listed(acme.sdk)  # even for the admin, who may still manage it
        assert_openai_error((await failing(lambda: chat(acme.sdk, "team-gpt"))).response, 404)
        stream_error = await failing(lambda: collect_stream(acme.sdk, "team-gpt"))
        assert_openai_error(stream_error.response, 404)
        assert gw.upstream.requests() == []

        await gw.call(acme.org, "POST", "/api/v1/models/model/toggle?id=team-gpt", expect=200)
        assert "team-gpt" in await gw.listed(acme.sdk)
        await run(chat, acme.sdk, "team-gpt")
        assert len(gw.upstream.requests(CHAT)) == 1

    async def test_unreadable_model_is_404_and_unlisted(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "private-gpt", base_model_name="gpt-4o", access_grants=[])
        _, member_key = await gw.env.member(acme.org)
        member = gw.sdk(member_key)

        listed = await gw.listed(member)
        assert "private-gpt" not in listed and "team-gpt" in listed
        assert_openai_error((await failing(lambda: chat(member, "private-gpt"))).response, 404)
        assert gw.upstream.requests() == []

        await run(chat, member, "team-gpt")  # readable by the whole organization by default
        assert "private-gpt" in await gw.listed(acme.sdk)  # the admin reads everything
        await run(chat, acme.sdk, "private-gpt")
        assert len(gw.upstream.requests(CHAT)) == 2

    async def test_unknown_model_and_bad_keys(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        assert_openai_error((await failing(lambda: chat(acme.sdk, "no-such-model"))).response, 404)
        stranger = gw.sdk("sk_live_not-a-real-key")
        for call in (stranger.models.list, lambda: chat(stranger, "team-gpt")):
            denied = await failing(call)
            assert denied.status_code == 401, (denied.status_code, denied.response.text)
        anonymous = [
            await gw.http.get("/v1/models"),
            await gw.http.post(CHAT, json={"model": "team-gpt", "messages": MESSAGES}),
            await gw.http.post(EMBEDDINGS, json={"model": "team-embed", "input": "x"}),
        ]
        for response in anonymous:
            assert_openai_error(response, 401)
        assert gw.upstream.requests() == []


# ---- chat completions ----------------------------------------------------------------------------


class TestChatCompletions:
    async def test_non_streaming(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        reply = await run(chat, acme.sdk, "team-gpt")
        assert reply.choices[0].message.content == expected_reply("gpt-4o", MESSAGES)
        assert reply.choices[0].finish_reason == "stop"
        usage = expected_usage("gpt-4o", MESSAGES)
        assert reply.usage is not None
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
        assert reply.usage.prompt_tokens_details is not None
        assert reply.usage.prompt_tokens_details.cached_tokens == usage["prompt_tokens_details"]["cached_tokens"]

        record = only_request(gw.upstream, CHAT)
        assert record["method"] == "POST"
        assert record["body"]["model"] == "gpt-4o"  # the base model's native name
        assert record["body"]["messages"] == MESSAGES
        assert not record["body"].get("stream")
        assert_forwarded_by_provider(record, acme.org, UPSTREAM_KEY)

    async def test_model_without_base_is_called_by_its_custom_name(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        reply = await run(chat, acme.sdk, "raw-model")
        assert reply.choices[0].message.content == expected_reply("raw-model", MESSAGES)
        record = only_request(gw.upstream, CHAT)
        assert record["body"]["model"] == "raw-model"
        assert_forwarded_by_provider(record, acme.org, UPSTREAM_KEY)

    async def test_streaming(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        chunks = [c for _, c in await run(collect_stream, acme.sdk, "team-gpt", stream_options={"include_usage": True})]
        content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
        assert len(content_chunks) >= 3, chunks
        text = "".join(c.choices[0].delta.content for c in content_chunks)
        assert text == expected_reply("gpt-4o", MESSAGES)
        assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
        usage_chunks = [c for c in chunks if c.usage is not None]
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
        usage, want = usage_chunks[0].usage, expected_usage("gpt-4o", MESSAGES)
        assert (usage.prompt_tokens, usage.completion_tokens) == (want["prompt_tokens"], want["completion_tokens"])
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == want["prompt_tokens_details"]["cached_tokens"]

        record = only_request(gw.upstream, CHAT)
        assert record["body"]["model"] == "gpt-4o" and record["body"]["stream"] is True
        assert record["outcome"] == "streamed"
        assert_forwarded_by_provider(record, acme.org, UPSTREAM_KEY)

        # Without include_usage the stream still carries the same content.
        plain = [c for _, c in await run(collect_stream, acme.sdk, "team-gpt")]
        assert "".join(c.choices[0].delta.content or "" for c in plain if c.choices) == text

    async def test_stream_without_include_usage_has_no_usage_chunk(self, gw: Gateway) -> None:
        """OpenAI's stream format: the usage chunk (with `choices: []`) is sent only when the caller asks for it
        (`stream_options.include_usage`); clients that did not ask read `chunk.choices[0]` of every chunk."""
        acme = await gw.tenant()
        chunks = [c for _, c in await run(collect_stream, acme.sdk, "team-gpt")]
        assert chunks and all(len(c.choices) >= 1 for c in chunks), [c.model_dump() for c in chunks if not c.choices]
        assert all(c.usage is None for c in chunks), [c.usage for c in chunks if c.usage is not None]
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected_reply("gpt-4o", MESSAGES)

    async def test_compressed_upstream_answers_are_relayed_readable(self, gw: Gateway) -> None:
        """An upstream (or a proxy in front of it) may gzip its answers, streams included, when the gateway's
        request allows it (Accept-Encoding); the caller must get readable JSON and SSE either way."""
        acme = await gw.tenant()
        await gw.model(acme.org, "gzip")
        reply = await run(chat, acme.sdk, "gzip")
        assert reply.choices[0].message.content == expected_reply("gzip", MESSAGES)
        embedded = await run(acme.sdk.embeddings.create, model="gzip", input="x")
        assert embedded.data[0].embedding == expected_embedding("x")
        streamed = await run(collect_stream, acme.sdk, "gzip")
        text = "".join(c.choices[0].delta.content or "" for _, c in streamed if c.choices)
        assert text == expected_reply("gzip", MESSAGES)
        assert len(gw.upstream.requests()) == 3

    async def test_stream_chunks_arrive_as_the_upstream_sends_them(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "slow-stream-6")
        started = time.monotonic()
        timed = await run(collect_stream, acme.sdk, "slow-stream-6")
        content = [(at, c) for at, c in timed if c.choices and c.choices[0].delta.content]
        assert "".join(c.choices[0].delta.content for _, c in content) == expected_reply("slow-stream-6", MESSAGES)
        assert len(content) == 6
        # The upstream spaces its chunks 200 ms apart (about 1.4 s in all): a buffering gateway delivers them at once.
        assert content[0][0] - started < 0.9, "the first chunk waited for the whole answer"
        assert content[-1][0] - content[0][0] >= 0.6, [round(at - started, 2) for at, _ in content]

    async def test_concurrent_streams_do_not_mix(self, gw: Gateway) -> None:
        acme = await gw.tenant()

        def one(index: int) -> tuple[str, str]:
            messages = [{"role": "user", "content": f"question number {index}"}]
            stream = acme.sdk.chat.completions.create(model="team-gpt", messages=messages, stream=True)
            with stream:
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            return text, expected_reply("gpt-4o", messages)

        results = await asyncio.gather(*(run(one, i) for i in range(12)))
        assert all(got == want for got, want in results), results
        assert len(gw.upstream.requests(CHAT)) == 12

    async def test_params_fill_in_what_the_request_does_not_set(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        await run(chat, acme.sdk, "team-gpt", temperature=0, seed=99, max_tokens=12)  # 0 is a value: it wins
        defaults, overridden = (r["body"] for r in gw.upstream.requests(CHAT))
        assert {k: defaults.get(k) for k in DEFAULT_PARAMS} == DEFAULT_PARAMS
        assert (overridden["temperature"], overridden["seed"], overridden["top_p"]) == (0, 99, 0.5)
        assert overridden.get("max_tokens") == 12

        # Streaming requests get the same defaults.
        gw.upstream.clear()
        await run(collect_stream, acme.sdk, "team-gpt", temperature=1.1)
        streamed = only_request(gw.upstream, CHAT)["body"]
        assert (streamed["temperature"], streamed["top_p"], streamed["seed"]) == (1.1, 0.5, 7)

        # params set through the Open WebUI dialect replace the stored ones and apply on the next call.
        await gw.call(
            acme.org,
            "POST",
            "/api/v1/models/model/update",
            {
                "id": "team-gpt",
                "name": "Team GPT",
                "params": {"temperature": 0.3, "frequency_penalty": 0.25},
                "meta": {},
            },
        )
        gw.upstream.clear()
        await run(chat, acme.sdk, "team-gpt", frequency_penalty=0)
        body = only_request(gw.upstream, CHAT)["body"]
        assert (body["temperature"], body["frequency_penalty"], body["model"]) == (0.3, 0, "gpt-4o")
        assert "top_p" not in body and "seed" not in body

    async def test_caller_routing_and_credential_fields_are_ignored(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        injected = {
            "api_base": gw.decoy.base_url,
            "base_url": gw.decoy.base_url,
            "api_key": CALLER_INJECTED_KEY,
            "extra_headers": {"X-Injected": "yes", "Authorization": f"Bearer {CALLER_INJECTED_KEY}"},
            "headers": {"X-Injected-Too": "yes", "Authorization": f"Bearer {CALLER_INJECTED_KEY}"},
        }
        reply = await run(chat, acme.sdk, "team-gpt", extra_body=injected)
        assert reply.choices[0].message.content == expected_reply("gpt-4o", MESSAGES)
        await run(collect_stream, acme.sdk, "team-gpt", extra_body=injected)
        await run(acme.sdk.embeddings.create, model="team-embed", input="x", extra_body=injected)

        records = gw.upstream.requests()
        assert [r["path"] for r in records] == [CHAT, CHAT, EMBEDDINGS]
        for record in records:
            assert not set(injected) & set(record["body"]), record["body"]
            assert "x-injected" not in record["headers"] and "x-injected-too" not in record["headers"]
            assert CALLER_INJECTED_KEY not in header_values(record) + json.dumps(record["body"])
            assert_forwarded_by_provider(record, acme.org, UPSTREAM_KEY)
        assert gw.decoy.requests() == []

    async def test_provider_changes_apply_to_the_next_call(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await run(chat, acme.sdk, "team-gpt")
        rotated = "sk-upstream-rotated-9a9a9a9a"
        await gw.call(acme.org, "PATCH", "/api/providers/fake/", {"api_key": rotated})
        await run(chat, acme.sdk, "team-gpt")
        first, second = gw.upstream.requests(CHAT)
        assert_forwarded_by_provider(first, acme.org, UPSTREAM_KEY)
        assert_forwarded_by_provider(second, acme.org, rotated)

        with _running_fake_upstream() as moved:
            await gw.call(acme.org, "PATCH", "/api/providers/fake/", {"extra_kwargs": {"base_url": moved.base_url}})
            reply = await run(chat, acme.sdk, "team-gpt")
            assert reply.choices[0].message.content == expected_reply("gpt-4o", MESSAGES)
            record = only_request(moved, CHAT)
            assert record["body"]["model"] == "gpt-4o"
            assert_forwarded_by_provider(record, acme.org, rotated)  # a write without secrets keeps the key
        assert len(gw.upstream.requests(CHAT)) == 2

    async def test_builtin_model_goes_through_the_org_provider_of_that_id(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.provider(acme.org, "openai", api_key=OPENAI_PROVIDER_KEY)
        reply = await run(chat, acme.sdk, "openai/gpt-4o")
        assert reply.choices[0].message.content == expected_reply("gpt-4o", MESSAGES)
        streamed = await run(collect_stream, acme.sdk, "openai/gpt-4o")
        assert "".join(c.choices[0].delta.content or "" for _, c in streamed if c.choices) == expected_reply(
            "gpt-4o", MESSAGES
        )
        records = gw.upstream.requests(CHAT)
        assert [r["body"]["model"] for r in records] == ["gpt-4o", "gpt-4o"]
        for record in records:
            assert_forwarded_by_provider(record, acme.org, OPENAI_PROVIDER_KEY)
            assert "temperature" not in record["body"]  # team-gpt's params belong to team-gpt only


# ---- embeddings ----------------------------------------------------------------------------------


class TestEmbeddings:
    async def test_embeddings(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        inputs = ["alpha beta", "gamma"]
        result = await run(acme.sdk.embeddings.create, model="team-embed", input=inputs)  # SDK default: base64
        assert [d.index for d in result.data] == [0, 1]
        assert [d.embedding for d in result.data] == [expected_embedding(text) for text in inputs]
        assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)

        floats = await run(
            acme.sdk.embeddings.create, model="team-embed", input="delta", encoding_format="float", dimensions=4
        )
        assert floats.data[0].embedding == expected_embedding("delta", 4)

        first, second = gw.upstream.requests(EMBEDDINGS)
        assert first["body"]["model"] == "text-embedding-3-small" and first["body"]["input"] == inputs
        assert (second["body"]["encoding_format"], second["body"]["dimensions"]) == ("float", 4)
        for record in (first, second):
            assert_forwarded_by_provider(record, acme.org, UPSTREAM_KEY)
        assert gw.upstream.requests(CHAT) == []


# ---- upstream failures ---------------------------------------------------------------------------


class TestUpstreamFailures:
    async def test_upstream_400_is_passed_through_with_its_body(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "fail-400")
        await gw.model(acme.org, "fail-422")
        for call in (lambda: chat(acme.sdk, "fail-400"), lambda: collect_stream(acme.sdk, "fail-400")):
            rejected = await failing(call)
            assert rejected.status_code == 400 and isinstance(rejected, openai.BadRequestError)
            assert rejected.response.json() == error_body(400)
            assert rejected.code == "fake_400"
        unprocessable = await failing(lambda: acme.sdk.embeddings.create(model="fail-422", input="x"))
        assert unprocessable.status_code == 422 and unprocessable.response.json() == error_body(422)
        assert len(gw.upstream.requests()) == 3

    async def test_upstream_5xx_is_502(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "fail-500")
        await gw.model(acme.org, "fail-503")
        for call in (
            lambda: chat(acme.sdk, "fail-500"),
            lambda: collect_stream(acme.sdk, "fail-500"),
            lambda: chat(acme.sdk, "fail-503"),
            lambda: acme.sdk.embeddings.create(model="fail-500", input="x"),
        ):
            failed = await failing(call)
            assert_openai_error(failed.response, 502)
        assert len(gw.upstream.requests()) == 4

    async def test_upstream_timeout_is_504(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.provider(acme.org, "impatient", timeout=1)
        await gw.model(acme.org, "hang", provider="impatient")
        await gw.model(acme.org, "delay-300", provider="impatient")

        reply = await run(chat, acme.sdk, "delay-300")  # within the provider's timeout
        assert reply.choices[0].message.content == expected_reply("delay-300", MESSAGES)
        for call in (lambda: chat(acme.sdk, "hang"), lambda: collect_stream(acme.sdk, "hang")):
            started = time.monotonic()
            timed_out = await failing(call)
            elapsed = time.monotonic() - started
            assert_openai_error(timed_out.response, 504)
            assert 0.9 <= elapsed < 10, elapsed
        hung = [r for r in gw.upstream.requests(CHAT) if r["body"]["model"] == "hang"]
        assert len(hung) == 2

    async def test_stream_stalled_by_the_upstream_ends_with_an_error(self, gw: Gateway) -> None:
        """Beyond the letter of the contract: once a stream has started its status is sent, so an upstream that
        stops mid-stream (past the provider timeout) must end it with an OpenAI error event, which the SDK
        raises, rather than a silent end the caller takes for a complete answer."""
        acme = await gw.tenant()
        await gw.provider(acme.org, "impatient", timeout=1)
        await gw.model(acme.org, "stall-stream", provider="impatient")
        received: list[Any] = []

        def consume() -> None:
            stream = chat(acme.sdk, "stall-stream", stream=True)
            with stream:
                received.extend(stream)

        started = time.monotonic()
        with pytest.raises(openai.APIError):
            await run(consume)
        assert time.monotonic() - started < 10
        assert any(c.choices and c.choices[0].delta.content for c in received)

    async def test_upstream_redirect_is_an_error_not_an_answer(self, gw: Gateway) -> None:
        """Beyond the letter of the contract (which names 4xx and 5xx only): a 3xx from the upstream is not
        followed, so the caller gets an error status; never a 200 with an empty stream."""
        acme = await gw.tenant()
        name = f"redirect-{gw.decoy.port}"
        await gw.model(acme.org, name)
        outcomes: list[Any] = []
        for call in (
            lambda: chat(acme.sdk, name),
            lambda: collect_stream(acme.sdk, name),
            lambda: acme.sdk.embeddings.create(model=name, input="x"),
        ):
            try:
                outcomes.append(await run(call))
            except openai.APIStatusError as exc:
                outcomes.append(exc.status_code)
        assert all(isinstance(o, int) and o >= 300 for o in outcomes), outcomes

    async def test_refused_connection_is_502(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        closed_port = free_port()  # bound and released: nothing listens there
        await gw.provider(acme.org, "gone", base_url=f"http://127.0.0.1:{closed_port}/v1")
        await gw.model(acme.org, "nowhere", provider="gone", base_model_name="gpt-4o")
        for call in (
            lambda: chat(acme.sdk, "nowhere"),
            lambda: collect_stream(acme.sdk, "nowhere"),
            lambda: acme.sdk.embeddings.create(model="nowhere", input="x"),
        ):
            started = time.monotonic()
            assert_openai_error((await failing(call)).response, 502)
            assert time.monotonic() - started < 10

    async def test_client_disconnect_mid_stream_keeps_the_server_serving(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "slow-stream-40")  # about 8 s of chunks

        def read_two_then_leave() -> int:
            stream = chat(acme.sdk, "slow-stream-40", stream=True)
            received = 0
            for chunk in stream:
                received += bool(chunk.choices and chunk.choices[0].delta.content)
                if received == 2:
                    break
            stream.close()
            return received

        assert await run(read_two_then_leave) == 2

        def reset_mid_stream() -> bytes:
            """A raw client that reads the first bytes of the stream and resets the connection (RST)."""
            body = json.dumps({"model": "slow-stream-40", "messages": MESSAGES, "stream": True}).encode()
            host, port = gw.server.base_url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                    + f"Authorization: Bearer {acme.org.admin_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                first = sock.recv(4096)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return first

        assert b" 200 " in (await run(reset_mid_stream)).split(b"\r\n", 1)[0]

        # The server is alive and answers the next requests, streamed and not.
        for _ in range(3):
            reply = await run(chat, acme.sdk, "team-gpt")
            assert reply.choices[0].message.content == expected_reply("gpt-4o", MESSAGES)
        streamed = await run(collect_stream, acme.sdk, "team-gpt")
        assert "".join(c.choices[0].delta.content or "" for _, c in streamed if c.choices) == expected_reply(
            "gpt-4o", MESSAGES
        )
        assert (await gw.http.get("/healthz")).status_code == 200
        assert gw.server.process.poll() is None

    async def test_client_disconnect_mid_stream_releases_the_upstream(self, gw: Gateway) -> None:
        """Beyond the letter of the contract: when the caller leaves, the gateway stops reading the upstream
        (closes that connection) instead of draining the whole answer."""
        acme = await gw.tenant()
        await gw.model(acme.org, "slow-stream-40")

        def read_two_then_leave() -> None:
            stream = chat(acme.sdk, "slow-stream-40", stream=True)
            for index, _ in enumerate(stream):
                if index == 2:
                    break
            stream.close()

        await run(read_two_then_leave)
        records = await run(
            gw.upstream.wait_for, lambda rs: bool(rs) and rs[0]["outcome"] != "pending", 5.0
        )  # 40 chunks take ~8 s; an abort shows within a few chunks
        assert [r["outcome"] for r in records] == ["aborted"], records


# ---- SSRF ----------------------------------------------------------------------------------------


REFUSED_BASE_URLS = [
    "http://169.254.169.254/v1",  # cloud metadata
    "http://[fe80::1]/v1",  # IPv6 link-local
    "http://10.0.0.5/v1",  # private, not in MODELREG_UPSTREAM_ALLOW
    "http://192.168.1.10:8000/v1",  # private
    "http://[::1]:8000/v1",  # loopback, but only 127.0.0.0/8 is allowed
]
REFUSED_SPELLINGS = [
    "http://[::ffff:169.254.169.254]/v1",  # metadata as an IPv4-mapped IPv6 address
    "http://2852039166/v1",  # 169.254.169.254 as one decimal number (inet_aton accepts it)
    "http://0xa9fea9fe/v1",  # the same in hex
    "http://0.0.0.0:8000/v1",  # reaches local services on Linux; not in the allow list
]


class TestSSRF:
    @pytest.mark.parametrize("base_url", REFUSED_BASE_URLS)
    async def test_refused_at_create(self, gw: Gateway, base_url: str) -> None:
        org = await gw.env.org()
        body = {"provider_id": "bad", "provider_name": "Bad", "extra_kwargs": {"base_url": base_url}, "api_key": "k"}
        response = await gw.call(org, "POST", "/api/providers/", body, expect=None)
        assert response.status_code == 400, (base_url, response.status_code, response.text)
        await gw.call(org, "GET", "/api/providers/bad/", expect=404)

    @pytest.mark.parametrize("base_url", REFUSED_SPELLINGS)
    async def test_other_spellings_refused_at_create(self, gw: Gateway, base_url: str) -> None:
        org = await gw.env.org()
        body = {"provider_id": "bad", "provider_name": "Bad", "extra_kwargs": {"base_url": base_url}, "api_key": "k"}
        response = await gw.call(org, "POST", "/api/providers/", body, expect=None)
        assert response.status_code == 400, (base_url, response.status_code, response.text)
        await gw.call(org, "GET", "/api/providers/bad/", expect=404)

    @pytest.mark.parametrize("method", ["PATCH", "PUT"])
    async def test_refused_at_update_and_kept_unchanged(self, gw: Gateway, method: str) -> None:
        acme = await gw.tenant()
        for base_url in ("http://169.254.169.254/v1", "http://[fe80::1]/v1", gw.ipv6.base_url):
            body = {"provider_name": "Fake", "extra_kwargs": {"base_url": base_url}}
            response = await gw.call(acme.org, method, "/api/providers/fake/", body, expect=None)
            assert response.status_code == 400, (method, base_url, response.status_code, response.text)
        stored = await gw.call(acme.org, "GET", "/api/providers/fake/")
        assert stored.json()["extra_kwargs"]["base_url"] == gw.upstream.base_url
        await run(chat, acme.sdk, "team-gpt")
        assert len(gw.upstream.requests(CHAT)) == 1

    async def test_allowed_loopback_is_accepted(self, gw: Gateway) -> None:
        org = await gw.env.org()
        created = await gw.provider(org, "local", base_url="http://127.0.0.2:9/v1")
        assert created["extra_kwargs"]["base_url"] == "http://127.0.0.2:9/v1"

    async def test_upstream_redirect_is_not_followed(self, gw: Gateway) -> None:
        """A provider that answers 307 to another address must not get the call (and its key) sent there."""
        acme = await gw.tenant()
        name = f"redirect-{gw.decoy.port}"
        await gw.model(acme.org, name)
        for call in (
            lambda: chat(acme.sdk, name),
            lambda: collect_stream(acme.sdk, name),
            lambda: acme.sdk.embeddings.create(model=name, input="x"),
        ):
            with contextlib.suppress(openai.APIError):
                await run(call)
        assert gw.decoy.requests() == []
        assert [r["outcome"] for r in gw.upstream.requests()] == ["redirected"] * 3

    async def test_refused_at_call_time(self, gw: Gateway, catalog: Catalog) -> None:
        """A stored base_url that would be refused now (written behind the API's back) is refused when called:
        the upstream it names, which is listening, is never reached."""
        acme = await gw.tenant()
        db = Database(gw.env.database_url)
        try:
            async with db.write() as session:
                row = (
                    await session.execute(
                        select(ProviderRow).where(
                            ProviderRow.organization_id == acme.org.organization_id, ProviderRow.provider_id == "fake"
                        )
                    )
                ).scalar_one()
                row.extra_kwargs = {**row.extra_kwargs, "base_url": gw.ipv6.base_url}
                row.revision += 1
                await session.flush()
                await refresh_views(session, catalog, acme.org.organization_id, ["team-gpt", "raw-model", "team-embed"])
                await counters.bump(session, org_counter(acme.org.organization_id))
        finally:
            await db.dispose()
        deadline = time.monotonic() + 10
        while True:
            seen = (await gw.call(acme.org, "GET", "/api/models/team-gpt/")).json()
            if seen["provider"]["extra_kwargs"]["base_url"] == gw.ipv6.base_url or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert seen["provider"]["extra_kwargs"]["base_url"] == gw.ipv6.base_url, "the server never saw the edit"

        for call in (
            lambda: chat(acme.sdk, "team-gpt"),
            lambda: collect_stream(acme.sdk, "team-gpt"),
            lambda: acme.sdk.embeddings.create(model="team-embed", input="x"),
        ):
            refused = await failing(call)
            assert refused.status_code in (403, 502), (refused.status_code, refused.response.text)
            assert_openai_error(refused.response, refused.status_code)
        assert gw.ipv6.requests() == []
        assert gw.upstream.requests() == []


# ---- the lean ASGI path (api/openai/lean.py) answers as the documented Litestar handlers ----------

LEAN_BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "team-gpt", "messages": MESSAGES},
    "/v1/completions": {"model": "team-gpt", "prompt": "hello gateway"},
    "/v1/responses": {"model": "team-gpt", "input": "hello gateway"},
    "/v1/embeddings": {"model": "team-embed", "input": "hello gateway"},
}
_TIME_FIELDS = ("id", "created", "created_at")


def _without_times(data: bytes) -> Any:
    """A JSON answer or an event stream without the fake upstream's time-based ids."""
    if data.startswith(b"data:") or data.startswith(b"event:"):
        lines = [line.removeprefix(b"data: ") for line in data.splitlines() if line.startswith(b"data: {")]
        return [_without_times(line) for line in lines]
    return _drop_times(json.loads(data))


def _drop_times(value: Any) -> Any:
    """`value` without time-based fields at any depth (a responses stream nests `created_at` in `response`)."""
    if isinstance(value, dict):
        return {k: _drop_times(v) for k, v in value.items() if k not in _TIME_FIELDS}
    if isinstance(value, list):
        return [_drop_times(v) for v in value]
    return value


class TestLeanPath:
    """POST /v1/chat/completions (and the other hot routes) is served by the lean ASGI path; the same path with
    a trailing slash reaches the documented Litestar handler. Both answer alike: status, body, headers."""

    async def both(self, gw: Gateway, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return await gw.http.post(path, **kwargs), await gw.http.post(path + "/", **kwargs)

    def assert_same(self, lean: httpx.Response, documented: httpx.Response) -> None:
        assert lean.status_code == documented.status_code, (lean.text, documented.text)
        if lean.headers.get("content-type", "").startswith("application/json"):
            assert _without_times(lean.content) == _without_times(documented.content), (lean.text, documented.text)
        else:
            assert _without_times(lean.content) == _without_times(documented.content)
        for name in ("content-type", "cache-control", "retry-after", "x-modelreg-stale"):
            assert lean.headers.get(name) == documented.headers.get(name), name
        assert lean.headers.get("x-request-id") and documented.headers.get("x-request-id")

    async def test_refusals_before_the_upstream(self, gw: Gateway) -> None:
        acme, rival = await gw.tenant(), await gw.tenant("rival")
        await gw.model(rival.org, "rival-only")
        auth = acme.org.headers
        for path, body in LEAN_BODIES.items():
            wrong_type = {**body, "input" if "input" in body else "messages" if "messages" in body else "prompt": 7}
            cases: list[tuple[int, dict[str, Any]]] = [
                (401, {"json": body}),  # no credentials
                (401, {"json": body, "headers": {"Authorization": "Bearer sk_live_not-a-real-key"}}),
                (404, {"json": {**body, "model": "no-such-model"}, "headers": auth}),
                (404, {"json": {**body, "model": "rival-only"}, "headers": auth}),  # another organization's
                (400, {"content": b"{not json", "headers": auth}),
                (400, {"json": [body], "headers": auth}),
                (400, {"json": {k: v for k, v in body.items() if k != "model"}, "headers": auth}),
                (400, {"json": wrong_type, "headers": auth}),
                (415, {"content": b"model=team-gpt", "headers": {**auth, "Content-Type": "text/plain"}}),
            ]
            for status, kwargs in cases:
                lean, documented = await self.both(gw, path, **kwargs)
                assert lean.status_code == status, (path, kwargs.get("json"), lean.text)
                self.assert_same(lean, documented)
                assert_openai_error(lean, status)
            # Over 1 MiB: in process (over TCP the server answers before the client has sent it all and closes
            # the connection, which the client may see as a reset before it reads the answer).
            big = b'{"model": "' + b"x" * (1024 * 1024) + b'"}'
            oversized = [await gw.env.client.post(p, content=big, headers=auth) for p in (path, path + "/")]
            assert oversized[0].status_code == 413
            self.assert_same(*oversized)
        assert gw.upstream.requests() == []

    async def test_answers_streamed_and_not(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        await gw.model(acme.org, "fail-500")
        bodies = LEAN_BODIES
        for path, body in bodies.items():
            streams = (False,) if path.endswith("embeddings") else (False, True)
            for stream in streams:
                lean, documented = await self.both(gw, path, json={**body, "stream": stream}, headers=acme.org.headers)
                assert lean.status_code == 200, lean.text
                self.assert_same(lean, documented)
            failed = await self.both(gw, path, json={**body, "model": "fail-500"}, headers=acme.org.headers)
            assert failed[0].status_code == 502
            self.assert_same(*failed)
        # The caller's request id is echoed by both ways in.
        for response in await self.both(
            gw, CHAT, json=bodies[CHAT], headers={**acme.org.headers, "X-Request-ID": "lean-1"}
        ):
            assert response.headers["x-request-id"] == "lean-1"

    async def test_calls_are_in_the_request_metrics(self, gw: Gateway) -> None:
        acme = await gw.tenant()
        wanted = ("modelreg_http_requests_total{", 'path="/v1/chat/completions"', 'status_code="401"', 'method="POST"')

        async def count() -> float:
            text = (await gw.call(acme.org, "GET", "/metrics")).text
            lines = [
                line for line in text.splitlines() if line.startswith(wanted[0]) and all(w in line for w in wanted)
            ]
            return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

        before = await count()
        await gw.http.post(CHAT, json={"model": "team-gpt", "messages": MESSAGES})
        assert await count() == before + 1
