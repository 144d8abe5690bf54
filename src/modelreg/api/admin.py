"""Organization administration over HTTP (admins of the caller's organization: domain/org_access.py).

    GET  /api/admin/users                              the organization's users
    POST /api/admin/users            {email, role?, password?}   -> 201 user
    GET  /api/admin/groups                             groups with their member ids
    POST /api/admin/groups           {name}            -> 201 group
    POST /api/admin/groups/{group_id}/members  {user_id | email}  -> 200 group
    DELETE /api/admin/groups/{group_id}/members/{user_id}         -> 204

Another organization's users and groups answer 404 like missing ones. Roles, organization and ids
never come from a body except the role of a user being created (admin or member).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.params import FromPath
from sqlalchemy import select

from modelreg.api.common import decode_body, registry, require_allowed
from modelreg.api.contract import documented
from modelreg.api.errors import exception_handlers
from modelreg.domain.access import AccessProhibited
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.principal import Principal
from modelreg.services import identity
from modelreg.store.rows import GroupMemberRow, GroupRow, UserRow

__all__ = ["admin_router"]

AnyRequest = Request[Any, Any, Any]
Text = Annotated[str, msgspec.Meta(max_length=1024)]


class UserForm(msgspec.Struct, kw_only=True):
    email: Text
    role: Text = "member"
    password: Text | None = None


class GroupForm(msgspec.Struct, kw_only=True):
    name: Text


class MemberForm(msgspec.Struct, kw_only=True):
    user_id: Text | None = None
    email: Text | None = None


class UserOut(msgspec.Struct):
    id: str
    email: str
    role: str
    organization_id: str


class GroupOut(msgspec.Struct):
    id: str
    name: str
    organization_id: str
    member_ids: list[str]


def _user(row: UserRow) -> UserOut:
    return UserOut(id=row.id, email=row.email, role=row.role, organization_id=row.organization_id)


@get("/api/admin/users", opt=documented(errors=(403,)))
async def list_users(request: AnyRequest) -> list[UserOut]:
    """The organization's users (admins only)."""
    principal = await require_allowed(request, "manage_users")
    async with registry(request).db.read() as session:
        rows = await session.scalars(
            select(UserRow).where(UserRow.organization_id == principal.organization_id).order_by(UserRow.email)
        )
        return [_user(row) for row in rows]


@post(
    "/api/admin/users",
    status_code=201,
    opt=documented(body=UserForm, errors=(403,), example={"email": "ada@example.com", "role": "member"}),
)
async def create_user(request: AnyRequest) -> UserOut:
    """Add a user to the organization (role admin or member)."""
    principal = await require_allowed(request, "manage_users")
    form = await decode_body(request, UserForm)
    async with registry(request).db.write() as session:
        row = await identity.create_user(session, principal.organization_id, form.email, form.role, form.password)
        return _user(row)


async def _group_out(session: Any, group: GroupRow) -> GroupOut:
    members = await session.scalars(select(GroupMemberRow.user_id).where(GroupMemberRow.group_id == group.id))
    return GroupOut(id=group.id, name=group.name, organization_id=group.organization_id, member_ids=sorted(members))


@get("/api/admin/groups", opt=documented(errors=(403,)))
async def list_groups(request: AnyRequest) -> list[GroupOut]:
    """The organization's groups with their member ids."""
    principal = await require_allowed(request, "manage_groups")
    async with registry(request).db.read() as session:
        groups = await session.scalars(
            select(GroupRow).where(GroupRow.organization_id == principal.organization_id).order_by(GroupRow.name)
        )
        return [await _group_out(session, g) for g in groups]


@post(
    "/api/admin/groups", status_code=201, opt=documented(body=GroupForm, errors=(403,), example={"name": "developers"})
)
async def create_group(request: AnyRequest) -> GroupOut:
    """Create a group."""
    principal = await require_allowed(request, "manage_groups")
    form = await decode_body(request, GroupForm)
    async with registry(request).db.write() as session:
        group = await identity.create_group(session, principal.organization_id, form.name)
        return await _group_out(session, group)


async def _own_group(session: Any, principal: Principal, group_id: str) -> GroupRow:
    group = await session.get(GroupRow, group_id)
    if group is None or group.organization_id != principal.organization_id:
        raise NotFound()
    return group  # type: ignore[no-any-return]


@post(
    "/api/admin/groups/{group_id:str}/members",
    status_code=200,
    opt=documented(body=MemberForm, errors=(403,), example={"email": "ada@example.com"}),
)
async def add_member(request: AnyRequest, group_id: FromPath[str]) -> GroupOut:
    """Add a user (by user_id or email) to a group."""
    principal = await require_allowed(request, "manage_groups")
    form = await decode_body(request, MemberForm)
    if (form.user_id is None) == (form.email is None):
        raise InvalidInput("give exactly one of user_id or email", "user_id")
    reg = registry(request)
    async with reg.db.write() as session:
        group = await _own_group(session, principal, group_id)
        user = await identity.find_user(session, email=form.email, user_id=form.user_id)
        if user.organization_id != principal.organization_id:
            raise NotFound()
        await identity.add_group_member(session, group.id, user)
        out = await _group_out(session, group)
    reg.authenticator.invalidate()
    return out


@delete("/api/admin/groups/{group_id:str}/members/{user_id:str}", status_code=204, opt=documented(errors=(403,)))
async def remove_member(request: AnyRequest, group_id: FromPath[str], user_id: FromPath[str]) -> None:
    """Remove a user from a group."""
    principal = await require_allowed(request, "manage_groups")
    reg = registry(request)
    async with reg.db.write() as session:
        group = await _own_group(session, principal, group_id)
        await identity.remove_group_member(session, group.id, user_id)
    reg.authenticator.invalidate()


def _render(_: AnyRequest, exc: Exception) -> Response[Any]:
    return Response(content={"detail": "You do not have permission to perform this action."}, status_code=403)


admin_router = Router(
    path="/",
    route_handlers=[list_users, create_user, list_groups, create_group, add_member, remove_member],
    exception_handlers={**exception_handlers, AccessProhibited: _render},
)
