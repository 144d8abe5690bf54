"""The model page: every resolved field with where it comes from, the inheritance chain, supported_params,
prices, and throughput charts over 24 h / 7 d / 30 d from the same figures as `/api/models/{name}/status/`."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from modelreg.api.common import path_name, registry
from modelreg.domain.access import can_write
from modelreg.domain.llm_model import INHERITABLE_FIELDS, LLMModel
from modelreg.domain.principal import Principal
from modelreg.domain.usage import Totals
from modelreg.filters.parse import parse_filters
from modelreg.services.listing import parse_sort
from modelreg.services.models import Link
from modelreg.services.usage_reports import parse_window, summed
from modelreg.ui.charts import svg_chart
from modelreg.ui.web import page, viewer

__all__ = ["FIELD_LABELS", "model_view_handlers"]

AnyRequest = Request[Any, Any, Any]
WINDOWS = {"24h": (86400, "hour"), "7d": (7 * 86400, "hour"), "30d": (30 * 86400, "day")}
FIELD_LABELS = {
    "display_name": "Display name",
    "model_type": "Type",
    "input_cost": "Input price ($/1M tokens)",
    "output_cost": "Output price ($/1M tokens)",
    "cache_hit_input_cost": "Cache hit input price ($/1M)",
    "cache_creation_input_cost": "Cache write input price ($/1M)",
    "max_context_window": "Context window (tokens)",
    "streaming_support": "Streaming",
    "function_call": "Function calling",
    "image_support": "Vision",
}


def provenance(model: LLMModel, chain: list[Link]) -> dict[str, str]:
    """field -> "set on this model" / "inherited from <base>" / "from the catalog" / "default"."""
    sources: dict[str, str] = {}
    for field in INHERITABLE_FIELDS:
        for position, link in enumerate(chain):
            if field in link.values:
                if position == 0:
                    sources[field] = "catalog" if link.builtin else "set on this model"
                else:
                    sources[field] = f"inherited from {link.name}" + (" (catalog)" if link.builtin else "")
                break
        else:
            sources[field] = "default" if getattr(model, field) is not None else "not set"
    return sources


async def _status(request: AnyRequest, principal: Principal | None, model: LLMModel, window_key: str) -> dict[str, Any]:
    """The status endpoint's figures for this viewer: their organization's calls, or for anonymous
    visitors a built-in's public figures (when MODELREG_PUBLIC_STATUS allows)."""
    reg = registry(request)
    seconds, tick = WINDOWS[window_key]
    now = time.time()
    window = parse_window(now - seconds, now, tick)
    if principal is None and not (model.is_builtin and reg.settings.public_status):
        buckets: dict[int, Totals] = {}
    else:
        organization = principal.organization_id if principal else None
        buckets = await reg.usage_reports.model_series(organization, model.name, window)
    empty = Totals()
    series = [(start, buckets.get(start, empty)) for start in window.buckets()]

    def points(metric: str) -> list[tuple[int, float | None]]:
        return [(start, getattr(totals, metric)) for start, totals in series]

    charts = [
        svg_chart("Requests", [(s, float(t.requests)) for s, t in series], bars=True) if principal else None,
        svg_chart("Latency (s)", points("average_latency"), unit=" s"),
        svg_chart("Time to first token (s)", points("average_ttft"), unit=" s"),
        svg_chart("Tokens per second", points("average_tps")),
        svg_chart("Uptime (%)", points("uptime_percent"), unit="%", ceiling=100.0),
    ]
    titles = ["Requests", "Latency", "Time to first token", "Tokens per second", "Uptime"]
    return {
        "totals": summed(buckets.values()),
        "charts": [(title, chart) for title, chart in zip(titles, charts, strict=True) if chart is not None],
        "volume": principal is not None,
    }


@get("/ui/models/{name:path}", include_in_schema=False)
async def model_page(request: AnyRequest, name: FromPath[str]) -> Template:
    principal = await viewer(request)
    reg = registry(request)
    model = await reg.models.get(principal, path_name(name))
    window_key = request.query_params.get("window", "24h")
    if window_key not in WINDOWS:
        window_key = "24h"
    chain = await reg.models.chain(principal, model)
    return page(
        request,
        "model.html",
        principal,
        title=model.name,
        model=model,
        chain=chain,
        sources=provenance(model, chain),
        labels=FIELD_LABELS,
        writable=can_write(principal, model),
        status=await _status(request, principal, model, window_key),
        window=window_key,
        windows=list(WINDOWS),
        description=str(model.meta.get("description") or ""),
    )


@get("/ui/suggest/models", include_in_schema=False)
async def suggest_models(request: AnyRequest) -> Template:
    """Type-ahead for the base-model field: up to 20 readable models whose name contains the text."""
    principal = await viewer(request)
    text = request.query_params.get("base_model_name", "").strip()[:200]
    names: list[str] = []
    if text:
        tree = parse_filters({"model_name": {"operator": "icontains", "value": text}})
        result = await registry(request).listing.run(principal, tree, parse_sort(None), 0, 20)
        names = [m.name for m in result.models]
    return page(request, "suggestions.html", principal, names=names)


model_view_handlers = [model_page, suggest_models]
