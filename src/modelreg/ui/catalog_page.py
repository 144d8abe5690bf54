"""The catalog (home page): every model the viewer can read, filtered, sorted and paged through the same
listing service and filter language as `POST /api/models/list/` (catalog_query.py translates the URL)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from modelreg.api.common import registry
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.llm_model import MODEL_TYPES
from modelreg.filters.parse import parse_filters
from modelreg.services.listing import parse_sort
from modelreg.ui.catalog_query import SORTABLE, parse_query
from modelreg.ui.web import page, viewer

__all__ = ["catalog_handlers"]

AnyRequest = Request[Any, Any, Any]
_NUMBER_FIELDS = (
    ("min_context", "Minimum context window (tokens)", "e.g. 128000"),
    ("max_input", "Maximum input price ($ per 1M tokens)", "e.g. 1.5"),
    ("max_output", "Maximum output price ($ per 1M tokens)", "e.g. 10"),
)
_NARROW_HIDDEN = frozenset({"model_type", "max_context_window", "average_tps", "average_ttft", "average_latency"})
_EMPTY = parse_filters(None)


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect(path="/ui/", status_code=302)


@get("/ui", include_in_schema=False)
async def catalog(request: AnyRequest) -> Template:
    principal = await viewer(request)
    query = parse_query(request.query_params)
    listing = registry(request).listing
    error = ""
    try:
        tree = parse_filters(query.filters())
    except InvalidInput as exc:  # cannot happen from the form's own values; a hand-edited URL may get here
        error, tree = exc.message, _EMPTY
    offset = (query.page - 1) * query.per
    result = await listing.run(principal, tree, parse_sort(query.sort), offset, query.per)
    if not result.models and query.page > 1 and result.total:
        query.page = max(1, -(-result.total // query.per))
        result = await listing.run(principal, tree, parse_sort(query.sort), (query.page - 1) * query.per, query.per)
    response = page(
        request,
        "catalog.html",
        principal,
        title="Catalog",
        query=query,
        result=result,
        pages=max(1, -(-result.total // query.per)),
        facets=await listing.facets(principal, tree),
        all_providers=(await listing.facets(principal, _EMPTY)).providers,
        model_types=MODEL_TYPES,
        sortable=SORTABLE,
        narrow_hidden=_NARROW_HIDDEN,
        number_fields=_NUMBER_FIELDS,
        error=error,
        base_url=str(request.base_url).rstrip("/"),
    )
    if request.headers.get("hx-request"):
        # The address bar gets the canonical link (no empty form fields), so it can be shared as is.
        response.headers["HX-Push-Url"] = query.link(page=str(query.page) if query.page > 1 else "")
    return response


@get("/ui/{rest:path}", include_in_schema=False)
async def unknown_page(rest: FromPath[str]) -> None:
    """Any other address under /ui/ answers the console's own 404 page, not the API's JSON."""
    raise NotFound()


catalog_handlers = [root, catalog, unknown_page]
