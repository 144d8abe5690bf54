"""Create and edit a custom model, deactivate and delete it.

The form is translated into the Respan dialect's write body (`RespanModelWrite`, converted with the same
msgspec schema and `model_changes` as the API), so validation says exactly what the API says, beside the
field it is about. An empty field means "inherit" (null). Edits carry the ETag they were loaded with as
If-Match: when someone saved in between, the form comes back with both versions and nothing is written.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from modelreg.api.common import path_name, registry
from modelreg.api.errors import validation_error_body
from modelreg.api.respan.convert import model_changes
from modelreg.api.respan.schemas import RespanModelWrite
from modelreg.domain.access import AccessProhibited, can_write
from modelreg.domain.errors import InvalidInput, NotFound, PreconditionFailed
from modelreg.domain.llm_model import INHERITABLE_FIELDS, MODEL_TYPES, LLMModel
from modelreg.domain.principal import Principal
from modelreg.services import accounts
from modelreg.ui.model_view import FIELD_LABELS
from modelreg.ui.web import page, redirect, signed_in

__all__ = ["model_form_handlers"]

AnyRequest = Request[Any, Any, Any]
FLAGS = ("streaming_support", "function_call", "image_support")
NUMBERS = ("input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost", "max_context_window")
JSON_FIELDS = ("supported_params_override", "params")
META_FIELDS = ("description", "profile_image_url")
MAX_GRANT_ROWS = 200


async def _own_values(request: AnyRequest, principal: Principal, model: LLMModel) -> dict[str, Any]:
    """What the form shows for a stored model: its own values only (inherited ones become placeholders)."""
    chain = await registry(request).models.chain(principal, model)
    own = chain[0].values if chain and not chain[0].builtin else {}
    values: dict[str, Any] = {
        "model_name": model.name,
        "base_model_name": model.base_model_name or "",
        "provider_id": chain[0].provider_id or "" if chain else "",
        "is_active": model.is_active,
        "grants": [(f"{g.principal_type}:{g.principal_id}", g.permission) for g in model.grants],
        "etag": model.etag,
    }
    for field in INHERITABLE_FIELDS:
        value = own.get(field)
        values[field] = "" if value is None else str(value)
    for field in JSON_FIELDS:
        value = getattr(model, field)
        values[field] = json.dumps(value, indent=2) if value else ""
    for field in META_FIELDS:
        values[field] = str(model.meta.get(field) or "")
    return values


async def _inherited(request: AnyRequest, principal: Principal, base_name: str) -> LLMModel | None:
    if not base_name:
        return None
    try:
        return await registry(request).models.get(principal, base_name)
    except (NotFound, InvalidInput):
        return None


async def _render(
    request: AnyRequest,
    principal: Principal,
    values: dict[str, Any],
    *,
    editing: LLMModel | None,
    errors: dict[str, str] | None = None,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Template:
    reg = registry(request)
    async with reg.db.read() as session:
        providers, _ = await reg.providers.list(session, principal, 0, 1000)
        users = await accounts.list_users(session, principal, directory=True)
        groups = await accounts.list_groups(session, principal, directory=True)
    base = await _inherited(request, principal, str(values.get("base_model_name") or ""))
    grants = list(values.get("grants") or [])
    grants += [("", "read")] * 2
    return page(
        request,
        "model_form.html",
        principal,
        status_code=status_code,
        title=f"Edit {editing.name}" if editing else "New custom model",
        editing=editing,
        values=values,
        errors=errors or {},
        conflict=conflict,
        base=base,
        providers=providers,
        users=[u for u in users if u.is_active],
        groups=groups,
        grants=grants,
        labels=FIELD_LABELS,
        model_types=MODEL_TYPES,
        flags=FLAGS,
        numbers=NUMBERS,
    )


def _read_form(form: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(values as typed, the Respan write body, errors found before the schema sees it)."""
    values: dict[str, Any] = {}
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in ("model_name", "base_model_name", "provider_id", "display_name", "model_type", *NUMBERS, *FLAGS):
        text = str(form.get(field, "")).strip()
        values[field] = text
        if field == "model_name":
            if text:
                body[field] = text
            continue
        if field == "provider_id":
            body["custom_provider_id"] = text or None
            continue
        body[field] = (int(text) if text in ("0", "1") else text) if field in FLAGS and text else (text or None)
    for field in JSON_FIELDS:
        text = str(form.get(field, "")).strip()
        values[field] = text
        if not text:
            body[field] = None
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            errors[field] = 'Enter a JSON object, e.g. {"temperature": 0.2}, or leave empty to inherit.'
        else:
            body[field] = parsed
    meta: dict[str, Any] = {}
    for field in META_FIELDS:
        text = str(form.get(field, "")).strip()
        values[field] = text
        if text:
            meta[field] = text
    body["meta"] = meta
    grants: list[tuple[str, str]] = []
    wire: list[dict[str, str]] = []
    for who, permission in list(zip(form.getall("grant_who", []), form.getall("grant_permission", []), strict=False))[
        :MAX_GRANT_ROWS
    ]:
        if not who:
            continue
        grants.append((who, permission))
        kind, _, ident = str(who).partition(":")
        wire.append({"access_type": kind, "access_id": ident, "permission": str(permission)})
    values["grants"] = grants
    body["access_grants"] = wire
    values["is_active"] = form.get("is_active") == "on"
    body["is_active"] = values["is_active"]
    values["etag"] = str(form.get("etag", ""))[:100]
    return values, body, errors


def _field_of(exc: InvalidInput) -> str:
    field = exc.field or "non_field_errors"
    return {"custom_provider_id": "provider_id", "id": "model_name", "filters": "non_field_errors"}.get(field, field)


async def _save(request: AnyRequest, editing: LLMModel | None) -> Response[Any]:
    principal = await signed_in(request)
    reg = registry(request)
    values, raw, errors = _read_form(await request.form())
    if editing is not None:
        values["model_name"] = editing.name
        stored_meta = {k: v for k, v in editing.meta.items() if k not in META_FIELDS}
        raw["meta"] = {**stored_meta, **raw["meta"]}
    if not errors:
        try:
            body = msgspec.convert(raw, RespanModelWrite, strict=False)
        except msgspec.ValidationError as exc:
            shape = validation_error_body(exc)
            field = next((k for k in shape if k != "detail"), "non_field_errors")
            errors[{"custom_provider_id": "provider_id"}.get(field, field)] = shape.get(field, [shape["detail"]])[0]
    if errors:
        return await _render(request, principal, values, editing=editing, errors=errors, status_code=400)
    changes = model_changes(body)
    try:
        async with reg.writing(principal.organization_id) as session:
            if editing is None:
                if not isinstance(body.model_name, str) or not body.model_name:
                    raise InvalidInput("This field is required.", "model_name")
                model = await reg.models.create_new(session, principal, body.model_name, changes)
            else:
                model = await reg.models.update(
                    session, principal, editing.name, changes, replace=False, if_match=values["etag"] or None
                )
    except PreconditionFailed:
        current = await reg.models.get(principal, editing.name if editing else "")
        theirs = await _own_values(request, principal, current)
        changed = [k for k in theirs if k not in ("etag",) and str(theirs[k]) != str(values.get(k, ""))]
        conflict = {"theirs": theirs, "changed": changed}
        values["etag"] = current.etag  # saving again now overwrites deliberately, with both versions seen
        return await _render(request, principal, values, editing=current, conflict=conflict, status_code=409)
    except InvalidInput as exc:
        return await _render(
            request, principal, values, editing=editing, errors={_field_of(exc): exc.message}, status_code=400
        )
    except NotFound:
        if body.custom_provider_id:  # the chosen provider was deleted since the form was opened
            return await _render(
                request, principal, values, editing=editing, errors={"provider_id": "Not found."}, status_code=400
            )
        raise
    return redirect(f"/ui/models/{quote(model.name, safe='/')}", "Saved.")


async def _writable(request: AnyRequest, principal: Principal, name: str) -> LLMModel:
    model = await registry(request).models.get(principal, path_name(name))
    if model.is_builtin or not can_write(principal, model):
        raise AccessProhibited()
    return model


@get("/ui/new", include_in_schema=False)
async def new_model(request: AnyRequest) -> Template:
    principal = await signed_in(request)
    values: dict[str, Any] = {"is_active": True, "grants": [("user:*", "read")]}
    values["base_model_name"] = request.query_params.get("base", "")[:256]
    return await _render(request, principal, values, editing=None)


@post("/ui/new", include_in_schema=False)
async def create_model(request: AnyRequest) -> Response[Any]:
    return await _save(request, None)


@get("/ui/edit/{name:path}", include_in_schema=False)
async def edit_model(request: AnyRequest, name: FromPath[str]) -> Template:
    principal = await signed_in(request)
    model = await _writable(request, principal, name)
    return await _render(request, principal, await _own_values(request, principal, model), editing=model)


@post("/ui/edit/{name:path}", include_in_schema=False)
async def update_model(request: AnyRequest, name: FromPath[str]) -> Response[Any]:
    principal = await signed_in(request)
    return await _save(request, await _writable(request, principal, name))


@post("/ui/toggle/{name:path}", include_in_schema=False)
async def toggle_model(request: AnyRequest, name: FromPath[str]) -> Response[Any]:
    principal = await signed_in(request)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.toggle(session, principal, path_name(name))
    return redirect(f"/ui/models/{quote(model.name, safe='/')}", "Activated." if model.is_active else "Deactivated.")


@post("/ui/delete/{name:path}", include_in_schema=False)
async def delete_model(request: AnyRequest, name: FromPath[str]) -> Response[Any]:
    principal = await signed_in(request)
    reg = registry(request)
    form = await request.form()
    target = path_name(name)
    try:
        async with reg.writing(principal.organization_id) as session:
            await reg.models.delete(session, principal, target, str(form.get("etag", ""))[:100] or None)
    except PreconditionFailed:
        return redirect(
            f"/ui/models/{quote(target, safe='/')}",
            "Someone changed this model since you opened it; review it, then delete.",
        )
    except InvalidInput as exc:  # other models use it as their base
        return redirect(f"/ui/models/{quote(target, safe='/')}", exc.message)
    return redirect("/ui/", f"Deleted {target}.")


model_form_handlers = [new_model, create_model, edit_model, update_model, toggle_model, delete_model]
