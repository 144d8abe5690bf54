"""domain/org_access.py, and every route of /api/me, /api/keys and /api/users against every role:
an admin of the organization, a member, an admin of another organization, and an anonymous caller."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Env, Org
from modelreg.domain.org_access import allowed
from modelreg.domain.principal import Principal

ADMIN_ONLY = {"write_providers", "manage_users", "manage_groups", "read_usage", "read_metrics"}
EVERY_MEMBER = {"read_providers", "read_directory"}


@pytest.mark.parametrize("action", sorted(ADMIN_ONLY | EVERY_MEMBER))
def test_the_rule_table(action: Any) -> None:
    admin = Principal("u1", "org", "admin", "a@x")
    member = Principal("u2", "org", "member", "m@x")
    assert allowed(admin, action)
    assert allowed(member, action) == (action in EVERY_MEMBER)
    assert not allowed(None, action)


async def _call(env: Env, key: str | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await env.client.request(method, path, json=body, headers=headers)


async def _setup(env: Env) -> tuple[Org, tuple[str, str], Org]:
    acme = await env.org("acme")
    member = await env.member(acme)
    other = await env.org("globex")
    return acme, member, other


async def test_me_says_who_is_calling_and_what_they_may_do(env: Env) -> None:
    acme, (member_id, member_key), _ = await _setup(env)
    admin = (await _call(env, acme.admin_key, "GET", "/api/me")).json()
    assert admin["user_id"] == acme.admin_user_id and "manage_users" in admin["permissions"]
    member = (await _call(env, member_key, "GET", "/api/me")).json()
    assert member["user_id"] == member_id and set(member["permissions"]) == EVERY_MEMBER
    assert (await _call(env, None, "GET", "/api/me")).status_code == 401


async def test_keys_members_manage_their_own_admins_everyones(env: Env) -> None:
    acme, (member_id, member_key), other = await _setup(env)
    created = await _call(env, member_key, "POST", "/api/keys", {"name": "laptop", "expires_in_days": 30})
    assert created.status_code == 201
    new = created.json()
    assert new["api_key"].startswith("sk_live_") and new["key"]["user_id"] == member_id
    assert new["api_key"] not in str((await _call(env, member_key, "GET", "/api/keys")).json())
    own = [k["name"] for k in (await _call(env, member_key, "GET", "/api/keys")).json()]
    assert sorted(own, key=str) == sorted([None, "laptop"], key=str)
    # A member cannot list everyone's, create for someone else, or revoke another user's key.
    assert (await _call(env, member_key, "GET", "/api/keys?all=true")).status_code == 403
    for_admin = {"user_id": acme.admin_user_id}
    assert (await _call(env, member_key, "POST", "/api/keys", for_admin)).status_code == 404
    admin_keys = (await _call(env, acme.admin_key, "GET", "/api/keys")).json()
    assert (await _call(env, member_key, "DELETE", f"/api/keys/{admin_keys[0]['id']}")).status_code == 404
    # The admin sees every key of the organization, creates one for the member, and revokes it.
    everyone = (await _call(env, acme.admin_key, "GET", "/api/keys?all=true")).json()
    assert {k["user_id"] for k in everyone} == {acme.admin_user_id, member_id}
    made = (await _call(env, acme.admin_key, "POST", "/api/keys", {"user_id": member_id, "name": "ci"})).json()
    assert (await _call(env, made["api_key"], "GET", "/api/me")).json()["user_id"] == member_id
    revoked = await _call(env, acme.admin_key, "DELETE", f"/api/keys/{made['key']['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await _call(env, made["api_key"], "GET", "/api/me")).status_code == 401
    # Another organization's admin: the keys do not exist for them.
    assert (await _call(env, other.admin_key, "DELETE", f"/api/keys/{new['key']['id']}")).status_code == 404
    assert (await _call(env, other.admin_key, "POST", "/api/keys", {"user_id": member_id})).status_code == 404
    others = (await _call(env, other.admin_key, "GET", "/api/keys?all=true")).json()
    assert {k["user_id"] for k in others} == {other.admin_user_id}
    assert (await _call(env, None, "GET", "/api/keys")).status_code == 401
    bad = await _call(env, member_key, "POST", "/api/keys", {"expires_in_days": 0})
    assert bad.status_code == 400


async def test_users_only_admins_and_never_the_last_admin(env: Env) -> None:
    acme, (member_id, member_key), other = await _setup(env)
    assert (await _call(env, member_key, "GET", "/api/users")).status_code == 403
    assert (await _call(env, member_key, "POST", "/api/users", {"email": "x@acme.example"})).status_code == 403
    assert (await _call(env, member_key, "PATCH", f"/api/users/{member_id}", {"role": "admin"})).status_code == 403
    assert (await _call(env, member_key, "POST", f"/api/users/{acme.admin_user_id}/deactivate")).status_code == 403
    assert (await _call(env, None, "GET", "/api/users")).status_code == 401

    listed = (await _call(env, acme.admin_key, "GET", "/api/users")).json()
    assert {u["id"] for u in listed} == {acme.admin_user_id, member_id}
    created = await _call(
        env, acme.admin_key, "POST", "/api/users", {"email": "New@Acme.example", "password": "long enough"}
    )
    assert created.status_code == 201 and created.json()["email"] == "new@acme.example"
    assert "long enough" not in created.text and created.json()["has_password"] is True
    short = await _call(env, acme.admin_key, "POST", "/api/users", {"email": "s@acme.example", "password": "short"})
    assert short.status_code == 400
    lonely = await _call(env, acme.admin_key, "PATCH", f"/api/users/{acme.admin_user_id}", {"role": "member"})
    assert lonely.status_code == 400 and "last admin" in lonely.json()["detail"]
    promoted = await _call(env, acme.admin_key, "PATCH", f"/api/users/{member_id}", {"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert "manage_users" in (await _call(env, member_key, "GET", "/api/me")).json()["permissions"]

    # Another organization's admin: these users do not exist.
    assert (
        await _call(env, other.admin_key, "PATCH", f"/api/users/{member_id}", {"role": "member"})
    ).status_code == 404
    assert (await _call(env, other.admin_key, "POST", f"/api/users/{member_id}/deactivate")).status_code == 404

    deactivated = await _call(env, acme.admin_key, "POST", f"/api/users/{member_id}/deactivate")
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    assert (await _call(env, member_key, "GET", "/api/me")).status_code == 401
    token = await env.client.post("/api/auth/token", json={"email": "new@acme.example", "password": "long enough"})
    assert token.status_code == 200
