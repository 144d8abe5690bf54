"""Who may do what to a custom provider (issue 10, defect 4; the rule is src/modelreg/domain/provider_access.py).

Every provider route x every role. Organization "a" has an admin-made provider; each write is tried by every
caller against it, and afterwards the admin checks it is unchanged unless the caller was allowed to write.
Members read providers (never a secret) and may reference them from models they write, in both dialects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from access_helpers import Person, World, build_world
from conftest import Env, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog

SECRET_KEY = "sk-admin-secret-0123456789"
BASE_URL = "https://api.example.com/v1"
FORBIDDEN = (403, {"detail": "You do not have permission to perform this action."})
MISSING = (404, {"detail": "Not found."})
NO_AUTH = (401, {"detail": "Authentication credentials were not provided."})

MEMBERS = {"member": ("a", "member", ()), "outsider": ("b", "member", ())}
ROLES = ("admin", "member", "other_admin", "outsider", "anonymous")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {id}: the target provider's id
    body: dict[str, Any] | None
    expect: dict[str, tuple[int, dict[str, Any] | None]]  # role -> (status, exact body or None)
    writes: bool


def _route(method: str, path: str, body: dict[str, Any] | None, ok: int, foreign: tuple[int, Any]) -> Route:
    writes = method != "GET"
    member = FORBIDDEN if writes else (ok, None)
    outsider = FORBIDDEN if writes else foreign
    expect = {
        "admin": (ok, None),
        "member": member,
        "other_admin": foreign,
        "outsider": outsider,
        "anonymous": NO_AUTH,
    }
    return Route(method, path, body, expect, writes)


EVIL = {"base_url": "https://evil.example.net/v1", "api_key": "sk-evil"}
NEW = {"provider_id": "{new}", "provider_name": "N", "extra_kwargs": EVIL}
SAME = {"provider_id": "{id}", "provider_name": "N", "extra_kwargs": EVIL}
ROUTES = {
    "list": _route("GET", "/api/providers/", None, 200, (200, None)),
    "retrieve": _route("GET", "/api/providers/{id}/", None, 200, MISSING),
    "create": _route(
        "POST",
        "/api/providers/",
        {"provider_id": "{new}", "provider_name": "N", "extra_kwargs": EVIL},
        201,
        (201, None),
    ),
    # POST with an existing provider_id updates it (create-or-update): the same rule as PATCH. Another
    # organization's admin creates their own provider of that id (ids are per organization).
    "upsert": _route("POST", "/api/providers/", SAME, 200, (201, None)),
    "patch": _route("PATCH", "/api/providers/{id}/", {"extra_kwargs": EVIL, "api_key": "sk-evil"}, 200, MISSING),
    "put": _route("PUT", "/api/providers/{id}/", {"provider_name": "N", "extra_kwargs": EVIL}, 200, MISSING),
    "delete": _route("DELETE", "/api/providers/{id}/", None, 204, MISSING),
}


async def _admin_provider(env: Env, world: World, provider_id: str) -> None:
    body = {
        "provider_id": provider_id,
        "provider_name": "Shared",
        "extra_kwargs": {"base_url": BASE_URL, "timeout": 30},
        "api_key": SECRET_KEY,
    }
    r = await env.client.post("/api/providers/", json=body, headers=world["admin"].headers)
    assert r.status_code == 201, r.text


async def _call(env: Env, person: Person, route: Route, provider_id: str, new_id: str) -> tuple[int, Any, str]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{id}", provider_id).replace("{new}", new_id)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    r = await env.client.request(
        route.method, fill(route.path), json=fill(route.body) if route.body else None, headers=person.headers
    )
    return r.status_code, (r.json() if r.content else None), r.text


async def test_every_provider_route_against_every_role(env: Env) -> None:
    world = await build_world(env.database_url, MEMBERS)
    problems: list[str] = []
    for route_id, route in ROUTES.items():
        for role in ROLES:
            provider_id = f"p-{route_id}-{role}"
            await _admin_provider(env, world, provider_id)
            status, body, text = await _call(env, world[role], route, provider_id, f"new-{route_id}-{role}")
            want_status, want_body = route.expect[role]
            if status != want_status or (want_body is not None and body != want_body):
                problems.append(f"{route_id} as {role}: {status} {text[:200]} (expected {want_status} {want_body})")
            if SECRET_KEY in text or "sk-evil" in text:
                problems.append(f"{route_id} as {role}: a secret in the response")
            allowed = role == "admin"
            after = await env.client.get(f"/api/providers/{provider_id}/", headers=world["admin"].headers)
            if route.writes and not allowed:
                unchanged = after.status_code == 200 and after.json()["extra_kwargs"]["base_url"] == BASE_URL
                if not unchanged:
                    problems.append(f"{route_id} as {role} changed the provider: {after.status_code} {after.text}")
    assert not problems, "\n".join(problems)


async def test_lists_show_own_organization_without_secrets(env: Env) -> None:
    world = await build_world(env.database_url, MEMBERS)
    await _admin_provider(env, world, "shared")
    seen: Callable[[str], Any] = lambda role: env.client.get("/api/providers/", headers=world[role].headers)  # noqa: E731
    member = (await seen("member")).json()
    assert [p["provider_id"] for p in member["results"]] == ["shared"]
    assert member["results"][0]["extra_kwargs"] == {"base_url": BASE_URL, "timeout": 30}
    for role in ("other_admin", "outsider"):
        assert (await seen(role)).json()["results"] == []


async def test_members_reference_admin_providers_in_both_dialects(env: Env) -> None:
    world = await build_world(env.database_url, MEMBERS)
    await _admin_provider(env, world, "shared")
    member = world["member"].headers
    r = await env.client.post(
        "/api/models/", json={"model_name": "mine", "custom_provider_id": "shared"}, headers=member
    )
    assert r.status_code == 201, r.text
    assert r.json()["provider"]["provider_id"] == "shared" and SECRET_KEY not in r.text
    form = {"id": "mine-webui", "name": "Mine", "params": {}, "meta": {}, "custom_provider_id": "shared"}
    r = await env.client.post("/api/v1/models/create", json=form, headers=member)
    assert r.status_code == 200, r.text
    # Another organization's provider is not there for them.
    r = await env.client.post(
        "/api/models/", json={"model_name": "theirs", "custom_provider_id": "shared"}, headers=world["outsider"].headers
    )
    assert r.status_code == 404, r.text


def test_every_provider_route_is_in_the_matrix(catalog: Catalog) -> None:
    """A provider route added later must get a row in ROUTES."""
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"), catalog)
    paths = {
        (m, r.path.replace("{provider_id:path}", "{id}"))
        for r in app.routes
        for m in getattr(r, "methods", ())
        if m not in ("HEAD", "OPTIONS") and r.path.startswith("/api/providers")
    }
    covered = {(route.method, route.path.rstrip("/")) for route in ROUTES.values()}
    assert paths == covered
