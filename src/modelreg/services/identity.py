"""Organizations, users and API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.auth.keys import generate_api_key, hash_api_key, lookup_prefix
from modelreg.auth.passwords import hash_password
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.names import validate_name
from modelreg.services import audit
from modelreg.store import counters
from modelreg.store.rows import ApiKeyRow, GroupMemberRow, GroupRow, OrganizationRow, UserRow

__all__ = [
    "CreatedKey",
    "CreatedOrganization",
    "create_api_key",
    "create_organization",
    "create_user",
    "revoke_api_key",
]

ROLES = ("admin", "member")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class CreatedOrganization(msgspec.Struct):
    organization_id: str
    user_id: str
    api_key: str


class CreatedKey(msgspec.Struct):
    key_id: str
    api_key: str


def _normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(ch.isspace() for ch in email):
        raise InvalidInput("Enter a valid email address.", "email")
    return email


async def create_user(
    session: AsyncSession, organization_id: str, email: str, role: str = "member", password: str | None = None
) -> UserRow:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "role")
    email = _normalize_email(email)
    if await session.get(OrganizationRow, organization_id) is None:
        raise NotFound(f"organization {organization_id} not found")
    if await session.scalar(select(UserRow.id).where(UserRow.email == email)) is not None:
        raise InvalidInput(f"a user with email {email} already exists", "email")
    row = UserRow(
        id=new_id("usr"),
        organization_id=organization_id,
        email=email,
        role=role,
        password_hash=hash_password(password) if password else None,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        action="create",
        object_type="user",
        object_id=row.id,
        after={"user_id": row.id, "email": email, "role": role, "has_password": password is not None},
    )
    return row


def _key_state(row: ApiKeyRow) -> dict[str, object]:
    """What the audit log keeps of a key: never the key or its hash."""
    return {
        "key_id": row.id,
        "user_id": row.user_id,
        "name": row.name,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


async def _organization_of(session: AsyncSession, user_id: str) -> str | None:
    return await session.scalar(select(UserRow.organization_id).where(UserRow.id == user_id))


async def create_api_key(
    session: AsyncSession, user_id: str, name: str | None = None, expires_in_days: int | None = None
) -> CreatedKey:
    if expires_in_days is not None and not 1 <= expires_in_days <= 36500:
        raise InvalidInput("expires-in-days must be between 1 and 36500", "expires_in_days")
    key = generate_api_key()
    prefix = lookup_prefix(key)
    assert prefix is not None
    row = ApiKeyRow(
        id=new_id("key"),
        user_id=user_id,
        name=name,
        lookup_prefix=prefix,
        key_hash=hash_api_key(key),
        expires_at=datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        organization_id=await _organization_of(session, user_id),
        action="create",
        object_type="api_key",
        object_id=row.id,
        after=_key_state(row),
    )
    return CreatedKey(key_id=row.id, api_key=key)


async def create_api_key_for_email(
    session: AsyncSession, email: str, name: str | None = None, expires_in_days: int | None = None
) -> CreatedKey:
    user_id = await session.scalar(select(UserRow.id).where(UserRow.email == _normalize_email(email)))
    if user_id is None:
        raise NotFound(f"no user with email {email}")
    return await create_api_key(session, user_id, name, expires_in_days)


async def revoke_api_key(session: AsyncSession, key_id: str) -> None:
    row = await session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    before = _key_state(row)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    await audit.record(
        session,
        organization_id=await _organization_of(session, row.user_id),
        action="revoke",
        object_type="api_key",
        object_id=row.id,
        before=before,
        after=_key_state(row),
    )
    await counters.bump(session, counters.IDENTITY)


async def create_organization(
    session: AsyncSession, name: str, admin_email: str, admin_password: str | None = None
) -> CreatedOrganization:
    validate_name(name, "name")
    if await session.scalar(select(OrganizationRow.id).where(OrganizationRow.name == name)) is not None:
        raise InvalidInput(f"an organization named {name} already exists", "name")
    org = OrganizationRow(id=new_id("org"), name=name)
    session.add(org)
    await session.flush()
    await audit.record(
        session,
        organization_id=org.id,
        action="create",
        object_type="organization",
        object_id=org.id,
        after={"organization_id": org.id, "name": name},
    )
    user = await create_user(session, org.id, admin_email, "admin", admin_password)
    key = await create_api_key(session, user.id, name="initial admin key")
    return CreatedOrganization(organization_id=org.id, user_id=user.id, api_key=key.api_key)


async def organization_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(OrganizationRow)) or 0)


async def create_group(session: AsyncSession, organization_id: str, name: str) -> GroupRow:
    validate_name(name, "name")
    if await session.get(OrganizationRow, organization_id) is None:
        raise NotFound(f"organization {organization_id} not found")
    taken = await session.scalar(
        select(GroupRow.id).where(GroupRow.organization_id == organization_id, GroupRow.name == name)
    )
    if taken is not None:
        raise InvalidInput(f"a group named {name} already exists in this organization", "name")
    row = GroupRow(id=new_id("grp"), organization_id=organization_id, name=name)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        organization_id=organization_id,
        action="create",
        object_type="group",
        object_id=row.id,
        after={"group_id": row.id, "name": name},
    )
    return row


async def find_user(session: AsyncSession, *, email: str | None = None, user_id: str | None = None) -> UserRow:
    if user_id is not None:
        row = await session.get(UserRow, user_id)
    else:
        row = (
            await session.execute(select(UserRow).where(UserRow.email == _normalize_email(email or "")))
        ).scalar_one_or_none()
    if row is None:
        raise NotFound("user not found")
    return row


async def add_group_member(session: AsyncSession, group_id: str, user: UserRow) -> bool:
    """Members must belong to the group's organization (a group never spans organizations). False when
    the user already was a member (nothing changed)."""
    group = await session.get(GroupRow, group_id)
    if group is None or group.organization_id != user.organization_id:
        raise NotFound("group not found")
    if await session.get(GroupMemberRow, (group_id, user.id)) is not None:
        return False
    session.add(GroupMemberRow(group_id=group_id, user_id=user.id))
    await session.flush()
    await audit.record(
        session,
        organization_id=group.organization_id,
        action="add_member",
        object_type="group",
        object_id=group_id,
        after={"member_user_id": user.id},
    )
    await counters.bump(session, counters.IDENTITY)
    return True


async def remove_group_member(session: AsyncSession, group_id: str, user_id: str) -> None:
    row = await session.get(GroupMemberRow, (group_id, user_id))
    if row is None:
        raise NotFound("not a member")
    await session.delete(row)
    await audit.record(
        session,
        organization_id=await session.scalar(select(GroupRow.organization_id).where(GroupRow.id == group_id)),
        action="remove_member",
        object_type="group",
        object_id=group_id,
        before={"member_user_id": user_id},
    )
    await counters.bump(session, counters.IDENTITY)


async def organization_principals(session: AsyncSession, organization_id: str) -> tuple[set[str], set[str]]:
    """(user ids, group ids) of an organization: what access grants may name."""
    users = set(await session.scalars(select(UserRow.id).where(UserRow.organization_id == organization_id)))
    groups = set(await session.scalars(select(GroupRow.id).where(GroupRow.organization_id == organization_id)))
    return users, groups


async def emails_of(session: AsyncSession, organization_id: str, user_ids: set[str]) -> dict[str, str]:
    """The emails of those of `user_ids` that are users of this organization (pages show people, not ids;
    an id from elsewhere, e.g. a platform-wide write, stays an id)."""
    if not user_ids:
        return {}
    query = select(UserRow.id, UserRow.email).where(
        UserRow.organization_id == organization_id, UserRow.id.in_(user_ids)
    )
    return {row.id: row.email for row in await session.execute(query)}
