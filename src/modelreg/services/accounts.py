"""Users, API keys and groups of one organization, as the caller may see and change them.

Every operation checks domain/org_access.py first; the HTTP API and the console both call these.
Identity changes bump the identity counter, so every process drops its cached principals and keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.org_access import require, require_key_owner
from modelreg.domain.principal import Principal
from modelreg.services import identity
from modelreg.store import counters
from modelreg.store.rows import ApiKeyRow, ConsoleSessionRow, GroupMemberRow, GroupRow, UserRow

__all__ = [
    "CreatedKeyInfo",
    "GroupInfo",
    "KeyInfo",
    "UserInfo",
    "change_role",
    "create_group",
    "create_key",
    "create_user",
    "deactivate_user",
    "list_groups",
    "list_keys",
    "list_users",
    "revoke_key",
    "set_group_member",
]

Role = Literal["admin", "member"]


class UserInfo(msgspec.Struct, kw_only=True):
    id: str
    email: str
    role: str
    organization_id: str
    is_active: bool
    has_password: bool
    created_at: datetime


class KeyInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str | None
    user_id: str
    user_email: str
    hint: str
    """The key's first characters (`sk_live_abcd…`), enough to recognise it; the key itself is never kept."""
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedKeyInfo(msgspec.Struct, kw_only=True):
    key: KeyInfo
    api_key: str
    """Shown once, at creation."""


class GroupInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    member_ids: list[str]


def user_info(row: UserRow) -> UserInfo:
    return UserInfo(
        id=row.id,
        email=row.email,
        role=row.role,
        organization_id=row.organization_id,
        is_active=row.deactivated_at is None,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


def _key_info(row: ApiKeyRow, email: str) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        user_id=row.user_id,
        user_email=email,
        hint=f"sk_live_{row.lookup_prefix[:6]}…",
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def _org_user(session: AsyncSession, principal: Principal, user_id: str) -> UserRow:
    row = await session.get(UserRow, user_id)
    if row is None or row.organization_id != principal.organization_id:
        raise NotFound()
    return row


# ---- users -------------------------------------------------------------------------------------


async def list_users(session: AsyncSession, principal: Principal, *, directory: bool = False) -> list[UserInfo]:
    """Every user of the organization (admins); `directory` is the members' view for sharing by grants."""
    require(principal, "read_directory" if directory else "manage_users")
    rows = await session.scalars(
        select(UserRow).where(UserRow.organization_id == principal.organization_id).order_by(UserRow.email)
    )
    return [user_info(row) for row in rows]


async def create_user(
    session: AsyncSession, principal: Principal, email: str, role: str, password: str | None
) -> UserInfo:
    require(principal, "manage_users")
    if password is not None and not 8 <= len(password) <= 1024:
        raise InvalidInput("The password must have at least 8 characters.", "password")
    row = await identity.create_user(session, principal.organization_id, email, role, password or None)
    return user_info(row)


async def _active_admins(session: AsyncSession, organization_id: str) -> int:
    query = select(func.count()).where(
        UserRow.organization_id == organization_id, UserRow.role == "admin", UserRow.deactivated_at.is_(None)
    )
    return int(await session.scalar(query) or 0)


async def change_role(session: AsyncSession, principal: Principal, user_id: str, role: str) -> UserInfo:
    require(principal, "manage_users")
    if role not in identity.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(identity.ROLES)}", "role")
    row = await _org_user(session, principal, user_id)
    if row.role == "admin" and role != "admin" and await _active_admins(session, row.organization_id) <= 1:
        raise InvalidInput("The organization's last admin cannot lose the admin role.", "role")
    row.role = role
    await counters.bump(session, counters.IDENTITY)
    return user_info(row)


async def deactivate_user(session: AsyncSession, principal: Principal, user_id: str) -> UserInfo:
    """The user can no longer sign in or call the API (keys, tokens and console sessions stop working);
    their models and keys stay, so a model they own keeps its history."""
    require(principal, "manage_users")
    row = await _org_user(session, principal, user_id)
    if row.deactivated_at is None:
        if row.role == "admin" and await _active_admins(session, row.organization_id) <= 1:
            raise InvalidInput("The organization's last admin cannot be deactivated.", "user_id")
        row.deactivated_at = datetime.now(UTC)
        await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == row.id))
        await counters.bump(session, counters.IDENTITY)
    return user_info(row)


# ---- API keys ----------------------------------------------------------------------------------


async def list_keys(session: AsyncSession, principal: Principal, *, everyone: bool = False) -> list[KeyInfo]:
    """The caller's own keys; with `everyone`, every key of the organization (admins only)."""
    if everyone:
        require(principal, "manage_users")
    query = (
        select(ApiKeyRow, UserRow.email)
        .join(UserRow, UserRow.id == ApiKeyRow.user_id)
        .where(UserRow.organization_id == principal.organization_id)
        .order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id)
    )
    if not everyone:
        query = query.where(ApiKeyRow.user_id == principal.user_id)
    return [_key_info(row, email) for row, email in (await session.execute(query)).all()]


async def create_key(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None,
    expires_in_days: int | None,
    user_id: str | None = None,
) -> CreatedKeyInfo:
    owner_id = user_id or principal.user_id
    owner = await _org_user(session, principal, owner_id)
    require_key_owner(principal, owner.id, owner.organization_id)
    if owner.deactivated_at is not None:
        raise InvalidInput("This user is deactivated.", "user_id")
    if name is not None and len(name) > 256:
        raise InvalidInput("Ensure this field has no more than 256 characters.", "name")
    created = await identity.create_api_key(session, owner.id, name or None, expires_in_days)
    row = await session.get(ApiKeyRow, created.key_id)
    assert row is not None
    return CreatedKeyInfo(key=_key_info(row, owner.email), api_key=created.api_key)


async def revoke_key(session: AsyncSession, principal: Principal, key_id: str) -> KeyInfo:
    row = await session.get(ApiKeyRow, key_id)
    owner = await session.get(UserRow, row.user_id) if row is not None else None
    if row is None or owner is None:
        raise NotFound()
    require_key_owner(principal, owner.id, owner.organization_id)
    await identity.revoke_api_key(session, key_id)
    await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.api_key_id == key_id))
    return _key_info(row, owner.email)


# ---- groups ------------------------------------------------------------------------------------


async def list_groups(session: AsyncSession, principal: Principal, *, directory: bool = False) -> list[GroupInfo]:
    require(principal, "read_directory" if directory else "manage_groups")
    groups = list(
        await session.scalars(
            select(GroupRow).where(GroupRow.organization_id == principal.organization_id).order_by(GroupRow.name)
        )
    )
    members: dict[str, list[str]] = {g.id: [] for g in groups}
    if groups:
        rows = await session.execute(
            select(GroupMemberRow.group_id, GroupMemberRow.user_id)
            .where(GroupMemberRow.group_id.in_(list(members)))
            .order_by(GroupMemberRow.user_id)
        )
        for group_id, user_id in rows.all():
            members[group_id].append(user_id)
    return [GroupInfo(id=g.id, name=g.name, member_ids=members[g.id]) for g in groups]


async def create_group(session: AsyncSession, principal: Principal, name: str) -> GroupInfo:
    require(principal, "manage_groups")
    row = await identity.create_group(session, principal.organization_id, name)
    return GroupInfo(id=row.id, name=row.name, member_ids=[])


async def set_group_member(
    session: AsyncSession, principal: Principal, group_id: str, user_id: str, *, member: bool
) -> None:
    require(principal, "manage_groups")
    group = await session.get(GroupRow, group_id)
    if group is None or group.organization_id != principal.organization_id:
        raise NotFound()
    user = await _org_user(session, principal, user_id)
    if member:
        await identity.add_group_member(session, group.id, user)
    else:
        await identity.remove_group_member(session, group.id, user.id)
