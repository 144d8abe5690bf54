"""What the meter measured, read back: a model's status series, request logs from other gateways, and an
organization's usage.

- `GET|POST /api/models/{model_name}/status/` (Respan's current client): uptime and metric buckets, one per
  tick. Authentication is optional. Authenticated callers see their organization's calls of a model they
  may read; anonymous callers see built-in models only, summed over every organization, without volume
  fields (counts, tokens, cost) and rate-limited like the other anonymous routes. An unknown or unreadable
  model answers 200 with empty series. POST takes the same fields in a JSON body; query parameters win.
- `POST /api/request-logs/`: another gateway reports calls (one object or a list of up to 1,000) into the
  same aggregates; the model and provider are checked like every other reference.
- `GET /api/usage/` (admins): cost and token totals per model and per day.

docs/gateway.md describes the shapes and the choices behind them.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from msgspec import Meta

from modelreg.api.common import decode_body, principal_or_anonymous, registry, require_allowed, require_principal
from modelreg.api.contract import documented
from modelreg.domain.errors import InvalidInput, NotFound
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.names import could_be_stored
from modelreg.domain.pricing import TIER_PRICE_FIELDS
from modelreg.domain.principal import Principal
from modelreg.domain.provider import BuiltinProvider, Provider
from modelreg.domain.usage import Call, TokenUsage, Totals, call_cost, outcome_of
from modelreg.gateway.routing import upstream_provider
from modelreg.registry import Registry
from modelreg.services.price_history import ChainPrices
from modelreg.services.usage_reports import MAX_WINDOW_SECONDS, Window, iso, parse_time, parse_window, summed
from modelreg.store.rows import UsageMinuteRow

__all__ = ["ModelStatusSeries", "model_status", "status_from_post", "usage_handlers"]

AnyRequest = Request[Any, Any, Any]
U = UsageMinuteRow
STATUS_SUFFIX = "/status"
_STATUS_FIELDS = ("start_time", "end_time", "provider_id", "time_tick")


# ---- status ------------------------------------------------------------------------------------


class ModelStatusSeries(msgspec.Struct, kw_only=True):
    """The status answer, for the contract (built as a dict below; docs/gateway.md describes the buckets)."""

    model: str
    provider_id: str | None
    time_tick: str
    start_time: str
    end_time: str
    data: list[dict[str, Any]]
    metrics_series: list[dict[str, Any]]
    respan_uptime: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    """Only without provider_id."""
    status: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    """The window's summary, when the model is readable."""


async def model_status(request: AnyRequest, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    principal = await principal_or_anonymous(request)
    reg = registry(request)
    values = dict(body or {})
    values.update({key: request.query_params[key] for key in _STATUS_FIELDS if key in request.query_params})
    window = parse_window(values.get("start_time"), values.get("end_time"), values.get("time_tick"))
    provider_id = values.get("provider_id")
    if provider_id is not None and not (isinstance(provider_id, str) and could_be_stored(provider_id)):
        raise InvalidInput("Not a valid provider id.", "provider_id")
    provider_id = provider_id or None
    model = await _readable(request, principal, name)
    result: dict[str, Any] = {
        "model": model.name if model is not None else name,
        "provider_id": provider_id,
        "time_tick": window.tick,
        "start_time": iso(window.start),
        "end_time": iso(window.end),
        "data": [],
        "metrics_series": [],
    }
    if provider_id is None:
        result["respan_uptime"] = []
    if model is None:
        return result
    organization_id = principal.organization_id if principal else None
    buckets = await reg.usage_reports.model_series(organization_id, model.name, window, provider_id)
    volume = principal is not None
    empty = Totals()
    for start in window.buckets():
        totals = buckets.get(start, empty)
        result["data"].append(_uptime(start, totals.uptime_percent, totals, volume))
        if provider_id is None:
            result["respan_uptime"].append(_uptime(start, totals.gateway_uptime_percent, totals, volume))
        result["metrics_series"].append(_metrics(start, totals, volume))
    if provider_id is None:
        result["status"] = _summary(model, summed(buckets.values()), volume)
    return result


async def _readable(request: AnyRequest, principal: Principal | None, name: str) -> LLMModel | None:
    try:
        model = await registry(request).models.get(principal, name)
    except NotFound:
        return None
    if principal is not None:
        return model
    return model if model.is_builtin and registry(request).settings.public_status else None


def _uptime(start: int, uptime: float | None, totals: Totals, volume: bool) -> dict[str, Any]:
    bucket: dict[str, Any] = {"date_group": iso(start), "uptime": uptime}
    if volume:
        bucket["total_count"] = totals.requests
        bucket["down_count"] = totals.upstream_failures
    return bucket


def _metrics(start: int, totals: Totals, volume: bool) -> dict[str, Any]:
    bucket: dict[str, Any] = {
        "date_group": iso(start),
        "average_tps": totals.average_tps,
        "average_ttft": totals.average_ttft,
        "average_latency": totals.average_latency,
        "cache_hit_percentage": totals.cache_hit_percentage,
    }
    if volume:
        bucket["number_of_requests"] = totals.requests
        bucket["cost"] = totals.cost
    return bucket


def _summary(model: LLMModel, totals: Totals, volume: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "uptime_percent": totals.uptime_percent,
        "average_tps": totals.average_tps,
        "average_ttft": totals.average_ttft,
        "average_latency": totals.average_latency,
        "cache_hit_percentage": totals.cache_hit_percentage,
        "input_cost": model.input_cost,
    }
    if volume:
        summary |= {
            "number_of_requests": totals.requests,
            "cost": totals.cost,
            "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens,
            "prompt_cache_hit_tokens": totals.cache_hit_tokens,
            "prompt_cache_creation_tokens": totals.cache_creation_tokens,
        }
    return summary


async def status_from_post(request: AnyRequest, name: str) -> dict[str, Any]:
    body = await decode_body(request, dict[str, Any])
    return await model_status(request, name, body)


# ---- request logs ------------------------------------------------------------------------------

Count = Annotated[int, Meta(ge=0, le=2**40)]
Seconds = Annotated[float, Meta(ge=0, le=86_400)]
Name = Annotated[str, Meta(min_length=1, max_length=256)]


class RequestLog(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One call another gateway made. Cost is not taken from the body: it is computed from the model's
    prices here, so one price list governs every figure."""

    model: Name
    provider_id: Name | None = None
    status_code: Annotated[int, Meta(ge=100, le=599)] = 200
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    prompt_cache_hit_tokens: Count = 0
    prompt_cache_creation_tokens: Count = 0
    latency: Seconds
    time_to_first_token: Seconds | None = None
    start_time: str | float | None = None
    """When the call started (ISO-8601 or unix seconds; default: now less the latency)."""


class RequestLogsAccepted(msgspec.Struct):
    accepted: int


MAX_LOGS = 1000
REQUEST_LOG_EXAMPLE = {"model": "team-gpt", "prompt_tokens": 120, "completion_tokens": 40, "latency": 1.2}


@post(
    "/api/request-logs",
    status_code=202,
    opt=documented(body=RequestLog | list[RequestLog], errors=(404,), example=REQUEST_LOG_EXAMPLE),
)
async def create_request_logs(request: AnyRequest) -> RequestLogsAccepted:
    """Calls measured by another gateway (one log or up to 1,000), added to the same aggregates."""
    principal = await require_principal(request)
    body = await decode_body(request, RequestLog | list[RequestLog])  # type: ignore[arg-type]
    logs: list[RequestLog] = body if isinstance(body, list) else [body]  # type: ignore[list-item]
    if not logs or len(logs) > MAX_LOGS:
        raise InvalidInput(f"Send between 1 and {MAX_LOGS} request logs.", "non_field_errors")
    reg = registry(request)
    await reg.prices.catch_up()
    snapshot = await reg.index.org(principal.organization_id)
    now = reg.clock()
    calls: list[Call] = []
    dated: dict[str, ChainPrices] = {}
    for log in logs:
        model = await reg.models.get(principal, log.model)  # NotFound: 404 like any missing object
        provider_id = _reported_provider(model, log.provider_id, snapshot.providers)
        usage = _reported_usage(log)
        at = parse_time(log.start_time, "start_time") if log.start_time is not None else now - log.latency
        if not now - MAX_WINDOW_SECONDS <= at <= now + 300:
            raise InvalidInput("start_time must lie within the last 90 days.", "start_time")
        if log.time_to_first_token is not None and log.time_to_first_token > log.latency:
            raise InvalidInput("time_to_first_token cannot exceed latency.", "time_to_first_token")
        call = Call(
            organization_id=principal.organization_id,
            model_name=model.name,
            provider_id=provider_id,
            outcome=outcome_of(log.status_code),
            usage=usage,
            ttft=log.time_to_first_token,
            latency=log.latency,
            cost=await _cost_at(reg, principal.organization_id, model, usage, at, dated),
            at=at,
        )
        calls.append(call)
    # All validated before any is recorded: a bad entry rejects the batch and records nothing.
    for call in calls:
        reg.meter.record(call, public=False)
    return RequestLogsAccepted(accepted=len(calls))


async def _cost_at(
    reg: Registry, organization_id: str, model: LLMModel, usage: TokenUsage, at: float, dated: dict[str, ChainPrices]
) -> float | None:
    """The cost at the prices in force when the call started (a log may report a call from before a price
    change); each model's dated prices are read once per batch."""
    chain = dated.get(model.name)
    if chain is None:
        chain = dated[model.name] = await reg.prices.chain_prices(organization_id, model)
    prices = chain.at(at)
    in_force = msgspec.structs.replace(
        model, **{f: getattr(prices, f) for f in TIER_PRICE_FIELDS}, pricing_tiers=prices.pricing_tiers or ()
    )
    return call_cost(in_force, usage)


def _reported_provider(model: LLMModel, given: str | None, providers: dict[str, Provider]) -> str:
    """The provider a reported call went through: one of the organization's providers, or the model's
    built-in provider; anything else is not found (it may be another organization's)."""
    routed = upstream_provider(model, providers)
    builtin = model.provider.provider_id if isinstance(model.provider, BuiltinProvider) else None
    if given is None:
        if routed is not None:
            return routed.provider_id
        return builtin or ""
    if given in providers or given == builtin:
        return given
    raise NotFound()


def _reported_usage(log: RequestLog) -> TokenUsage:
    if log.prompt_cache_hit_tokens + log.prompt_cache_creation_tokens > log.prompt_tokens:
        raise InvalidInput("Cached tokens are part of prompt_tokens and cannot exceed it.", "prompt_cache_hit_tokens")
    return TokenUsage(
        prompt_tokens=log.prompt_tokens,
        completion_tokens=log.completion_tokens,
        cache_hit_tokens=log.prompt_cache_hit_tokens,
        cache_creation_tokens=log.prompt_cache_creation_tokens,
    )


# ---- usage ---------------------------------------------------------------------------------------


def _totals_wire(totals: Totals) -> dict[str, Any]:
    return {
        "requests": totals.requests,
        "failed_requests": totals.upstream_failures + totals.gateway_failures,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cache_hit_tokens": totals.cache_hit_tokens,
        "cache_creation_tokens": totals.cache_creation_tokens,
        "cost": totals.cost,
        "unpriced_requests": totals.unpriced,
    }


@get("/api/usage", opt=documented(errors=(403,)))
async def organization_usage(request: AnyRequest) -> dict[str, Any]:
    """Cost and tokens per model and per UTC day, for the caller's organization (admins only).
    Default window: the last 30 days."""
    principal = await require_allowed(request, "read_usage")
    now = time.time()
    query = request.query_params
    end = parse_time(query["end_time"], "end_time") if "end_time" in query else now
    start = parse_time(query["start_time"], "start_time") if "start_time" in query else end - 30 * 86400
    window: Window = parse_window(start, end, "day")
    usage = await registry(request).usage_reports.organization_usage(principal.organization_id, window)
    return {
        "organization_id": principal.organization_id,
        "start_time": iso(window.start),
        "end_time": iso(window.end),
        "totals": _totals_wire(usage.totals),
        "models": [{"model": name, **_totals_wire(usage.per_model[name])} for name in sorted(usage.per_model)],
        "days": [{"date": iso(day)[:10], "model": name, **_totals_wire(totals)} for day, name, totals in usage.days],
    }


usage_handlers = [create_request_logs, organization_usage]
