"""A model's revisions with restore (its writers), and the organization's audit log (its admins).

Both read through the same services and permission checks as the API: `reg.models.revisions` /
`reg.models.restore` (domain/access.py; restore is an ordinary write with If-Match from the page's etag) and
`audit.search` behind `read_audit_log`. Nothing secret is on either page: revisions and audit entries never
hold a secret (providers record only which secrets changed).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response, Template

from modelreg.api.common import path_name, registry
from modelreg.api.history_routes import audit_filters
from modelreg.domain.errors import InvalidInput, NotFound, PreconditionFailed
from modelreg.domain.org_access import require
from modelreg.services import audit, identity
from modelreg.ui.web import page, redirect, signed_in

__all__ = ["history_handlers"]

AnyRequest = Request[Any, Any, Any]
AUDIT_PAGE_SIZE = 50
REVISIONS_PAGE_SIZE = 50
OBJECT_TYPES = ("model", "provider", "group", "user", "api_key", "organization", "catalog")


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field that changed."""
    return [
        (field, (before or {}).get(field), (after or {}).get(field)) for field in audit.changed_fields(before, after)
    ]


def _page_number(request: AnyRequest) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) <= 6 and int(raw) > 0 else 1


@get("/ui/history/{name:path}", include_in_schema=False)
async def history_page(request: AnyRequest, name: FromPath[str]) -> Template:
    principal = await signed_in(request)
    reg = registry(request)
    target = path_name(name)
    number = _page_number(request)
    async with reg.db.read() as session:
        total, rows = await reg.models.revisions(
            session, principal, target, offset=(number - 1) * REVISIONS_PAGE_SIZE, limit=REVISIONS_PAGE_SIZE
        )
        emails = await identity.emails_of(
            session, principal.organization_id, {row.actor_user_id for row in rows if row.actor_user_id}
        )
    model = await reg.models.get(principal, target)
    revisions = [
        {
            "revision": row.revision,
            "action": row.action,
            "at": row.at,
            "actor": emails.get(row.actor_user_id, row.actor_user_id) if row.actor_user_id else None,
            "via": row.via,
            "changes": _changes(row.before, row.after),
            "restorable": row.after is not None and not (number == 1 and row is rows[0]),
        }
        for row in rows
    ]
    return page(
        request,
        "history.html",
        principal,
        title=f"History of {model.name}",
        model=model,
        revisions=revisions,
        total=total,
        number=number,
        newer=f"?page={number - 1}" if number > 1 else None,
        older=f"?page={number + 1}" if number * REVISIONS_PAGE_SIZE < total else None,
    )


@post("/ui/restore/{name:path}", include_in_schema=False)
async def restore_revision(request: AnyRequest, name: FromPath[str]) -> Response[Any]:
    principal = await signed_in(request)
    reg = registry(request)
    target = path_name(name)
    form = await request.form()
    raw = str(form.get("revision", ""))
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound()
    back = f"/ui/history/{quote(target, safe='/')}"
    try:
        async with reg.writing(principal.organization_id) as session:
            await reg.models.restore(session, principal, target, int(raw), str(form.get("etag", ""))[:100] or None)
    except PreconditionFailed:
        return redirect(back, "Someone changed this model since you opened this page; review it, then restore.")
    except InvalidInput as exc:  # e.g. the revision's provider or base model is gone
        return redirect(back, exc.message)
    return redirect(back, f"Restored revision {raw}.")


@get("/ui/admin/audit", include_in_schema=False)
async def audit_page(request: AnyRequest) -> Template:
    principal = require(await signed_in(request), "read_audit_log")
    query = request.query_params

    def value(key: str) -> str | None:
        return (query.get(key) or "").strip() or None

    shown = {key: value(key) or "" for key in ("object_type", "object_id", "actor", "start_time", "end_time")}
    number = _page_number(request)
    error = ""
    total, entries = 0, []
    try:
        filters = audit_filters(
            value("object_type"), value("object_id"), value("actor"), None, value("start_time"), value("end_time")
        )
    except InvalidInput as exc:
        error = f"{exc.field}: {exc.message}" if exc.field else exc.message
    else:
        async with registry(request).db.read() as session:
            total, rows = await audit.search(
                session, principal.organization_id, filters, (number - 1) * AUDIT_PAGE_SIZE, AUDIT_PAGE_SIZE
            )
            emails = await identity.emails_of(
                session, principal.organization_id, {row.actor_user_id for row in rows if row.actor_user_id}
            )
        entries = [
            {
                "at": row.at,
                "actor": emails.get(row.actor_user_id, row.actor_user_id) if row.actor_user_id else None,
                "actor_id": row.actor_user_id,
                "via": row.via,
                "request_id": row.request_id,
                "action": row.action,
                "object_type": row.object_type,
                "object_id": row.object_id,
                "changes": _changes(row.before, row.after),
            }
            for row in rows
        ]

    def link(to: int) -> str:
        return "?" + urlencode({**{k: v for k, v in shown.items() if v}, "page": to})

    return page(
        request,
        "audit.html",
        principal,
        status_code=400 if error else 200,
        title="Audit log",
        filters=shown,
        object_types=OBJECT_TYPES,
        entries=entries,
        total=total,
        error=error,
        previous=link(number - 1) if number > 1 else None,
        next=link(number + 1) if number * AUDIT_PAGE_SIZE < total else None,
        number=number,
    )


history_handlers = [history_page, restore_revision, audit_page]
