"""Read-only listings of organizations, users, API keys and groups for operators (the CLI), and the
`--org` argument resolved from an id or a (unique) name. Keys are listed by their metadata only: the key
itself is never stored, so it can never be shown."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.store.rows import ApiKeyRow, GroupMemberRow, GroupRow, OrganizationRow, UserRow

__all__ = [
    "GroupEntry",
    "KeyEntry",
    "OrganizationEntry",
    "UserEntry",
    "groups",
    "keys",
    "organizations",
    "resolve_org",
    "users",
]


class OrganizationEntry(msgspec.Struct):
    id: str
    name: str
    created_at: datetime
    users: int


class UserEntry(msgspec.Struct):
    id: str
    organization_id: str
    email: str
    role: str
    created_at: datetime


class KeyEntry(msgspec.Struct):
    id: str
    name: str | None
    owner_email: str
    organization_id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class GroupEntry(msgspec.Struct):
    id: str
    organization_id: str
    name: str
    members: list[str]
    """Member emails."""


async def resolve_org(session: AsyncSession, value: str) -> str:
    """The id of the organization named by `value`: its id, else its name (names are unique)."""
    if await session.get(OrganizationRow, value) is not None:
        return value
    found = await session.scalar(select(OrganizationRow.id).where(OrganizationRow.name == value))
    if found is None:
        raise NotFound(f"organization {value} not found (give its id or its name)")
    return str(found)


async def organizations(session: AsyncSession) -> list[OrganizationEntry]:
    counts = dict(
        (await session.execute(select(UserRow.organization_id, func.count()).group_by(UserRow.organization_id))).all()
    )
    rows = await session.scalars(select(OrganizationRow).order_by(OrganizationRow.created_at, OrganizationRow.id))
    return [OrganizationEntry(r.id, r.name, r.created_at, int(counts.get(r.id, 0))) for r in rows]


async def users(session: AsyncSession, organization_id: str | None = None) -> list[UserEntry]:
    query = select(UserRow).order_by(UserRow.created_at, UserRow.id)
    if organization_id is not None:
        query = query.where(UserRow.organization_id == organization_id)
    return [UserEntry(r.id, r.organization_id, r.email, r.role, r.created_at) for r in await session.scalars(query)]


async def keys(
    session: AsyncSession, *, email: str | None = None, organization_id: str | None = None
) -> list[KeyEntry]:
    if email is not None and organization_id is not None:
        raise InvalidInput("give --email or --org, not both")
    query = (
        select(ApiKeyRow, UserRow.email, UserRow.organization_id)
        .join(UserRow, UserRow.id == ApiKeyRow.user_id)
        .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
    )
    if email is not None:
        owner = await session.scalar(select(UserRow.id).where(UserRow.email == email.strip().lower()))
        if owner is None:
            raise NotFound(f"no user with email {email}")
        query = query.where(ApiKeyRow.user_id == owner)
    if organization_id is not None:
        query = query.where(UserRow.organization_id == organization_id)
    return [
        KeyEntry(
            id=key.id,
            name=key.name,
            owner_email=owner_email,
            organization_id=org_id,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )
        for key, owner_email, org_id in (await session.execute(query)).all()
    ]


async def groups(session: AsyncSession, organization_id: str | None = None) -> list[GroupEntry]:
    query = select(GroupRow).order_by(GroupRow.organization_id, GroupRow.name)
    if organization_id is not None:
        query = query.where(GroupRow.organization_id == organization_id)
    rows = list(await session.scalars(query))
    members: dict[str, list[str]] = {}
    pairs = await session.execute(
        select(GroupMemberRow.group_id, UserRow.email)
        .join(UserRow, UserRow.id == GroupMemberRow.user_id)
        .where(GroupMemberRow.group_id.in_([r.id for r in rows]))
        .order_by(UserRow.email)
    )
    for group_id, email in pairs.all():
        members.setdefault(group_id, []).append(email)
    return [GroupEntry(r.id, r.organization_id, r.name, members.get(r.id, [])) for r in rows]
