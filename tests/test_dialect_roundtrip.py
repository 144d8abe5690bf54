"""One record, two dialects: what one writes the other reads (issue 4).

Mapping (api/openwebui/schemas.py): id = model_name, name = display_name, base_model_id = base_model_name,
meta.capabilities.vision / .function_calling / .streaming = image_support / function_call / streaming_support
(booleans in Open WebUI, 0/1 in Respan), other capability and meta keys kept as given, created_at / updated_at
unix seconds (Open WebUI) vs ISO-8601 (Respan); params, meta, access_grants, is_active and user_id in both.
Also: seed 004's example request verbatim, toggle, import, export and /create.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from access_helpers import Person, World, build_world, create_model, grant, grant_set, unix
from conftest import Env
from modelreg.catalog.load import Catalog
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.rows import GroupRow, UserRow

MEMBERS = {
    "owner": ("a", "member", ()),
    "reader": ("a", "member", ()),
    "writer": ("a", "member", ("editors",)),
    "stranger": ("a", "member", ()),
    "outsider": ("b", "member", ()),
}
GROUPS = {"editors": "a"}
ID_TAKEN = "Uh-oh! This model id is already registered. Please choose another model id string."
WEBUI_KEYS = {
    "id", "user_id", "base_model_id", "name", "params", "meta", "access_grants", "is_active", "created_at",
    "updated_at", "write_access", "throughput", "pricing_tiers",
}  # fmt: skip


async def world_of(env: Env) -> World:
    return await build_world(env.database_url, MEMBERS, GROUPS)


async def respan_get(env: Env, person: Person, name: str) -> dict[str, Any]:
    r = await env.client.get(f"/api/models/{name}/", headers=person.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def webui_get(env: Env, person: Person, name: str) -> dict[str, Any]:
    r = await env.client.get("/api/v1/models/model", params={"id": name}, headers=person.headers)
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert set(body) == WEBUI_KEYS, sorted(set(body) ^ WEBUI_KEYS)
    return body


def flags(model: dict[str, Any]) -> tuple[Any, Any, Any]:
    return model["image_support"], model["function_call"], model["streaming_support"]


def capabilities(model: dict[str, Any]) -> dict[str, Any]:
    return dict(model["meta"]["capabilities"])


# ---- Respan -> Open WebUI ----------------------------------------------------------------------------------


async def test_respan_write_webui_read(env: Env, catalog: Catalog) -> None:
    world = await world_of(env)
    owner, reader = world["owner"], world["reader"]
    editors = world.groups["editors"]
    meta = {
        "description": "tuned for support",
        "profile_image_url": "/static/support.png",
        "tags": [{"name": "support"}],
        "capabilities": {"json_mode": True, "citations": False, "vision": True},  # the flag below wins over vision
    }
    created = await create_model(
        env.client,
        owner,
        "support-bot",
        # Open WebUI 0.12's form, mixed with the seed's form.
        [
            {"principal_type": "user", "principal_id": reader.user_id, "permission": "read"},
            {"access_type": "group", "access_id": editors, "permission": "write"},
        ],
        display_name="Support Bot",
        image_support=0,
        function_call=1,
        streaming_support=0,
        params={"temperature": 0.2, "system": "You answer support questions."},
        meta=meta,
        is_active=False,
    )
    webui = await webui_get(env, owner, "support-bot")
    expected_grants = [grant("user", reader.user_id, "read"), grant("group", editors, "write")]
    assert webui["id"] == created["model_name"] == "support-bot"
    assert webui["name"] == created["display_name"] == "Support Bot"
    assert webui["base_model_id"] == created["base_model_name"] == "openai/gpt-4o"
    assert webui["user_id"] == created["user_id"] == owner.user_id
    assert webui["params"] == created["params"] == {"temperature": 0.2, "system": "You answer support questions."}
    assert webui["is_active"] is created["is_active"] is False
    assert webui["write_access"] is True
    assert grant_set(webui["access_grants"]) == grant_set(created["access_grants"]) == grant_set(expected_grants)
    assert all(set(g) == {"access_type", "access_id", "permission"} for g in webui["access_grants"])
    assert (
        webui["meta"]
        == created["meta"]
        == {
            "description": "tuned for support",
            "profile_image_url": "/static/support.png",
            "tags": [{"name": "support"}],
            "capabilities": {
                "vision": False,
                "function_calling": True,
                "streaming": False,
                "json_mode": True,
                "citations": False,
            },
        }
    )
    assert flags(created) == (0, 1, 0)
    assert webui["created_at"] == unix(created["created_at"]) and isinstance(webui["created_at"], int)
    assert webui["updated_at"] == unix(created["updated_at"])
    assert created["created_at"].endswith("Z")

    # Clearing flags (null) makes them inherit from the base: both views show the base's values.
    base = catalog.models["openai/gpt-4o"]
    r = await env.client.patch(
        "/api/models/support-bot/",
        json={"image_support": None, "function_call": None, "streaming_support": None},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert flags(r.json()) == (base.image_support, base.function_call, base.streaming_support)
    webui = await webui_get(env, owner, "support-bot")
    assert capabilities(webui) == {
        "vision": bool(base.image_support),
        "function_calling": bool(base.function_call),
        "streaming": bool(base.streaming_support),
        "json_mode": True,
        "citations": False,
    }
    assert webui["updated_at"] == unix(r.json()["updated_at"]) >= webui["created_at"]

    # meta.capabilities set the flags when the flag fields are absent (Respan accepts either).
    r = await env.client.patch(
        "/api/models/support-bot/",
        json={"meta": {"capabilities": {"vision": False, "streaming": True, "function_calling": False, "x": 1}}},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    assert flags(r.json()) == (0, 0, 1)
    assert r.json()["meta"] == {
        "capabilities": {"vision": False, "function_calling": False, "streaming": True, "x": 1},
        "profile_image_url": "/static/favicon.png",  # the default shown when unset (issue 10, defect 8)
    }
    assert capabilities(await webui_get(env, owner, "support-bot")) == capabilities(r.json())

    # While inactive, the writer (group "editors") sees it, marked inactive; the reader does not (docs/openwebui.md).
    writer = world["writer"]
    as_writer = await webui_get(env, writer, "support-bot")
    assert as_writer["is_active"] is False and as_writer["write_access"] is True
    assert (await respan_get(env, writer, "support-bot"))["is_active"] is False
    hidden = await env.client.get("/api/v1/models/model", params={"id": "support-bot"}, headers=reader.headers)
    assert (hidden.status_code, hidden.json()) == (401, {"detail": "Model not found"})
    # Active again: the reader sees the same record without params, in both views.
    r = await env.client.patch("/api/models/support-bot/", json={"is_active": True}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    as_reader = await webui_get(env, reader, "support-bot")
    assert as_reader["params"] == {} and as_reader["write_access"] is False
    assert (await respan_get(env, reader, "support-bot"))["params"] == {}
    assert as_reader["meta"] == r.json()["meta"] and as_reader["is_active"] is True

    # PUT takes params, meta, access_grants and is_active as well; Open WebUI reads what PUT stored.
    put = {
        "base_model_name": "gpt-4o",
        "display_name": "Replaced",
        "params": {"stop": ["\n"]},
        "meta": {"description": "replaced", "capabilities": {"function_calling": False, "json_mode": False}},
        "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}],
        "is_active": True,
    }
    r = await env.client.put("/api/models/support-bot/", json=put, headers=owner.headers)
    assert r.status_code == 200, r.text
    webui = await webui_get(env, owner, "support-bot")
    assert (webui["name"], webui["params"], webui["is_active"]) == ("Replaced", {"stop": ["\n"]}, True)
    assert webui["access_grants"] == [grant("user", "*", "read")]
    assert webui["meta"] == {
        "description": "replaced",
        "profile_image_url": "/static/favicon.png",
        "capabilities": {
            "vision": bool(base.image_support),  # PUT reset the flag: inherited again
            "function_calling": False,
            "streaming": bool(base.streaming_support),
            "json_mode": False,
        },
    }
    assert webui["user_id"] == owner.user_id and webui["updated_at"] == unix(r.json()["updated_at"])


# ---- Open WebUI -> Respan ----------------------------------------------------------------------------------


async def test_webui_write_respan_read(env: Env, catalog: Catalog) -> None:
    world = await world_of(env)
    owner, reader = world["owner"], world["reader"]
    editors = world.groups["editors"]
    base = catalog.models["openai/gpt-4o"]
    form = {
        "id": "webui-made",
        "name": "Made in Open WebUI",
        "base_model_id": "gpt-4o",
        "params": {"temperature": 0.9, "max_tokens": 512},
        "meta": {
            "description": "from the workspace",
            "profile_image_url": "data:image/png;base64,AAAA",
            "capabilities": {"vision": False, "function_calling": True, "json_mode": True, "usage": {"x": 1}},
            "toolIds": ["web"],
        },
        "access_grants": [
            {"principal_type": "group", "principal_id": editors, "permission": "write"},
            {"principal_type": "user", "principal_id": reader.user_id, "permission": "read"},
        ],
        "is_active": False,
    }
    r = await env.client.post("/api/v1/models/create", json=form, headers=owner.headers)
    assert r.status_code == 200, r.text
    answered = r.json()
    assert set(answered) == WEBUI_KEYS
    assert grant_set(answered["access_grants"]) == {
        ("group", editors, "write"),
        ("user", reader.user_id, "read"),
    }
    assert all(set(g) == {"access_type", "access_id", "permission"} for g in answered["access_grants"])

    respan = await respan_get(env, owner, "webui-made")
    assert respan["model_name"] == "webui-made"
    assert respan["display_name"] == "Made in Open WebUI"
    assert respan["base_model_name"] == "openai/gpt-4o"  # stored canonical (docs/decisions.md)
    assert respan["user_id"] == owner.user_id
    assert respan["params"] == {"temperature": 0.9, "max_tokens": 512}
    assert respan["is_active"] is False
    assert grant_set(respan["access_grants"]) == grant_set(answered["access_grants"])
    # vision false -> 0, function_calling true -> 1, streaming absent -> inherited from the base.
    assert flags(respan) == (0, 1, base.streaming_support)
    assert respan["meta"] == {
        "description": "from the workspace",
        "profile_image_url": "data:image/png;base64,AAAA",
        "toolIds": ["web"],
        "capabilities": {
            "vision": False,
            "function_calling": True,
            "streaming": bool(base.streaming_support),
            "json_mode": True,
            "usage": {"x": 1},
        },
    }
    assert respan["meta"] == answered["meta"]
    assert unix(respan["created_at"]) == answered["created_at"]
    assert unix(respan["updated_at"]) == answered["updated_at"]
    # Other Respan fields resolve through the base.
    assert respan["input_cost"] == base.input_cost and respan["provider"]["provider_id"] == "openai"

    # The seed's update: meta replaces (a capability left out inherits again), base_model_id kept when omitted.
    update = {
        "id": "webui-made",
        "name": "Renamed",
        "params": {"top_p": 0.5},
        "meta": {"capabilities": {"vision": True}},
        "is_active": True,
    }
    r = await env.client.post("/api/models/model/update", json=update, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["base_model_id"] == "openai/gpt-4o"
    respan = await respan_get(env, owner, "webui-made")
    assert respan["display_name"] == "Renamed" and respan["params"] == {"top_p": 0.5} and respan["is_active"] is True
    assert flags(respan) == (1, base.function_call, base.streaming_support)
    assert respan["meta"] == {
        "profile_image_url": "/static/favicon.png",
        "capabilities": {
            "vision": True,
            "function_calling": bool(base.function_call),
            "streaming": bool(base.streaming_support),
        },
    }
    assert unix(respan["updated_at"]) == r.json()["updated_at"] >= r.json()["created_at"] == answered["created_at"]
    assert grant_set(respan["access_grants"]) == grant_set(answered["access_grants"])  # not sent: kept

    # A non-boolean capability is refused, in both dialects; nothing changes.
    bad = {**update, "meta": {"capabilities": {"vision": 1}}}
    r = await env.client.post("/api/models/model/update", json=bad, headers=owner.headers)
    assert r.status_code == 400 and r.json()["detail"] == "meta.capabilities.vision must be a boolean"
    r = await env.client.patch(
        "/api/models/webui-made/", json={"meta": {"capabilities": {"streaming": "yes"}}}, headers=owner.headers
    )
    assert r.status_code == 400 and r.json()["detail"] == "meta.capabilities.streaming must be a boolean"
    assert (await respan_get(env, owner, "webui-made"))["meta"] == respan["meta"]


async def test_grants_in_either_form_are_answered_in_the_seeds_form(env: Env) -> None:
    world = await world_of(env)
    owner, reader, stranger = world["owner"], world["reader"], world["stranger"]
    editors = world.groups["editors"]
    await create_model(env.client, owner, "forms")
    principal_form = [
        {"principal_type": "group", "principal_id": editors, "permission": "read"},
        {"principal_type": "user", "principal_id": "*", "permission": "read"},
        {"principal_type": "user", "principal_id": stranger.user_id, "permission": "write"},
    ]
    seed_form = {
        ("group", editors, "read"),
        ("user", "*", "read"),
        ("user", stranger.user_id, "write"),
    }
    for path, body in (
        ("/api/v1/models/model/access/update", {"id": "forms", "access_grants": principal_form}),
        (
            "/api/models/model/update",
            {"id": "forms", "name": "f", "params": {}, "meta": {}, "access_grants": principal_form},
        ),
        (
            "/api/v1/models/model/update",
            {"id": "forms", "name": "f", "params": {}, "meta": {}, "access_grants": principal_form},
        ),
    ):
        await env.client.post(
            "/api/v1/models/model/access/update", json={"id": "forms", "access_grants": []}, headers=owner.headers
        )
        r = await env.client.post(path, json=body, headers=owner.headers)
        assert r.status_code == 200, (path, r.text)
        assert grant_set(r.json()["access_grants"]) == seed_form, path
        assert all(set(g) == {"access_type", "access_id", "permission"} for g in r.json()["access_grants"])
        assert grant_set((await respan_get(env, owner, "forms"))["access_grants"]) == seed_form
    r = await env.client.patch("/api/models/forms/", json={"access_grants": principal_form[:1]}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["access_grants"] == [grant("group", editors, "read")]
    # Duplicates collapse; the same grant in both forms is one grant.
    twice = [principal_form[1], {"access_type": "user", "access_id": "*", "permission": "read"}]
    r = await env.client.patch("/api/models/forms/", json={"access_grants": twice}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["access_grants"] == [grant("user", "*", "read")]
    # /model/access/update may rename too (its optional `name`), and keeps everything else.
    r = await env.client.post(
        "/api/v1/models/model/access/update",
        json={"id": "forms", "name": "Renamed by access", "access_grants": principal_form[1:2]},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed by access"
    assert r.json()["access_grants"] == [grant("user", "*", "read")]
    assert (await respan_get(env, owner, "forms"))["display_name"] == "Renamed by access"
    # The grants work as given: "*" read lets the reader in without params.
    assert (await webui_get(env, reader, "forms"))["params"] == {}


# ---- created without grants, explicit [], inactive models ---------------------------------------------------


async def test_default_and_private_grants_in_both_dialects(env: Env) -> None:
    world = await world_of(env)
    owner, reader, admin = world["owner"], world["reader"], world["admin"]
    r = await env.client.post(
        "/api/v1/models/create",
        json={"id": "w-default", "name": "d", "base_model_id": "gpt-4o", "params": {}, "meta": {}},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json()["access_grants"] == [grant("user", "*", "read")]
    assert r.json()["is_active"] is True
    r = await env.client.post(
        "/api/v1/models/create",
        json={"id": "w-private", "name": "p", "base_model_id": "gpt-4o", "params": {}, "meta": {}, "access_grants": []},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json()["access_grants"] == []
    r_default = await create_model(env.client, owner, "r-default")
    r_private = await create_model(env.client, owner, "r-private", [])
    assert r_default["access_grants"] == [grant("user", "*", "read")] and r_private["access_grants"] == []
    for name in ("w-default", "r-default"):
        assert (await webui_get(env, reader, name))["write_access"] is False
    for name in ("w-private", "r-private"):
        assert (await env.client.get(f"/api/models/{name}/", headers=reader.headers)).status_code == 404
        gone = await env.client.get("/api/v1/models/model", params={"id": name}, headers=reader.headers)
        assert (gone.status_code, gone.json()) == (401, {"detail": "Model not found"})
        assert (await webui_get(env, admin, name))["write_access"] is True


async def test_toggle_flips_is_active_in_both_views_and_inactive_stays_visible(env: Env) -> None:
    """Inactive models stay visible, marked inactive in both views and in lists, to those who may write them
    (docs/openwebui.md), and are hidden from readers while inactive."""
    world = await world_of(env)
    owner, writer, reader, admin = world["owner"], world["writer"], world["reader"], world["admin"]
    await create_model(
        env.client, owner, "switch", [grant("user", "*", "read"), grant("group", world.groups["editors"], "write")]
    )

    async def views(person: Person) -> dict[str, Any]:
        respan = await env.client.get("/api/models/switch/", headers=person.headers)
        webui = await env.client.get("/api/v1/models/model", params={"id": "switch"}, headers=person.headers)
        listed = await env.client.post(
            "/api/models/list/",
            json={"filters": {"model_name": {"operator": "", "value": ["switch"]}}},
            headers=person.headers,
        )
        items = (await env.client.get("/api/v1/models/list", headers=person.headers)).json()["items"]
        return {
            "respan": respan.json().get("is_active", respan.status_code),
            "webui": webui.json().get("is_active", webui.status_code),
            "list": [m["is_active"] for m in listed.json()["results"]],
            "webui list": [m["is_active"] for m in items if m["id"] == "switch"],
        }

    def seen(active: bool) -> dict[str, Any]:
        return {"respan": active, "webui": active, "list": [active], "webui list": [active]}

    unseen = {"respan": 404, "webui": 401, "list": [], "webui list": []}
    for toggler, expected in ((owner, False), (writer, True), (admin, False)):
        r = await env.client.post("/api/v1/models/model/toggle", params={"id": "switch"}, headers=toggler.headers)
        assert r.status_code == 200 and r.json()["is_active"] is expected, r.text
        for person in (owner, writer, admin):
            assert await views(person) == seen(expected), (person.label, expected)
        assert await views(reader) == (seen(True) if expected else unseen), expected
    # While inactive, the reader cannot toggle it back either: it answers like a missing model.
    r = await env.client.post("/api/v1/models/model/toggle", params={"id": "switch"}, headers=reader.headers)
    assert (r.status_code, r.json()) == (401, {"detail": "Model not found"})
    # Respan writes is_active too, and Open WebUI sees it.
    r = await env.client.patch("/api/models/switch/", json={"is_active": True}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (await webui_get(env, reader, "switch"))["is_active"] is True
    # Toggling a built-in is refused.
    r = await env.client.post("/api/v1/models/model/toggle", params={"id": "gpt-4o"}, headers=owner.headers)
    assert (r.status_code, r.json()) == (400, {"detail": "Access prohibited"})


# ---- import, export, create ----------------------------------------------------------------------------------


async def test_import_is_all_or_nothing_and_never_overwrites_what_the_caller_cannot_write(env: Env) -> None:
    world = await world_of(env)
    owner, writer, admin = world["owner"], world["writer"], world["admin"]
    await create_model(env.client, writer, "mine", display_name="mine before", params={"a": 1})
    await create_model(env.client, owner, "granted", [grant("group", world.groups["editors"], "write")])
    await create_model(env.client, owner, "readable", display_name="readable before", params={"keep": True})
    await create_model(env.client, owner, "hidden", [], display_name="hidden before", params={"keep": True})
    good = [
        {"id": "brand-new", "name": "New", "base_model_id": "gpt-4o", "params": {"n": 1}, "meta": {"description": "d"}},
        {"id": "mine", "name": "mine after", "params": {"a": 2}, "meta": {}},
        {"id": "granted", "name": "granted after", "params": {"g": 1}, "meta": {}},
    ]
    refused = {
        "readable": ({"id": "readable", "name": "overwritten", "params": {}, "meta": {}}, "Access prohibited"),
        "hidden": ({"id": "hidden", "name": "overwritten", "params": {}, "meta": {}}, "Model not found"),
        "gpt-4o": (
            {"id": "gpt-4o", "name": "overwritten", "params": {}, "meta": {}},
            "A built-in model already has this name; choose another name.",
        ),
        "no-route": ({"id": "no-route", "name": "x", "params": {}, "meta": {}}, "custom_provider_id"),
        "missing-name": ({"id": "missing-name", "params": {}, "meta": {}}, "name"),
    }
    # One refused model anywhere refuses the whole request, naming it; nothing of the others is written.
    for ident, (model, reason) in refused.items():
        r = await env.client.post("/api/v1/models/import", json={"models": [*good, model]}, headers=writer.headers)
        assert r.status_code == 400, (ident, r.text)
        detail = r.json()["detail"]
        assert detail.startswith(f"models[3] ({ident}): ") and reason in detail, detail
        assert detail.endswith("nothing was imported."), detail
    r = await env.client.post("/api/v1/models/import", json={"models": [*good, 42]}, headers=writer.headers)
    assert r.status_code == 400 and r.json()["detail"].startswith("models[3]: "), r.text
    assert (await env.client.get("/api/models/brand-new/", headers=writer.headers)).status_code == 404
    assert (await respan_get(env, writer, "mine"))["display_name"] == "mine before"
    assert (await respan_get(env, owner, "granted"))["params"] == {}
    readable = await respan_get(env, owner, "readable")
    assert readable["display_name"] == "readable before" and readable["params"] == {"keep": True}
    hidden = await respan_get(env, admin, "hidden")
    assert hidden["display_name"] == "hidden before" and hidden["params"] == {"keep": True}

    r = await env.client.post("/api/v1/models/import", json={"models": good}, headers=writer.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "results": [
            {"id": "brand-new", "status": "created", "detail": None},
            {"id": "mine", "status": "updated", "detail": None},
            {"id": "granted", "status": "updated", "detail": None},
        ],
        "imported": 3,
    }
    new = await respan_get(env, writer, "brand-new")
    assert new["user_id"] == writer.user_id and new["access_grants"] == [grant("user", "*", "read")]
    assert new["display_name"] == "New" and new["params"] == {"n": 1}
    assert (await respan_get(env, writer, "mine"))["display_name"] == "mine after"
    granted = await respan_get(env, owner, "granted")
    assert granted["display_name"] == "granted after" and granted["user_id"] == owner.user_id
    r = await env.client.post("/api/v1/models/import", json={"models": "nope"}, headers=writer.headers)
    assert r.status_code == 400


async def test_import_within_one_request_resolves_models_on_each_other(env: Env) -> None:
    """A model imported on a base imported in the same request, then the base changed later in that request:
    the dependent reads the base's final values (view rows and the in-memory index alike)."""
    org = await env.org()

    async def cost(name: str) -> float:
        return float((await env.client.get(f"/api/models/{name}/", headers=org.headers)).json()["input_cost"])

    models = [
        {"id": "imp-base", "name": "Base", "base_model_id": "gpt-4o", "params": {}, "meta": {}},
        {"id": "imp-child", "name": "Child", "base_model_id": "imp-base", "params": {}, "meta": {}},
    ]
    r = await env.client.post("/api/v1/models/import", json={"models": models}, headers=org.headers)
    assert r.status_code == 200, r.text
    before = await cost("gpt-4o")
    assert await cost("imp-child") == before
    models = [
        {"id": "imp-child2", "name": "Child 2", "base_model_id": "imp-base", "params": {}, "meta": {}},
        {"id": "imp-base", "name": "Base", "base_model_id": "gpt-4o-mini", "params": {}, "meta": {}},
    ]
    r = await env.client.post("/api/v1/models/import", json={"models": models}, headers=org.headers)
    assert r.status_code == 200, r.text
    after = await cost("gpt-4o-mini")
    assert after != before
    assert [await cost(name) for name in ("imp-base", "imp-child", "imp-child2")] == [after] * 3
    listed = await env.client.post(
        "/api/models/list/", json={"filters": {"input_cost": {"operator": "", "value": [after]}}}, headers=org.headers
    )
    assert {m["model_name"] for m in listed.json()["results"]} >= {"imp-base", "imp-child", "imp-child2"}


async def test_export_has_exactly_the_writable_models_with_params(env: Env) -> None:
    world = await world_of(env)
    owner, writer, reader, admin, outsider = (world[x] for x in ("owner", "writer", "reader", "admin", "outsider"))
    editors = world.groups["editors"]
    await create_model(env.client, writer, "w-own", params={"p": "own"})
    await create_model(env.client, owner, "w-group", [grant("group", editors, "write")], params={"p": "group"})
    await create_model(env.client, owner, "w-direct", [grant("user", writer.user_id, "write")], params={"p": "direct"})
    await create_model(env.client, owner, "r-only", [grant("user", writer.user_id, "read")], params={"p": "r"})
    await create_model(env.client, owner, "org-wide", params={"p": "public"})
    await create_model(env.client, owner, "private", [], params={"p": "private"})
    await create_model(env.client, outsider, "elsewhere", params={"p": "b"})

    async def export(person: Person) -> dict[str, Any]:
        r = await env.client.get("/api/v1/models/export", headers=person.headers)
        assert r.status_code == 200, r.text
        return {m["id"]: m for m in r.json()}

    mine = await export(writer)
    assert sorted(mine) == ["w-direct", "w-group", "w-own"]
    assert {k: m["params"] for k, m in mine.items()} == {
        "w-own": {"p": "own"},
        "w-group": {"p": "group"},
        "w-direct": {"p": "direct"},
    }
    assert all(m["write_access"] is True for m in mine.values())
    assert sorted(await export(owner)) == ["org-wide", "private", "r-only", "w-direct", "w-group"]
    assert sorted(await export(admin)) == ["org-wide", "private", "r-only", "w-direct", "w-group", "w-own"]
    assert await export(reader) == {}
    assert sorted(await export(outsider)) == ["elsewhere"]
    # An export re-imports as updates of the same models.
    r = await env.client.post("/api/v1/models/import", json={"models": list(mine.values())}, headers=writer.headers)
    assert [x["status"] for x in r.json()["results"]] == ["updated"] * 3


async def test_create_refuses_an_existing_id(env: Env) -> None:
    world = await world_of(env)
    owner, stranger, outsider = world["owner"], world["stranger"], world["outsider"]
    await create_model(env.client, owner, "taken", display_name="first", params={"keep": 1})
    await create_model(env.client, owner, "taken-private", [], display_name="first")
    refused = (400, {"detail": ID_TAKEN, "id": [ID_TAKEN]})
    for person, ident in (
        (owner, "taken"),
        (stranger, "taken"),
        (stranger, "taken-private"),  # names are unique per organization, so this cannot look missing
        (owner, "gpt-4o"),
        (owner, "openai/gpt-4o"),
    ):
        body = {"id": ident, "name": "second", "base_model_id": "gpt-4o", "params": {}, "meta": {}}
        r = await env.client.post("/api/v1/models/create", json=body, headers=person.headers)
        assert (r.status_code, r.json()) == refused, (person.label, ident)
    kept = await respan_get(env, owner, "taken")
    assert kept["display_name"] == "first" and kept["params"] == {"keep": 1} and kept["user_id"] == owner.user_id
    # Another organization's ids are free.
    body = {"id": "taken", "name": "theirs", "base_model_id": "gpt-4o", "params": {}, "meta": {}}
    r = await env.client.post("/api/v1/models/create", json=body, headers=outsider.headers)
    assert r.status_code == 200 and r.json()["user_id"] == outsider.user_id
    assert (await respan_get(env, owner, "taken"))["display_name"] == "first"


# ---- seed 004, verbatim ------------------------------------------------------------------------------------

SEED_FILE = Path("/work/shared/seeds/004_43696a519c2aea56.txt")

# The seed's "Example Request" body and "Example Response", verbatim.
SEED_REQUEST = """{
    "id": "my-custom-gpt4",
    "name": "Updated Custom GPT-4",
    "base_model_id": "gpt-4-turbo",
    "params": {
      "temperature": 0.8,
      "max_tokens": 4000,
      "top_p": 0.95
    },
    "meta": {
      "description": "Enhanced GPT-4 model with higher creativity",
      "capabilities": {
        "vision": true,
        "function_calling": true,
        "json_mode": true
      }
    },
    "access_grants": [
      {
        "access_type": "group",
        "access_id": "developers",
        "permission": "write"
      },
      {
        "access_type": "user",
        "access_id": "user456",
        "permission": "read"
      }
    ],
    "is_active": true
  }"""

SEED_RESPONSE = """{
  "id": "my-custom-gpt4",
  "user_id": "user123",
  "base_model_id": "gpt-4-turbo",
  "name": "Updated Custom GPT-4",
  "params": {
    "temperature": 0.8,
    "max_tokens": 4000,
    "top_p": 0.95
  },
  "meta": {
    "profile_image_url": "/static/favicon.png",
    "description": "Enhanced GPT-4 model with higher creativity",
    "capabilities": {
      "vision": true,
      "function_calling": true,
      "json_mode": true
    }
  },
  "access_grants": [
    {
      "access_type": "group",
      "access_id": "developers",
      "permission": "write"
    },
    {
      "access_type": "user",
      "access_id": "user456",
      "permission": "read"
    }
  ],
  "is_active": true,
  "created_at": 1704067200,
  "updated_at": 1704240000
}"""


def test_seed_texts_are_verbatim() -> None:
    if not SEED_FILE.exists():
        pytest.skip("seed file not available here")
    text = SEED_FILE.read_text()
    request = re.search(r"Example Request.*?-d '(\{.*?\})'", text, re.S)
    response = re.search(r"Example Response\s*(\{.*?\n\})", text, re.S)
    assert request and response
    assert SEED_REQUEST in text and SEED_RESPONSE in text
    assert json.loads(request.group(1)) == json.loads(SEED_REQUEST)
    assert json.loads(response.group(1)) == json.loads(SEED_RESPONSE)


async def seed_world(env: Env) -> tuple[Person, Person, Person, Person]:
    """The seed's principals with the seed's ids: owner user123, user456, group developers (+ a member)."""
    tag = uuid.uuid4().hex[:8]
    db = Database(env.database_url)
    try:
        async with db.write() as session:
            org = await identity.create_organization(session, f"seed-{tag}", f"admin-{tag}@seed.example")
            people = {}
            for user_id in ("user123", "user456", "dev789"):
                session.add(
                    UserRow(
                        id=user_id, organization_id=org.organization_id, email=f"{user_id}@seed.example", role="member"
                    )
                )
            session.add(GroupRow(id="developers", organization_id=org.organization_id, name="developers"))
            await session.flush()
            await identity.add_group_member(session, "developers", await identity.find_user(session, user_id="dev789"))
            for user_id in ("user123", "user456", "dev789"):
                key = await identity.create_api_key(session, user_id)
                people[user_id] = Person(user_id, user_id, key.api_key, org.organization_id)
    finally:
        await db.dispose()
    admin = Person("admin", org.user_id, org.api_key, org.organization_id)
    return people["user123"], people["user456"], people["dev789"], admin


async def seed_update(env: Env) -> tuple[dict[str, Any], tuple[Person, Person, Person, Person]]:
    people = await seed_world(env)
    owner = people[0]
    r = await env.client.post(
        "/api/v1/models/create",
        json={"id": "my-custom-gpt4", "name": "Custom GPT-4", "base_model_id": "gpt-4o", "params": {}, "meta": {}},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    r = await env.client.post(
        "/api/models/model/update",
        content=SEED_REQUEST.encode(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    return r.json(), people


async def test_seed_example_request_gives_the_seeds_response(env: Env) -> None:
    body, (_owner, user456, developer, admin) = await seed_update(env)
    seed = json.loads(SEED_RESPONSE)
    assert set(seed) <= set(body)
    # The extra keys: Open WebUI's ModelAccessResponse field, true for the owner, and modelreg's measured
    # figures (null without traffic) and resolved price tiers (none here).
    assert set(body) - set(seed) == {"write_access", "throughput", "pricing_tiers"} and body["write_access"] is True
    assert body["throughput"] is None and body["pricing_tiers"] == []
    for key in ("id", "user_id", "name", "params", "access_grants", "is_active"):
        assert body[key] == seed[key], key
    # base_model_id is stored canonical (docs/decisions.md: "base_model_name is stored canonical").
    assert body["base_model_id"] == "openai/gpt-4-turbo"
    assert body["meta"]["description"] == seed["meta"]["description"]
    # The seed's capabilities, plus streaming resolved from the base (gpt-4-turbo streams).
    assert body["meta"]["capabilities"] == {**seed["meta"]["capabilities"], "streaming": True}
    assert isinstance(body["created_at"], int) and isinstance(body["updated_at"], int)
    assert body["updated_at"] >= body["created_at"] > 1704067200
    # The grants mean what the seed says: developers write, user456 reads (without params).
    r = await env.client.post(
        "/api/models/model/update",
        json={"id": "my-custom-gpt4", "name": "By a developer", "params": {"temperature": 0}, "meta": {}},
        headers=developer.headers,
    )
    assert r.status_code == 200 and r.json()["user_id"] == "user123" and r.json()["write_access"] is True
    reader_view = await webui_get(env, user456, "my-custom-gpt4")
    assert reader_view["params"] == {} and reader_view["write_access"] is False
    r = await env.client.post("/api/models/model/update", content=SEED_REQUEST.encode(), headers=user456.headers)
    assert (r.status_code, r.json()) == (400, {"detail": "Access prohibited"})
    # The same record through Respan.
    respan = await respan_get(env, admin, "my-custom-gpt4")
    assert respan["display_name"] == "By a developer" and respan["user_id"] == "user123"
    assert respan["base_model_name"] == "openai/gpt-4-turbo"
