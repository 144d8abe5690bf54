"""History over HTTP: a model's revisions, restoring one, and the organization's audit log.

    GET  /api/models/{name}/revisions/                 the model's revisions, newest first (its writers)
    POST /api/models/{name}/revisions/{n}/restore/     write revision n's fields back (a new revision)
    GET  /api/audit-log/                               every write in the organization (its admins)

Every /api/ request that may write runs inside an audit context (`request_context`): the request id
(api/request_id.py: the caller's X-Request-ID when it is a sane token, else a fresh one, echoed in every
response) and the dialect the write came through; require_principal adds the caller. services/audit.py
records them with each write.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get
from litestar.params import FromQuery
from litestar.types import ASGIApp, Receive, Scope, Send

from modelreg.api.common import (
    check_paging,
    page_link,
    page_offset,
    path_name,
    previous_page,
    registry,
    require_allowed,
    require_principal,
)
from modelreg.api.contract import documented
from modelreg.domain.errors import InvalidInput
from modelreg.domain.names import could_be_stored
from modelreg.logs import REQUEST_ID
from modelreg.services import audit
from modelreg.services.usage_reports import parse_time
from modelreg.store.rows import AuditEntryRow, ModelRevisionRow

__all__ = [
    "RevisionPage",
    "audit_filters",
    "audit_log",
    "model_revisions",
    "request_context",
    "restore_target",
    "revisions_target",
]

AnyRequest = Request[Any, Any, Any]
REVISIONS_SUFFIX = "/revisions"
_RESTORE = re.compile(r"^(?P<name>.+)/revisions/(?P<n>[0-9]{1,9})/restore$")


def _via(path: str) -> str:
    if path.startswith(("/api/v1/models", "/api/models/model/")):
        return "openwebui"
    if path.startswith("/api/admin"):
        return "admin-api"
    return "respan"


def request_context(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: /api/ and /ui/ requests that may write (every method but GET and HEAD) run in an audit
    context carrying the request id (set by api/request_id.py, which runs first) and the dialect. Reads skip
    it: they record nothing, and retrieve is the hot path."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if str(scope["type"]) == "http" else ""
        if scope.get("method") in ("GET", "HEAD") or not path.startswith(("/api/", "/ui")):
            await app(scope, receive, send)
            return
        token = audit.enter("console" if path.startswith("/ui") else _via(path), REQUEST_ID.get() or "")
        try:
            await app(scope, receive, send)
        finally:
            audit.leave(token)

    return middleware


def revisions_target(path: str) -> str | None:
    """`<model name>/revisions` (no model may be named like that: domain/names.py)."""
    name = path.removeprefix("/")
    if name.endswith(REVISIONS_SUFFIX) and len(name) > len(REVISIONS_SUFFIX):
        return name[: -len(REVISIONS_SUFFIX)]
    return None


def restore_target(path: str) -> tuple[str, int] | None:
    """`<model name>/revisions/<n>/restore`."""
    match = _RESTORE.match(path.removeprefix("/"))
    return (match["name"], int(match["n"])) if match else None


class Revision(msgspec.Struct, kw_only=True):
    revision: int
    action: str
    """create, update, restore or delete."""
    at: datetime
    actor_user_id: str | None
    via: str | None
    """respan, openwebui, admin-api, console or cli."""
    request_id: str | None
    changed_fields: list[str]
    before: dict[str, Any] | None
    """The stored (sparse) fields before the change; null for a create. null fields inherit."""
    after: dict[str, Any] | None


class RevisionPage(msgspec.Struct, kw_only=True):
    count: int
    next: str | None
    previous: str | None
    results: list[Revision]


def _revision(row: ModelRevisionRow) -> Revision:
    return Revision(
        revision=row.revision,
        action=row.action,
        at=row.at,
        actor_user_id=row.actor_user_id,
        via=row.via,
        request_id=row.request_id,
        changed_fields=audit.changed_fields(row.before, row.after),
        before=row.before,
        after=row.after,
    )


def _int_query(request: AnyRequest, key: str, default: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("A valid integer is required.", key)
    return int(raw)


async def model_revisions(request: AnyRequest, name: str) -> RevisionPage:
    principal = await require_principal(request)
    page, page_size = _int_query(request, "page", 1), _int_query(request, "page_size", 100)
    check_paging(page, page_size)
    reg = registry(request)
    start = page_offset(page, page_size)
    async with reg.db.read() as session:
        count, rows = await reg.models.revisions(session, principal, path_name(name), offset=start, limit=page_size)
    previous = previous_page(page, page_size, count)
    return RevisionPage(
        count=count,
        next=page_link(request, page + 1, page_size) if start + page_size < count else None,
        previous=page_link(request, previous, page_size) if previous else None,
        results=[_revision(row) for row in rows],
    )


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    organization_id: str | None
    """null: a platform-wide write (a catalog sync)."""
    actor_user_id: str | None
    via: str | None
    request_id: str | None
    action: str
    object_type: str
    """model, provider, group, user, api_key, organization or catalog."""
    object_id: str
    changed_fields: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(msgspec.Struct, kw_only=True):
    count: int
    next: str | None
    previous: str | None
    results: list[AuditEntry]


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        organization_id=row.organization_id,
        actor_user_id=row.actor_user_id,
        via=row.via,
        request_id=row.request_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        changed_fields=audit.changed_fields(row.before, row.after),
        before=row.before,
        after=row.after,
    )


def _instant(value: str, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(parse_time(value, field), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput("Enter a valid ISO-8601 datetime or unix timestamp.", field) from None


def audit_filters(
    object_type: str | None,
    object_id: str | None,
    actor: str | None,
    action: str | None,
    start_time: str | None,
    end_time: str | None,
) -> audit.AuditFilters:
    """Query values checked (InvalidInput, a 400, for over-long values, control characters or bad times)."""
    for field, value in (("object_type", object_type), ("object_id", object_id), ("actor", actor), ("action", action)):
        if value is not None and not could_be_stored(value):  # over-long or control characters (PostgreSQL: NUL)
            raise InvalidInput("Not a valid value.", field)
    return audit.AuditFilters(
        object_type=object_type,
        object_id=object_id,
        actor=actor,
        action=action,
        start=_instant(start_time, "start_time") if start_time is not None else None,
        end=_instant(end_time, "end_time") if end_time is not None else None,
    )


@get("/api/audit-log", opt=documented(errors=(403,)))
async def audit_log(
    request: AnyRequest,
    object_type: FromQuery[str | None] = None,
    object_id: FromQuery[str | None] = None,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    start_time: FromQuery[str | None] = None,
    end_time: FromQuery[str | None] = None,
    page: FromQuery[int] = 1,
    page_size: FromQuery[int] = 100,
) -> AuditPage:
    """The organization's writes and platform-wide ones (catalog syncs), newest first; admins only.
    Filters: object_type, object_id, actor (a user id), action, start_time / end_time (ISO-8601 or unix)."""
    principal = await require_allowed(request, "read_audit_log")
    check_paging(page, page_size)
    filters = audit_filters(object_type, object_id, actor, action, start_time, end_time)
    async with registry(request).db.read() as session:
        total, rows = await audit.search(
            session, principal.organization_id, filters, page_offset(page, page_size), page_size
        )
    results = [_entry(row) for row in rows]
    previous = previous_page(page, page_size, total)
    return AuditPage(
        count=total,
        next=page_link(request, page + 1, page_size) if page * page_size < total else None,
        previous=page_link(request, previous, page_size) if previous else None,
        results=results,
    )
