"""modelreg driven by Respan's official Python client (respan-api 0.1.49) over real HTTP.

A real `modelreg serve` runs as a subprocess per backend (same database as `database_url`); the tests
call it through `RespanClient` (sync, from threads) and `AsyncRespanClient`, so the client's own
path building, body encoding (omitted vs explicit null), response parsing and typed errors are what
is checked. Every exchange is recorded (httpx event hooks) to search raw response text for secrets
and to make sure nothing the client would retry (408, 409, 429, 5xx) or redirect ever comes back.
Redirects are not followed here, so the server has to serve the exact paths the client calls.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from conftest import SECRET, Env, Org, row_counts
from modelreg.catalog.load import Catalog
from modelreg.crypto import SecretBox
from modelreg.store.database import Database
from modelreg.store.rows import ProviderRow

os.environ.pop("RESPAN_API_KEY", None)  # read once at import by the client; it would override our keys

from respan import AsyncRespanClient, RespanClient
from respan.core.api_error import ApiError
from respan.errors import BadRequestError, ForbiddenError, NotFoundError

from live_server import Server, running_server

T = TypeVar("T")

RETRIED_BY_CLIENT = {408, 409, 429}
GPT_4O = "openai/gpt-4o"


# ---- the server ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`modelreg serve` on a free port against the test database, once per backend for this module."""
    with running_server(database_url, tmp_path_factory.mktemp("modelreg-serve")) as started:
        yield started


# ---- clients with a record of every exchange ------------------------------------------------------


@dataclass
class Exchange:
    method: str
    url: httpx.URL
    request_body: bytes
    status: int
    text: str

    @property
    def sent(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None


@dataclass
class Wire:
    exchanges: list[Exchange] = field(default_factory=list)

    def record(self, response: httpx.Response) -> None:
        request = response.request
        self.exchanges.append(
            Exchange(request.method, request.url, request.content, response.status_code, response.text)
        )

    def last(self, method: str) -> Exchange:
        return [e for e in self.exchanges if e.method == method][-1]

    def all_text(self) -> str:
        return "\n".join(e.text for e in self.exchanges)


class Live:
    """Client factories for the running server; checks the database is empty when a test starts."""

    def __init__(self, server: Server, env: Env) -> None:
        self.server = server
        self.env = env
        self.wires: list[Wire] = []
        self._closers: list[Callable[[], Any]] = []

    def client(self, org: Org | None = None, *, authorization: str = "", key: str | None = None) -> RespanClient:
        api_key = key if key is not None else org.admin_key if org is not None else None
        client, _ = self.client_and_wire(authorization=authorization, key=api_key)
        return client

    def client_and_wire(self, *, authorization: str = "", key: str | None = None) -> tuple[RespanClient, Wire]:
        wire = Wire()
        self.wires.append(wire)

        def hook(response: httpx.Response) -> None:
            response.read()
            wire.record(response)

        http = httpx.Client(timeout=30, follow_redirects=False, event_hooks={"response": [hook]})
        self._closers.append(http.close)
        client = RespanClient(
            base_url=self.server.base_url, authorization=authorization, respan_api_key=key, httpx_client=http
        )
        return client, wire

    def async_client(self, org: Org) -> tuple[AsyncRespanClient, Wire]:
        wire = Wire()
        self.wires.append(wire)

        async def hook(response: httpx.Response) -> None:
            await response.aread()
            wire.record(response)

        http = httpx.AsyncClient(timeout=30, follow_redirects=False, event_hooks={"response": [hook]})
        self._closers.append(http.aclose)
        client = AsyncRespanClient(
            base_url=self.server.base_url, authorization="", respan_api_key=org.admin_key, httpx_client=http
        )
        return client, wire

    async def close(self) -> None:
        for close in self._closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result


@pytest.fixture
async def live(env: Env, server: Server) -> AsyncIterator[Live]:
    counts = await row_counts(env.database_url)
    assert set(counts.values()) == {0}, f"rows left over from an earlier test: {counts}"
    helper = Live(server, env)
    yield helper
    await helper.close()
    bad = [
        (e.method, str(e.url), e.status)
        for wire in helper.wires
        for e in wire.exchanges
        if e.status in RETRIED_BY_CLIENT or e.status >= 500 or 300 <= e.status < 400
    ]
    assert not bad, f"responses the client would retry or redirect: {bad}"


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the sync client off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def make_provider(client: RespanClient, provider_id: str = "my-vllm", **extra: Any) -> Any:
    return await run(
        client.models.create_custom_provider,
        provider_id=provider_id,
        provider_name=f"Provider {provider_id}",
        extra_kwargs={"base_url": "http://vllm:8000/v1", **extra},
    )


async def stored_provider(database_url: str, org: Org, provider_id: str) -> tuple[dict[str, Any], str | None]:
    """(public extra_kwargs column, encrypted secrets column) exactly as stored."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            row = (
                await session.execute(
                    select(ProviderRow).where(
                        ProviderRow.organization_id == org.organization_id, ProviderRow.provider_id == provider_id
                    )
                )
            ).scalar_one()
            return dict(row.extra_kwargs), row.secrets_enc
    finally:
        await db.dispose()


def opened(secrets_enc: str | None) -> dict[str, Any]:
    return SecretBox(SECRET).open(secrets_enc)


def assert_aware(value: Any) -> datetime:
    assert isinstance(value, datetime), value
    assert value.utcoffset() == timedelta(0), value
    return value


# ---- custom providers -----------------------------------------------------------------------------


class TestProviderSecrets:
    async def test_extra_kwargs_api_key_is_stored_and_never_returned(self, live: Live, server: Server) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        secret, nested, aws = "sk-extra-9f8e7d6c5b4a", "nested-bearer-1a2b3c4d", "aws-secret-5e6f7a8b"
        raw = await run(
            m.with_raw_response.create_custom_provider,
            provider_id="my-openai",
            provider_name="My OpenAI",
            extra_kwargs={
                "base_url": "https://api.openai.com/v1",
                "timeout": 30,
                "api_key": secret,
                "aws_secret_access_key": aws,
                "headers": {"Authorization": f"Bearer {nested}", "X-Team": "ml"},
            },
        )
        assert raw.status_code == 201
        created = raw.data
        assert (created.id, created.provider_id, created.provider_name) == ("my-openai", "my-openai", "My OpenAI")
        assert created.extra_kwargs is not None
        assert created.extra_kwargs["base_url"] == "https://api.openai.com/v1" and created.extra_kwargs["timeout"] == 30
        assert created.extra_kwargs["headers"]["X-Team"] == "ml"
        assert "api_key" not in created.extra_kwargs and "aws_secret_access_key" not in created.extra_kwargs

        # Every way the provider comes back: retrieve, list, PATCH, PUT, nested in a model, upsert.
        await run(m.retrieve_custom_provider, "my-openai")
        await run(m.list_custom_providers)
        await run(m.update_custom_provider, "my-openai", provider_name="Renamed")
        replaced = await run(
            m.replace_custom_provider,
            "my-openai",
            provider_name="Replaced",
            extra_kwargs={"base_url": "https://proxy.example/v1"},
        )
        assert replaced.extra_kwargs == {"base_url": "https://proxy.example/v1"}
        model = await run(m.create_custom_model, model_name="via-openai", custom_provider_id="my-openai")
        assert model.provider is not None and model.provider.provider_id == "my-openai"
        await run(m.retrieve_custom_model, "via-openai")
        await run(m.update_custom_model, "via-openai", input_cost=1.0)

        assert len(wire.exchanges) == 8
        assert all(200 <= e.status < 300 for e in wire.exchanges), [(e.method, e.status) for e in wire.exchanges]
        text = wire.all_text()
        for value in (secret, nested, aws):
            assert value not in text
            assert value not in server.log_text()

        # Not returned, but kept: PATCH/PUT without credentials did not drop them; not stored in clear.
        public, sealed = await stored_provider(live.env.database_url, org, "my-openai")
        assert public == {"base_url": "https://proxy.example/v1"}
        assert sealed is not None and secret not in sealed and nested not in sealed
        secrets = opened(sealed)
        assert secrets["api_key"] == secret and secrets["aws_secret_access_key"] == aws
        assert secrets["headers"] == {"Authorization": f"Bearer {nested}"}

    async def test_null_api_key_in_extra_kwargs_removes_it(self, live: Live) -> None:
        org = await live.env.org()
        m = live.client(org).models
        await make_provider(live.client(org), "p", api_key="sk-to-remove-31415")
        updated = await run(m.update_custom_provider, "p", extra_kwargs={"base_url": "http://x/v1", "api_key": None})
        assert updated.extra_kwargs == {"base_url": "http://x/v1"}
        _, sealed = await stored_provider(live.env.database_url, org, "p")
        assert "api_key" not in opened(sealed)

    async def test_legacy_top_level_api_key(self, live: Live, server: Server) -> None:
        """Older clients sent `api_key` beside `extra_kwargs`; 0.1.49 can still send it as an extra body key."""
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        first, second = "sk-legacy-2718281828", "sk-legacy-rotated-1618"
        raw = await run(
            m.with_raw_response.create_custom_provider,
            provider_id="legacy",
            provider_name="Legacy",
            extra_kwargs={"base_url": "http://legacy/v1"},
            request_options={"additional_body_parameters": {"api_key": first}},
        )
        assert raw.status_code == 201
        assert wire.last("POST").sent["api_key"] == first  # the client really sent it top-level
        assert raw.data.extra_kwargs == {"base_url": "http://legacy/v1"}
        _, sealed = await stored_provider(live.env.database_url, org, "legacy")
        assert opened(sealed) == {"api_key": first}

        patched = await run(
            m.update_custom_provider,
            "legacy",
            provider_name="Legacy 2",
            request_options={"additional_body_parameters": {"api_key": second}},
        )
        assert patched.provider_name == "Legacy 2" and patched.extra_kwargs == {"base_url": "http://legacy/v1"}
        _, sealed = await stored_provider(live.env.database_url, org, "legacy")
        assert opened(sealed) == {"api_key": second}
        await run(m.retrieve_custom_provider, "legacy")
        await run(m.list_custom_providers)
        for value in (first, second):
            assert value not in wire.all_text()
            assert value not in server.log_text()


class TestProviderCrud:
    async def test_list_pages_until_next_is_null(self, live: Live) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        ids = [f"prov-{i}" for i in range(5)]
        for provider_id in reversed(ids):
            await make_provider(client, provider_id)

        seen: list[str] = []
        page, counts = 1, []
        while True:
            response = await run(m.list_custom_providers, page=page, page_size=2)
            counts.append(response.count)
            assert response.count == 5  # the total number of providers (docs/decisions.md), not the page size
            seen += [p.provider_id for p in response.results]
            for item in response.results:
                assert item.id == item.provider_id
                assert_aware(item.created_at)
                assert_aware(item.updated_at)
            assert (response.previous is None) == (page == 1)
            if response.next is None:
                break
            assert parse_qs(urlsplit(response.next).query) == {"page": [str(page + 1)], "page_size": ["2"]}
            page += 1
        assert counts == [5, 5, 5]
        assert sorted(seen) == ids and len(set(seen)) == 5
        assert wire.last("GET").url.params["page"] == "3"

        # The generated pagers stop on an empty page: past the end is 200 with no results, not 404.
        beyond = await run(m.list_custom_providers, page=4, page_size=2)
        assert (beyond.count, beyond.results, beyond.next) == (5, [], None)
        everything = await run(m.list_custom_providers)
        assert sorted(p.provider_id for p in everything.results) == ids and everything.next is None

        # `next` is a usable absolute URL.
        first = await run(m.list_custom_providers, page=1, page_size=2)
        assert first.next is not None
        followed = httpx.get(first.next, headers=org.headers, follow_redirects=False)
        assert followed.status_code == 200
        assert [p["provider_id"] for p in followed.json()["results"]] == seen[2:4]

    async def test_next_link_keeps_the_requested_path(self, live: Live) -> None:
        """The client calls `/api/providers/`; page links should name that same path (as DRF's do)."""
        org = await live.env.org()
        client = live.client(org)
        for provider_id in ("a", "b"):
            await make_provider(client, provider_id)
        page_one = await run(client.models.list_custom_providers, page=1, page_size=1)
        page_two = await run(client.models.list_custom_providers, page=2, page_size=1)
        assert page_one.next is not None and page_two.previous is not None
        assert urlsplit(page_one.next).path == "/api/providers/"
        assert urlsplit(page_two.previous).path == "/api/providers/"

    async def test_retrieve_update_replace_delete(self, live: Live) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        created = await make_provider(client, "team/vllm", timeout=10)
        assert wire.last("POST").url.path == "/api/providers/"
        got = await run(m.retrieve_custom_provider, "team/vllm")
        assert wire.last("GET").url.path == "/api/providers/team/vllm/"
        assert got.provider_id == "team/vllm" and got.extra_kwargs == {"base_url": "http://vllm:8000/v1", "timeout": 10}
        assert assert_aware(got.created_at) == assert_aware(created.created_at)

        patched = await run(m.update_custom_provider, "team/vllm", provider_name="Renamed")
        assert wire.last("PATCH").sent == {"provider_name": "Renamed"}
        assert patched.provider_name == "Renamed" and patched.extra_kwargs == got.extra_kwargs
        assert patched.created_at == got.created_at
        assert got.updated_at is not None and assert_aware(patched.updated_at) > got.updated_at

        replaced = await run(m.replace_custom_provider, "team/vllm", provider_name="Replaced", extra_kwargs={"a": 1})
        assert (replaced.provider_name, replaced.extra_kwargs) == ("Replaced", {"a": 1})
        assert replaced.provider_id == "team/vllm"
        bare = await run(m.replace_custom_provider, "team/vllm", provider_name="Bare")
        assert wire.last("PUT").sent == {"provider_name": "Bare"}
        assert bare.provider_name == "Bare" and not bare.extra_kwargs  # PUT replaces: nothing kept from before
        assert (await run(m.retrieve_custom_provider, "team/vllm")).provider_name == "Bare"

        deleted = await run(m.with_raw_response.delete_custom_provider, "team/vllm")
        assert deleted.status_code == 204
        for call in (
            lambda: m.retrieve_custom_provider("team/vllm"),
            lambda: m.update_custom_provider("team/vllm", provider_name="x"),
            lambda: m.replace_custom_provider("team/vllm", provider_name="x"),
            lambda: m.delete_custom_provider("team/vllm"),
        ):
            with pytest.raises(NotFoundError) as caught:
                await run(call)
            assert caught.value.status_code == 404
        assert (await run(m.list_custom_providers)).results == []

    async def test_duplicate_create_is_never_a_retried_status(self, live: Live) -> None:
        """0.1.49 retries 409: a duplicate provider_id must answer 2xx (upsert) or 400, and be sent once."""
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        await make_provider(client, "dup")
        try:
            again = await run(client.models.create_custom_provider, provider_id="dup", provider_name="Second")
        except BadRequestError:
            again = None
        posts = [e for e in wire.exchanges if e.method == "POST"]
        assert len(posts) == 2 and posts[1].status in (200, 201, 400)
        listed = await run(client.models.list_custom_providers)
        assert [p.provider_id for p in listed.results] == ["dup"]
        if again is not None:
            assert again.provider_id == "dup" and again.provider_name == "Second"


# ---- custom models --------------------------------------------------------------------------------


class TestModelCrud:
    async def test_create_201_then_200_and_slashed_name(self, live: Live) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        provider = await make_provider(client)
        first = await run(
            m.with_raw_response.create_custom_model,
            model_name="team/llama-3",
            custom_provider_id="my-vllm",
            input_cost=0.1,
            output_cost=0.2,
            function_call=0,
            image_support=1,
        )
        assert first.status_code == 201
        data = first.data
        assert (data.id, data.model_name, data.affiliation_category) == ("team/llama-3", "team/llama-3", "custom")
        assert (data.input_cost, data.output_cost, data.function_call, data.image_support) == (0.1, 0.2, 0, 1)
        assert data.base_model_name is None and data.is_called_by_custom_name is True
        assert data.supported_params == {}
        assert data.provider is not None
        assert (data.provider.id, data.provider.provider_id) == ("my-vllm", "my-vllm")
        assert data.provider.extra_kwargs == {"base_url": "http://vllm:8000/v1"}
        assert assert_aware(data.provider.created_at) == provider.created_at

        again = await run(m.with_raw_response.create_custom_model, model_name="team/llama-3", max_context_window=8192)
        assert wire.last("POST").sent == {"model_name": "team/llama-3", "max_context_window": 8192}
        assert again.status_code == 200
        assert (again.data.input_cost, again.data.max_context_window) == (0.1, 8192)  # upsert keeps the rest

        got = await run(m.retrieve_custom_model, "team/llama-3")
        assert wire.last("GET").url.path == "/api/models/team/llama-3/"  # the client does not escape the slash
        assert got.model_name == "team/llama-3" and got.max_context_window == 8192
        assert got.provider is not None and got.provider.provider_id == "my-vllm"

    async def test_retrieve_builtin(self, live: Live, catalog: Catalog) -> None:
        org = await live.env.org()
        got = await run(live.client(org).models.retrieve_custom_model, GPT_4O)
        base = catalog.models[GPT_4O]
        assert (got.id, got.model_name, got.affiliation_category) == (GPT_4O, GPT_4O, "keywordsai")
        assert (got.input_cost, got.output_cost, got.max_context_window) == (
            base.input_cost,
            base.output_cost,
            base.max_context_window,
        )
        assert got.model_type == "chat" and got.supported_params is not None
        assert set(got.supported_params) == set(base.supported_params) != set()
        assert got.provider is not None and got.provider.provider_id == "openai" and got.provider.provider_name

    async def test_update_with_explicit_none_inherits_again(self, live: Live, catalog: Catalog) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        base = catalog.models[GPT_4O]
        await run(
            m.create_custom_model,
            model_name="alias",
            base_model_name=GPT_4O,
            input_cost=1.0,
            output_cost=2.0,
            max_context_window=1000,
        )
        updated = await run(m.update_custom_model, "alias", input_cost=None, max_context_window=None)
        assert wire.last("PATCH").sent == {"input_cost": None, "max_context_window": None}
        assert updated.input_cost == base.input_cost and updated.max_context_window == base.max_context_window
        assert updated.output_cost == 2.0  # absent: kept
        got = await run(m.retrieve_custom_model, "alias")
        assert (got.input_cost, got.output_cost) == (base.input_cost, 2.0)

        untouched = await run(m.update_custom_model, "alias")
        assert wire.last("PATCH").sent == {}
        assert untouched.output_cost == 2.0 and untouched.base_model_name == GPT_4O

        # Clearing the base of a model that has no provider would leave it uncallable: 400, nothing changed.
        with pytest.raises(BadRequestError):
            await run(m.update_custom_model, "alias", base_model_name=None)
        assert (await run(m.retrieve_custom_model, "alias")).base_model_name == GPT_4O

        # With a provider, clearing the base stops inheritance.
        await make_provider(client)
        routed = await run(m.update_custom_model, "alias", custom_provider_id="my-vllm")
        assert routed.provider is not None and routed.provider.provider_id == "my-vllm"
        cleared = await run(m.update_custom_model, "alias", base_model_name=None)
        assert wire.last("PATCH").sent == {"base_model_name": None}
        assert cleared.base_model_name is None and cleared.input_cost is None and cleared.output_cost == 2.0

    async def test_replace(self, live: Live, catalog: Catalog) -> None:
        org = await live.env.org()
        m = live.client(org).models
        base = catalog.models[GPT_4O]
        await run(
            m.create_custom_model,
            model_name="r",
            base_model_name=GPT_4O,
            input_cost=1.0,
            output_cost=2.0,
            supported_params_override={"seed": None},
        )
        replaced = await run(m.replace_custom_model, "r", base_model_name=GPT_4O, output_cost=5.0)
        assert replaced.model_name == "r" and replaced.output_cost == 5.0
        assert replaced.input_cost == base.input_cost  # not given on PUT: reset, inherits
        assert replaced.supported_params is not None and "seed" in replaced.supported_params  # override reset
        with pytest.raises(BadRequestError) as caught:
            await run(m.replace_custom_model, "r")  # `{}`: no provider and no base
        assert caught.value.status_code == 400
        assert (await run(m.retrieve_custom_model, "r")).output_cost == 5.0

    async def test_delete(self, live: Live) -> None:
        org = await live.env.org()
        m = live.client(org).models
        await run(m.create_custom_model, model_name="gone", base_model_name=GPT_4O)
        deleted = await run(m.with_raw_response.delete_custom_model, "gone")
        assert deleted.status_code == 204 and deleted.data is None
        for call in (
            lambda: m.retrieve_custom_model("gone"),
            lambda: m.delete_custom_model("gone"),
            lambda: m.update_custom_model("gone", input_cost=1.0),
            lambda: m.replace_custom_model("gone", base_model_name=GPT_4O),
        ):
            with pytest.raises(NotFoundError) as caught:
                await run(call)
            assert caught.value.status_code == 404 and isinstance(caught.value, ApiError)

    async def test_builtins_are_read_only(self, live: Live) -> None:
        org = await live.env.org()
        m = live.client(org).models
        for call in (
            lambda: m.delete_custom_model(GPT_4O),
            lambda: m.update_custom_model(GPT_4O, input_cost=1.0),
            lambda: m.replace_custom_model(GPT_4O, base_model_name=GPT_4O),
        ):
            with pytest.raises(ForbiddenError) as caught:
                await run(call)
            assert caught.value.status_code == 403
        assert (await run(m.retrieve_custom_model, GPT_4O)).affiliation_category == "keywordsai"

    async def test_errors_are_typed_and_store_nothing(self, live: Live) -> None:
        org = await live.env.org()
        m = live.client(org).models
        with pytest.raises(NotFoundError) as missing:
            await run(m.retrieve_custom_model, "does-not-exist")
        assert missing.value.status_code == 404 and missing.value.body == {"detail": "Not found."}

        with pytest.raises(BadRequestError) as unknown_base:
            await run(m.create_custom_model, model_name="m1", base_model_name="no-such-base")
        assert unknown_base.value.status_code == 400 and unknown_base.value.body["error"] == "Base model not found"
        with pytest.raises(NotFoundError):
            await run(m.create_custom_model, model_name="m2", custom_provider_id="no-such-provider")
        with pytest.raises(BadRequestError):
            await run(m.create_custom_model, model_name="m3")  # neither provider nor base
        with pytest.raises(BadRequestError) as negative:
            await run(m.create_custom_model, model_name="m4", base_model_name=GPT_4O, input_cost=-1.0)
        assert "input_cost" in negative.value.body
        with pytest.raises(BadRequestError):
            await run(m.create_custom_model, model_name=GPT_4O, base_model_name=GPT_4O)
        for name in ("m1", "m2", "m3", "m4"):
            with pytest.raises(NotFoundError):
                await run(m.retrieve_custom_model, name)

        # A failed upsert of an existing model leaves it as it was.
        await run(m.create_custom_model, model_name="kept", base_model_name=GPT_4O, input_cost=3.0)
        with pytest.raises(BadRequestError):
            await run(m.create_custom_model, model_name="kept", base_model_name="no-such-base", input_cost=9.0)
        kept = await run(m.retrieve_custom_model, "kept")
        assert (kept.base_model_name, kept.input_cost) == (GPT_4O, 3.0)

    async def test_if_match_through_request_options(self, live: Live) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        raw = await run(m.with_raw_response.create_custom_model, model_name="etagged", base_model_name=GPT_4O)
        etag = raw.headers["etag"]
        with pytest.raises(ApiError) as stale:
            await run(
                m.update_custom_model,
                "etagged",
                input_cost=1.0,
                request_options={"additional_headers": {"If-Match": '"m0.0"'}},
            )
        assert stale.value.status_code == 412
        assert len([e for e in wire.exchanges if e.method == "PATCH"]) == 1  # 412 is not retried
        fresh = await run(
            m.update_custom_model, "etagged", input_cost=1.0, request_options={"additional_headers": {"If-Match": etag}}
        )
        assert fresh.input_cost == 1.0

    async def test_unusual_names(self, live: Live) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        for name in ("team/fine-tune/v2", "café-模型", "with space"):
            raw = await run(m.with_raw_response.create_custom_model, model_name=name, base_model_name=GPT_4O)
            assert raw.status_code == 201, name
            assert (await run(m.retrieve_custom_model, name)).model_name == name
            assert (await run(m.update_custom_model, name, output_cost=4.0)).output_cost == 4.0
            await run(m.delete_custom_model, name)
            with pytest.raises(NotFoundError):
                await run(m.retrieve_custom_model, name)
        assert any("%20" in str(e.url) for e in wire.exchanges)


class TestSupportedParamsOverride:
    async def test_override_replaces_and_null_removes(self, live: Live, catalog: Catalog) -> None:
        org = await live.env.org()
        client, wire = live.client_and_wire(key=org.admin_key)
        m = client.models
        inherited = set(catalog.models[GPT_4O].supported_params)
        assert {"temperature", "top_p", "seed"} <= inherited
        temperature = {"name": "temperature", "type": "number", "default": 0.7, "range": {"min": 0, "max": 1.5}}
        top_p = {"name": "top_p", "type": "number", "default": 1, "range": {"min": 0, "max": 1}, "required": False}

        created = await run(
            m.create_custom_model,
            model_name="tuned",
            base_model_name=GPT_4O,
            supported_params_override={"temperature": temperature, "seed": None},
        )
        assert wire.last("POST").sent["supported_params_override"] == {"temperature": temperature, "seed": None}
        params = created.supported_params
        assert params is not None
        assert params["temperature"] == temperature and "seed" not in params and params["top_p"] is True
        assert set(params) == inherited - {"seed"}

        # A new override replaces the previous one: temperature and seed come back from the base.
        patched = await run(m.update_custom_model, "tuned", supported_params_override={"top_p": top_p})
        params = patched.supported_params
        assert params is not None
        assert params["top_p"] == top_p and params["temperature"] is True and params["seed"] is True
        assert set(params) == inherited

        # The same through the upsert.
        upserted = await run(m.create_custom_model, model_name="tuned", supported_params_override={"temperature": None})
        assert upserted.supported_params is not None
        assert "temperature" not in upserted.supported_params and upserted.supported_params["top_p"] is True

        # Absent keeps the override; an explicit null drops it entirely.
        kept = await run(m.update_custom_model, "tuned", input_cost=1.0)
        assert kept.supported_params is not None and "temperature" not in kept.supported_params
        cleared = await run(m.update_custom_model, "tuned", supported_params_override=None)
        assert wire.last("PATCH").sent == {"supported_params_override": None}
        assert cleared.supported_params is not None and set(cleared.supported_params) == inherited
        assert all(v is True for v in cleared.supported_params.values())
        got = await run(m.retrieve_custom_model, "tuned")
        assert got.supported_params == cleared.supported_params


# ---- tenancy and authentication -----------------------------------------------------------------


class TestCrossOrganization:
    async def test_other_org_sees_nothing(self, live: Live) -> None:
        owner, other = await live.env.org("acme"), await live.env.org("rival")
        mine = live.client(owner).models
        theirs = live.client(other).models
        await make_provider(live.client(owner), "acme-vllm", api_key="sk-acme-only-0001")
        await run(mine.create_custom_model, model_name="acme/private", custom_provider_id="acme-vllm", input_cost=1.0)

        for call in (
            lambda: theirs.retrieve_custom_model("acme/private"),
            lambda: theirs.update_custom_model("acme/private", input_cost=9.0),
            lambda: theirs.replace_custom_model("acme/private", base_model_name=GPT_4O),
            lambda: theirs.delete_custom_model("acme/private"),
            lambda: theirs.retrieve_custom_provider("acme-vllm"),
            lambda: theirs.update_custom_provider("acme-vllm", provider_name="x"),
            lambda: theirs.replace_custom_provider("acme-vllm", provider_name="x"),
            lambda: theirs.delete_custom_provider("acme-vllm"),
            lambda: theirs.create_custom_model(model_name="steal", custom_provider_id="acme-vllm"),
        ):
            with pytest.raises(NotFoundError) as caught:
                await run(call)
            assert caught.value.status_code == 404
        with pytest.raises(BadRequestError):
            await run(theirs.create_custom_model, model_name="child", base_model_name="acme/private")
        assert (await run(theirs.list_custom_providers)).results == []

        # Same names are separate namespaces.
        await make_provider(live.client(other), "acme-vllm")
        own = await run(theirs.with_raw_response.create_custom_model, model_name="acme/private", base_model_name=GPT_4O)
        assert own.status_code == 201 and own.data.input_cost != 1.0

        original = await run(mine.retrieve_custom_model, "acme/private")
        assert original.input_cost == 1.0 and original.provider is not None
        assert original.provider.provider_name == "Provider acme-vllm"
        assert [p.provider_id for p in (await run(mine.list_custom_providers)).results] == ["acme-vllm"]


class TestAuthentication:
    async def test_missing_or_bad_key_is_401(self, live: Live) -> None:
        await live.env.org()
        for client in (live.client(), live.client(key="sk_live_not-a-real-key")):
            for call in (
                lambda c=client: c.models.list_custom_providers(),
                lambda c=client: c.models.retrieve_custom_model("anything"),
                lambda c=client: c.models.create_custom_model(model_name="x", base_model_name=GPT_4O),
            ):
                with pytest.raises(ApiError) as caught:
                    await run(call)
                assert caught.value.status_code == 401

    async def test_jwt_in_authorization(self, live: Live) -> None:
        org = await live.env.org(password="correct horse battery")
        token = httpx.post(
            f"{live.server.base_url}/api/auth/token",
            json={"email": org.email, "password": "correct horse battery"},
        )
        assert token.status_code == 200, token.text
        jwt = token.json()["access_token"]
        client = live.client(authorization=f"Bearer {jwt}")  # no API key: sent verbatim
        created = await run(client.models.create_custom_model, model_name="by-jwt", base_model_name=GPT_4O)
        assert created.model_name == "by-jwt"
        seen_by_key = await run(live.client(org).models.retrieve_custom_model, "by-jwt")
        assert seen_by_key.id == "by-jwt"


# ---- the async client -----------------------------------------------------------------------------


class TestAsyncClient:
    async def test_full_flow(self, live: Live, catalog: Catalog, server: Server) -> None:
        org = await live.env.org()
        client, wire = live.async_client(org)
        m = client.models
        secret = "sk-async-6626070150"
        provider = await m.create_custom_provider(
            provider_id="async-prov", provider_name="Async", extra_kwargs={"base_url": "http://a/v1", "api_key": secret}
        )
        assert provider.extra_kwargs == {"base_url": "http://a/v1"}
        assert_aware(provider.created_at)

        first = await m.with_raw_response.create_custom_model(
            model_name="async/model", base_model_name=GPT_4O, custom_provider_id="async-prov", input_cost=0.5
        )
        second = await m.with_raw_response.create_custom_model(model_name="async/model", output_cost=0.75)
        assert (first.status_code, second.status_code) == (201, 200)
        assert (second.data.input_cost, second.data.output_cost) == (0.5, 0.75)
        assert second.data.provider is not None and second.data.provider.provider_id == "async-prov"

        got = await m.retrieve_custom_model("async/model")
        assert got.base_model_name == GPT_4O and got.max_context_window == catalog.models[GPT_4O].max_context_window
        updated = await m.update_custom_model("async/model", input_cost=None)
        assert updated.input_cost == catalog.models[GPT_4O].input_cost
        replaced = await m.replace_custom_model("async/model", custom_provider_id="async-prov")
        assert replaced.base_model_name is None and replaced.output_cost is None

        listed = await m.list_custom_providers(page=1, page_size=10)
        assert [p.provider_id for p in listed.results] == ["async-prov"] and listed.next is None

        await m.delete_custom_model("async/model")
        with pytest.raises(NotFoundError):
            await m.retrieve_custom_model("async/model")
        with pytest.raises(ForbiddenError):
            await m.delete_custom_model(GPT_4O)
        await m.delete_custom_provider("async-prov")
        with pytest.raises(NotFoundError):
            await m.retrieve_custom_provider("async-prov")

        assert len(wire.exchanges) == 12
        assert secret not in wire.all_text() and secret not in server.log_text()


class TestModelStatus:
    async def test_status_series_parse_in_the_official_client(self, live: Live) -> None:
        """GET and POST /api/models/{name}/status/ as respan-api 0.1.49 calls them (slashed name, optional auth)."""
        org = await live.env.org()
        start, end = "2026-06-01T00:00:00Z", "2026-06-01T03:00:00Z"
        m = live.client(org).models
        got = await run(m.api_models_status_retrieve, GPT_4O, start_time=start, end_time=end, time_tick="hour")
        assert got.model == GPT_4O and got.time_tick == "hour"
        assert [b.date_group.hour for b in got.data] == [0, 1, 2]
        assert len(got.metrics_series) == 3 and all(b.average_tps is None for b in got.metrics_series)
        assert got.status is not None and got.status.number_of_requests == 0
        posted = await run(m.api_models_status_create, GPT_4O, start_time=start, end_time=end, time_tick="hour")
        assert posted.model_dump() == got.model_dump()

        anonymous = live.client(None).models
        public = await run(
            anonymous.api_models_status_retrieve, GPT_4O, start_time=start, end_time=end, time_tick="hour"
        )
        assert len(public.data) == 3 and public.status is not None
        assert public.status.number_of_requests is None  # volume fields are not sent to anonymous callers
        unknown = await run(m.api_models_status_retrieve, "no/such-model", start_time=start, end_time=end)
        assert unknown.data == [] and unknown.metrics_series == []
        with pytest.raises(ApiError) as refused:
            await run(m.api_models_status_retrieve, GPT_4O, start_time=end, end_time=start)
        assert refused.value.status_code == 400
