"""Respan-compatible routes: custom models and custom providers.

Routes decode, call one service method inside one transaction, and render through convert.py.
Literal routes (list/, summary/, public/) are matched before the greedy {model_name:path} route by
Litestar's router, so names containing `/` work and `%2F` arrives already decoded as `/`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, QueryParameter

from modelreg.api.common import (
    check_paging,
    decode_body,
    page_link,
    page_offset,
    path_name,
    previous_page,
    registry,
    require_principal,
    streamed_json,
)
from modelreg.api.contract import documented
from modelreg.api.errors import exception_handlers
from modelreg.api.history_routes import (
    RevisionPage,
    audit_log,
    model_revisions,
    restore_target,
    revisions_target,
)
from modelreg.api.price_routes import (
    PriceEntry,
    PriceHistory,
    model_prices,
    price_entry_target,
    prices_target,
    schedule_price,
    unschedule_price,
)
from modelreg.api.respan.convert import model_bytes, model_changes, provider_changes, provider_wire
from modelreg.api.respan.import_routes import import_handlers
from modelreg.api.respan.listing_routes import listing_handlers
from modelreg.api.respan.schemas import (
    RespanModel,
    RespanModelWrite,
    RespanProvider,
    RespanProviderPage,
    RespanProviderWrite,
)
from modelreg.api.usage_routes import STATUS_SUFFIX, ModelStatusSeries, model_status, status_from_post, usage_handlers
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.filters.parse import parse_filters
from modelreg.registry import Registry
from modelreg.services.listing import parse_sort

__all__ = ["respan_router", "retrieve_model", "status_target"]

AnyRequest = Request[Any, Any, Any]
MODEL_EXAMPLE = {
    "model_name": "team-gpt",
    "base_model_name": "gpt-4o",
    "custom_provider_id": "my-openai",
    "input_cost": 2.0,
}
STATUS_EXAMPLE = {"start_time": "2026-12-01T00:00:00Z", "end_time": "2026-12-02T00:00:00Z", "time_tick": "hour"}
STATUS_POST = documented(
    body=dict[str, Any],
    response=ModelStatusSeries,
    alternatives=(RespanModel, PriceEntry),
    also=(201,),
    errors=(403, 412),
    auth="optional",
    example=STATUS_EXAMPLE,
)
PROVIDER_WRITE = documented(
    body=RespanProviderWrite,
    response=RespanProvider,
    errors=(403, 412),
    etag=True,
    example={"provider_name": "My OpenAI", "extra_kwargs": {"base_url": "https://api.openai.com/v1", "timeout": 60}},
)
MODEL_WRITE = documented(
    body=RespanModelWrite,
    response=RespanModel,
    errors=(403, 412),
    etag=True,
    example={"input_cost": None, "output_cost": 8, "display_name": "Team GPT"},
)
PROVIDER_EXAMPLE = {
    "provider_id": "my-openai",
    "provider_name": "My OpenAI",
    "extra_kwargs": {"base_url": "https://api.openai.com/v1"},
    "api_key": "sk-...",
}


def _model_response(reg: Registry, model: LLMModel, principal: Principal, status: int = 200) -> Response[Any]:
    """The model's JSON (memoized per snapshot: convert.model_bytes), with its ETag if it is a custom model."""
    headers = {"ETag": model.etag} if not model.is_builtin else {}
    return Response(
        content=model_bytes(reg.index, model, principal),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


@get("/api/models", opt=documented(response=list[RespanModel]))
async def list_models(
    request: AnyRequest,
    sort_by: FromQuery[str] = "model_name",
    all_: Annotated[bool, QueryParameter(name="all")] = False,
) -> Response[Any]:
    """Every model the caller can see, as a bare array.

    Built-ins plus the organization's custom models, resolved; `all` is accepted for compatibility: the array
    is always complete."""
    del all_
    principal = await require_principal(request)
    reg = registry(request)
    sort = parse_sort(sort_by)
    streamed = await reg.listing.stream(principal, parse_filters(None), sort)
    if not streamed.memoizable:
        return streamed_json(streamed, lambda m: model_bytes(reg.index, m, principal))

    async def build() -> bytes:
        result = await reg.listing.run(principal, parse_filters(None), sort, 0, None)
        return b"[" + b",".join(model_bytes(reg.index, m, principal) for m in result.models) + b"]"

    body = await reg.listing.cached_response(principal, ("all models", sort), build)
    return Response(content=body, media_type="application/json")


@post(
    "/api/models",
    status_code=201,
    opt=documented(
        body=RespanModelWrite, response=RespanModel, also=(200,), errors=(403, 404), etag=True, example=MODEL_EXAMPLE
    ),
)
async def create_model(request: AnyRequest) -> Response[Any]:
    """Create a custom model (201), or update the caller's model of that name (200)."""
    principal = await require_principal(request)
    body = await decode_body(request, RespanModelWrite)
    if not isinstance(body.model_name, str):
        raise InvalidInput("This field is required.", "model_name")
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model, created = await reg.models.create_or_update(session, principal, body.model_name, model_changes(body))
    return _model_response(reg, model, principal, 201 if created else 200)


@get(
    "/api/models/{model_name:path}",
    opt=documented(
        response=RespanModel,
        alternatives=(ModelStatusSeries, RevisionPage, PriceHistory),
        auth="optional",
        etag=True,
    ),
)
async def retrieve_model(request: AnyRequest, model_name: FromPath[str]) -> Response[Any]:
    """A model, resolved (built-ins by `provider/name` or an unambiguous bare name). `<name>/status/` answers
    the model's measured status series instead (see docs/gateway.md), `<name>/revisions/` its revisions
    (docs/history.md), `<name>/prices/` its price history (docs/pricing.md)."""
    status_of = status_target(model_name)
    if status_of is not None:
        return Response(await model_status(request, status_of))
    revisions_of = revisions_target(model_name)
    if revisions_of is not None:
        return Response(await model_revisions(request, revisions_of))
    prices_of = prices_target(model_name)
    if prices_of is not None:
        return Response(await model_prices(request, prices_of))
    principal = await require_principal(request)
    reg = registry(request)
    model = await reg.models.get(principal, path_name(model_name))
    return _model_response(reg, model, principal)


async def _update_model(request: AnyRequest, model_name: str, *, replace: bool) -> Response[Any]:
    principal = await require_principal(request)
    body = await decode_body(request, RespanModelWrite)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.update(
            session,
            principal,
            path_name(model_name),
            model_changes(body),
            replace=replace,
            if_match=request.headers.get("if-match"),
        )
    return _model_response(reg, model, principal)


@post("/api/models/{model_name:path}", status_code=200, opt=STATUS_POST)
async def post_model_status(request: AnyRequest, model_name: FromPath[str]) -> Response[Any]:
    """A model's status series, parameters in the body: `POST /api/models/<name>/status/`, or restoring a
    revision: `POST /api/models/<name>/revisions/<n>/restore/` (docs/history.md), or scheduling a price:
    `POST /api/models/<name>/prices/` with a PriceScheduleWrite body, 201 (docs/pricing.md). Any other model
    path answers 404 (models are created at /api/models/)."""
    restore = restore_target(model_name)
    if restore is not None:
        return await _restore(request, *restore)
    prices_of = prices_target(model_name)
    if prices_of is not None:
        return await schedule_price(request, prices_of)
    status_of = status_target(model_name)
    if status_of is None:
        raise NotFound()
    return Response(await status_from_post(request, status_of))


async def _restore(request: AnyRequest, name: str, revision: int) -> Response[Any]:
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        model = await reg.models.restore(session, principal, path_name(name), revision, request.headers.get("if-match"))
    return _model_response(reg, model, principal)


def status_target(path: str) -> str | None:
    """`<model name>/status` is the status route (Respan's current client): model names may contain `/`,
    so the suffix decides; no model can be named like that (names.py)."""
    name = path.removeprefix("/")
    if name.endswith(STATUS_SUFFIX) and len(name) > len(STATUS_SUFFIX):
        return name[: -len(STATUS_SUFFIX)]
    return None


@patch("/api/models/{model_name:path}", opt=MODEL_WRITE)
async def patch_model(request: AnyRequest, model_name: FromPath[str]) -> Response[Any]:
    """Change the fields sent; a field sent as null inherits again. If-Match is honoured."""
    return await _update_model(request, model_name, replace=False)


@put("/api/models/{model_name:path}", opt=MODEL_WRITE)
async def replace_model(request: AnyRequest, model_name: FromPath[str]) -> Response[Any]:
    """Replace the model: every field not sent inherits again. If-Match is honoured."""
    return await _update_model(request, model_name, replace=True)


@delete("/api/models/{model_name:path}", status_code=204, opt=documented(errors=(403, 412)))
async def delete_model(request: AnyRequest, model_name: FromPath[str]) -> None:
    """Delete a custom model (refused while other models use it as their base). If-Match is honoured.
    `<name>/prices/<id>/` deletes a scheduled price not yet in force instead (docs/pricing.md)."""
    entry = price_entry_target(model_name)
    if entry is not None:
        await unschedule_price(request, *entry)
        return
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        await reg.models.delete(session, principal, path_name(model_name), request.headers.get("if-match"))


# ---- providers -------------------------------------------------------------------------------


@get("/api/providers")
async def list_providers(
    request: AnyRequest, page: FromQuery[int] = 1, page_size: FromQuery[int] = 100
) -> RespanProviderPage:
    """The organization's providers, paginated.

    `count` is the total; past the last page: 200 with empty results (the official client pages until it sees
    one)."""
    principal = await require_principal(request)
    check_paging(page, page_size)
    reg = registry(request)
    async with reg.db.read() as session:
        providers, total = await reg.providers.list(session, principal, page_offset(page, page_size), page_size)
    has_next = page * page_size < total
    previous = previous_page(page, page_size, total)
    return RespanProviderPage(
        count=total,
        next=page_link(request, page + 1, page_size) if has_next else None,
        previous=page_link(request, previous, page_size) if previous else None,
        current_filters={},
        results=[provider_wire(p) for p in providers],
    )


@post(
    "/api/providers",
    status_code=201,
    opt=documented(
        body=RespanProviderWrite,
        response=RespanProvider,
        also=(200,),
        errors=(403,),
        etag=True,
        example=PROVIDER_EXAMPLE,
    ),
)
async def create_provider(request: AnyRequest) -> Response[Any]:
    """Create a provider (201), or update the one of that provider_id (200). Organization admins only."""
    principal = await require_principal(request)
    body = await decode_body(request, RespanProviderWrite)
    if not isinstance(body.provider_id, str):
        raise InvalidInput("This field is required.", "provider_id")
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        provider, created = await reg.providers.create_or_update(
            session, principal, body.provider_id, provider_changes(body)
        )
    return Response(
        content=provider_wire(provider), status_code=201 if created else 200, headers={"ETag": provider.etag}
    )


@get("/api/providers/{provider_id:path}", opt=documented(response=RespanProvider, etag=True))
async def retrieve_provider(request: AnyRequest, provider_id: FromPath[str]) -> Response[Any]:
    """A provider of the caller's organization (its secrets are never returned)."""
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.db.read() as session:
        provider = await reg.providers.get(session, principal, path_name(provider_id))
    return Response(content=provider_wire(provider), headers={"ETag": provider.etag})


async def _update_provider(request: AnyRequest, provider_id: str, *, replace: bool) -> Response[Any]:
    principal = await require_principal(request)
    body = await decode_body(request, RespanProviderWrite)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        provider = await reg.providers.update(
            session,
            principal,
            path_name(provider_id),
            provider_changes(body),
            replace=replace,
            if_match=request.headers.get("if-match"),
        )
    return Response(content=provider_wire(provider), headers={"ETag": provider.etag})


@patch(
    "/api/providers/{provider_id:path}",
    opt=PROVIDER_WRITE,
)
async def patch_provider(request: AnyRequest, provider_id: FromPath[str]) -> Response[Any]:
    """Change the fields sent (organization admins only). If-Match is honoured."""
    return await _update_provider(request, provider_id, replace=False)


@put(
    "/api/providers/{provider_id:path}",
    opt=PROVIDER_WRITE,
)
async def replace_provider(request: AnyRequest, provider_id: FromPath[str]) -> Response[Any]:
    """Replace the provider (organization admins only); `provider_name` is required. If-Match is honoured."""
    return await _update_provider(request, provider_id, replace=True)


@delete("/api/providers/{provider_id:path}", status_code=204, opt=documented(errors=(403, 412)))
async def delete_provider(request: AnyRequest, provider_id: FromPath[str]) -> None:
    """Delete a provider (organization admins only); its models keep existing without a provider."""
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.writing(principal.organization_id) as session:
        await reg.providers.delete(session, principal, path_name(provider_id), request.headers.get("if-match"))


respan_router = Router(
    path="/",
    route_handlers=[
        *listing_handlers,
        *import_handlers,
        list_models,
        create_model,
        retrieve_model,
        post_model_status,
        patch_model,
        replace_model,
        delete_model,
        list_providers,
        create_provider,
        retrieve_provider,
        patch_provider,
        replace_provider,
        delete_provider,
        *usage_handlers,
        audit_log,
    ],
    exception_handlers=exception_handlers,
    opt={"trailing_slash": True},
)
