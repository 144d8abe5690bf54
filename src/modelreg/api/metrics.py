"""GET /metrics in Prometheus's text format, for admins only (MODELREG_METRICS=admin, the default; `off`
removes it). Prometheus scrapes it with an admin API key as bearer token (`authorization: {credentials:
...}` in the scrape config). Request metrics come from Litestar's middleware, grouped by route template."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from modelreg.api.common import registry, require_allowed
from modelreg.api.contract import documented
from modelreg.metrics import StateCollector

__all__ = ["metrics", "metrics_middleware", "prometheus_config"]

_STATE = "metrics_registry"


def prometheus_config() -> PrometheusConfig:
    """Request metrics, grouped by route template (the gateway's lean path, api/openai/lean.py, records the
    same series for its routes)."""
    return PrometheusConfig(app_name="modelreg", prefix="modelreg_http", group_path=True, exclude=["^/metrics$"])


def metrics_middleware() -> DefineMiddleware:
    return prometheus_config().middleware


@get("/metrics", media_type=CONTENT_TYPE_LATEST, opt=documented(media_type=CONTENT_TYPE_LATEST, errors=(403,)))
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every process metric (requests, gateway, meter, database, catalog); admins only."""
    await require_allowed(request, "read_metrics")
    state = request.app.state
    own: CollectorRegistry | None = state.get(_STATE)
    if own is None:  # one per app: tests build several apps in one process
        own = state[_STATE] = CollectorRegistry(auto_describe=False)
        own.register(StateCollector(registry(request)))
    return Response(generate_latest(REGISTRY) + generate_latest(own), media_type=CONTENT_TYPE_LATEST)
