"""Who may do what to a custom model, in both dialects (issue 4; the rule is src/modelreg/domain/access.py).

The matrix: every caller in `ACCESS` x every kind of target model x every route in `ROUTES` (each route that
takes a model id or name, in the Respan and the Open WebUI dialect, plus the lists). The owner (a member)
creates one fresh model per (caller, kind), so no cell sees another cell's writes:

- shared : grants read to reader_direct and to group "readers", write to writer_direct and to group "writers"
- public : created without access_grants (the default: read for every member of the organization, "*")
- private: created with access_grants [] (owner and organization admins only)
- inactive: the shared grants plus "*" read, but is_active false: per docs/openwebui.md a deactivated model stays
  visible (marked inactive) to those who may write it and is hidden from everyone else, lists included

`ACCESS` says what each caller holds on each kind; each route's `expect` says what each level must answer
(exact status and body; for successes the fields that matter, e.g. `params` empty for readers), and `after`
what the owner must then see (unchanged unless the call was allowed to write). Every cell is checked and all
wrong cells are reported together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from access_helpers import (
    DEFAULT_WIRE_GRANTS,
    Person,
    World,
    build_world,
    create_model,
    grant,
    grant_set,
)
from conftest import Env, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog

W, R, H, F, A = "write", "read", "hidden", "foreign", "anonymous"
KINDS = ("shared", "public", "private", "inactive")

# What each caller holds on each kind of model (H: same organization, no read; F: another organization).
ACCESS: dict[str, tuple[str, str, str, str]] = {
    #                 shared public private inactive
    "owner":         (W,     W,     W,      W),
    "admin":         (W,     W,     W,      W),
    "reader_direct": (R,     R,     H,      H),
    "reader_group":  (R,     R,     H,      H),
    "reader_star":   (H,     R,     H,      H),
    "writer_direct": (W,     R,     H,      W),
    "writer_group":  (W,     R,     H,      W),
    "stranger":      (H,     R,     H,      H),
    "outsider":      (F,     F,     F,      F),
    "other_admin":   (F,     F,     F,      F),
    "anonymous":     (A,     A,     A,      A),
}  # fmt: skip

MEMBERS = {
    "owner": ("a", "member", ()),
    "reader_direct": ("a", "member", ()),
    "reader_group": ("a", "member", ("readers",)),
    "reader_star": ("a", "member", ()),
    "writer_direct": ("a", "member", ()),
    "writer_group": ("a", "member", ("writers",)),
    "stranger": ("a", "member", ("bystanders",)),  # in a group, but one that holds no grant
    "outsider": ("b", "member", ("b_team",)),
}
GROUPS = {"readers": "a", "writers": "a", "bystanders": "a", "b_team": "b"}

PARAMS = {"system": "a secret system prompt", "temperature": 0.3}
ORIGINAL = {"display_name": "original", "params": PARAMS, "meta": {"description": "original"}}

R_NOT_FOUND_BODY = {"detail": "Not found."}
R_FORBIDDEN_BODY = {"detail": "You do not have permission to perform this action."}
W_NOT_FOUND_BODY = {"detail": "Model not found"}
W_PROHIBITED_BODY = {"detail": "Access prohibited"}
NO_AUTH_BODY = {"detail": "Authentication credentials were not provided."}
READ_ONLY_MODIFY = (
    "Cannot modify hardcoded models. They are synced from code and will be overwritten on next deployment. "
    "Only database-only models can be modified."
)
READ_ONLY_DELETE = (
    "Cannot delete hardcoded models. They are synced from code and will be recreated on next deployment. "
    "Only database-only models can be deleted."
)
BUILTIN_NAME_TAKEN = "A built-in model already has this name; choose another name."
ID_TAKEN = "Uh-oh! This model id is already registered. Please choose another model id string."


def target_grants(world: World, kind: str) -> list[dict[str, str]] | None:
    shared = [
        grant("user", world["reader_direct"].user_id, "read"),
        grant("group", world.groups["readers"], "read"),
        grant("user", world["writer_direct"].user_id, "write"),
        grant("group", world.groups["writers"], "write"),
    ]
    grants = {"shared": shared, "public": None, "private": [], "inactive": [*shared, grant("user", "*", "read")]}
    return grants[kind]


# ---- cells and expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    client: AsyncTestClient[Any]
    world: World
    caller: Person
    kind: str
    level: str
    model: str
    grants: list[dict[str, str]]
    """The target's grants as answered (the default grant for `public`)."""

    @property
    def owner(self) -> Person:
        return self.world["owner"]

    @property
    def headers(self) -> dict[str, str]:
        return self.caller.headers

    def __str__(self) -> str:
        return f"{self.caller.label} on {self.kind} ({self.level})"


Value = Any  # a value, or a function of the cell giving it


def NAME(c: Cell) -> str:
    return c.model


def OWNER(c: Cell) -> str | None:
    return c.owner.user_id


def CALLER(c: Cell) -> str | None:
    return c.caller.user_id


def GRANTS(c: Cell) -> list[dict[str, str]]:
    return c.grants


def ACTIVE(c: Cell) -> bool:
    return c.kind != "inactive"


def TOGGLED(c: Cell) -> bool:
    return not ACTIVE(c)


ABSENT = object()
"""A field value meaning: the key is not there."""


@dataclass(frozen=True)
class Exact:
    """Exactly this status and JSON body (None: an empty body)."""

    status: int
    body: Value


@dataclass(frozen=True)
class Fields:
    """This status, and these fields (dotted paths allowed) in the body or, for a list, in the target's entry."""

    status: int
    fields: Mapping[str, Value]


@dataclass(frozen=True)
class Absent:
    """A list answer (200) without the target."""

    status: int = 200


Expect = Exact | Fields | Absent

R_NOT_FOUND = Exact(404, R_NOT_FOUND_BODY)
R_FORBIDDEN = Exact(403, R_FORBIDDEN_BODY)
W_NOT_FOUND = Exact(401, W_NOT_FOUND_BODY)
W_PROHIBITED = Exact(400, W_PROHIBITED_BODY)
NO_AUTH = Exact(401, NO_AUTH_BODY)
GONE = R_NOT_FOUND
UNCHANGED = Fields(
    200,
    {
        "display_name": "original",
        "params": PARAMS,
        "meta.description": "original",
        "is_active": ACTIVE,
        "access_grants": GRANTS,
        "user_id": OWNER,
    },
)

Reply = tuple[int, Any]
Send = Callable[[Cell], Awaitable[Reply]]


async def reply(response: Any) -> Reply:
    return response.status_code, (response.json() if response.content else None)


@dataclass(frozen=True)
class Route:
    send: Send
    expect: Mapping[str, Expect]
    """Level -> answer."""
    after: Mapping[str, Expect] = field(default_factory=dict)
    """Level -> what the owner's GET /api/models/{name}/ then answers (default: UNCHANGED)."""
    pick: Callable[[Any, Cell], Any] | None = None
    """For lists: the target's entry in the body, or None."""
    per_caller: bool = False
    """The answer does not depend on the target (a list): sent once per caller."""
    builtin: Expect | None = None
    """The answer for an authenticated caller addressing the built-in openai/gpt-4o."""


def resolve(value: Value, cell: Cell) -> Any:
    return value(cell) if callable(value) else value


def lookup(body: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return ABSENT
        body = body[part]
    return body


def mismatches(expect: Expect, status: int, body: Any, cell: Cell, pick: Callable[[Any, Cell], Any] | None) -> str:
    """Empty when the answer is the expected one, else what differs."""
    if status != expect.status:
        return f"status {status} != {expect.status}; body {str(body)[:300]}"
    if isinstance(expect, Exact):
        wanted = resolve(expect.body, cell)
        return "" if body == wanted else f"body {body!r} != {wanted!r}"
    entry = pick(body, cell) if pick is not None and status == 200 else body
    if isinstance(expect, Absent):
        return "" if entry is None else f"listed, but must not be: {str(entry)[:200]}"
    if entry is None:
        return "not listed, but must be"
    wrong = []
    for path, value in expect.fields.items():
        got, wanted = lookup(entry, path), resolve(value, cell)
        if path == "access_grants" and isinstance(got, list) and isinstance(wanted, list):
            same = grant_set(got) == grant_set(wanted)
        else:
            same = got == wanted
        if not same:
            wrong.append(f"{path}: {'<absent>' if got is ABSENT else repr(got)} != {wanted!r}")
    return "; ".join(wrong)


# ---- the routes ------------------------------------------------------------------------------------------------


def path(c: Cell) -> str:
    return f"/api/models/{c.model}/"


async def respan_get(c: Cell) -> Reply:
    return await reply(await c.client.get(path(c), headers=c.headers))


async def respan_patch(c: Cell) -> Reply:
    body = {"display_name": "patched", "params": {"temperature": 1}}
    return await reply(await c.client.patch(path(c), json=body, headers=c.headers))


async def respan_put(c: Cell) -> Reply:
    body = {"base_model_name": "gpt-4o", "display_name": "replaced"}
    return await reply(await c.client.put(path(c), json=body, headers=c.headers))


async def respan_delete(c: Cell) -> Reply:
    return await reply(await c.client.delete(path(c), headers=c.headers))


async def respan_upsert(c: Cell) -> Reply:
    body = {"model_name": c.model, "base_model_name": "gpt-4o", "display_name": "upserted"}
    return await reply(await c.client.post("/api/models/", json=body, headers=c.headers))


async def respan_import(c: Cell) -> Reply:
    model = {"model_name": c.model, "base_model_name": "gpt-4o", "display_name": "imported"}
    return await reply(await c.client.post("/api/models/import/", json={"models": [model]}, headers=c.headers))


def respan_import_result(status: str, detail: str | None = None) -> Callable[[Cell], dict[str, Any]]:
    """A Respan import of one model: its result, or (status "error") the 400 refusing the whole import."""

    def body(c: Cell) -> dict[str, Any]:
        if status == "error":
            message = f"models[0] ({c.model}): {detail}; nothing was imported."
            return {"detail": message, "models": [message]}
        return {"results": [{"model_name": c.model, "status": status}], "imported": 1}

    return body


CUSTOM_ONLY = {"affiliation_category": {"operator": "", "value": ["custom"]}}


async def respan_post_list(c: Cell) -> Reply:
    body = {"filters": CUSTOM_ONLY}
    return await reply(await c.client.post("/api/models/list/", params={"all": "true"}, json=body, headers=c.headers))


async def respan_get_list(c: Cell) -> Reply:
    return await reply(await c.client.get("/api/models/list/", params={"model_name": c.model}, headers=c.headers))


async def respan_array(c: Cell) -> Reply:
    return await reply(await c.client.get("/api/models/", headers=c.headers))


def webui_form(c: Cell) -> dict[str, Any]:
    return {"id": c.model, "name": "webui-updated", "params": {"top_p": 0.5}, "meta": {"description": "webui"}}


async def webui_seed_update(c: Cell) -> Reply:
    return await reply(await c.client.post("/api/models/model/update", json=webui_form(c), headers=c.headers))


async def webui_v1_update(c: Cell) -> Reply:
    return await reply(await c.client.post("/api/v1/models/model/update", json=webui_form(c), headers=c.headers))


async def webui_get(c: Cell) -> Reply:
    return await reply(await c.client.get("/api/v1/models/model", params={"id": c.model}, headers=c.headers))


async def webui_toggle(c: Cell) -> Reply:
    return await reply(await c.client.post("/api/v1/models/model/toggle", params={"id": c.model}, headers=c.headers))


STAR_WRITE = [{"access_type": "user", "access_id": "*", "permission": "write"}]


async def webui_access_update(c: Cell) -> Reply:
    body = {"id": c.model, "access_grants": STAR_WRITE}
    return await reply(await c.client.post("/api/v1/models/model/access/update", json=body, headers=c.headers))


async def webui_delete(c: Cell) -> Reply:
    return await reply(await c.client.post("/api/v1/models/model/delete", json={"id": c.model}, headers=c.headers))


async def webui_list(c: Cell) -> Reply:
    """Every page (30 per page) gathered into one answer."""
    items: list[Any] = []
    page = 1
    while True:
        r = await c.client.get("/api/v1/models/list", params={"page": page}, headers=c.headers)
        if r.status_code != 200:
            return await reply(r)
        body = r.json()
        if not body["items"]:
            assert body["total"] == len(items), (body["total"], len(items))
            return 200, {"items": items, "total": body["total"]}
        items.extend(body["items"])
        page += 1


async def webui_export(c: Cell) -> Reply:
    return await reply(await c.client.get("/api/v1/models/export", headers=c.headers))


async def webui_import(c: Cell) -> Reply:
    model = {"id": c.model, "name": "imported", "base_model_id": "gpt-4o", "params": {"seed": 7}, "meta": {}}
    return await reply(await c.client.post("/api/v1/models/import", json={"models": [model]}, headers=c.headers))


def in_results(body: Any, c: Cell) -> Any:
    return next((m for m in body["results"] if m["model_name"] == c.model), None)


def in_array(body: Any, c: Cell) -> Any:
    return next((m for m in body if m["model_name"] == c.model), None)


def in_items(body: Any, c: Cell) -> Any:
    return next((m for m in body["items"] if m["id"] == c.model), None)


def in_export(body: Any, c: Cell) -> Any:
    return next((m for m in body if m["id"] == c.model), None)


def import_result(status: str, detail: str | None) -> Callable[[Cell], dict[str, Any]]:
    """An import of one model: its result, or (status "error") the 400 refusing the whole import."""

    def body(c: Cell) -> dict[str, Any]:
        if status == "error":
            message = f"models[0] ({c.model}): {detail}; nothing was imported."
            return {"detail": message, "models": [message]}
        return {"results": [{"id": c.model, "status": status, "detail": detail}], "imported": 1}

    return body


RESPAN_MISSING = {H: R_NOT_FOUND, F: R_NOT_FOUND, A: NO_AUTH}
WEBUI_MISSING = {H: W_NOT_FOUND, F: W_NOT_FOUND, A: NO_AUTH}
RESPAN_READ = {"model_name": NAME, "params": {}, "user_id": OWNER, "display_name": "original", "is_active": ACTIVE}
RESPAN_WRITE = {**RESPAN_READ, "params": PARAMS, "access_grants": GRANTS}
WEBUI_READ = {
    "id": NAME,
    "params": {},
    "user_id": OWNER,
    "name": "original",
    "write_access": False,
    "is_active": ACTIVE,
}
WEBUI_WRITE = {**WEBUI_READ, "params": PARAMS, "write_access": True, "access_grants": GRANTS}
WEBUI_UPDATED = {
    "id": NAME,
    "name": "webui-updated",
    "params": {"top_p": 0.5},
    "meta.description": "webui",
    "base_model_id": "openai/gpt-4o",
    "user_id": OWNER,
    "write_access": True,
    "access_grants": GRANTS,
    "is_active": True,  # the form's is_active defaults to true: an update re-activates (docs/openwebui.md)
}
AFTER_WEBUI_UPDATE = Fields(
    200,
    {
        "is_active": True,
        "display_name": "webui-updated",
        "params": {"top_p": 0.5},
        "meta.description": "webui",
        "user_id": OWNER,
        "access_grants": GRANTS,
    },
)
BUILTIN = "openai/gpt-4o"

ROUTES: dict[str, Route] = {
    "respan GET /api/models/{name}/": Route(
        respan_get,
        {W: Fields(200, RESPAN_WRITE), R: Fields(200, RESPAN_READ), **RESPAN_MISSING},
        builtin=Fields(200, {"model_name": BUILTIN, "params": {}, "user_id": None, "access_grants": []}),
    ),
    "respan PATCH /api/models/{name}/": Route(
        respan_patch,
        {W: Fields(200, {"display_name": "patched", "params": {"temperature": 1}}), R: R_FORBIDDEN, **RESPAN_MISSING},
        after={
            W: Fields(
                200, {"display_name": "patched", "params": {"temperature": 1}, "user_id": OWNER, "is_active": ACTIVE}
            )
        },
        builtin=Exact(403, {"detail": READ_ONLY_MODIFY}),
    ),
    "respan PUT /api/models/{name}/": Route(
        respan_put,
        {W: Fields(200, {"display_name": "replaced", "params": {}}), R: R_FORBIDDEN, **RESPAN_MISSING},
        # PUT resets params and meta; grants, owner and is_active are kept.
        after={
            W: Fields(
                200,
                {
                    "display_name": "replaced",
                    "params": {},
                    "meta.description": ABSENT,
                    "access_grants": GRANTS,
                    "user_id": OWNER,
                    "is_active": ACTIVE,
                },
            )
        },
        builtin=Exact(403, {"detail": READ_ONLY_MODIFY}),
    ),
    "respan DELETE /api/models/{name}/": Route(
        respan_delete,
        {W: Exact(204, None), R: R_FORBIDDEN, **RESPAN_MISSING},
        after={W: GONE},
        builtin=Exact(403, {"detail": READ_ONLY_DELETE}),
    ),
    "respan POST /api/models/ (upsert of an existing name)": Route(
        respan_upsert,
        {
            W: Fields(200, {"display_name": "upserted", "params": PARAMS, "user_id": OWNER}),
            R: R_FORBIDDEN,
            H: R_NOT_FOUND,
            # Another organization's name is free in the caller's own organization: a new model there.
            F: Fields(
                201,
                {
                    "model_name": NAME,
                    "display_name": "upserted",
                    "user_id": CALLER,
                    "access_grants": DEFAULT_WIRE_GRANTS,
                },
            ),
            A: NO_AUTH,
        },
        after={W: Fields(200, {"display_name": "upserted", "params": PARAMS, "user_id": OWNER, "is_active": ACTIVE})},
        builtin=Exact(400, {"detail": BUILTIN_NAME_TAKEN, "model_name": [BUILTIN_NAME_TAKEN]}),
    ),
    "respan POST /api/models/import/": Route(
        respan_import,
        {
            W: Exact(200, respan_import_result("updated")),
            R: Exact(400, respan_import_result("error", R_FORBIDDEN_BODY["detail"])),
            H: Exact(400, respan_import_result("error", R_NOT_FOUND_BODY["detail"])),
            F: Exact(200, respan_import_result("created")),  # a new model in the caller's own organization
            A: NO_AUTH,
        },
        after={W: Fields(200, {"display_name": "imported", "params": PARAMS, "user_id": OWNER, "is_active": ACTIVE})},
        builtin=Exact(400, respan_import_result("error", BUILTIN_NAME_TAKEN)),
    ),
    "respan POST /api/models/list/": Route(
        respan_post_list,
        {
            W: Fields(200, {"params": PARAMS, "user_id": OWNER, "is_active": ACTIVE}),
            R: Fields(200, {"params": {}, "user_id": OWNER, "is_active": ACTIVE}),
            H: Absent(),
            F: Absent(),
            A: Absent(),  # anonymous callers list the built-ins only
        },
        pick=in_results,
        per_caller=True,
    ),
    "respan GET /api/models/list/?model_name=": Route(
        respan_get_list,
        {W: Fields(200, {"params": PARAMS}), R: Fields(200, {"params": {}}), H: Absent(), F: Absent(), A: Absent()},
        pick=in_results,
    ),
    "respan GET /api/models/": Route(
        respan_array,
        {
            W: Fields(200, {"params": PARAMS, "is_active": ACTIVE}),
            R: Fields(200, {"params": {}, "is_active": ACTIVE}),
            H: Absent(),
            F: Absent(),
            A: NO_AUTH,
        },
        pick=in_array,
        per_caller=True,
    ),
    "webui POST /api/models/model/update": Route(
        webui_seed_update,
        {W: Fields(200, WEBUI_UPDATED), R: W_PROHIBITED, **WEBUI_MISSING},
        after={W: AFTER_WEBUI_UPDATE},
        builtin=W_PROHIBITED,
    ),
    "webui POST /api/v1/models/model/update": Route(
        webui_v1_update,
        {W: Fields(200, WEBUI_UPDATED), R: W_PROHIBITED, **WEBUI_MISSING},
        after={W: AFTER_WEBUI_UPDATE},
        builtin=W_PROHIBITED,
    ),
    "webui GET /api/v1/models/model?id=": Route(
        webui_get,
        {W: Fields(200, WEBUI_WRITE), R: Fields(200, WEBUI_READ), **WEBUI_MISSING},
        builtin=Fields(200, {"id": BUILTIN, "params": {}, "write_access": False, "user_id": None}),
    ),
    "webui POST /api/v1/models/model/toggle?id=": Route(
        webui_toggle,
        {W: Fields(200, {"id": NAME, "is_active": TOGGLED, "params": PARAMS}), R: W_PROHIBITED, **WEBUI_MISSING},
        after={W: Fields(200, {"is_active": TOGGLED, "display_name": "original", "params": PARAMS})},
        builtin=W_PROHIBITED,
    ),
    "webui POST /api/v1/models/model/access/update": Route(
        webui_access_update,
        {W: Fields(200, {"id": NAME, "access_grants": STAR_WRITE, "user_id": OWNER}), R: W_PROHIBITED, **WEBUI_MISSING},
        after={
            W: Fields(
                200, {"access_grants": STAR_WRITE, "display_name": "original", "user_id": OWNER, "is_active": ACTIVE}
            )
        },
        builtin=W_PROHIBITED,
    ),
    "webui POST /api/v1/models/model/delete": Route(
        webui_delete,
        {W: Exact(200, True), R: W_PROHIBITED, **WEBUI_MISSING},
        after={W: GONE},
        builtin=W_PROHIBITED,
    ),
    "webui GET /api/v1/models/list": Route(
        webui_list,
        {
            W: Fields(200, {"params": PARAMS, "write_access": True, "user_id": OWNER, "is_active": ACTIVE}),
            R: Fields(200, {"params": {}, "write_access": False, "user_id": OWNER, "is_active": ACTIVE}),
            H: Absent(),
            F: Absent(),
            A: NO_AUTH,
        },
        pick=in_items,
        per_caller=True,
    ),
    "webui GET /api/v1/models/export": Route(
        webui_export,
        {W: Fields(200, {"params": PARAMS, "user_id": OWNER}), R: Absent(), H: Absent(), F: Absent(), A: NO_AUTH},
        pick=in_export,
        per_caller=True,
    ),
    "webui POST /api/v1/models/import": Route(
        webui_import,
        {
            W: Exact(200, import_result("updated", None)),
            R: Exact(400, import_result("error", "Access prohibited")),
            H: Exact(400, import_result("error", "Model not found")),
            F: Exact(200, import_result("created", None)),  # a new model in the caller's own organization
            A: NO_AUTH,
        },
        after={
            W: Fields(200, {"display_name": "imported", "params": {"seed": 7}, "user_id": OWNER, "is_active": True})
        },
        builtin=Exact(400, import_result("error", BUILTIN_NAME_TAKEN)),
    ),
}


# ---- running the matrix ----------------------------------------------------------------------------------------


async def matrix_world(env: Env) -> World:
    return await build_world(env.database_url, MEMBERS, GROUPS)


async def make_targets(env: Env, world: World) -> dict[tuple[str, str], tuple[str, list[dict[str, str]]]]:
    """(caller, kind) -> (model name, grants as answered), one fresh model each, all created by the owner."""
    targets = {}
    for number, (caller, kind) in enumerate((caller, kind) for caller in ACCESS for kind in KINDS):
        name = f"m{number:02d}-{kind}-{caller}"
        grants = target_grants(world, kind)
        created = await create_model(env.client, world["owner"], name, grants, **ORIGINAL, is_active=kind != "inactive")
        assert created["user_id"] == world["owner"].user_id and created["is_active"] is (kind != "inactive")
        assert grant_set(created["access_grants"]) == grant_set(DEFAULT_WIRE_GRANTS if grants is None else grants)
        targets[caller, kind] = name, created["access_grants"]
    return targets


async def owner_view(cell: Cell) -> Reply:
    return await reply(await cell.client.get(path(cell), headers=cell.owner.headers))


@pytest.mark.parametrize("route_id", list(ROUTES))
async def test_access_matrix(env: Env, route_id: str) -> None:
    route = ROUTES[route_id]
    world = await matrix_world(env)
    targets = await make_targets(env, world)
    problems: list[str] = []
    cached: dict[str, Reply] = {}
    for label, levels in ACCESS.items():
        for kind, level in zip(KINDS, levels, strict=True):
            name, grants = targets[label, kind]
            cell = Cell(env.client, world, world[label], kind, level, name, grants)
            if route.per_caller:
                if label not in cached:
                    cached[label] = await route.send(cell)
                status, body = cached[label]
            else:
                status, body = await route.send(cell)
            wrong = mismatches(route.expect[level], status, body, cell, route.pick)
            if wrong:
                problems.append(f"{cell}: {wrong}")
            after = route.after.get(level, UNCHANGED)
            status, body = await owner_view(cell)
            wrong = mismatches(after, status, body, cell, None)
            if wrong:
                problems.append(f"{cell}, then the owner sees: {wrong}")
    assert not problems, f"{route_id}:\n" + "\n".join(problems)


BUILTIN_CALLERS = ("owner", "admin", "reader_direct", "outsider", "other_admin")


@pytest.mark.parametrize("route_id", [r for r, route in ROUTES.items() if route.builtin is not None])
async def test_builtins_are_readable_by_all_and_writable_by_none(env: Env, route_id: str) -> None:
    route = ROUTES[route_id]
    assert route.builtin is not None
    world = await matrix_world(env)
    before = (await env.client.get(f"/api/models/{BUILTIN}/", headers=world["admin"].headers)).json()
    problems = []
    for label in (*BUILTIN_CALLERS, "anonymous"):
        cell = Cell(env.client, world, world[label], "builtin", A if label == "anonymous" else W, BUILTIN, [])
        expected = NO_AUTH if label == "anonymous" else route.builtin
        status, body = await route.send(cell)
        wrong = mismatches(expected, status, body, cell, route.pick)
        if wrong:
            problems.append(f"{label}: {wrong}")
    after = (await env.client.get(f"/api/models/{BUILTIN}/", headers=world["outsider"].headers)).json()
    assert after == before
    assert not problems, f"{route_id}:\n" + "\n".join(problems)


async def test_builtin_by_bare_name_in_both_dialects(env: Env) -> None:
    world = await matrix_world(env)
    for label in BUILTIN_CALLERS:
        headers = world[label].headers
        respan = await env.client.get("/api/models/gpt-4o/", headers=headers)
        webui = await env.client.get("/api/v1/models/model", params={"id": "gpt-4o"}, headers=headers)
        assert respan.status_code == webui.status_code == 200, label
        assert respan.json()["model_name"] == webui.json()["id"] == BUILTIN
        assert webui.json()["write_access"] is False and webui.json()["params"] == {}
        created = await env.client.post(
            "/api/v1/models/create",
            json={"id": "gpt-4o", "name": "mine", "params": {}, "meta": {}, "base_model_id": "gpt-4o"},
            headers=headers,
        )
        assert created.status_code == 400 and created.json() == {"detail": ID_TAKEN, "id": [ID_TAKEN]}, label


def test_matrix_covers_every_model_route(catalog: Catalog) -> None:
    """A route added to either dialect with a model id or name must get a row in ROUTES."""
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"), catalog)
    paths = {(m, r.path) for r in app.routes for m in getattr(r, "methods", ()) if m not in ("HEAD", "OPTIONS")}
    model_paths = {
        (m, p) for m, p in paths if p.startswith(("/api/models", "/api/v1/models")) and "/public" not in p
    } - {("POST", "/api/v1/models/create"), ("GET", "/api/models/summary"), ("POST", "/api/models/summary")}
    # POST /api/models/{name}/status/: the measured series, not a model operation (test_metering_cases.py covers
    # its visibility: unreadable answers exactly like missing).
    model_paths -= {("POST", "/api/models/{model_name:path}")}
    covered = {
        ("GET", "/api/models/{model_name:path}"),
        ("PATCH", "/api/models/{model_name:path}"),
        ("PUT", "/api/models/{model_name:path}"),
        ("DELETE", "/api/models/{model_name:path}"),
        ("POST", "/api/models"),
        ("POST", "/api/models/import"),
        ("POST", "/api/models/list"),
        ("GET", "/api/models/list"),
        ("GET", "/api/models"),
        ("POST", "/api/models/model/update"),
        ("POST", "/api/v1/models/model/update"),
        ("GET", "/api/v1/models/model"),
        ("POST", "/api/v1/models/model/toggle"),
        ("POST", "/api/v1/models/model/access/update"),
        ("POST", "/api/v1/models/model/delete"),
        ("GET", "/api/v1/models/list"),
        ("GET", "/api/v1/models/export"),
        ("POST", "/api/v1/models/import"),
    }
    assert len(covered) == len(ROUTES)
    assert model_paths == covered, sorted(model_paths ^ covered)


# ---- base models, grants, ownership, groups -----------------------------------------------------------------

BASE_NOT_FOUND = {"detail": "Base model not found", "error": "Base model not found"}


async def test_base_model_the_caller_cannot_read_is_not_found(env: Env) -> None:
    """base_model_name / base_model_id naming a custom model the caller cannot read answers exactly like a
    missing base, in both dialects, on create and on update; nothing is stored."""
    world = await matrix_world(env)
    owner, stranger, outsider = world["owner"], world["stranger"], world["outsider"]
    await create_model(env.client, owner, "private-base", [])
    await create_model(env.client, owner, "shared-base")  # default grants: readable by the organization
    await create_model(env.client, stranger, "strangers-own")
    await create_model(env.client, outsider, "outsiders-own")
    client = env.client

    async def respan_create(person: Person, name: str, base: str) -> Reply:
        body = {"model_name": name, "base_model_name": base}
        return await reply(await client.post("/api/models/", json=body, headers=person.headers))

    async def respan_patch(person: Person, name: str, base: str) -> Reply:
        body = {"base_model_name": base}
        return await reply(await client.patch(f"/api/models/{name}/", json=body, headers=person.headers))

    async def respan_put(person: Person, name: str, base: str) -> Reply:
        body = {"base_model_name": base}
        return await reply(await client.put(f"/api/models/{name}/", json=body, headers=person.headers))

    async def webui_create(person: Person, name: str, base: str) -> Reply:
        body = {"id": name, "name": name, "base_model_id": base, "params": {}, "meta": {}}
        return await reply(await client.post("/api/v1/models/create", json=body, headers=person.headers))

    async def webui_update(person: Person, name: str, base: str) -> Reply:
        body = {"id": name, "name": name, "base_model_id": base, "params": {}, "meta": {}}
        return await reply(await client.post("/api/models/model/update", json=body, headers=person.headers))

    problems = []
    cases = [
        (stranger, "strangers-own", "private-base"),  # same organization, no grant
        (outsider, "outsiders-own", "private-base"),  # another organization's model
        (outsider, "outsiders-own", "shared-base"),  # "*" is only every member of *its* organization
    ]
    for person, own, base in cases:
        for send, name in (
            (respan_create, "new-child"),
            (webui_create, "new-child"),
            (respan_patch, own),
            (respan_put, own),
            (webui_update, own),
        ):
            unreadable = await send(person, name, base)
            missing = await send(person, name, "no-such-base-model")
            if unreadable != (400, BASE_NOT_FOUND) or missing != unreadable:
                problems.append(f"{person.label} {send.__name__} base={base}: {unreadable} (missing: {missing})")
        gone = await client.get("/api/models/new-child/", headers=person.headers)
        assert gone.status_code == 404, f"a refused create stored a model for {person.label}"
        kept = (await client.get(f"/api/models/{own}/", headers=person.headers)).json()
        assert kept["base_model_name"] == "openai/gpt-4o", kept
    assert not problems, "\n".join(problems)

    # What the caller can read is a valid base, in both dialects; the admin reads everything.
    r = await respan_create(stranger, "child-of-shared", "shared-base")
    assert r[0] == 201 and r[1]["base_model_name"] == "shared-base", r
    r = await webui_update(stranger, "strangers-own", "shared-base")
    assert r[0] == 200 and r[1]["base_model_id"] == "shared-base", r
    r = await respan_create(world["admin"], "admins-child", "private-base")
    assert r[0] == 201 and r[1]["base_model_name"] == "private-base", r
    r = await webui_create(owner, "owners-child", "private-base")
    assert r[0] == 200 and r[1]["base_model_id"] == "private-base", r


async def test_grants_may_only_name_the_organizations_users_and_groups(env: Env) -> None:
    world = await matrix_world(env)
    owner, client = world["owner"], env.client
    await create_model(env.client, owner, "guarded", [grant("user", world["reader_direct"].user_id, "read")])
    foreign_user = world["outsider"].user_id
    foreign_group = world.groups["b_team"]
    refused = [
        ("user", foreign_user, f"unknown user in access grant: {foreign_user}"),
        ("user", world["other_admin"].user_id, f"unknown user in access grant: {world['other_admin'].user_id}"),
        ("group", foreign_group, f"unknown group in access grant: {foreign_group}"),
        ("user", "usr_does_not_exist", "unknown user in access grant: usr_does_not_exist"),
        ("group", "grp_does_not_exist", "unknown group in access grant: grp_does_not_exist"),
        # A user id is not a group id, and the other way round.
        ("group", world["reader_direct"].user_id, f"unknown group in access grant: {world['reader_direct'].user_id}"),
        ("user", world.groups["readers"], f"unknown user in access grant: {world.groups['readers']}"),
    ]
    problems = []
    for kind, ident, message in refused:
        expected = (400, {"detail": message, "access_grants": [message]})
        legacy = {"access_type": kind, "access_id": ident, "permission": "read"}
        current = {"principal_type": kind, "principal_id": ident, "permission": "write"}
        attempts: dict[str, Any] = {
            "respan create": client.post(
                "/api/models/",
                json={"model_name": "new-one", "base_model_name": "gpt-4o", "access_grants": [legacy]},
                headers=owner.headers,
            ),
            "respan patch": client.patch(
                "/api/models/guarded/", json={"access_grants": [current]}, headers=owner.headers
            ),
            "respan put": client.put(
                "/api/models/guarded/",
                json={"base_model_name": "gpt-4o", "access_grants": [legacy]},
                headers=owner.headers,
            ),
            "webui create": client.post(
                "/api/v1/models/create",
                json={
                    "id": "new-one",
                    "name": "n",
                    "base_model_id": "gpt-4o",
                    "params": {},
                    "meta": {},
                    "access_grants": [current],
                },
                headers=owner.headers,
            ),
            "webui update": client.post(
                "/api/models/model/update",
                json={"id": "guarded", "name": "n", "params": {}, "meta": {}, "access_grants": [legacy]},
                headers=owner.headers,
            ),
            "webui access/update": client.post(
                "/api/v1/models/model/access/update",
                json={"id": "guarded", "access_grants": [current]},
                headers=world["admin"].headers,
            ),
        }
        for what, request in attempts.items():
            got = await reply(await request)
            if got != expected:
                problems.append(f"{what} {kind}:{ident}: {got} != {expected}")
        imported = await client.post(
            "/api/v1/models/import",
            json={"models": [{"id": "guarded", "name": "n", "params": {}, "meta": {}, "access_grants": [legacy]}]},
            headers=owner.headers,
        )
        refused = f"models[0] (guarded): {message}; nothing was imported."
        assert (imported.status_code, imported.json()) == (400, {"detail": refused, "models": [refused]})
    assert not problems, "\n".join(problems)
    after = (await client.get("/api/models/guarded/", headers=owner.headers)).json()
    assert after["access_grants"] == [grant("user", world["reader_direct"].user_id, "read")]
    assert after["display_name"] != "n"
    assert (await client.get("/api/models/new-one/", headers=owner.headers)).status_code == 404
    # Control: the organization's own users, groups and "*" are accepted.
    ok = [
        grant("user", world["stranger"].user_id, "read"),
        grant("group", world.groups["bystanders"], "write"),
        grant("user", "*", "read"),
    ]
    r = await client.patch("/api/models/guarded/", json={"access_grants": ok}, headers=owner.headers)
    assert r.status_code == 200 and grant_set(r.json()["access_grants"]) == grant_set(ok)


async def test_readers_cannot_change_grants_writers_can(env: Env) -> None:
    world = await matrix_world(env)
    owner, reader, writer, client = world["owner"], world["reader_direct"], world["writer_group"], env.client
    grants = target_grants(world, "shared")
    assert grants is not None
    await create_model(env.client, owner, "shared", grants)
    escalate = [grant("user", reader.user_id, "write")]
    attempts = {
        "respan PATCH": (
            client.patch("/api/models/shared/", json={"access_grants": escalate}, headers=reader.headers),
            403,
        ),
        "respan PUT": (
            client.put(
                "/api/models/shared/",
                json={"base_model_name": "gpt-4o", "access_grants": escalate},
                headers=reader.headers,
            ),
            403,
        ),
        "respan upsert": (
            client.post(
                "/api/models/", json={"model_name": "shared", "access_grants": escalate}, headers=reader.headers
            ),
            403,
        ),
        "webui access/update": (
            client.post(
                "/api/v1/models/model/access/update",
                json={"id": "shared", "access_grants": escalate},
                headers=reader.headers,
            ),
            400,
        ),
        "webui update": (
            client.post(
                "/api/models/model/update",
                json={"id": "shared", "name": "x", "params": {}, "meta": {}, "access_grants": escalate},
                headers=reader.headers,
            ),
            400,
        ),
    }
    for what, (request, status) in attempts.items():
        r = await request
        assert r.status_code == status, (what, r.status_code, r.text)
        assert r.json() == (R_FORBIDDEN_BODY if status == 403 else W_PROHIBITED_BODY), what
    imported = await client.post(
        "/api/v1/models/import",
        json={"models": [{"id": "shared", "name": "x", "params": {}, "meta": {}, "access_grants": escalate}]},
        headers=reader.headers,
    )
    assert imported.status_code == 400
    assert imported.json()["detail"] == "models[0] (shared): Access prohibited; nothing was imported."
    after = (await client.get("/api/models/shared/", headers=owner.headers)).json()
    assert grant_set(after["access_grants"]) == grant_set(grants)
    still = await client.patch("/api/models/shared/", json={"display_name": "x"}, headers=reader.headers)
    assert still.status_code == 403  # the escalation did not happen

    # A write grant (here through a group) includes changing the grants, in both dialects.
    r = await client.post(
        "/api/v1/models/model/access/update", json={"id": "shared", "access_grants": escalate}, headers=writer.headers
    )
    assert r.status_code == 200 and r.json()["access_grants"] == escalate
    assert (
        await client.patch("/api/models/shared/", json={"display_name": "x"}, headers=reader.headers)
    ).status_code == 200
    # ... and the writer, whose group grant is gone now, answers like a stranger.
    assert (await client.get("/api/models/shared/", headers=writer.headers)).json() == R_NOT_FOUND_BODY


async def test_owner_and_organization_never_come_from_a_body(env: Env) -> None:
    world = await matrix_world(env)
    owner, writer, admin, client = world["owner"], world["writer_direct"], world["admin"], env.client
    grants = [grant("user", writer.user_id, "write")]
    created = await create_model(
        env.client,
        owner,
        "owned",
        grants,
        user_id=admin.user_id,
        organization_id=world.orgs["b"],
        owner_user_id=admin.user_id,
    )
    assert created["user_id"] == owner.user_id
    hijack = {"user_id": writer.user_id, "owner_user_id": writer.user_id, "organization_id": world.orgs["b"]}
    writes = [
        (writer, client.patch("/api/models/owned/", json={**hijack, "display_name": "w1"}, headers=writer.headers)),
        (
            admin,
            client.put(
                "/api/models/owned/",
                json={**hijack, "base_model_name": "gpt-4o", "display_name": "w2"},
                headers=admin.headers,
            ),
        ),
        (writer, client.post("/api/models/", json={**hijack, "model_name": "owned"}, headers=writer.headers)),
        (
            writer,
            client.post(
                "/api/models/model/update",
                json={**hijack, "id": "owned", "name": "w3", "params": {}, "meta": {}},
                headers=writer.headers,
            ),
        ),
        (
            admin,
            client.post(
                "/api/v1/models/model/access/update",
                json={**hijack, "id": "owned", "access_grants": grants},
                headers=admin.headers,
            ),
        ),
        (writer, client.post("/api/v1/models/model/toggle", params={"id": "owned"}, headers=writer.headers)),
    ]
    for person, request in writes:
        r = await request
        assert r.status_code == 200, (person.label, r.text)
        assert r.json()["user_id"] == owner.user_id, (person.label, r.json())
    imported = await client.post(
        "/api/v1/models/import",
        json={"models": [{**hijack, "id": "owned", "name": "w4", "params": {}, "meta": {}}]},
        headers=writer.headers,
    )
    assert imported.json()["results"] == [{"id": "owned", "status": "updated", "detail": None}]
    view = (await client.get("/api/models/owned/", headers=owner.headers)).json()
    assert view["user_id"] == owner.user_id and view["display_name"] == "w4"
    assert (await client.get("/api/models/owned/", headers=world["other_admin"].headers)).status_code == 404

    # Created through Open WebUI with someone else's user_id: the caller is the owner.
    r = await client.post(
        "/api/v1/models/create",
        json={
            **hijack,
            "id": "by-writer",
            "name": "x",
            "base_model_id": "gpt-4o",
            "params": {},
            "meta": {},
            "user_id": admin.user_id,
        },
        headers=writer.headers,
    )
    assert r.status_code == 200 and r.json()["user_id"] == writer.user_id
    # Proof that ownership stayed with the owner: once the owner drops the writer's grant, the writer is a stranger.
    r = await client.patch("/api/models/owned/", json={"access_grants": []}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["user_id"] == owner.user_id
    assert (await client.get("/api/models/owned/", headers=writer.headers)).json() == R_NOT_FOUND_BODY
    webui = await client.get("/api/v1/models/model", params={"id": "owned"}, headers=writer.headers)
    assert (webui.status_code, webui.json()) == (401, W_NOT_FOUND_BODY)


async def test_group_membership_changes_take_effect_at_once(env: Env) -> None:
    """Through the admin endpoints: adding a member grants the group's access on the very next request,
    removing one takes it away, for retrieve and lists in both dialects."""
    world = await matrix_world(env)
    admin, owner, member, client = world["admin"], world["owner"], world["stranger"], env.client
    r = await client.post("/api/admin/groups/", json={"name": "late-joiners"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    await create_model(env.client, owner, "by-group", [grant("group", group, "read")], params=PARAMS)
    await create_model(env.client, owner, "by-group-w", [grant("group", group, "write")], params=PARAMS)

    async def sees() -> dict[str, Any]:
        respan = await client.get("/api/models/by-group/", headers=member.headers)
        webui = await client.get("/api/v1/models/model", params={"id": "by-group"}, headers=member.headers)
        listed = await client.post(
            "/api/models/list/", params={"all": "true"}, json={"filters": CUSTOM_ONLY}, headers=member.headers
        )
        webui_list = await client.get("/api/v1/models/list", headers=member.headers)
        patch = await client.patch("/api/models/by-group-w/", json={"input_cost": 1}, headers=member.headers)
        return {
            "respan": (respan.status_code, respan.json().get("params")),
            "webui": (webui.status_code, webui.json().get("params")),
            "listed": sorted(m["model_name"] for m in listed.json()["results"]),
            "webui_list": sorted(m["id"] for m in webui_list.json()["items"]),
            "patch": patch.status_code,
        }

    outside = {"respan": (404, None), "webui": (401, None), "listed": [], "webui_list": [], "patch": 404}
    inside = {
        "respan": (200, {}),
        "webui": (200, {}),
        "listed": ["by-group", "by-group-w"],
        "webui_list": ["by-group", "by-group-w"],
        "patch": 200,
    }
    assert await sees() == outside  # the member is authenticated (and cached) before the change
    r = await client.post(f"/api/admin/groups/{group}/members", json={"user_id": member.user_id}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["member_ids"] == [member.user_id]
    assert await sees() == inside
    r = await client.delete(f"/api/admin/groups/{group}/members/{member.user_id}", headers=admin.headers)
    assert r.status_code == 204
    assert await sees() == outside
    r = await client.post(f"/api/admin/groups/{group}/members", json={"email": member.email}, headers=admin.headers)
    assert r.status_code == 200
    assert await sees() == inside
