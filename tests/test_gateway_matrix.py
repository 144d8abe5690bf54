"""Listing equals enforcement for every role of the permission matrix (docs/openwebui.md, domain/access.py).

For each principal, the ids `GET /v1/models` lists (through the official `openai` SDK) must be exactly the
models `POST /v1/chat/completions` accepts, out of every name any principal could try: every custom model of
both organizations, every built-in the listing shows anyone, built-ins of a provider nobody configured, and
names that do not exist. Every refused call is a 404 with an OpenAI-style error body, and a model that exists
but may not be read (or is inactive, or belongs to another organization) answers exactly like one that does
not exist. The Respan lists (`GET /api/models/`, `POST /api/models/list/?all=true`) and the Open WebUI list
are consistent with it: visibility is THE permission rule (inactive models visible to writers only), and what
is callable is a subset of what is visible.

One `modelreg serve` per backend for the whole module, against one fake upstream process. The server runs with
MODELREG_MEMORY_INDEX_MAX_MODELS set to the size of the matrix organization, so the `memory` variant is served
from the in-memory index and the `sql` variant (the same matrix plus a few private padding models) from SQL.

The matrix (organization "acme", with provider `fake` on the upstream and the built-in provider id `openai`;
"admins" are `admin`, who created the organization and most models, and `admin2`, who owns nothing):

| model                 | grants / state                                            | visible to (Respan)         |
|-----------------------|-----------------------------------------------------------|-----------------------------|
| m-default             | created without grants (`user:*:read`)                    | all of acme                 |
| m-private             | `[]`                                                      | admins                      |
| m-user-read           | read to u_reader                                          | admins, u_reader            |
| m-user-write          | write to u_writer                                         | admins, u_writer            |
| m-group-read          | read to group readers (set by `/api/models/model/update`) | admins, g_reader            |
| m-group-write         | write to group writers (idem)                             | admins, g_writer            |
| m-star-write          | write to `*`                                              | all of acme                 |
| m-inactive            | `*` read, write to u_writer and writers; inactive         | admins, u_writer, g_writer  |
| m-inactive-read       | `*` read, read to u_reader and readers; inactive          | admins                      |
| m-inactive-star-write | write to `*`; inactive                                    | all of acme                 |
| m-owned               | created by the member `owner`, `[]`                       | admins, owner               |
| m-owned-inactive      | created by `owner`, default grants, deactivated by owner  | admins, owner               |
| m-via-openai          | base gpt-4o, no custom provider (routed via `openai`)     | all of acme                 |
| m-via-anthropic       | base an anthropic built-in, no provider for it (no route) | all of acme                 |
| m-orphan              | on a provider since deleted (no route)                    | all of acme                 |
| m-derived             | base m-private (inherits its provider), default grants    | all of acme                 |

Callable (and listed by /v1/models) = visible, minus inactive, minus unroutable; plus every active `openai`
built-in for an organization with an `openai` provider. The other principals of acme are u_reader, u_writer,
g_reader (in readers), g_writer (in writers) and nobody (in bystanders, a group without grants).

Organization "rival" (provider `fake` only, no `openai` provider until test_builtin_provider_exists_vs_not adds
one): m-default (the same name as acme's, its own model), b-private (`[]`) and b-via-openai (base gpt-4o:
unroutable without an `openai` provider). Its principals are its admin and the member b_member.

Built-in aliases (`gpt-4o` for `openai/gpt-4o`) are callable exactly when their canonical id is listed; they are
not listed themselves (the listing shows canonical ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from conftest import Env, Org, row_counts
from fake_upstream import FakeUpstream, expected_reply
from fake_upstream import running_fake_upstream as _running_fake_upstream
from live_server import Server
from modelreg.catalog.load import Catalog
from modelreg.store.database import Database
from modelreg.store.rows import ModelViewRow
from test_gateway import (
    CHAT,
    MESSAGES,
    OPENAI_PROVIDER_KEY,
    RIVAL_UPSTREAM_KEY,
    UPSTREAM_KEY,
    Gateway,
    chat,
    run,
    running_server,
)

# ---- the matrix ----------------------------------------------------------------------------------------------

A_PRINCIPALS = ("admin", "admin2", "owner", "u_reader", "u_writer", "g_reader", "g_writer", "nobody")
"""`admin` made the organization and created most models (so also owns them); `admin2` is an admin who owns
nothing; `nobody` is in a group (bystanders) that holds no grant."""
B_PRINCIPALS = ("b_admin", "b_member")
EVERY_A = frozenset(A_PRINCIPALS)
EVERY_B = frozenset(B_PRINCIPALS)
ADMINS = frozenset({"admin", "admin2"})

A_VISIBLE: dict[str, frozenset[str]] = {
    "m-default": EVERY_A,
    "m-private": ADMINS,
    "m-user-read": ADMINS | {"u_reader"},
    "m-user-write": ADMINS | {"u_writer"},
    "m-group-read": ADMINS | {"g_reader"},
    "m-group-write": ADMINS | {"g_writer"},
    "m-star-write": EVERY_A,
    "m-inactive": ADMINS | {"u_writer", "g_writer"},
    "m-inactive-read": ADMINS,
    "m-inactive-star-write": EVERY_A,
    "m-owned": ADMINS | {"owner"},
    "m-owned-inactive": ADMINS | {"owner"},
    "m-via-openai": EVERY_A,
    "m-via-anthropic": EVERY_A,
    "m-orphan": EVERY_A,
    "m-derived": EVERY_A,
}
B_VISIBLE: dict[str, frozenset[str]] = {
    "m-default": EVERY_B,
    "b-private": frozenset({"b_admin"}),
    "b-via-openai": EVERY_B,
}
INACTIVE = frozenset({"m-inactive", "m-inactive-read", "m-inactive-star-write", "m-owned-inactive"})
A_UNROUTABLE = frozenset({"m-orphan", "m-via-anthropic"})
VIA_OPENAI = frozenset({"m-via-openai", "b-via-openai"})
"""Custom models routed through the organization's `openai` provider (upstream name gpt-4o)."""
PROVIDER_HINT = {"m-via-openai": "openai", "b-via-openai": "openai", "m-via-anthropic": "anthropic"}
"""Custom models based on a built-in without a custom provider: their 404 names the provider to add."""
PADS = tuple(f"pad-{i:02d}" for i in range(3))
"""The `sql` variant's extra private models (admins only): they push acme over the memory-index limit."""
MISSING = ("no-such-model", "m-deleted", "M-DEFAULT", "m-default ", "OpenAI/GPT-4o")
"""Never existed, existed and was deleted, and near-misses of a readable name: all answer like each other."""
MEMORY_INDEX_MAX_MODELS = len(A_VISIBLE)
SOME = ("u_writer", "nobody", "b_member")
ALIASES = {"gpt-4o": "openai/gpt-4o", "gpt-4o-mini": "openai/gpt-4o-mini"}
"""Built-in aliases (catalog-resolved): callable under that name too, listed under the canonical id only."""


@dataclass
class Caller:
    label: str
    org: Org
    user_id: str
    key: str
    sdk: OpenAI

    @property
    def as_org(self) -> Org:
        """This caller's credentials in the shape Gateway.call takes."""
        return Org(self.org.organization_id, self.user_id, self.key, self.org.email)


@dataclass
class World:
    a: Org
    b: Org
    callers: dict[str, Caller]
    groups: dict[str, str]
    pads: tuple[str, ...]
    b_has_openai: bool = False
    openai_builtins: frozenset[str] = field(default_factory=frozenset)
    # The expected state, updated by tests that change the world (acme's tables; rival's never change).
    a_visible: dict[str, frozenset[str]] = field(default_factory=lambda: dict(A_VISIBLE))
    a_inactive: set[str] = field(default_factory=lambda: set(INACTIVE))
    a_unroutable: set[str] = field(default_factory=lambda: set(A_UNROUTABLE))

    def org_of(self, label: str) -> str:
        return "a" if label in EVERY_A else "b"

    def visible_customs(self, label: str) -> set[str]:
        if self.org_of(label) == "b":
            return {name for name, who in B_VISIBLE.items() if label in who}
        seen = {name for name, who in self.a_visible.items() if label in who}
        return seen | (set(self.pads) if label in ADMINS else set())

    def inactive(self, label: str) -> set[str]:
        """The inactive models of the caller's organization (names are per organization)."""
        return set(self.a_inactive) if self.org_of(label) == "a" else set()

    def unroutable_customs(self, label: str) -> set[str]:
        if self.org_of(label) == "a":
            return set(self.a_unroutable)
        return set() if self.b_has_openai else {"b-via-openai"}

    def callable_customs(self, label: str) -> set[str]:
        return self.visible_customs(label) - self.inactive(label) - self.unroutable_customs(label)

    def callable(self, label: str) -> set[str]:
        has_openai = self.org_of(label) == "a" or self.b_has_openai
        return self.callable_customs(label) | (set(self.openai_builtins) if has_openai else set())


# ---- processes and fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with _running_fake_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir: Path = tmp_path_factory.mktemp("modelreg-gateway-matrix")
    with running_server(database_url, var_dir, MODELREG_MEMORY_INDEX_MAX_MODELS=str(MEMORY_INDEX_MAX_MODELS)) as up:
        yield up


@pytest.fixture
async def gw(env: Env, server: Server, upstream: FakeUpstream) -> AsyncIterator[Gateway]:
    counts = await row_counts(env.database_url)
    assert set(counts.values()) == {0}, f"rows left over from an earlier test: {counts}"
    upstream.clear()
    # This module needs no decoy or IPv6 upstream: the one upstream stands in for them (they are never used).
    helper = Gateway(server, env, upstream, upstream, upstream)
    yield helper
    await helper.close()
    assert server.process.poll() is None, f"modelreg serve died:\n{server.log_text()[-5000:]}"


@pytest.fixture(scope="module")
def openai_builtins(catalog: Catalog) -> frozenset[str]:
    for alias, canonical in ALIASES.items():
        resolved = catalog.exact(alias)
        assert resolved is not None and resolved.name == canonical, (alias, resolved)
    return frozenset(
        name
        for name, model in catalog.models.items()
        if model.provider is not None and model.provider.provider_id == "openai" and model.is_active
    )


@pytest.fixture(scope="module")
def unconfigured_builtins(catalog: Catalog) -> tuple[str, ...]:
    """A few built-ins of providers no organization here configures (never callable, always visible)."""
    picked: list[str] = []
    for prefix in ("anthropic/", "azure/", "mistral/"):
        picked.append(next(n for n, m in catalog.models.items() if n.startswith(prefix) and m.model_type == "chat"))
    return tuple(picked)


# ---- building the world through the server's own APIs ---------------------------------------------------------


def grant(kind: str, ident: str, permission: str) -> dict[str, str]:
    return {"access_type": kind, "access_id": ident, "permission": permission}


async def webui_update(gw: Gateway, caller: Org, name: str, **fields: Any) -> dict[str, Any]:
    """Open WebUI's seed route; base_model_id and the provider are kept when omitted, is_active defaults to true."""
    body = {"id": name, "name": name, "params": {}, "meta": {}, **fields}
    response = await gw.call(caller, "POST", "/api/models/model/update", body)
    return dict(response.json())


async def build_world(
    gw: Gateway, openai_builtins: frozenset[str], anthropic_base: str, pads: tuple[str, ...] = ()
) -> World:
    a = await gw.env.org("acme")
    b = await gw.env.org("rival")
    await gw.provider(a)
    await gw.provider(a, "openai", api_key=OPENAI_PROVIDER_KEY)
    await gw.provider(a, "doomed")
    await gw.provider(b, api_key=RIVAL_UPSTREAM_KEY)

    callers = {
        "admin": Caller("admin", a, a.admin_user_id, a.admin_key, gw.sdk(a.admin_key)),
        "b_admin": Caller("b_admin", b, b.admin_user_id, b.admin_key, gw.sdk(b.admin_key)),
    }
    for label in A_PRINCIPALS[1:]:
        user_id, key = await gw.env.member(a, "admin" if label in ADMINS else "member")
        callers[label] = Caller(label, a, user_id, key, gw.sdk(key))
    user_id, key = await gw.env.member(b)
    callers["b_member"] = Caller("b_member", b, user_id, key, gw.sdk(key))

    groups: dict[str, str] = {}
    for group, members in (("readers", ["g_reader"]), ("writers", ["g_writer"]), ("bystanders", ["nobody"])):
        created = (await gw.call(a, "POST", "/api/admin/groups", {"name": group}, expect=201)).json()
        groups[group] = created["id"]
        for member in members:
            body = {"user_id": callers[member].user_id}
            await gw.call(a, "POST", f"/api/admin/groups/{created['id']}/members", body)

    uid = {label: caller.user_id for label, caller in callers.items()}
    owner = callers["owner"].as_org

    # Respan create, with and without access_grants.
    await gw.model(a, "m-default")
    await gw.model(a, "m-private", access_grants=[])
    await gw.model(a, "m-user-read", access_grants=[grant("user", uid["u_reader"], "read")])
    await gw.model(a, "m-user-write", access_grants=[grant("user", uid["u_writer"], "write")])
    await gw.model(a, "m-star-write", access_grants=[grant("user", "*", "write")])
    await gw.model(a, "m-via-openai", provider=None, base_model_name="gpt-4o")
    await gw.model(a, "m-via-anthropic", provider=None, base_model_name=anthropic_base)
    await gw.model(a, "m-orphan", provider="doomed")
    await gw.model(a, "m-derived", provider=None, base_model_name="m-private")
    # Grants replaced through Open WebUI's update route: the default `*` grant must be gone afterwards.
    for name, group, permission in (("m-group-read", "readers", "read"), ("m-group-write", "writers", "write")):
        await gw.model(a, name)
        updated = await webui_update(gw, a, name, access_grants=[grant("group", groups[group], permission)])
        assert updated["access_grants"] == [grant("group", groups[group], permission)], updated
    # Deactivated through the same route.
    inactive_grants = {
        "m-inactive": [
            grant("user", "*", "read"),
            grant("user", uid["u_writer"], "write"),
            grant("group", groups["writers"], "write"),
        ],
        "m-inactive-read": [
            grant("user", "*", "read"),
            grant("user", uid["u_reader"], "read"),
            grant("group", groups["readers"], "read"),
        ],
        "m-inactive-star-write": [grant("user", "*", "write")],
    }
    for name, grants in inactive_grants.items():
        await gw.model(a, name, access_grants=grants)
        updated = await webui_update(gw, a, name, is_active=False)
        assert updated["is_active"] is False, updated
    # Models owned by a member (created with the member's key).
    created = await gw.model(owner, "m-owned", access_grants=[])
    assert created["user_id"] == uid["owner"], created
    await gw.model(owner, "m-owned-inactive")
    assert (await webui_update(gw, owner, "m-owned-inactive", is_active=False))["is_active"] is False
    # A model whose provider is deleted keeps existing without a route; a deleted model is gone.
    await gw.call(a, "DELETE", "/api/providers/doomed/", expect=204)
    await gw.model(a, "m-deleted")
    await gw.call(a, "DELETE", "/api/models/m-deleted/", expect=204)
    for pad in pads:
        await gw.model(a, pad, access_grants=[])

    await gw.model(b, "m-default")
    await gw.model(b, "b-private", access_grants=[])
    await gw.model(b, "b-via-openai", provider=None, base_model_name="gpt-4o")
    return World(a, b, callers, groups, pads, openai_builtins=openai_builtins)


async def assert_listing_path(world: World, database_url: str, listing_path: str) -> None:
    """The `sql` variant is only meaningful if acme is above the server's memory-index limit (and `memory` below)."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            scope = ModelViewRow.organization_id == world.a.organization_id
            count = int(await session.scalar(select(func.count()).select_from(ModelViewRow).where(scope)) or 0)
    finally:
        await db.dispose()
    assert (count > MEMORY_INDEX_MAX_MODELS) is (listing_path == "sql"), (listing_path, count)


# ---- probing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    """The reply's `model` (the upstream's echo of the name it was sent) on 200, else the error body."""
    content: str | None = None
    error_class: type[Exception] | None = None


def attempt(sdk: OpenAI, name: str, kind: str = "chat") -> Outcome:
    """A chat completion (`chat`), a streamed one (`stream`) or an embedding (`embed`) of `name`."""
    try:
        if kind == "embed":
            embedded = sdk.embeddings.create(model=name, input="x")
            return Outcome(200, embedded.model)
        if kind == "stream":
            with chat(sdk, name, stream=True) as stream:
                chunks = list(stream)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return Outcome(200, chunks[0].model if chunks else None, text)
        reply = chat(sdk, name)
    except openai.APIStatusError as exc:
        try:
            body = exc.response.json()
        except ValueError:
            body = exc.response.text
        return Outcome(exc.status_code, body, error_class=type(exc))
    return Outcome(200, reply.model, reply.choices[0].message.content)


async def probe(world: World, names: dict[str, set[str]], kind: str = "chat") -> dict[str, dict[str, Outcome]]:
    """A call by each caller for each of its names (in parallel threads; the SDK client is thread-safe)."""
    gate = asyncio.Semaphore(16)
    pairs = [(label, name) for label, wanted in names.items() for name in sorted(wanted)]

    async def one(label: str, name: str) -> Outcome:
        async with gate:
            return await run(attempt, world.callers[label].sdk, name, kind)

    outcomes = await asyncio.gather(*(one(label, name) for label, name in pairs))
    table: dict[str, dict[str, Outcome]] = {}
    for (label, name), outcome in zip(pairs, outcomes, strict=True):
        table.setdefault(label, {})[name] = outcome
    return table


async def listed(world: World, label: str) -> list[Any]:
    page = await run(world.callers[label].sdk.models.list)
    return list(page.data)


def candidate_names(world: World, label: str, unconfigured: Iterable[str], every_builtin: bool) -> set[str]:
    """Every custom name of both organizations, the missing names, built-ins of unconfigured providers and a
    sample of the `openai` built-ins; with `every_builtin` the admin of an organization with an `openai` provider
    tries every `openai` built-in (the rule for built-ins does not depend on the caller, and the listing is
    compared with the rule in full for everyone)."""
    names = set(A_VISIBLE) | set(B_VISIBLE) | set(world.pads) | set(unconfigured) | set(MISSING) | set(ALIASES)
    if every_builtin and (label == "admin" or (label == "b_admin" and world.b_has_openai)):
        return names | set(world.openai_builtins)
    return names | set(sample_builtins(world.openai_builtins))


def sample_builtins(builtins: Iterable[str]) -> list[str]:
    ordered = sorted(builtins)
    return sorted({"openai/gpt-4o", "openai/gpt-4o-mini", *ordered[:: max(1, len(ordered) // 4)]} & set(ordered))


def upstream_name(name: str, catalog: Catalog) -> str:
    if name in VIA_OPENAI:
        return "gpt-4o"
    if name == "m-derived":
        return "m-private"  # the base's native name: m-private is called by its own name
    builtin = catalog.models.get(name)
    if builtin is not None:
        return builtin.native_name or name
    return name  # a custom model without a base, on its own provider: called by its own name


def is_openai_error(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and {"message", "type", "code"} <= set(body["error"])
        and isinstance(body["error"]["message"], str)
        and bool(body["error"]["message"])
    )


def check_principal(
    world: World,
    label: str,
    data: list[Any],
    outcomes: dict[str, Outcome],
    catalog: Catalog,
    unconfigured: Iterable[str],
) -> list[str]:
    """Everything wrong about one principal's listing against its calls (all problems, not the first)."""
    problems: list[str] = []
    caller = world.callers[label]
    ids = [m.id for m in data]
    listed_set = set(ids)
    outcomes = dict(outcomes)  # the caller counts every outcome afterwards
    aliases = {name: outcomes.pop(name) for name in list(outcomes) if name in ALIASES}
    tried = set(outcomes)
    succeeded = {name for name, o in outcomes.items() if o.status == 200}
    expected = world.callable(label)

    # A built-in's alias is another name of a listed id: callable exactly when its canonical id is listed.
    for alias, outcome in aliases.items():
        canonical = ALIASES[alias]
        if (outcome.status == 200) is not (canonical in listed_set):
            problems.append(
                f"{label}: alias {alias} answers {outcome.status} while {canonical} listed: {canonical in listed_set}"
            )
        elif outcome.status == 200 and outcome.body != upstream_name(canonical, catalog):
            problems.append(f"{label}: alias {alias} reached the upstream as {outcome.body!r}")
        elif outcome.status != 200 and (outcome.status != 404 or not is_openai_error(outcome.body)):
            problems.append(f"{label}: alias {alias} answers {outcome.status} {outcome.body!r}")

    if len(ids) != len(listed_set):
        problems.append(f"{label}: duplicate ids in /v1/models: {sorted(i for i in ids if ids.count(i) > 1)}")
    if listed_set & tried != succeeded:
        problems.append(
            f"{label}: listed but not callable {sorted(listed_set & tried - succeeded)}; "
            f"callable but not listed {sorted(succeeded - listed_set)}"
        )
    if listed_set != expected:
        problems.append(
            f"{label}: /v1/models differs from the rule: extra {sorted(listed_set - expected)}, "
            f"missing {sorted(expected - listed_set)}"
        )
    if succeeded != expected & tried:
        problems.append(
            f"{label}: calls differ from the rule: extra {sorted(succeeded - expected)}, "
            f"missing {sorted(expected & tried - succeeded)}"
        )
    inactive = world.inactive(label)
    if listed_set & inactive or succeeded & inactive:
        problems.append(
            f"{label}: an inactive model is listed or callable: {sorted((listed_set | succeeded) & inactive)}"
        )
    for model in data:
        owner = "openai" if model.id in world.openai_builtins else caller.org.organization_id
        if model.object != "model" or model.owned_by != owner:
            problems.append(f"{label}: {model.id} listed as object={model.object!r} owned_by={model.owned_by!r}")

    missing = outcomes["no-such-model"]
    if missing.status != 404 or not is_openai_error(missing.body) or missing.error_class is not openai.NotFoundError:
        problems.append(f"{label}: a missing model answers {missing.status} {missing.body!r}")
        return problems
    if (missing.body["error"]["type"], missing.body["error"]["code"]) != ("invalid_request_error", "model_not_found"):
        problems.append(f"{label}: missing model error {missing.body!r}")
    readable_unroutable = world.unroutable_customs(label) & world.visible_customs(label)
    for name, outcome in sorted(outcomes.items()):
        if outcome.status == 200:
            want = upstream_name(name, catalog)
            if outcome.body != want:
                problems.append(f"{label}: {name} reached the upstream as {outcome.body!r}, expected {want!r}")
            if outcome.content != expected_reply(want, MESSAGES):
                problems.append(f"{label}: {name} replied {outcome.content!r}")
            continue
        if outcome.status != 404 or not is_openai_error(outcome.body):
            problems.append(f"{label}: {name} answers {outcome.status} {outcome.body!r}, expected a 404 error body")
            continue
        error = outcome.body["error"]
        if name in readable_unroutable or name in set(unconfigured) | world.openai_builtins:
            # Readable but without a route: the 404 may say why (naming the provider to add), nothing else.
            if error["code"] != "model_not_found" or error["type"] != "invalid_request_error":
                problems.append(f"{label}: {name} (readable, no route) answers {outcome.body!r}")
            builtin = catalog.models.get(name)
            hint = builtin.provider.provider_id if builtin is not None and builtin.provider else None
            hint = PROVIDER_HINT.get(name, hint)
            if hint is not None and f"'{hint}'" not in error["message"]:
                problems.append(f"{label}: {name} 404 does not name provider {hint!r}: {error['message']!r}")
        elif outcome.body != missing.body:
            # Unreadable, inactive, another organization's or missing: indistinguishable (no existence leak).
            problems.append(f"{label}: {name} answers {outcome.body!r}, a missing model {missing.body!r}")
    return problems


async def check_visibility(
    gw: Gateway, world: World, label: str, callable_names: set[str], catalog: Catalog, *, whole: bool = True
) -> list[str]:
    """The Respan and Open WebUI lists show the rule's visibility; everything callable is visible there.
    `whole=False` skips the bare array of every model (some thousand built-ins) for the filtered lists."""
    problems: list[str] = []
    caller = world.callers[label].as_org
    visible = world.visible_customs(label)
    if whole:
        problems += await check_whole_list(gw, world, label, callable_names, catalog)

    body = {"filters": {"affiliation_category": {"operator": "", "value": ["custom"]}}}
    response = await gw.http.post("/api/models/list/", params={"all": "true"}, json=body, headers=caller.headers)
    assert response.status_code == 200, (label, response.status_code, response.text)
    page = response.json()
    filtered = {m["model_name"]: m for m in page["results"]}
    if set(filtered) != visible or page["count"] != len(visible):
        problems.append(f"{label}: POST /api/models/list/ shows {sorted(filtered)} (count {page['count']})")
    for name, model in filtered.items():
        if model["is_active"] is (name in world.inactive(label)):
            problems.append(f"{label}: {name} listed with is_active={model['is_active']}")
    if not callable_names - world.openai_builtins <= set(filtered):
        problems.append(
            f"{label}: callable but not in POST /api/models/list/: {sorted(callable_names - set(filtered))}"
        )

    webui = (await gw.call(caller, "GET", "/api/v1/models/list", expect=200)).json()
    webui_ids = {m["id"] for m in webui["items"]}
    if webui_ids != visible or webui["total"] != len(visible):
        problems.append(f"{label}: /api/v1/models/list shows {sorted(webui_ids)} (total {webui['total']})")
    return problems


async def check_whole_list(
    gw: Gateway, world: World, label: str, callable_names: set[str], catalog: Catalog
) -> list[str]:
    problems: list[str] = []
    caller = world.callers[label].as_org
    visible = world.visible_customs(label)
    everything = (await gw.call(caller, "GET", "/api/models/", expect=200)).json()
    names = [m["model_name"] for m in everything]
    customs = {m["model_name"]: m for m in everything if m["affiliation_category"] == "custom"}
    builtins = {m["model_name"] for m in everything if m["affiliation_category"] != "custom"}
    if len(names) != len(set(names)):
        problems.append(f"{label}: GET /api/models/ repeats names")
    if set(customs) != visible:
        problems.append(
            f"{label}: GET /api/models/ custom models: extra {sorted(set(customs) - visible)}, "
            f"missing {sorted(visible - set(customs))}"
        )
    if builtins != set(catalog.models):
        problems.append(f"{label}: GET /api/models/ does not show every built-in ({len(builtins)} of {len(catalog)})")
    for name, model in customs.items():
        if model["is_active"] is (name in world.inactive(label)):
            problems.append(f"{label}: {name} shown with is_active={model['is_active']}")
    if not callable_names <= set(names):
        problems.append(f"{label}: callable but not visible in GET /api/models/: {sorted(callable_names - set(names))}")
    return problems


async def check_matrix(
    gw: Gateway,
    world: World,
    catalog: Catalog,
    unconfigured: tuple[str, ...],
    labels: Iterable[str],
    *,
    every_builtin: bool = False,
) -> list[str]:
    labels = tuple(labels)
    gw.upstream.clear()
    names = {label: candidate_names(world, label, unconfigured, every_builtin) for label in labels}
    outcomes = await probe(world, names)
    problems: list[str] = []
    for label in labels:
        problems += check_principal(world, label, await listed(world, label), outcomes[label], catalog, unconfigured)
    # A refused call never reaches an upstream; each accepted call reaches it once, with a provider's key.
    successes = sum(o.status == 200 for per in outcomes.values() for o in per.values())
    records = gw.upstream.requests(CHAT)
    if len(records) != successes:
        problems.append(f"{successes} calls succeeded but the upstream saw {len(records)}")
    keys = {r["headers"].get("authorization") for r in records}
    provider_keys = {f"Bearer {k}" for k in (UPSTREAM_KEY, OPENAI_PROVIDER_KEY, RIVAL_UPSTREAM_KEY)}
    if not keys <= provider_keys:
        problems.append(f"the upstream saw other credentials: {sorted(map(str, keys - provider_keys))}")
    return problems


# ---- the tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listing_path", ["memory", "sql"])
async def test_listing_equals_enforcement_for_every_principal(
    gw: Gateway,
    catalog: Catalog,
    openai_builtins: frozenset[str],
    unconfigured_builtins: tuple[str, ...],
    listing_path: str,
) -> None:
    """Every principal of both organizations: /v1/models == what chat accepts == the rule; refusals are
    OpenAI-style 404s, identical for unreadable, inactive, foreign and missing models."""
    world = await build_world(gw, openai_builtins, unconfigured_builtins[0], PADS if listing_path == "sql" else ())
    await assert_listing_path(world, gw.env.database_url, listing_path)
    everyone = (*A_PRINCIPALS, *B_PRINCIPALS)
    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, everyone, every_builtin=True)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("listing_path", ["memory", "sql"])
async def test_visible_lists_are_consistent_with_the_gateway(
    gw: Gateway,
    catalog: Catalog,
    openai_builtins: frozenset[str],
    unconfigured_builtins: tuple[str, ...],
    listing_path: str,
) -> None:
    """Respan (`GET /api/models/`, `POST /api/models/list/?all=true`) and Open WebUI lists show exactly the rule's
    visibility (inactive models to their writers only, unroutable ones to their readers), a superset of what
    /v1/models lists. Inactive models are never listed by /v1/models nor callable, for anyone (their writers
    included), streamed or not, as chat or embeddings: the same 404 as a missing model, the upstream never
    reached; and so for every other model a caller may not call."""
    world = await build_world(gw, openai_builtins, unconfigured_builtins[0], PADS if listing_path == "sql" else ())
    await assert_listing_path(world, gw.env.database_url, listing_path)
    problems: list[str] = []
    for label in (*A_PRINCIPALS, *B_PRINCIPALS):
        ids = {m.id for m in await listed(world, label)}
        problems += await check_visibility(gw, world, label, ids, catalog)
        if ids & world.inactive(label):
            problems.append(f"{label}: /v1/models lists inactive {sorted(ids & world.inactive(label))}")
    # Inactive models, called by everyone (their writers included): never accepted, never forwarded. Streamed
    # and embedding calls by a writer of m-inactive, a member without grants and another organization's member
    # see the same for everything they may not call.
    gw.upstream.clear()
    runs = [("chat", {label: set(world.a_inactive) for label in (*A_PRINCIPALS, *B_PRINCIPALS)})]
    for kind in ("stream", "embed"):
        runs.append((kind, {label: set(A_VISIBLE) - world.callable(label) - A_UNROUTABLE for label in SOME}))
    for kind, names in runs:
        outcomes = await probe(world, {label: {*wanted, "no-such-model"} for label, wanted in names.items()}, kind)
        for label, per in outcomes.items():
            missing = per.pop("no-such-model")
            if missing.status != 404 or not is_openai_error(missing.body):
                problems.append(f"{label}: {kind} of a missing model answers {missing.status} {missing.body!r}")
            for name, outcome in per.items():
                if (outcome.status, outcome.body) != (404, missing.body):
                    problems.append(f"{label}: {kind} of {name} answers {outcome.status} {outcome.body!r}")
    if gw.upstream.requests():
        problems.append(f"a refused call reached the upstream: {[r['body'] for r in gw.upstream.requests()]}")
    assert not problems, "\n".join(problems)


async def test_builtin_provider_exists_vs_not(
    gw: Gateway, catalog: Catalog, openai_builtins: frozenset[str], unconfigured_builtins: tuple[str, ...]
) -> None:
    """The rival organization has no `openai` provider: no built-in, nor its custom model based on one, is listed
    or callable (404 naming the provider). Adding the provider makes exactly those callable and listed for its
    members (acme unchanged); deleting it takes them away again."""
    world = await build_world(gw, openai_builtins, unconfigured_builtins[0])
    everyone = (*B_PRINCIPALS, "nobody")
    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, B_PRINCIPALS)
    assert not problems, "\n".join(problems)

    await gw.provider(world.b, "openai", api_key=OPENAI_PROVIDER_KEY)
    world.b_has_openai = True
    # The rival's admin tries every built-in now; one acme member shows acme is unaffected.
    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, everyone, every_builtin=True)
    for label in B_PRINCIPALS:
        problems += await check_visibility(gw, world, label, world.callable(label), catalog)
    assert not problems, "\n".join(problems)

    await gw.call(world.b, "DELETE", "/api/providers/openai/", expect=204)
    world.b_has_openai = False
    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, B_PRINCIPALS)
    assert not problems, "\n".join(problems)


async def test_changes_apply_to_listing_and_calls_at_once(
    gw: Gateway, catalog: Catalog, openai_builtins: frozenset[str], unconfigured_builtins: tuple[str, ...]
) -> None:
    """After every principal has listed and called (caches warm), grants, activity, group membership, providers
    and deletions change; the very next listing and calls of every principal follow the new state together."""
    world = await build_world(gw, openai_builtins, unconfigured_builtins[0])
    everyone = (*A_PRINCIPALS, *B_PRINCIPALS)
    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, everyone)
    assert not problems, "\n".join(problems)

    a, uid = world.a, {label: c.user_id for label, c in world.callers.items()}
    # A revoked user grant (Open WebUI's access route).
    await gw.call(a, "POST", "/api/v1/models/model/access/update", {"id": "m-user-read", "access_grants": []})
    world.a_visible["m-user-read"] = ADMINS
    # Re-activated (toggle): readable again by everyone its `*` grant names.
    toggled = await gw.call(a, "POST", "/api/v1/models/model/toggle?id=m-inactive-read")
    assert toggled.json()["is_active"] is True
    world.a_inactive.discard("m-inactive-read")
    world.a_visible["m-inactive-read"] = EVERY_A
    # Re-activated by a holder of a write grant (not the owner, not an admin).
    toggled = await gw.call(world.callers["u_writer"].as_org, "POST", "/api/v1/models/model/toggle?id=m-inactive")
    assert toggled.json()["is_active"] is True
    world.a_inactive.discard("m-inactive")
    world.a_visible["m-inactive"] = EVERY_A
    # Deactivated (seed update route): only the admins may still see it, nobody may call it.
    assert (await webui_update(gw, a, "m-via-openai", is_active=False))["is_active"] is False
    world.a_inactive.add("m-via-openai")
    world.a_visible["m-via-openai"] = ADMINS
    # Group membership: g_writer leaves writers, nobody joins readers.
    await gw.call(a, "DELETE", f"/api/admin/groups/{world.groups['writers']}/members/{uid['g_writer']}", expect=204)
    world.a_visible["m-group-write"] -= {"g_writer"}
    await gw.call(a, "POST", f"/api/admin/groups/{world.groups['readers']}/members", {"user_id": uid["nobody"]})
    world.a_visible["m-group-read"] |= {"nobody"}
    # Deleted; and the orphan gets a provider again.
    await gw.call(a, "DELETE", "/api/models/m-star-write/", expect=204)
    del world.a_visible["m-star-write"]
    await gw.call(a, "PATCH", "/api/models/m-orphan/", {"custom_provider_id": "fake"})
    world.a_unroutable.discard("m-orphan")

    problems = await check_matrix(gw, world, catalog, unconfigured_builtins, everyone)
    for label in A_PRINCIPALS:
        problems += await check_visibility(gw, world, label, world.callable(label), catalog, whole=False)
    assert not problems, "\n".join(problems)
