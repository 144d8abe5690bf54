"""The audit log: one entry per write, in the write's own transaction (no change without its entry, no entry
without its change).

Every write service calls `record(session, ...)` with the object's state before and after, as plain JSON
(never a secret: providers pass which secrets changed, keys their id and name). Who, through what and under
which request come from the caller's context, set once per HTTP request (api/audit_routes.py's middleware:
request id, dialect; require_principal: the actor) or by the CLI (`acting("cli")`), so a route added later
only has to call `record`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.store.deferred import add_row
from modelreg.store.rows import AuditEntryRow

__all__ = [
    "Actor",
    "AuditFilters",
    "acting",
    "changed_fields",
    "current_actor",
    "enter",
    "leave",
    "prune",
    "record",
    "request_id_from",
    "search",
    "set_actor_user",
]


class Actor(NamedTuple):
    """Who is writing, and through what: `respan`, `openwebui`, `admin-api`, `console`, `cli`."""

    user_id: str | None = None
    via: str | None = None
    request_id: str | None = None


_ACTOR: ContextVar[Actor | None] = ContextVar("modelreg_actor", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Request ids: a random per-process prefix and a counter (unique across processes and restarts in practice,
# and ~20x cheaper than uuid4 on every /api/ request).
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def current_actor() -> Actor:
    return _ACTOR.get() or Actor()


@contextlib.contextmanager
def acting(via: str, *, user_id: str | None = None, request_id: str | None = None) -> Iterator[Actor]:
    """Writes inside this block are attributed to `user_id` through `via`."""
    actor = Actor(user_id=user_id, via=via, request_id=request_id)
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def enter(via: str, request_id: str) -> Token[Actor | None]:
    """`acting` without the context manager, for the per-request middleware; undo with `leave(token)`."""
    return _ACTOR.set(Actor(None, via, request_id))


def leave(token: Token[Actor | None]) -> None:
    _ACTOR.reset(token)


def set_actor_user(user_id: str) -> None:
    """The authenticated caller of the current request (called where the credential is checked)."""
    _ACTOR.set(current_actor()._replace(user_id=user_id))


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    if header is not None and _REQUEST_ID.match(header):
        return header
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def _json(value: Any) -> Any:
    """Plain JSON for a JSON column (msgspec structs, tuples, datetimes included)."""
    return None if value is None else msgspec.json.decode(msgspec.json.encode(value))


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    keys = set(before or {}) | set(after or {})
    return sorted(k for k in keys if (before or {}).get(k) != (after or {}).get(k))


async def record(
    session: AsyncSession,
    *,
    organization_id: str | None,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
    actor_user_id: str | None = None,
) -> None:
    """Add one audit entry to the caller's transaction. `actor_user_id` overrides the context's actor."""
    actor = current_actor()
    add_row(
        session,
        AuditEntryRow,
        {
            "organization_id": organization_id,
            "at": datetime.now(UTC),
            "actor_user_id": actor_user_id or actor.user_id,
            "via": actor.via,
            "request_id": actor.request_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": _json(before),
            "after": _json(after),
        },
    )


async def prune(session: AsyncSession, retention_days: int, now: datetime | None = None) -> int:
    """Delete entries older than the retention period; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    result = await session.execute(delete(AuditEntryRow).where(AuditEntryRow.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


class AuditFilters(NamedTuple):
    """Exact-match filters of the audit log (None: any) and a time range (inclusive)."""

    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def search(
    session: AsyncSession, organization_id: str, filters: AuditFilters, offset: int, limit: int
) -> tuple[int, list[AuditEntryRow]]:
    """The organization's entries and platform-wide ones (catalog syncs), newest first: (total, one page).
    Shared by GET /api/audit-log/ and the console's audit page; the caller checks `read_audit_log`."""
    conditions = [or_(AuditEntryRow.organization_id == organization_id, AuditEntryRow.organization_id.is_(None))]
    for column, value in (
        (AuditEntryRow.object_type, filters.object_type),
        (AuditEntryRow.object_id, filters.object_id),
        (AuditEntryRow.actor_user_id, filters.actor),
        (AuditEntryRow.action, filters.action),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.start is not None:
        conditions.append(AuditEntryRow.at >= filters.start)
    if filters.end is not None:
        conditions.append(AuditEntryRow.at <= filters.end)
    total = int(await session.scalar(select(func.count()).select_from(AuditEntryRow).where(*conditions)) or 0)
    rows = await session.scalars(
        select(AuditEntryRow)
        .where(*conditions)
        .order_by(AuditEntryRow.at.desc(), AuditEntryRow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return total, list(rows)
