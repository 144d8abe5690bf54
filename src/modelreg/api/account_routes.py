"""The caller, API keys and users over HTTP. Who may do what: domain/org_access.py.

    GET    /api/me                         the caller: user, organization, role, what they may do
    GET    /api/keys[?all=true]            the caller's keys; `all` (admins): every key of the organization
    POST   /api/keys    {name?, expires_in_days?, user_id?}  -> 201 {key, api_key} (the key is shown once)
    DELETE /api/keys/{key_id}              revoke -> 200 the key (revoked_at set); console sessions opened
                                           with it end too
    GET    /api/users                      the organization's users (admins)
    POST   /api/users   {email, role?, password?}   -> 201 user (admins)
    PATCH  /api/users/{user_id}  {role}    change the role (admins; never the last admin's)
    POST   /api/users/{user_id}/deactivate -> 200 user (admins): keys, tokens and sessions stop working

Another organization's keys and users answer 404 like missing ones; a member addressing another member's
key gets 404 too. Bodies never carry the organization or the acting user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, delete, get, patch, post
from litestar.params import FromPath, QueryParameter

from modelreg.api.common import decode_body, registry, require_principal
from modelreg.api.contract import documented
from modelreg.api.errors import exception_handlers
from modelreg.domain.org_access import OrgAction, allowed
from modelreg.services import accounts
from modelreg.services.accounts import CreatedKeyInfo, KeyInfo, UserInfo

__all__ = ["MeOut", "account_router"]

AnyRequest = Request[Any, Any, Any]
Text = Annotated[str, msgspec.Meta(max_length=1024)]
_ACTIONS: tuple[OrgAction, ...] = (
    "read_providers",
    "write_providers",
    "read_directory",
    "manage_users",
    "manage_groups",
    "read_usage",
)


class MeOut(msgspec.Struct, kw_only=True):
    user_id: str
    email: str
    role: str
    organization_id: str
    group_ids: list[str]
    permissions: list[str]
    """The organization-level actions this caller may take (domain/org_access.py's vocabulary)."""


class KeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] | None = None
    user_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """Admins may create a key for another user of the organization; default: the caller."""


class UserCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    role: Literal["admin", "member"] = "member"
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=1024)] | None = None


class UserChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Literal["admin", "member"]


@get("/api/me", opt=documented())
async def me(request: AnyRequest) -> MeOut:
    """The caller: user, organization, role, groups, and the organization-level actions they may take."""
    principal = await require_principal(request)
    return MeOut(
        user_id=principal.user_id,
        email=principal.email,
        role=principal.role,
        organization_id=principal.organization_id,
        group_ids=sorted(principal.group_ids),
        permissions=[action for action in _ACTIONS if allowed(principal, action)],
    )


@get("/api/keys", opt=documented(errors=(403,)))
async def list_keys(
    request: AnyRequest, everyone: Annotated[bool, QueryParameter(name="all")] = False
) -> list[KeyInfo]:
    """The caller's API keys; `all=true` (admins): every key of the organization. Keys are never shown."""
    principal = await require_principal(request)
    async with registry(request).db.read() as session:
        return await accounts.list_keys(session, principal, everyone=everyone)


@post(
    "/api/keys",
    status_code=201,
    opt=documented(body=KeyCreate, errors=(403, 404), example={"name": "ci", "expires_in_days": 90}),
)
async def create_key(request: AnyRequest) -> CreatedKeyInfo:
    """Create an API key (for the caller, or an admin for a user of the organization); the key is shown once."""
    principal = await require_principal(request)
    body = await decode_body(request, KeyCreate)
    async with registry(request).db.write() as session:
        return await accounts.create_key(
            session, principal, name=body.name, expires_in_days=body.expires_in_days, user_id=body.user_id
        )


@delete("/api/keys/{key_id:str}", status_code=200, opt=documented(errors=(403,)))
async def revoke_key(request: AnyRequest, key_id: FromPath[str]) -> KeyInfo:
    """Revoke an API key (members: their own; admins: any of the organization's)."""
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.db.write() as session:
        revoked = await accounts.revoke_key(session, principal, key_id[:64])
    reg.authenticator.invalidate()
    return revoked


@get("/api/users", opt=documented(errors=(403,)))
async def list_users(request: AnyRequest) -> list[UserInfo]:
    """The organization's users (admins)."""
    principal = await require_principal(request)
    async with registry(request).db.read() as session:
        return await accounts.list_users(session, principal)


@post(
    "/api/users",
    status_code=201,
    opt=documented(body=UserCreate, errors=(403,), example={"email": "ada@example.com", "role": "member"}),
)
async def create_user(request: AnyRequest) -> UserInfo:
    """Add a user to the organization, optionally with a password (admins)."""
    principal = await require_principal(request)
    body = await decode_body(request, UserCreate)
    async with registry(request).db.write() as session:
        return await accounts.create_user(session, principal, body.email, body.role, body.password)


@patch("/api/users/{user_id:str}", opt=documented(body=UserChange, errors=(403,), example={"role": "admin"}))
async def change_user(request: AnyRequest, user_id: FromPath[str]) -> UserInfo:
    """Change a user's role (admins; the last admin keeps the role)."""
    principal = await require_principal(request)
    body = await decode_body(request, UserChange)
    reg = registry(request)
    async with reg.db.write() as session:
        changed = await accounts.change_role(session, principal, user_id[:64], body.role)
    reg.authenticator.invalidate()
    return changed


@post("/api/users/{user_id:str}/deactivate", status_code=200, opt=documented(errors=(403,)))
async def deactivate_user(request: AnyRequest, user_id: FromPath[str]) -> UserInfo:
    """Deactivate a user: their keys, tokens and console sessions stop working (admins)."""
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.db.write() as session:
        changed = await accounts.deactivate_user(session, principal, user_id[:64])
    reg.authenticator.invalidate()
    return changed


account_router = Router(
    path="/",
    route_handlers=[me, list_keys, create_key, revoke_key, list_users, create_user, change_user, deactivate_user],
    exception_handlers=exception_handlers,
)
