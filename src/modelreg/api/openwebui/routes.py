"""Open WebUI-compatible routes: POST /api/models/model/update (seed 004) and the /api/v1/models family.

Same record, same permission rule (domain/access.py) as the Respan dialect; only the words differ:

| situation                                   | status | body                                   |
|---------------------------------------------|--------|----------------------------------------|
| missing, another organization's, unreadable | 401    | {"detail": "Model not found"}          |
| readable but not writable, or built-in      | 400    | {"detail": "Access prohibited"}        |
| id already taken (create)                   | 400    | {"detail": "Uh-oh! This model id ..."} |
| validation                                  | 400    | {"detail": ..., "<field>": [...]}      |

Deliberate differences from Open WebUI are listed in docs/openwebui.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from modelreg.api.common import decode_body, registry, require_principal, streamed_json
from modelreg.api.contract import documented
from modelreg.api.errors import domain_error_response, exception_handlers
from modelreg.api.grants import grants_from_wire
from modelreg.api.openwebui.convert import form_changes, model_wire
from modelreg.api.openwebui.schemas import (
    WebUIAccessForm,
    WebUIDeleteForm,
    WebUIImportForm,
    WebUIModel,
    WebUIModelForm,
    WebUIModelPage,
)
from modelreg.domain.access import AccessProhibited, can_write
from modelreg.domain.errors import DomainError, InvalidInput, NotFound, ReadOnlyModel
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.filters.parse import parse_filters
from modelreg.services.listing import parse_sort
from modelreg.services.model_import import ImportRefused, write_import
from modelreg.services.models import ModelChanges

__all__ = ["openwebui_router"]

AnyRequest = Request[Any, Any, Any]
PAGE_SIZE = 30  # Open WebUI's page size
SEED_EXAMPLE = {
    "id": "my-custom-gpt4",
    "name": "Updated Custom GPT-4",
    "base_model_id": "gpt-4o",
    "params": {"temperature": 0.8},
    "meta": {"description": "Enhanced GPT-4 model", "capabilities": {"vision": True}},
    "access_grants": [{"access_type": "user", "access_id": "*", "permission": "read"}],
}


def _render(_: AnyRequest, exc: DomainError) -> Response[Any]:
    if isinstance(exc, NotFound):
        return Response(content={"detail": "Model not found"}, status_code=401)
    if isinstance(exc, AccessProhibited | ReadOnlyModel):
        return Response(content={"detail": "Access prohibited"}, status_code=400)
    return domain_error_response(exc)


def _wire(model: Any, principal: Principal) -> WebUIModel:
    return model_wire(model, principal)


async def _update(request: AnyRequest) -> WebUIModel:
    principal = await require_principal(request)
    form = await decode_body(request, WebUIModelForm)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.update(
            session, principal, form.id, form_changes(form), replace=False, if_match=request.headers.get("if-match")
        )
    return _wire(model, principal)


@post("/api/models/model/update", status_code=200, opt=documented(body=WebUIModelForm, example=SEED_EXAMPLE))
async def update_model_seed(request: AnyRequest) -> WebUIModel:
    """Update a model (seed 004).

    Only the owner, a holder of a write grant, or an admin may update."""
    return await _update(request)


@post("/api/v1/models/model/update", status_code=200, opt=documented(body=WebUIModelForm, example=SEED_EXAMPLE))
async def update_model(request: AnyRequest) -> WebUIModel:
    """Update a model (as /api/models/model/update)."""
    return await _update(request)


@post("/api/v1/models/create", status_code=200, opt=documented(body=WebUIModelForm, example=SEED_EXAMPLE))
async def create_model(request: AnyRequest) -> WebUIModel:
    """Create a custom model (400 if the id is taken)."""
    principal = await require_principal(request)
    form = await decode_body(request, WebUIModelForm)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.create_new(session, principal, form.id, form_changes(form))
    return _wire(model, principal)


@get("/api/v1/models/model")
async def get_model(request: AnyRequest, id: FromQuery[str]) -> WebUIModel:
    """A model by id (built-ins too)."""
    principal = await require_principal(request)
    model = await registry(request).models.get(principal, id)
    return _wire(model, principal)


@post("/api/v1/models/model/toggle", status_code=200)
async def toggle_model(request: AnyRequest, id: FromQuery[str]) -> WebUIModel:
    """Switch is_active."""
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.toggle(session, principal, id)
    return _wire(model, principal)


@post(
    "/api/v1/models/model/access/update",
    status_code=200,
    opt=documented(
        body=WebUIAccessForm, example={"id": "my-custom-gpt4", "access_grants": SEED_EXAMPLE["access_grants"]}
    ),
)
async def update_access(request: AnyRequest) -> WebUIModel:
    """Replace the model's access grants."""
    principal = await require_principal(request)
    form = await decode_body(request, WebUIAccessForm)
    changes = ModelChanges(access_grants=grants_from_wire(form.access_grants))
    if isinstance(form.name, str):
        changes = msgspec.structs.replace(changes, display_name=form.name)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.update(session, principal, form.id, changes, replace=False, if_match=None)
    return _wire(model, principal)


@post(
    "/api/v1/models/model/delete",
    status_code=200,
    opt=documented(body=WebUIDeleteForm, example={"id": "my-custom-gpt4"}),
)
async def delete_model(request: AnyRequest) -> bool:
    """Delete a custom model; answers true."""
    principal = await require_principal(request)
    form = await decode_body(request, WebUIDeleteForm)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        await reg.models.delete(session, principal, form.id, if_match=None)
    return True


_ORDER_FIELDS = {"name": "display_name", "created_at": "created_at", "updated_at": "updated_at", "id": "model_name"}


@get("/api/v1/models/list")
async def list_models(
    request: AnyRequest,
    search: Annotated[str | None, QueryParameter(name="query")] = None,
    order_by: FromQuery[str] = "name",
    direction: FromQuery[Literal["asc", "desc"]] = "asc",
    page: FromQuery[int] = 1,
) -> WebUIModelPage:
    """The organization's custom models the caller may read (Open WebUI lists its own table: no built-ins)."""
    principal = await require_principal(request)
    if page < 1:
        raise InvalidInput("page must be >= 1.", "page")
    field = _ORDER_FIELDS.get(order_by)
    if field is None:
        raise InvalidInput(f"order_by must be one of: {', '.join(_ORDER_FIELDS)}", "order_by")
    filters: dict[str, Any] = {"affiliation_category": {"operator": "", "value": ["custom"]}}
    if search:
        filters["search"] = {
            "connector": "AND",
            "filter_params": {
                "model_name": {"operator": "icontains", "value": [search]},
                "display_name": {"operator": "icontains", "value": [search], "connector": "OR"},
            },
        }
    sort = parse_sort(("-" if direction == "desc" else "") + field)
    offset = min((page - 1) * PAGE_SIZE, 2**31 - 1)
    result = await registry(request).listing.run(principal, parse_filters(filters), sort, offset, PAGE_SIZE)
    return WebUIModelPage(items=[_wire(m, principal) for m in result.models], total=result.total)


@get("/api/v1/models/export", opt=documented(response=list[WebUIModel]))
async def export_models(request: AnyRequest) -> Response[Any] | Stream:
    """Every custom model the caller may write, params included (a backup the caller can re-import)."""
    principal = await require_principal(request)
    filters = {"affiliation_category": {"operator": "", "value": ["custom"]}}
    streamed = await registry(request).listing.stream(principal, parse_filters(filters), parse_sort(None))
    if not streamed.memoizable:
        # An organization served by SQL: written batch by batch, never held whole (the same bytes).
        def encode(model: LLMModel) -> bytes | None:
            return msgspec.json.encode(_wire(model, principal)) if can_write(principal, model) else None

        return streamed_json(streamed, encode)
    models = [_wire(m, principal) async for batch in streamed.batches() for m in batch if can_write(principal, m)]
    return Response(content=models)


class ImportResult(msgspec.Struct):
    id: str | None
    status: Literal["created", "updated"]
    detail: str | None = None


class ImportAnswer(msgspec.Struct):
    results: list[ImportResult]
    imported: int


@post(
    "/api/v1/models/import", status_code=200, opt=documented(body=WebUIImportForm, example={"models": [SEED_EXAMPLE]})
)
async def import_models(request: AnyRequest) -> ImportAnswer:
    """Import models (an upsert per model), all or nothing.

    The same checks as create and update, for each model; one transaction for the whole request. If any
    model is refused (invalid, not writable by the caller, a built-in's name), nothing is written and the
    answer is 400 naming it: `models[i] (id): reason`. Never deletes. Up to 10,000 models per request."""
    principal = await require_principal(request)
    form = await decode_body(request, WebUIImportForm)
    reg = registry(request)
    items: list[tuple[str, ModelChanges]] = []
    for position, raw in enumerate(form.models):
        try:
            item = msgspec.convert(raw, WebUIModelForm)
            items.append((item.id, form_changes(item)))
        except (msgspec.ValidationError, DomainError) as exc:
            raise _import_error(request, position, raw, exc) from exc
    async with reg.writing(principal.organization_id) as session:
        try:
            created = await write_import(reg.models, session, principal, items)
        except ImportRefused as refused:
            at = refused.position
            raise _import_error(request, at, form.models[at], refused.error) from refused.error
    results = [
        ImportResult(name, "created" if new else "updated") for (name, _), new in zip(items, created, strict=True)
    ]
    return ImportAnswer(results=results, imported=len(results))


def _import_error(request: AnyRequest, position: int, raw: Any, exc: Exception) -> InvalidInput:
    """The refusal of a whole import, naming the model that caused it (its position and id)."""
    if isinstance(exc, DomainError):
        rendered = _render(request, exc).content
        reason = rendered.get("detail") if isinstance(rendered, dict) else None
    else:
        reason = str(exc)
    ident = raw.get("id") if isinstance(raw, dict) else None
    label = f"models[{position}]" + (f" ({ident[:256]})" if isinstance(ident, str) else "")
    return InvalidInput(f"{label}: {reason or 'refused'}; nothing was imported.", "models")


openwebui_router = Router(
    path="/",
    route_handlers=[
        update_model_seed,
        update_model,
        create_model,
        get_model,
        toggle_model,
        update_access,
        delete_model,
        list_models,
        export_models,
        import_models,
    ],
    exception_handlers={**exception_handlers, DomainError: _render},
)
