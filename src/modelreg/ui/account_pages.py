"""API keys (everyone: their own; admins: the whole organization's), users and groups (admins).
Each action calls services/accounts.py, which applies domain/org_access.py."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from modelreg.api.common import registry
from modelreg.domain.errors import InvalidInput
from modelreg.domain.org_access import allowed, require
from modelreg.services import accounts
from modelreg.ui.web import page, redirect, signed_in

__all__ = ["account_handlers"]

AnyRequest = Request[Any, Any, Any]


async def _keys_page(
    request: AnyRequest,
    created: accounts.CreatedKeyInfo | None = None,
    error: str = "",
    typed: dict[str, str] | None = None,
) -> Template:
    principal = await signed_in(request)
    reg = registry(request)
    everyone = allowed(principal, "manage_users")
    async with reg.db.read() as session:
        keys = await accounts.list_keys(session, principal, everyone=everyone)
        users = await accounts.list_users(session, principal) if everyone else []
    return page(
        request,
        "keys.html",
        principal,
        status_code=400 if error else 200,
        title="API keys",
        keys=keys,
        users=[u for u in users if u.is_active],
        created=created,
        error=error,
        typed=typed or {},
    )


@get("/ui/keys", include_in_schema=False)
async def keys_page(request: AnyRequest) -> Template:
    return await _keys_page(request)


@post("/ui/keys", include_in_schema=False)
async def create_key(request: AnyRequest) -> Template:
    principal = await signed_in(request)
    form = await request.form()
    days_text = str(form.get("expires_in_days", "")).strip()[:20]
    typed = {"name": str(form.get("name", ""))[:256], "expires_in_days": days_text}
    try:
        days = int(days_text) if days_text else None
    except ValueError:
        days = 0  # refused below, in the service's words
    if days is not None and not 1 <= days <= 36500:
        return await _keys_page(
            request, error="Expires in days: enter a whole number between 1 and 36500.", typed=typed
        )
    try:
        async with registry(request).db.write() as session:
            created = await accounts.create_key(
                session,
                principal,
                name=str(form.get("name", "")).strip() or None,
                expires_in_days=days,
                user_id=str(form.get("user_id", "")).strip() or None,
            )
    except InvalidInput as exc:
        return await _keys_page(request, error=exc.message, typed=typed)
    return await _keys_page(request, created=created)


@post("/ui/keys/{key_id:str}/revoke", include_in_schema=False)
async def revoke_key(request: AnyRequest, key_id: FromPath[str]) -> Response[Any]:
    principal = await signed_in(request)
    reg = registry(request)
    async with reg.db.write() as session:
        revoked = await accounts.revoke_key(session, principal, key_id[:64])
    reg.authenticator.invalidate()
    return redirect("/ui/keys", f"Revoked {revoked.name or revoked.hint}.")


@get("/ui/admin/users", include_in_schema=False)
async def users_page(request: AnyRequest) -> Template:
    return await _users(request)


async def _users(
    request: AnyRequest, error: str = "", status_code: int = 200, typed: dict[str, str] | None = None
) -> Template:
    principal = require(await signed_in(request), "manage_users")
    async with registry(request).db.read() as session:
        users = await accounts.list_users(session, principal)
    return page(
        request,
        "users.html",
        principal,
        status_code=status_code,
        title="Users",
        users=users,
        error=error,
        typed=typed or {},
    )


@post("/ui/admin/users", include_in_schema=False)
async def create_user(request: AnyRequest) -> Response[Any]:
    principal = require(await signed_in(request), "manage_users")
    form = await request.form()
    typed = {"email": str(form.get("email", ""))[:320], "role": str(form.get("role", "member"))[:16]}
    try:
        async with registry(request).db.write() as session:
            user = await accounts.create_user(
                session,
                principal,
                str(form.get("email", ""))[:320],
                str(form.get("role", "member")),
                str(form.get("password", ""))[:1024] or None,
            )
    except InvalidInput as exc:
        return await _users(request, error=exc.message, status_code=400, typed=typed)
    return redirect("/ui/admin/users", f"Created {user.email}.")


@post("/ui/admin/users/{user_id:str}/role", include_in_schema=False)
async def change_role(request: AnyRequest, user_id: FromPath[str]) -> Response[Any]:
    principal = require(await signed_in(request), "manage_users")
    form = await request.form()
    reg = registry(request)
    try:
        async with reg.db.write() as session:
            user = await accounts.change_role(session, principal, user_id[:64], str(form.get("role", "")))
    except InvalidInput as exc:
        return await _users(request, error=exc.message, status_code=400)
    reg.authenticator.invalidate()
    return redirect("/ui/admin/users", f"{user.email} is now {user.role}.")


@post("/ui/admin/users/{user_id:str}/deactivate", include_in_schema=False)
async def deactivate_user(request: AnyRequest, user_id: FromPath[str]) -> Response[Any]:
    principal = require(await signed_in(request), "manage_users")
    reg = registry(request)
    try:
        async with reg.db.write() as session:
            user = await accounts.deactivate_user(session, principal, user_id[:64])
    except InvalidInput as exc:
        return await _users(request, error=exc.message, status_code=400)
    reg.authenticator.invalidate()
    return redirect("/ui/admin/users", f"Deactivated {user.email}.")


@get("/ui/admin/groups", include_in_schema=False)
async def groups_page(request: AnyRequest) -> Template:
    return await _groups(request)


async def _groups(request: AnyRequest, error: str = "", status_code: int = 200) -> Template:
    principal = require(await signed_in(request), "manage_groups")
    async with registry(request).db.read() as session:
        groups = await accounts.list_groups(session, principal)
        users = await accounts.list_users(session, principal)
    emails = {u.id: u.email for u in users}
    return page(
        request,
        "groups.html",
        principal,
        status_code=status_code,
        title="Groups",
        groups=groups,
        users=users,
        emails=emails,
        error=error,
    )


@post("/ui/admin/groups", include_in_schema=False)
async def create_group(request: AnyRequest) -> Response[Any]:
    principal = require(await signed_in(request), "manage_groups")
    form = await request.form()
    try:
        async with registry(request).db.write() as session:
            group = await accounts.create_group(session, principal, str(form.get("name", "")).strip()[:256])
    except InvalidInput as exc:
        return await _groups(request, error=exc.message, status_code=400)
    return redirect("/ui/admin/groups", f"Created group {group.name}.")


@post("/ui/admin/groups/{group_id:str}/members", include_in_schema=False)
async def change_member(request: AnyRequest, group_id: FromPath[str]) -> Response[Any]:
    principal = require(await signed_in(request), "manage_groups")
    form = await request.form()
    reg = registry(request)
    member = form.get("action") != "remove"
    async with reg.db.write() as session:
        await accounts.set_group_member(
            session, principal, group_id[:64], str(form.get("user_id", ""))[:64], member=member
        )
    reg.authenticator.invalidate()
    return redirect("/ui/admin/groups", "Member added." if member else "Member removed.")


account_handlers = [
    keys_page,
    create_key,
    revoke_key,
    users_page,
    create_user,
    change_role,
    deactivate_user,
    groups_page,
    create_group,
    change_member,
]
