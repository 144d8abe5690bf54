"""Security properties of the Respan routes: organization isolation, secret handling, privilege-bearing fields.

Isolation is table-driven: `PROBES` lists one request per route and method that could touch another
organization's object. Each probe is sent by organization B twice, once naming organization A's object and
once naming an object that exists nowhere; both answers must be identical and equal to the expected
"missing" answer, and neither A's data nor B's may change. `test_every_respan_route_is_probed` fails when a
route is added to the app without a probe here, so a new route only needs a new row in `PROBES`.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import SECRET, Env, Org, _wipe, app_client, make_settings
from modelreg.catalog.load import Catalog, load_catalog
from modelreg.registry import build_registry
from modelreg.services.providers import ProviderService
from modelreg.store.database import Database
from modelreg.store.rows import CustomModelRow, ProviderRow

NOT_FOUND = (404, {"detail": "Not found."})
BASE_NOT_FOUND = (400, {"detail": "Base model not found", "error": "Base model not found"})
IMPORT_NOT_FOUND = "models[0] (b-new): Not found.; nothing was imported."
IMPORT_BASE_NOT_FOUND = "models[0] (b-new): Base model not found; nothing was imported."

# Names of organization A's objects are distinctive so that a plain text search of a response is meaningful.
A_MODEL = "acme-only-model"
A_SLASH_MODEL = "acme-team/acme-only-nested"
A_CHILD_MODEL = "acme-only-child"
A_PROVIDER = "acme-only-provider"
A_PROVIDER_KEY = "sk-acme-provider-secret-" + "7" * 24
B_OWN_MODEL = "b-own-model"


# ---- helpers ------------------------------------------------------------------------------------------------


async def with_db(database_url: str, work: Any) -> Any:
    db = Database(database_url)
    try:
        async with db.read() as session:
            return await work(session)
    finally:
        await db.dispose()


def provider_service(secret_key: str = SECRET, old_secret_keys: tuple[str, ...] = ()) -> ProviderService:
    """The server's ProviderService, built the way the app builds it (its SecretBox from the secret key)."""
    settings = make_settings("sqlite+aiosqlite:///:memory:", secret_key=secret_key, old_secret_keys=old_secret_keys)
    return build_registry(settings, _catalog()).providers


_catalog = functools.cache(load_catalog)


async def provider_row(database_url: str, organization_id: str, provider_id: str) -> ProviderRow:
    async def work(session: AsyncSession) -> ProviderRow:
        row = await session.scalar(
            select(ProviderRow).where(
                ProviderRow.organization_id == organization_id, ProviderRow.provider_id == provider_id
            )
        )
        assert row is not None, f"no provider {provider_id} in {organization_id}"
        return row

    result: ProviderRow = await with_db(database_url, work)
    return result


async def stored_secrets(database_url: str, organization_id: str, provider_id: str) -> dict[str, Any]:
    return provider_service().secrets_of(await provider_row(database_url, organization_id, provider_id))


async def raw_rows(database_url: str, table: str, organization_id: str) -> list[dict[str, Any]]:
    """Every column of the organization's rows, exactly as the database returns them (no ORM decoding)."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        result = await session.execute(
            text(f"SELECT * FROM {table} WHERE organization_id = :org ORDER BY pk"), {"org": organization_id}
        )
        return [dict(row._mapping) for row in result]

    rows: list[dict[str, Any]] = await with_db(database_url, work)
    return rows


async def make_provider(env: Env, org: Org, provider_id: str, **extra: Any) -> dict[str, Any]:
    body = {"provider_id": provider_id, "provider_name": f"Provider {provider_id}", **extra}
    r = await env.client.post("/api/providers/", json=body, headers=org.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def make_model(env: Env, org: Org, **body: Any) -> dict[str, Any]:
    r = await env.client.post("/api/models/", json=body, headers=org.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def custom_model_names(env: Env, org: Org) -> list[str]:
    r = await env.client.get("/api/models/", headers=org.headers)
    assert r.status_code == 200, r.text
    return sorted(m["model_name"] for m in r.json() if m["affiliation_category"] == "custom")


async def snapshot(env: Env, org: Org) -> dict[str, Any]:
    """Everything an organization owns, as its own API shows it and as the database stores it."""
    h = org.headers
    models = await custom_model_names(env, org)
    listing = (await env.client.get("/api/providers/", headers=h)).json()
    state: dict[str, Any] = {"models": models, "providers": listing}
    for name in models:
        r = await env.client.get(f"/api/models/{name}/", headers=h)
        state[f"model:{name}"] = (r.status_code, r.json(), r.headers.get("etag"))
    for provider in listing["results"]:
        pid = provider["provider_id"]
        r = await env.client.get(f"/api/providers/{pid}/", headers=h)
        state[f"provider:{pid}"] = (r.status_code, r.json(), r.headers.get("etag"))
        state[f"secrets:{pid}"] = await stored_secrets(env.database_url, org.organization_id, pid)
    state["rows:providers"] = await raw_rows(env.database_url, "providers", org.organization_id)
    state["rows:custom_models"] = await raw_rows(env.database_url, "custom_models", org.organization_id)
    return state


@dataclass
class World:
    a: Org
    b: Org
    names: dict[str, Any]
    """Placeholder -> value for organization A's objects."""
    missing: dict[str, Any]
    """Placeholder -> value for objects that exist nowhere."""


async def build_world(env: Env) -> World:
    a = await env.org("acme")
    b = await env.org("beta")
    provider = await make_provider(
        env, a, A_PROVIDER, api_key=A_PROVIDER_KEY, extra_kwargs={"base_url": "http://acme-vllm:8000/v1"}
    )
    assert provider["provider_id"] == A_PROVIDER
    model = await env.client.post(
        "/api/models/",
        json={"model_name": A_MODEL, "custom_provider_id": A_PROVIDER, "input_cost": 1.5},
        headers=a.headers,
    )
    assert model.status_code == 201, model.text
    await make_model(env, a, model_name=A_SLASH_MODEL, base_model_name="gpt-4o", custom_provider_id=A_PROVIDER)
    await make_model(env, a, model_name=A_CHILD_MODEL, base_model_name=A_MODEL, output_cost=2.5)
    provider_etag = (await env.client.get(f"/api/providers/{A_PROVIDER}/", headers=a.headers)).headers["etag"]
    names = {
        "model": A_MODEL,
        "slash_model": A_SLASH_MODEL,
        "slash_model_encoded": A_SLASH_MODEL.replace("/", "%2F"),
        "child_model": A_CHILD_MODEL,
        "provider": A_PROVIDER,
        "model_etag": model.headers["etag"],
        "provider_etag": provider_etag,
    }
    missing = {
        "model": "no-such-model",
        "slash_model": "no-such-team/no-such-model",
        "slash_model_encoded": "no-such-team%2Fno-such-model",
        "child_model": "no-such-child",
        "provider": "no-such-provider",
        # The same If-Match value is sent in both requests: only the addressed object differs.
        "model_etag": names["model_etag"],
        "provider_etag": names["provider_etag"],
    }
    return World(a=a, b=b, names=names, missing=missing)


def fill(value: Any, names: dict[str, Any]) -> Any:
    """Replace placeholders: a string equal to an UPPERCASE key becomes that value (e.g. an int), others format."""
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, str):
        return names[value] if value in names and value.isupper() else value.format(**names)
    return value


# ---- the isolation table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request org B sends at something of org A's (or of its own that refers to org A's)."""

    id: str
    method: str
    path: str
    expected: tuple[int, dict[str, Any] | None]
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    b_owns_model: bool = False
    """Give org B a model of its own first (for probes that re-point B's model at A's objects)."""
    b_gone: tuple[str, ...] = ()
    """Model names that must not exist for B after the probe (a failed create must store nothing)."""


IF_MATCH_MODEL = {"If-Match": "{model_etag}"}
IF_MATCH_PROVIDER = {"If-Match": "{provider_etag}"}

PROBES: list[Probe] = [
    # /api/models/{model_name} -- A's model addressed directly
    Probe("get-model", "GET", "/api/models/{model}/", NOT_FOUND),
    Probe("get-model-no-slash", "GET", "/api/models/{model}", NOT_FOUND),
    Probe("get-child-model", "GET", "/api/models/{child_model}/", NOT_FOUND),
    Probe("get-slash-model", "GET", "/api/models/{slash_model}/", NOT_FOUND),
    Probe("get-slash-model-encoded", "GET", "/api/models/{slash_model_encoded}/", NOT_FOUND),
    Probe("patch-model", "PATCH", "/api/models/{model}/", NOT_FOUND, body={"input_cost": 99}),
    Probe("patch-model-if-match", "PATCH", "/api/models/{model}/", NOT_FOUND, {"input_cost": 9}, IF_MATCH_MODEL),
    Probe("patch-model-empty-body", "PATCH", "/api/models/{model}/", NOT_FOUND, body={}),
    Probe(
        "put-model",
        "PUT",
        "/api/models/{model}/",
        NOT_FOUND,
        body={"base_model_name": "gpt-4o", "input_cost": 99, "display_name": "pwned"},
    ),
    Probe(
        "put-model-if-match", "PUT", "/api/models/{model}/", NOT_FOUND, {"base_model_name": "gpt-4o"}, IF_MATCH_MODEL
    ),
    Probe("put-slash-model", "PUT", "/api/models/{slash_model}/", NOT_FOUND, body={"base_model_name": "gpt-4o"}),
    Probe("delete-model", "DELETE", "/api/models/{model}/", NOT_FOUND),
    Probe("delete-model-if-match", "DELETE", "/api/models/{model}/", NOT_FOUND, headers=IF_MATCH_MODEL),
    Probe("delete-model-if-match-star", "DELETE", "/api/models/{model}/", NOT_FOUND, headers={"If-Match": "*"}),
    Probe("delete-slash-model-encoded", "DELETE", "/api/models/{slash_model_encoded}/", NOT_FOUND),
    # POST on a model path is only the status series (`.../status/`): anything else is not found.
    Probe("post-model", "POST", "/api/models/{model}/", NOT_FOUND, body={"input_cost": 1}),
    Probe("post-slash-model", "POST", "/api/models/{slash_model}/", NOT_FOUND, body={}),
    # /api/providers/{provider_id} -- A's provider addressed directly
    Probe("get-provider", "GET", "/api/providers/{provider}/", NOT_FOUND),
    Probe("get-provider-no-slash", "GET", "/api/providers/{provider}", NOT_FOUND),
    Probe(
        "patch-provider",
        "PATCH",
        "/api/providers/{provider}/",
        NOT_FOUND,
        body={"provider_name": "pwned", "api_key": "sk-b-takeover", "extra_kwargs": {"base_url": "http://evil"}},
    ),
    Probe("patch-provider-key-null", "PATCH", "/api/providers/{provider}/", NOT_FOUND, body={"api_key": None}),
    Probe(
        "patch-provider-if-match", "PATCH", "/api/providers/{provider}/", NOT_FOUND, {"api_key": "x"}, IF_MATCH_PROVIDER
    ),
    Probe(
        "put-provider",
        "PUT",
        "/api/providers/{provider}/",
        NOT_FOUND,
        body={"provider_name": "pwned", "extra_kwargs": {"base_url": "http://evil"}},
    ),
    Probe(
        "put-provider-if-match",
        "PUT",
        "/api/providers/{provider}/",
        NOT_FOUND,
        {"provider_name": "p"},
        IF_MATCH_PROVIDER,
    ),
    Probe("delete-provider", "DELETE", "/api/providers/{provider}/", NOT_FOUND),
    Probe("delete-provider-if-match", "DELETE", "/api/providers/{provider}/", NOT_FOUND, headers=IF_MATCH_PROVIDER),
    # POST /api/models/ -- B's new model referring to A's objects
    Probe(
        "create-model-custom-provider-id",
        "POST",
        "/api/models/",
        NOT_FOUND,
        body={"model_name": "b-new", "custom_provider_id": "{provider}"},
        b_gone=("b-new",),
    ),
    Probe(
        "create-model-provider-id-alias",
        "POST",
        "/api/models/",
        NOT_FOUND,
        body={"model_name": "b-new", "provider_id": "{provider}"},
        b_gone=("b-new",),
    ),
    # A numeric custom_provider_id (the legacy primary key) is a 400 for every caller since issue 10
    # (test_contract_defects.py): primary keys are neither exposed nor accepted.
    Probe(
        "create-model-provider-with-builtin-base",
        "POST",
        "/api/models/",
        NOT_FOUND,
        body={"model_name": "b-new", "base_model_name": "gpt-4o", "custom_provider_id": "{provider}"},
        b_gone=("b-new",),
    ),
    Probe(
        "create-model-base-is-a-model",
        "POST",
        "/api/models/",
        BASE_NOT_FOUND,
        body={"model_name": "b-new", "base_model_name": "{model}"},
        b_gone=("b-new",),
    ),
    Probe(
        "create-model-base-is-a-slash-model",
        "POST",
        "/api/models/",
        BASE_NOT_FOUND,
        body={"model_name": "b-new", "base_model_name": "{slash_model}", "input_cost": 1},
        b_gone=("b-new",),
    ),
    # POST /api/models/import/ -- a bulk write refers to A's objects: the same refusal as a single create, named
    # in the 400 that refuses the whole request (nothing stored)
    Probe(
        "import-model-custom-provider-id",
        "POST",
        "/api/models/import/",
        (400, {"detail": IMPORT_NOT_FOUND, "models": [IMPORT_NOT_FOUND]}),
        body={"models": [{"model_name": "b-new", "base_model_name": "gpt-4o", "custom_provider_id": "{provider}"}]},
        b_gone=("b-new",),
    ),
    Probe(
        "import-model-base-is-a-model",
        "POST",
        "/api/models/import/",
        (400, {"detail": IMPORT_BASE_NOT_FOUND, "models": [IMPORT_BASE_NOT_FOUND]}),
        body={"models": [{"model_name": "b-new", "base_model_name": "{model}"}]},
        b_gone=("b-new",),
    ),
    # B's own model re-pointed at A's objects
    Probe(
        "patch-own-model-base",
        "PATCH",
        "/api/models/" + B_OWN_MODEL + "/",
        BASE_NOT_FOUND,
        body={"base_model_name": "{model}"},
        b_owns_model=True,
    ),
    Probe(
        "put-own-model-base",
        "PUT",
        "/api/models/" + B_OWN_MODEL + "/",
        BASE_NOT_FOUND,
        body={"base_model_name": "{model}"},
        b_owns_model=True,
    ),
    Probe(
        "patch-own-model-provider",
        "PATCH",
        "/api/models/" + B_OWN_MODEL + "/",
        NOT_FOUND,
        body={"custom_provider_id": "{provider}"},
        b_owns_model=True,
    ),
    Probe(
        "put-own-model-provider",
        "PUT",
        "/api/models/" + B_OWN_MODEL + "/",
        NOT_FOUND,
        body={"provider_id": "{provider}"},
        b_owns_model=True,
    ),
    Probe(
        "upsert-own-model-provider",
        "POST",
        "/api/models/",
        NOT_FOUND,
        body={"model_name": B_OWN_MODEL, "custom_provider_id": "{provider}"},
        b_owns_model=True,
    ),
]

# Creation routes whose cross-organization behaviour is "create the caller's own", each with its test.
CREATE_ROUTES = {
    ("POST", "/api/models"): "test_create_model_with_a_name_org_a_uses_creates_bs_own",
    ("POST", "/api/providers"): "test_create_provider_with_org_as_provider_id_creates_bs_own",
}


@dataclass(frozen=True)
class ListingProbe:
    """A read of a collection by org B, which owns exactly one model (`b-model`) and one provider."""

    id: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    customs: tuple[str, ...] | None = None
    """The custom model names B must see, in order (None: the answer carries no model list)."""
    count: int | None = None
    """`count` of a page, `summary.total_count` of a summary."""
    custom_count: int | None = None


def _filters(field_: str, value: Any, operator: str = "") -> dict[str, Any]:
    return {"filters": {field_: {"operator": operator, "value": value}}}


LISTING_PROBES: list[ListingProbe] = [
    ListingProbe("bare-list", "GET", "/api/models/", customs=("b-model",)),
    ListingProbe("bare-list-all", "GET", "/api/models/?all=true", customs=("b-model",)),
    ListingProbe("bare-list-sorted", "GET", "/api/models/?sort_by=-input_cost", customs=("b-model",)),
    ListingProbe("list-all", "GET", "/api/models/list/?all=true", customs=("b-model",)),
    ListingProbe("list-custom", "GET", "/api/models/list/?affiliation_category=custom", customs=("b-model",), count=1),
    ListingProbe("list-a-name", "GET", f"/api/models/list/?model_name={A_MODEL}", customs=(), count=0),
    ListingProbe("list-a-provider", "GET", f"/api/models/list/?provider_id={A_PROVIDER}", customs=(), count=0),
    ListingProbe(
        "filter-custom",
        "POST",
        "/api/models/list/?all=true",
        _filters("affiliation_category", ["custom"]),
        customs=("b-model",),
        count=1,
    ),
    ListingProbe("filter-a-name", "POST", "/api/models/list/", _filters("model_name", [A_MODEL]), customs=(), count=0),
    ListingProbe(
        "filter-a-prefix", "POST", "/api/models/list/", _filters("model_name", "acme", "startswith"), (), count=0
    ),
    ListingProbe("filter-a-regex", "POST", "/api/models/list/", _filters("model_name", "^acme-", "regex"), (), count=0),
    ListingProbe(
        "filter-a-provider",
        "POST",
        "/api/models/list/",
        _filters("provider__provider_id", [A_PROVIDER]),
        customs=(),
        count=0,
    ),
    ListingProbe("filter-a-base", "POST", "/api/models/list/", _filters("base_model_name", [A_MODEL]), (), count=0),
    ListingProbe("summary", "GET", "/api/models/summary/", custom_count=1),
    ListingProbe("summary-a-name", "GET", f"/api/models/summary/?model_name={A_MODEL}", count=0, custom_count=0),
    ListingProbe(
        "summary-filter-custom",
        "POST",
        "/api/models/summary/",
        _filters("affiliation_category", ["custom"]),
        count=1,
        custom_count=1,
    ),
    ListingProbe(
        "summary-filter-a-prefix",
        "POST",
        "/api/models/summary/",
        _filters("model_name", "acme", "startswith"),
        count=0,
        custom_count=0,
    ),
    ListingProbe("public", "GET", "/api/models/public/", customs=()),
    ListingProbe("public-unnest", "GET", "/api/models/public/?unnest=true", customs=()),
    ListingProbe("providers", "GET", "/api/providers/"),
    ListingProbe("providers-paged", "GET", "/api/providers/?page=1&page_size=1"),
]


def route_template(path: str, templates: Any) -> str:
    path = path.split("?", 1)[0].rstrip("/")
    if path in templates:
        return path  # a literal route (list/, summary/, public/) wins over the greedy {name:path} route
    for template in templates:
        prefix, _, rest = template.partition("/{")
        if rest and path.startswith(prefix + "/"):
            return str(template)
    raise AssertionError(f"no Respan route for {path}")


def respan_routes(env: Env) -> set[tuple[str, str]]:
    """(method, path template) of every route of the Respan dialect (handlers defined under modelreg.api.respan)."""
    return {
        (method, route.path)
        for route in env.client.app.routes
        for handler in getattr(route, "route_handlers", ())
        if getattr(handler.fn, "__module__", "").startswith("modelreg.api.respan")
        for method in handler.http_methods
        if method not in ("OPTIONS", "HEAD")
    }


async def send(env: Env, org: Org, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return await env.client.request(
        method, path, headers={**org.headers, **headers}, content=None if body is None else json.dumps(body)
    )


def answer(response: Any) -> tuple[int, Any, str | None]:
    body = response.json() if response.content else None
    return response.status_code, body, response.headers.get("etag")


class TestIsolationTable:
    async def test_every_respan_route_is_probed(self, env: Env) -> None:
        routes = respan_routes(env)
        templates = {path for _, path in routes}
        covered = {(p.method, route_template(p.path, templates)) for p in [*PROBES, *LISTING_PROBES]}
        missing = routes - covered - set(CREATE_ROUTES)
        assert not missing, f"routes without an isolation probe, add rows to PROBES/LISTING_PROBES: {sorted(missing)}"
        assert len(routes) >= 12

    @pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
    async def test_org_b_cannot_reach_org_a(self, env: Env, probe: Probe) -> None:
        world = await build_world(env)
        a, b = world.a, world.b
        if probe.b_owns_model:
            await make_model(env, b, model_name=B_OWN_MODEL, base_model_name="gpt-4o", input_cost=4)
        a_before = await snapshot(env, a)
        b_before = await snapshot(env, b)

        responses = {}
        for label, names in (("org A's object", world.names), ("missing object", world.missing)):
            r = await send(
                env, b, probe.method, fill(probe.path, names), fill(probe.body, names), fill(probe.headers, names)
            )
            responses[label] = answer(r)
            # Nothing of A's may appear in the answer, not even its names.
            for secret in (A_PROVIDER, A_MODEL, A_SLASH_MODEL, A_CHILD_MODEL, A_PROVIDER_KEY, a.organization_id):
                assert secret not in r.text, f"{label}: {secret!r} leaked in {r.text}"

        assert responses["org A's object"] == responses["missing object"], responses
        status, body, etag = responses["org A's object"]
        assert (status, body) == probe.expected, responses
        assert etag is None

        assert await snapshot(env, a) == a_before, "org A's data changed"
        assert await snapshot(env, b) == b_before, "org B's data changed by a refused request"
        for name in probe.b_gone:
            assert (await env.client.get(f"/api/models/{name}/", headers=b.headers)).status_code == 404


class TestIsolationCollections:
    async def test_create_provider_with_org_as_provider_id_creates_bs_own(self, env: Env) -> None:
        world = await build_world(env)
        a, b = world.a, world.b
        a_before = await snapshot(env, a)
        r = await env.client.post(
            "/api/providers/",
            json={"provider_id": A_PROVIDER, "provider_name": "B's provider", "api_key": "sk-b-own-key"},
            headers=b.headers,
        )
        assert r.status_code == 201, r.text  # created, not "updated": B cannot tell that A has this id
        data = r.json()
        assert data["provider_name"] == "B's provider" and data["extra_kwargs"] == {}
        assert A_PROVIDER_KEY not in r.text and "acme-vllm" not in r.text
        # A second POST by B updates B's provider (200), still not A's.
        again = await env.client.post(
            "/api/providers/", json={"provider_id": A_PROVIDER, "provider_name": "B renamed"}, headers=b.headers
        )
        assert again.status_code == 200 and again.json()["provider_name"] == "B renamed"

        assert await snapshot(env, a) == a_before
        b_row = await provider_row(env.database_url, b.organization_id, A_PROVIDER)
        a_row = await provider_row(env.database_url, a.organization_id, A_PROVIDER)
        assert b_row.pk != a_row.pk
        assert provider_service().secrets_of(b_row) == {"api_key": "sk-b-own-key"}
        assert provider_service().secrets_of(a_row) == {"api_key": A_PROVIDER_KEY}
        # B's models can use B's provider of that id; they never get A's.
        model = await make_model(env, b, model_name="b-uses-own", custom_provider_id=A_PROVIDER)
        assert model["provider"]["provider_name"] == "B renamed"
        a_model = (await env.client.get(f"/api/models/{A_MODEL}/", headers=a.headers)).json()
        assert a_model["provider"]["provider_name"] == f"Provider {A_PROVIDER}"

    async def test_create_model_with_a_name_org_a_uses_creates_bs_own(self, env: Env) -> None:
        world = await build_world(env)
        a, b = world.a, world.b
        a_before = await snapshot(env, a)
        r = await env.client.post(
            "/api/models/", json={"model_name": A_MODEL, "base_model_name": "gpt-4o"}, headers=b.headers
        )
        assert r.status_code == 201, r.text  # B cannot tell that A has a model of this name
        data = r.json()
        assert data["base_model_name"] == "openai/gpt-4o" and data["provider"]["provider_id"] == "openai"
        assert data["input_cost"] != 1.5
        assert await snapshot(env, a) == a_before
        # B's copy is the one B sees, deletes, and lists; A's stays.
        assert (await env.client.delete(f"/api/models/{A_MODEL}/", headers=b.headers)).status_code == 204
        assert (await env.client.get(f"/api/models/{A_MODEL}/", headers=b.headers)).status_code == 404
        assert await snapshot(env, a) == a_before

    async def test_model_list_never_contains_other_orgs_models(self, env: Env) -> None:
        world = await build_world(env)
        a, b = world.a, world.b
        await make_provider(env, b, "b-provider")
        await make_model(env, b, model_name="b-model", custom_provider_id="b-provider")
        a_before = await snapshot(env, a)
        for query in ("", "?all=true", "?sort_by=-created_at", "?sort_by=input_cost", "?sort_by=-model_name"):
            r = await env.client.get(f"/api/models/{query}", headers=b.headers)
            assert r.status_code == 200, r.text
            customs = [m for m in r.json() if m["affiliation_category"] == "custom"]
            assert [m["model_name"] for m in customs] == ["b-model"], query
            for name in (A_MODEL, A_SLASH_MODEL, A_CHILD_MODEL, A_PROVIDER, a.organization_id):
                assert name not in r.text, (query, name)
        own = await env.client.get("/api/models/", headers=a.headers)
        assert {m["model_name"] for m in own.json() if m["affiliation_category"] == "custom"} == {
            A_MODEL,
            A_SLASH_MODEL,
            A_CHILD_MODEL,
        }
        assert "b-model" not in own.text and "b-provider" not in own.text
        assert await snapshot(env, a) == a_before

    async def test_provider_list_never_contains_other_orgs_providers(self, env: Env) -> None:
        world = await build_world(env)
        a, b = world.a, world.b
        empty = await env.client.get("/api/providers/", headers=b.headers)
        assert empty.status_code == 200
        assert empty.json()["count"] == 0 and empty.json()["results"] == [] and empty.json()["next"] is None
        await make_provider(env, b, "b-provider")
        for query in ("", "?page_size=1", "?page=2&page_size=1", "?page_size=1000"):
            r = await env.client.get(f"/api/providers/{query}", headers=b.headers)
            assert r.status_code == 200, r.text
            assert A_PROVIDER not in r.text and "acme-vllm" not in r.text, query
            assert all(p["provider_id"] == "b-provider" for p in r.json()["results"]), query
        own = (await env.client.get("/api/providers/", headers=a.headers)).json()
        assert [p["provider_id"] for p in own["results"]] == [A_PROVIDER]


class ListingEnv(Env):
    expect_sql: bool
    sql_runs: int


@pytest.fixture(params=["memory-index", "sql"])
async def listing_env(request: pytest.FixtureRequest, database_url: str, catalog: Catalog) -> AsyncIterator[ListingEnv]:
    """The app with lists served from the in-memory index, or (memory_index_max_models=0) from SQL views."""
    overrides = {} if request.param == "memory-index" else {"memory_index_max_models": 0}
    async with app_client(database_url, catalog, **overrides) as client:
        env = ListingEnv(client, database_url)
        env.expect_sql, env.sql_runs = request.param == "sql", 0
        # Count the SQL-path listings (paged, or streamed in another order than by name: an order of names;
        # streamed by name: keyset batches), to show which path served the test (plain wrappers, no DB access
        # here: the app runs on the test client's own event loop).
        listing = client.app.state.registry.listing
        sql_order, by_name = listing._order, listing._sql.by_name

        async def counting_order(*args: Any, **kwargs: Any) -> Any:
            env.sql_runs += 1
            return await sql_order(*args, **kwargs)

        async def counting_by_name(*args: Any, **kwargs: Any) -> Any:
            env.sql_runs += 1
            return await by_name(*args, **kwargs)

        listing._order = counting_order
        listing._sql.by_name = counting_by_name
        yield env
    await _wipe(database_url)


def assert_listing_mode(env: ListingEnv) -> None:
    if env.expect_sql:
        assert env.sql_runs > 0, "memory_index_max_models=0 did not make the lists use SQL"
    else:
        assert env.sql_runs == 0


def listed_models(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else data.get("results", data.get("models", []))
    return [m for m in items if isinstance(m, dict)]


class TestIsolationListings:
    @pytest.mark.parametrize("probe", LISTING_PROBES, ids=[p.id for p in LISTING_PROBES])
    async def test_org_b_listing_never_shows_org_a(self, listing_env: ListingEnv, probe: ListingProbe) -> None:
        env = listing_env
        world = await build_world(env)
        a, b = world.a, world.b
        await make_provider(env, b, "b-provider")
        await make_model(env, b, model_name="b-model", custom_provider_id="b-provider", input_cost=3)
        a_before = await snapshot(env, a)

        r = await send(env, b, probe.method, probe.path, probe.body, {})
        assert r.status_code == 200, r.text
        data = r.json()
        # `current_filters` echoes B's own request (which names A's objects); everything else is scanned.
        shown = json.dumps(
            data if isinstance(data, list) else {k: v for k, v in data.items() if k != "current_filters"}
        )
        for name in (A_MODEL, A_SLASH_MODEL, A_CHILD_MODEL, A_PROVIDER, A_PROVIDER_KEY, a.organization_id):
            assert name not in shown, f"{name!r} appears in org B's {probe.id}"
        if probe.customs is not None:
            customs = [m["model_name"] for m in listed_models(data) if m.get("affiliation_category") == "custom"]
            assert tuple(customs) == probe.customs, customs
            if not probe.customs:
                assert "b-model" not in shown
        if probe.count is not None:
            total = data["summary"]["total_count"] if "summary" in data else data["count"]
            assert total == probe.count, data if total < 10 else total
        if probe.custom_count is not None:
            assert data["summary"]["custom_count"] == probe.custom_count, data

        # Control: the same request by org A does show A's objects (the probe can tell them apart).
        mine = await send(env, a, probe.method, probe.path, probe.body, {})
        assert mine.status_code == 200, mine.text
        if "summary" in mine.json():
            assert mine.json()["summary"]["custom_count"] > 0
        elif not probe.id.startswith("public"):
            assert A_MODEL in mine.text or A_CHILD_MODEL in mine.text or A_PROVIDER in mine.text, probe.id
        assert await snapshot(env, a) == a_before
        if probe.id.startswith(("bare-", "list", "filter", "summary")):
            assert_listing_mode(env)

    async def test_same_name_in_two_orgs_never_mixes(self, listing_env: ListingEnv) -> None:
        env = listing_env
        a = await env.org("acme")
        b = await env.org("beta")
        for org, cost in ((a, 1.0), (b, 2.0)):
            await make_model(env, org, model_name="shared-name", base_model_name="gpt-4o", input_cost=cost)

        async def views(org: Org) -> list[float]:
            h = org.headers
            found = [(await env.client.get("/api/models/shared-name/", headers=h)).json()["input_cost"]]
            bare = (await env.client.get("/api/models/", headers=h)).json()
            found += [m["input_cost"] for m in bare if m["model_name"] == "shared-name"]
            page = await env.client.post("/api/models/list/", json=_filters("model_name", ["shared-name"]), headers=h)
            assert page.json()["count"] == 1
            found += [m["input_cost"] for m in listed_models(page.json())]
            quick = await env.client.get("/api/models/list/?model_name=shared-name", headers=h)
            found += [m["input_cost"] for m in listed_models(quick.json())]
            return found

        assert await views(a) == [1.0] * 4
        assert await views(b) == [2.0] * 4
        r = await env.client.patch("/api/models/shared-name/", json={"input_cost": 5}, headers=b.headers)
        assert r.status_code == 200
        assert await views(b) == [5.0] * 4
        assert await views(a) == [1.0] * 4
        assert (await env.client.delete("/api/models/shared-name/", headers=b.headers)).status_code == 204
        assert await views(a) == [1.0] * 4
        assert_listing_mode(env)

    async def test_availability_of_builtins_ignores_other_orgs_providers(self, listing_env: ListingEnv) -> None:
        """available_to_user of a built-in depends on the caller's providers (provider_id = the built-in's)."""
        env = listing_env
        a = await env.org("acme")
        b = await env.org("beta")
        await make_provider(env, b, "b-provider")
        await make_model(env, b, model_name="b-model", custom_provider_id="b-provider")
        query = "/api/models/list/?all=true"
        body = _filters("available_to_user", [True])
        before = (await env.client.post(query, json=body, headers=b.headers)).json()
        await make_provider(env, a, "openai", api_key="sk-acme-openai")  # A can now route OpenAI's built-ins
        after = (await env.client.post(query, json=body, headers=b.headers)).json()
        assert after["count"] == before["count"] == 1
        assert [m["model_name"] for m in listed_models(after)] == ["b-model"]
        mine = (await env.client.post(query, json=body, headers=a.headers)).json()
        assert mine["count"] > 1 and all(m["provider"]["provider_id"] == "openai" for m in listed_models(mine))
        summary = (await env.client.post("/api/models/summary/", json=body, headers=b.headers)).json()
        assert summary["summary"]["total_count"] == 1
        assert_listing_mode(env)


# ---- secrets ------------------------------------------------------------------------------------------------


def _secret(label: str) -> str:
    return f"plaintext-{label}-{uuid.uuid4().hex}"


class LeakGuard:
    """Collects every response and all log output; `check` fails when any secret shows up in either."""

    def __init__(self, caplog: pytest.LogCaptureFixture, secrets: dict[str, str]) -> None:
        self.caplog = caplog
        self.secrets = secrets
        self.seen = 0

    def response(self, r: Any, where: str, status: int | None = None) -> Any:
        if status is not None:
            assert r.status_code == status, f"{where}: {r.status_code} {r.text}"
        blob = r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.multi_items())
        for label, secret in self.secrets.items():
            assert secret not in blob, f"{where}: secret {label!r} appears in the response"
        self.seen += 1
        return r

    def check_logs(self) -> None:
        # httpx/httpcore are the test's own client, not the server.
        server = [rec for rec in self.caplog.records if not rec.name.startswith(("httpx", "httpcore"))]
        text_ = "\n".join(self.caplog.handler.format(rec) for rec in server)
        records = "\n".join(f"{rec.getMessage()} {rec.args!r} {rec.__dict__!r}" for rec in server)
        assert any(rec.name.startswith("sqlalchemy.engine") for rec in server), (
            "no SQL was logged at DEBUG: the log check would be vacuous"
        )
        for label, secret in self.secrets.items():
            assert secret not in text_, f"secret {label!r} appears in the log output"
            assert secret not in records, f"secret {label!r} appears in a log record"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG for the whole test: the root logger, SQLAlchemy (which defaults itself to WARNING; at DEBUG it logs
    every statement, its parameters and result rows), and Litestar's logger (which does not propagate)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    litestar = logging.getLogger("litestar")
    previous = litestar.level
    litestar.setLevel(logging.DEBUG)
    litestar.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        litestar.removeHandler(caplog.handler)
        litestar.setLevel(previous)


class TestSecrets:
    async def test_secrets_never_leave_the_server(self, env: Env, debug_logs: pytest.LogCaptureFixture) -> None:
        s = {
            label: _secret(label)
            for label in ("top", "extra_api_key", "aws", "token", "password", "authorization", "new_top", "put_pw")
        }
        org = await env.org()
        s["org_api_key"] = org.admin_key
        guard = LeakGuard(debug_logs, s)
        h = org.headers
        c = env.client

        public_extra = {"base_url": "https://extra.example/v1", "region": "eu-west-1", "headers": {"X-Team": "ml"}}
        secret_extra = {
            "api_key": s["extra_api_key"],
            "aws_secret_access_key": s["aws"],
            "token": s["token"],
            "password": s["password"],
            "headers": {"Authorization": f"Bearer {s['authorization']}"},
        }
        extra_kwargs = {
            **public_extra,
            **{k: v for k, v in secret_extra.items() if k != "headers"},
            "headers": {"X-Team": "ml", "Authorization": f"Bearer {s['authorization']}"},
        }

        # create
        r = guard.response(
            await c.post(
                "/api/providers/",
                json={"provider_id": "sec-top", "provider_name": "Top", "api_key": s["top"]},
                headers=h,
            ),
            "create top-level api_key",
            201,
        )
        assert r.json()["extra_kwargs"] == {}
        r = guard.response(
            await c.post(
                "/api/providers/",
                json={"provider_id": "sec-extra", "provider_name": "Extra", "extra_kwargs": extra_kwargs},
                headers=h,
            ),
            "create secret extra_kwargs",
            201,
        )
        assert r.json()["extra_kwargs"] == public_extra  # the public part is kept, every secret is split off
        assert not {"api_key", "has_api_key", "secrets", "secrets_enc"} & set(r.json())
        # upsert (POST on an existing id)
        guard.response(
            await c.post(
                "/api/providers/",
                json={"provider_id": "sec-top", "provider_name": "Top", "api_key": s["top"]},
                headers=h,
            ),
            "upsert",
            200,
        )

        # retrieve and list
        for pid in ("sec-top", "sec-extra"):
            guard.response(await c.get(f"/api/providers/{pid}/", headers=h), f"retrieve {pid}", 200)
        listing = guard.response(await c.get("/api/providers/", headers=h), "list", 200)
        assert {p["provider_id"] for p in listing.json()["results"]} == {"sec-top", "sec-extra"}
        guard.response(await c.get("/api/providers/?page_size=1&page=2", headers=h), "list page 2", 200)

        # models carrying the providers (nested `provider` in every model response)
        for name, body in (
            ("m-top", {"model_name": "m-top", "custom_provider_id": "sec-top"}),
            ("m-extra", {"model_name": "m-extra", "base_model_name": "gpt-4o", "provider_id": "sec-extra"}),
        ):
            created = guard.response(await c.post("/api/models/", json=body, headers=h), f"create {name}", 201)
            assert created.json()["provider"]["provider_id"] == body.get("custom_provider_id", body.get("provider_id"))
            guard.response(await c.get(f"/api/models/{name}/", headers=h), f"retrieve {name}", 200)
            guard.response(
                await c.patch(f"/api/models/{name}/", json={"input_cost": 1}, headers=h), f"patch {name}", 200
            )
        guard.response(
            await c.put(
                "/api/models/m-extra/",
                json={"base_model_name": "gpt-4o", "custom_provider_id": "sec-extra"},
                headers=h,
            ),
            "put model",
            200,
        )
        nested = guard.response(await c.get("/api/models/m-extra/", headers=h), "model nested provider", 200).json()
        assert nested["provider"]["extra_kwargs"] == public_extra
        models = guard.response(await c.get("/api/models/", headers=h), "model list", 200).json()
        assert {m["model_name"] for m in models if m["affiliation_category"] == "custom"} == {"m-top", "m-extra"}
        guard.response(await c.get("/api/models/?sort_by=-updated_at", headers=h), "model list sorted", 200)
        guard.response(await c.get("/api/models/list/?all=true", headers=h), "list/", 200)
        page = guard.response(
            await c.post("/api/models/list/?all=true", json=_filters("affiliation_category", ["custom"]), headers=h),
            "list/ filtered",
            200,
        ).json()
        assert {m["model_name"]: m["provider"]["extra_kwargs"] for m in page["results"]} == {
            "m-top": {},
            "m-extra": public_extra,
        }
        guard.response(
            await c.post("/api/models/list/", json=_filters("provider__provider_id", ["sec-extra"]), headers=h),
            "list/ by provider",
            200,
        )
        guard.response(await c.get("/api/models/summary/", headers=h), "summary", 200)
        guard.response(await c.get("/api/models/public/", headers=h), "public", 200)

        # patch / put of the providers themselves
        r = guard.response(
            await c.patch("/api/providers/sec-extra/", json={"provider_name": "Extra 2"}, headers=h), "patch name", 200
        )
        assert r.json()["extra_kwargs"] == public_extra
        guard.response(
            await c.patch("/api/providers/sec-top/", json={"api_key": s["new_top"]}, headers=h), "patch new key", 200
        )
        guard.response(
            await c.patch("/api/providers/sec-extra/", json={"extra_kwargs": extra_kwargs}, headers=h),
            "patch extra_kwargs with secrets",
            200,
        )
        r = guard.response(
            await c.put(
                "/api/providers/sec-extra/",
                json={"provider_name": "Extra 3", "extra_kwargs": {**public_extra, "password": s["put_pw"]}},
                headers=h,
            ),
            "put with secret",
            200,
        )
        assert r.json()["extra_kwargs"] == public_extra
        guard.response(await c.get("/api/models/m-extra/", headers=h), "model after provider put", 200)

        # error bodies of requests that carry secrets
        top, pw, tok, se = s["top"], s["password"], s["token"], secret_extra
        pp = "/api/providers/"
        bad_requests: list[tuple[str, str, str, Any, int]] = [
            ("POST", pp, "wrong type", {"provider_id": "e", "provider_name": 5, "api_key": top}, 400),
            ("POST", pp, "key as list", {"provider_id": "e", "provider_name": "E", "api_key": [top]}, 400),
            ("POST", pp, "key as object", {"provider_id": "e", "api_key": {"v": top}}, 400),
            ("POST", pp, "key too long", {"provider_id": "e", "api_key": top * 500}, 400),
            ("POST", pp, "extra_kwargs not an object", {"provider_id": "e", "extra_kwargs": tok}, 400),
            ("POST", pp, "control char", {"provider_id": "e\n", "provider_name": "E", "api_key": top}, 400),
            ("POST", pp, "blank name", {"provider_id": "e", "provider_name": "", "extra_kwargs": se}, 400),
            ("POST", pp, "missing name", {"provider_id": "e", "api_key": top}, 400),
            ("POST", pp, "missing id", {"provider_name": "E", "api_key": top}, 400),
            ("POST", pp, "not an object", [top], 400),
            ("POST", pp, "a bare string", top, 400),
            ("PATCH", "/api/providers/sec-top/", "blank name, new key", {"provider_name": "", "api_key": pw}, 400),
            ("PATCH", "/api/providers/sec-top/", "key wrong type", {"api_key": 1, "extra_kwargs": se}, 400),
            ("PUT", "/api/providers/sec-top/", "put without name", {"api_key": pw}, 400),
            ("PATCH", "/api/providers/nope/", "missing provider", {"api_key": top}, 404),
            ("POST", "/api/models/", "secret as a cost", {"model_name": "x", "input_cost": top}, 400),
            ("POST", "/api/models/", "bad base", {"model_name": "x", "base_model_name": 7, "display_name": top}, 400),
        ]  # fmt: skip
        for method, path, label, body, status in bad_requests:
            r = guard.response(await c.request(method, path, json=body, headers=h), label, status)
            assert r.json()["detail"], label
        malformed = ('{"provider_id": "e", "provider_name": "E", "api_key": "' + s["top"] + '",').encode()
        guard.response(await c.post("/api/providers/", content=malformed, headers=h), "malformed JSON", 400)
        bad_utf8 = b'{"provider_id": "e", "api_key": "' + s["top"].encode() + b'\xff"}'
        guard.response(await c.post("/api/providers/", content=bad_utf8, headers=h), "invalid UTF-8", 400)
        too_large = json.dumps({"provider_id": "e", "api_key": s["top"], "pad": "x" * (1024 * 1024 + 10)})
        guard.response(await c.post("/api/providers/", content=too_large, headers=h), "too large", 413)
        guard.response(
            await c.patch(
                "/api/providers/sec-top/", json={"api_key": s["top"]}, headers={**h, "If-Match": f'"{s["token"]}"'}
            ),
            "If-Match mismatch",
            412,
        )
        guard.response(
            await c.get("/api/providers/", headers={"Authorization": f"Bearer {s['password']}"}), "bad credential", 401
        )
        # None of the refused writes changed what is stored.
        assert await stored_secrets(env.database_url, org.organization_id, "sec-top") == {"api_key": s["new_top"]}
        assert (await env.client.get("/api/providers/e/", headers=h)).status_code == 404

        assert guard.seen > 40
        guard.check_logs()

    async def test_secrets_are_encrypted_at_rest(self, env: Env, debug_logs: pytest.LogCaptureFixture) -> None:
        org = await env.org()
        s = {label: _secret(label) for label in ("top", "extra_api_key", "aws", "token", "password", "authorization")}
        extra = {
            "base_url": "https://x.example/v1",
            "api_key": s["extra_api_key"],
            "aws_secret_access_key": s["aws"],
            "token": s["token"],
            "password": s["password"],
            "headers": {"Authorization": f"Bearer {s['authorization']}", "X-Team": "ml"},
        }
        await make_provider(env, org, "enc-top", api_key=s["top"])
        await make_provider(env, org, "enc-extra", extra_kwargs=extra)

        rows = await raw_rows(env.database_url, "providers", org.organization_id)
        assert [r["provider_id"] for r in rows] == ["enc-top", "enc-extra"]
        for row in rows:
            assert row["secrets_enc"], f"{row['provider_id']}: secrets_enc is empty"
            for column, value in row.items():
                blob = value if isinstance(value, str) else json.dumps(value, default=str)
                for label, secret in s.items():
                    assert secret not in blob, f"{row['provider_id']}.{column} stores {label!r} in plaintext"
                    assert "Bearer " not in blob, f"{row['provider_id']}.{column} stores the Authorization header"
        public = rows[1]["extra_kwargs"]
        public = json.loads(public) if isinstance(public, str) else public
        assert public == {"base_url": "https://x.example/v1", "headers": {"X-Team": "ml"}}

        # ProviderService decrypts them back with the server's secret key ...
        assert await stored_secrets(env.database_url, org.organization_id, "enc-top") == {"api_key": s["top"]}
        assert await stored_secrets(env.database_url, org.organization_id, "enc-extra") == {
            "api_key": s["extra_api_key"],
            "aws_secret_access_key": s["aws"],
            "token": s["token"],
            "password": s["password"],
            "headers": {"Authorization": f"Bearer {s['authorization']}"},
        }
        # ... and nothing else can.
        row = await provider_row(env.database_url, org.organization_id, "enc-top")
        with pytest.raises(RuntimeError):
            provider_service("some-other-secret-key-0123456789abcdef").secrets_of(row)
        # A rotated server (old key kept for decryption) still reads them.
        rotated = provider_service("the-new-secret-key-0123456789abcdef01", (SECRET,))
        assert rotated.secrets_of(row) == {"api_key": s["top"]}
        LeakGuard(debug_logs, s).check_logs()

    async def test_patch_keeps_replaces_and_removes_secrets(
        self, env: Env, debug_logs: pytest.LogCaptureFixture
    ) -> None:
        org = await env.org()
        s = {label: _secret(label) for label in ("first", "second", "token", "put_token")}
        guard = LeakGuard(debug_logs, s)
        h, c, url = org.headers, env.client, env.database_url

        async def secrets() -> dict[str, Any]:
            return await stored_secrets(url, org.organization_id, "p")

        await make_provider(
            env, org, "p", api_key=s["first"], extra_kwargs={"base_url": "https://u.example/v1", "token": s["token"]}
        )
        assert await secrets() == {"api_key": s["first"], "token": s["token"]}

        # PATCH without api_key keeps the stored key (and the other secrets).
        for body in ({"provider_name": "renamed"}, {"extra_kwargs": {"base_url": "https://v.example/v1"}}, {}):
            guard.response(await c.patch("/api/providers/p/", json=body, headers=h), f"patch {body}", 200)
            assert await secrets() == {"api_key": s["first"], "token": s["token"]}, body
        # PUT without secrets keeps them too (documented).
        guard.response(await c.put("/api/providers/p/", json={"provider_name": "put"}, headers=h), "put", 200)
        assert await secrets() == {"api_key": s["first"], "token": s["token"]}

        # PATCH with a new key replaces it, only it.
        guard.response(await c.patch("/api/providers/p/", json={"api_key": s["second"]}, headers=h), "new key", 200)
        assert await secrets() == {"api_key": s["second"], "token": s["token"]}
        guard.response(
            await c.patch("/api/providers/p/", json={"extra_kwargs": {"token": s["put_token"]}}, headers=h),
            "new token",
            200,
        )
        assert await secrets() == {"api_key": s["second"], "token": s["put_token"]}

        # An explicit null removes it.
        guard.response(await c.patch("/api/providers/p/", json={"api_key": None}, headers=h), "null key", 200)
        assert await secrets() == {"token": s["put_token"]}
        guard.response(
            await c.patch("/api/providers/p/", json={"extra_kwargs": {"token": None}}, headers=h), "null token", 200
        )
        assert await secrets() == {}
        row = await provider_row(url, org.organization_id, "p")
        assert row.secrets_enc is None

        # A top-level null on a provider that only had a top-level key leaves nothing stored.
        await make_provider(env, org, "only-key", api_key=s["first"])
        guard.response(await c.patch("/api/providers/only-key/", json={"api_key": None}, headers=h), "null", 200)
        assert (await provider_row(url, org.organization_id, "only-key")).secrets_enc is None
        guard.check_logs()

    async def test_error_messages_never_echo_request_values(self, env: Env) -> None:
        """docs/decisions.md: "Messages name fields and types, never values" -- for query parameters and filters too
        (a client that puts a credential in the wrong place must not get it reflected back, or into a proxy log).
        Filter field and operator *names* are shown (issue 10: they are not secrets), cut to 64 characters."""
        org = await env.org()
        v = _secret("value")
        cases: list[tuple[str, str, Any]] = [
            ("GET", f"/api/models/?sort_by={v}", None),
            ("GET", f"/api/models/?sort_by=-{v}", None),
            ("GET", f"/api/models/list/?sort_by={v}", None),
            ("GET", f"/api/providers/?page={v}", None),
            ("GET", f"/api/providers/?page_size={v}", None),
            ("GET", f"/api/providers/?page=x&api_key={v}", None),
            ("GET", f"/api/models/list/?page_size={v}", None),
            ("GET", f"/api/models/list/?model_name[{v}]=x", None),
            ("POST", "/api/models/list/", _filters("input_cost", v, operator="gt")),
            ("POST", "/api/models/list/", _filters("model_name", "(" + v, operator="regex")),
            ("POST", "/api/models/", {"model_name": v + "\n", "base_model_name": "gpt-4o"}),
            ("POST", "/api/models/", {"model_name": "ok", "model_type": v, "base_model_name": "gpt-4o"}),
            ("POST", "/api/providers/", {"provider_id": v + " ", "provider_name": "P"}),
        ]
        echoed = []
        for method, path, body in cases:
            r = await env.client.request(method, path, json=body, headers=org.headers)
            assert r.status_code == 400, (method, path, body, r.status_code, r.text)
            if v in r.text:
                echoed.append(f"{method} {path.replace(v, '<V>')} {json.dumps(body).replace(v, '<V>')} -> {r.text}")
        assert not echoed, "400 bodies echo the request's value:\n" + "\n".join(echoed)

    async def test_secrets_inside_lists_are_not_returned(self, env: Env) -> None:
        """A secret-looking key inside a list of objects (litellm-style `fallbacks`) is a secret too."""
        org = await env.org()
        secret = _secret("in-list")
        extra = {"base_url": "https://x.example/v1", "fallbacks": [{"model": "m2", "api_key": secret}]}
        r = await env.client.post(
            "/api/providers/",
            json={"provider_id": "lst", "provider_name": "L", "extra_kwargs": extra},
            headers=org.headers,
        )
        assert r.status_code == 201, r.text
        assert secret not in r.text, "a secret nested in a list is returned in the response"
        rows = await raw_rows(env.database_url, "providers", org.organization_id)
        assert secret not in json.dumps(rows, default=str), "a secret nested in a list is stored in plaintext"


# ---- privilege-bearing fields -------------------------------------------------------------------------------


PRIVILEGED = ("organization_id", "user_id", "affiliation_category", "source", "id", "is_managed", "owner_user_id")


async def model_row(database_url: str, name: str) -> list[CustomModelRow]:
    async def work(session: AsyncSession) -> list[CustomModelRow]:
        return list(await session.scalars(select(CustomModelRow).where(CustomModelRow.model_name == name)))

    rows: list[CustomModelRow] = await with_db(database_url, work)
    return rows


class TestPrivilegedFields:
    def hostile(self, b: Org) -> dict[str, Any]:
        return {
            "organization_id": b.organization_id,
            "user_id": b.admin_user_id,
            "owner_user_id": b.admin_user_id,
            "affiliation_category": "keywordsai",
            "source": "hardcoded",
            "id": "evil-id",
            "is_managed": True,
        }

    async def test_model_writes_ignore_privileged_fields(self, env: Env) -> None:
        a = await env.org("acme")
        b = await env.org("beta")
        hostile = self.hostile(b)
        r = await env.client.post(
            "/api/models/", json={"model_name": "priv", "base_model_name": "gpt-4o", **hostile}, headers=a.headers
        )
        assert r.status_code == 201, r.text
        data = r.json()
        assert (data["id"], data["affiliation_category"], data["source"], data["is_managed"]) == (
            "priv",
            "custom",
            "db",
            False,
        )
        assert b.organization_id not in r.text and b.admin_user_id not in r.text
        for method in ("PATCH", "PUT"):
            r = await env.client.request(
                method, "/api/models/priv/", json={"base_model_name": "gpt-4o", **hostile}, headers=a.headers
            )
            assert r.status_code == 200, (method, r.text)
            assert r.json()["source"] == "db" and r.json()["id"] == "priv"
        again = await env.client.post("/api/models/", json={"model_name": "priv", **hostile}, headers=a.headers)
        assert again.status_code == 200

        rows = await model_row(env.database_url, "priv")
        assert [(row.organization_id, row.user_id) for row in rows] == [(a.organization_id, a.admin_user_id)]
        assert (await env.client.get("/api/models/priv/", headers=a.headers)).status_code == 200
        assert (await env.client.get("/api/models/priv/", headers=b.headers)).status_code == 404
        assert "priv" not in await custom_model_names(env, b)
        assert await custom_model_names(env, a) == ["priv"]

    async def test_member_is_recorded_as_the_author_not_the_body_user(self, env: Env) -> None:
        a = await env.org("acme")
        b = await env.org("beta")
        member_id, member_key = await env.member(a)
        r = await env.client.post(
            "/api/models/",
            json={"model_name": "by-member", "base_model_name": "gpt-4o", **self.hostile(b)},
            headers={"Authorization": f"Bearer {member_key}"},
        )
        assert r.status_code == 201, r.text
        rows = await model_row(env.database_url, "by-member")
        assert [(row.organization_id, row.user_id) for row in rows] == [(a.organization_id, member_id)]

    async def test_provider_writes_ignore_privileged_fields(self, env: Env) -> None:
        a = await env.org("acme")
        b = await env.org("beta")
        hostile = self.hostile(b)
        r = await env.client.post(
            "/api/providers/", json={"provider_id": "priv-p", "provider_name": "P", **hostile}, headers=a.headers
        )
        assert r.status_code == 201, r.text
        assert r.json()["id"] == "priv-p" and r.json()["is_managed"] is False
        for method in ("PATCH", "PUT"):
            r = await env.client.request(
                method, "/api/providers/priv-p/", json={"provider_name": "P2", **hostile}, headers=a.headers
            )
            assert r.status_code == 200, (method, r.text)
            assert r.json()["id"] == "priv-p" and r.json()["is_managed"] is False
        row = await provider_row(env.database_url, a.organization_id, "priv-p")
        assert row.organization_id == a.organization_id
        assert await raw_rows(env.database_url, "providers", b.organization_id) == []
        assert (await env.client.get("/api/providers/priv-p/", headers=b.headers)).status_code == 404
        assert (await env.client.get("/api/providers/", headers=b.headers)).json()["results"] == []
        # provider_id in a PATCH body does not rename (or move) the provider either.
        r = await env.client.patch("/api/providers/priv-p/", json={"provider_id": "renamed"}, headers=a.headers)
        assert r.status_code == 200 and r.json()["provider_id"] == "priv-p"
        assert (await env.client.get("/api/providers/renamed/", headers=a.headers)).status_code == 404
