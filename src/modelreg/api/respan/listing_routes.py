"""Respan read endpoints: filtered lists, summaries, and the public catalog.

Anonymous callers are allowed on list/summary (built-ins only, rate-limited per client address) and
on the public catalog (never rate-limited, never 401: a key sent there is ignored).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromQuery, QueryParameter

from modelreg.api.common import (
    check_paging,
    decode_body,
    page_link,
    page_offset,
    previous_page,
    principal_or_anonymous,
    registry,
    streamed_json,
)
from modelreg.api.contract import documented
from modelreg.api.respan.convert import catalog_item_wire, model_bytes
from modelreg.api.respan.schemas import CatalogItem, CatalogPage, RespanModelPage, RespanSummary, SummaryCounts
from modelreg.domain.errors import InvalidInput
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.filters.parse import normalized, parse_filters
from modelreg.filters.tree import Bundle
from modelreg.services.listing import ListResult, parse_sort

__all__ = ["listing_handlers"]

AnyRequest = Request[Any, Any, Any]
DEFAULT_PAGE_SIZE = 100
# Query parameters of GET list/summary that are not quick filters.
LIST_EXAMPLE = {
    "filters": {"model_type": {"operator": "", "value": ["chat"]}, "input_cost": {"operator": "lt", "value": [1]}}
}
_RESERVED_QUERY = frozenset({"page", "page_size", "sort_by", "all", "is_exporting", "unnest"})


class ListBody(msgspec.Struct, kw_only=True):
    filters: dict[str, Any] | None = None
    is_exporting: bool = False
    """Accepted for compatibility (dashboard exports); it changes nothing."""


def quick_filters(request: AnyRequest) -> dict[str, Any]:
    """`?field=value` (repeatable: any of the values) and `?field[operator]=gt&field[value]=5&field[connector]=OR`."""
    plain: dict[str, list[str]] = {}
    structured: dict[str, dict[str, Any]] = {}
    for key, value in request.query_params.multi_items():
        if key in _RESERVED_QUERY:
            continue
        if key.endswith("]") and "[" in key:
            field, _, part = key[:-1].partition("[")
            if part not in ("operator", "value", "connector"):
                raise InvalidInput(
                    "unknown quick filter part; use field[operator], field[value], field[connector]", "filters"
                )
            entry = structured.setdefault(field, {})
            if part == "value":
                entry.setdefault("value", []).append(value)
            else:
                entry[part] = value
        else:
            plain.setdefault(key, []).append(value)
    filters: dict[str, Any] = {field: {"operator": "", "value": values} for field, values in plain.items()}
    for field, entry in structured.items():
        entry.setdefault("value", [])
        if field in filters:
            raise InvalidInput("a quick filter is given both as field=value and field[...]", "filters")
        filters[field] = entry
    return filters


def _wire_bytes(request: AnyRequest, model: LLMModel, principal: Principal | None) -> msgspec.Raw:
    return msgspec.Raw(model_bytes(registry(request).index, model, principal))


async def _list(
    request: AnyRequest, raw_filters: Any, page: int, page_size: int, sort_by: str | None, everything: bool
) -> Response[Any]:
    check_paging(page, page_size)
    sort = parse_sort(sort_by)
    tree = parse_filters(raw_filters)
    principal = await principal_or_anonymous(request)
    offset = 0 if everything else page_offset(page, page_size)
    listing = registry(request).listing
    if everything:
        streamed = await listing.stream(principal, tree, sort)
        if not streamed.memoizable:
            # The envelope of a non-paged answer, its results array left open (dict order is kept).
            head = {"count": streamed.total, "next": None, "previous": None, "current_filters": normalized(tree)}
            prefix = msgspec.json.encode(head)[:-1] + b',"results":['
            return streamed_json(streamed, lambda m: model_bytes(registry(request).index, m, principal), prefix, b"]}")

    async def build() -> bytes:
        result = await listing.run(principal, tree, sort, offset, None if everything else page_size)
        return _envelope(request, principal, tree, result, page, page_size, everything)

    key = ("list", str(request.url), msgspec.json.encode(tree), sort, offset, page_size, everything)
    return Response(content=await listing.cached_response(principal, key, build), media_type="application/json")


def _envelope(
    request: AnyRequest,
    principal: Principal | None,
    tree: Bundle,
    result: ListResult,
    page: int,
    page_size: int,
    everything: bool,
) -> bytes:
    has_next = not everything and page * page_size < result.total
    previous = None if everything else previous_page(page, page_size, result.total)
    body = {
        "count": result.total,
        "next": page_link(request, page + 1, page_size) if has_next else None,
        "previous": page_link(request, previous, page_size) if previous else None,
        "current_filters": normalized(tree),
        "results": [_wire_bytes(request, m, principal) for m in result.models],
    }
    return msgspec.json.encode(body)


@post(
    "/api/models/list",
    status_code=200,
    opt=documented(body=ListBody, response=RespanModelPage, auth="optional", example=LIST_EXAMPLE),
)
async def filter_models(
    request: AnyRequest,
    page: FromQuery[int] = 1,
    page_size: FromQuery[int] = DEFAULT_PAGE_SIZE,
    sort_by: FromQuery[str | None] = None,
    everything: Annotated[bool, QueryParameter(name="all")] = False,
) -> Response[Any]:
    """Models the caller can see, filtered (docs/read-side.md), sorted and paginated; anonymous: built-ins."""
    body = await decode_body(request, ListBody)
    return await _list(request, body.filters, page, page_size, sort_by, everything)


@get("/api/models/list", opt=documented(response=RespanModelPage, auth="optional"))
async def list_models_with_filters(
    request: AnyRequest,
    page: FromQuery[int] = 1,
    page_size: FromQuery[int] = DEFAULT_PAGE_SIZE,
    sort_by: FromQuery[str | None] = None,
    everything: Annotated[bool, QueryParameter(name="all")] = False,
) -> Response[Any]:
    """As POST, with quick filters in the query: `?model_type=chat`, `?input_cost[operator]=lt&input_cost[value]=1`."""
    return await _list(request, quick_filters(request), page, page_size, sort_by, everything)


async def _summary(request: AnyRequest, raw_filters: Any) -> RespanSummary:
    tree = parse_filters(raw_filters)
    principal = await principal_or_anonymous(request)
    result = await registry(request).listing.run(principal, tree, parse_sort(None), 0, 0)
    counts = SummaryCounts(total_count=result.total, global_count=result.global_count, custom_count=result.custom_count)
    return RespanSummary(summary=counts)


@post("/api/models/summary", status_code=200, opt=documented(body=ListBody, auth="optional", example=LIST_EXAMPLE))
async def filter_models_summary(request: AnyRequest) -> RespanSummary:
    """How many models match the filters: in total, built-in and custom."""
    body = await decode_body(request, ListBody)
    return await _summary(request, body.filters)


@get("/api/models/summary", opt=documented(auth="optional"))
async def get_models_summary(request: AnyRequest) -> RespanSummary:
    """As POST, with quick filters in the query."""
    return await _summary(request, quick_filters(request))


@get("/api/models/public", opt=documented(response=CatalogPage | list[CatalogItem], auth="none"))
async def public_catalog(request: AnyRequest, unnest: FromQuery[bool] = False) -> Response[Any]:
    """Built-in models only, no authentication (a key, even a bad one, is ignored)."""
    index = registry(request).index
    key = ("public", unnest)
    encoded = index.builtin_cache.get(key)
    if encoded is None:
        items = [catalog_item_wire(m) for m in index.builtins]
        encoded = msgspec.json.encode(items if unnest else {"models": items})
        index.builtin_cache[key] = encoded
    return Response(content=encoded, media_type="application/json")


listing_handlers = [
    filter_models,
    list_models_with_filters,
    filter_models_summary,
    get_models_summary,
    public_catalog,
]
