"""GET /metrics in Prometheus's text format, for admins only (MODELREG_METRICS=admin, the default; `off`
removes it). Prometheus scrapes it with an admin API key as bearer token (`authorization: {credentials:
...}` in the scrape config). Request metrics come from Litestar's middleware, grouped by route template."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from modelreg.api.common import registry, require_allowed
from modelreg.api.contract import documented
from modelreg.metrics import StateCollector

__all__ = ["RequestMetrics", "metrics", "metrics_middleware", "prometheus_config"]

_STATE = "metrics_registry"


_MAX_LABEL_SETS = 10_000
"""Label sets whose metric children are kept (methods x route templates x statuses: a few hundred in practice)."""


class CachedPrometheusMiddleware(PrometheusMiddleware):
    """Litestar's request metrics, the same series and labels, with each label set's metric children looked up
    once. Building a Request and its URL, the label dicts and five `labels()` calls per request cost about a
    quarter of a cached model read (GET /api/models/{name}/: 4,630 req/s with it, 5,880 without)."""

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._gauges: dict[tuple[str, str], Any] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        return {"method": method, "path": path, "status_code": status, "app_name": self._config.app_name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"] if scope["type"] == ScopeType.HTTP else scope["type"]  # type: ignore[typeddict-item]
        path: str = scope.get("path_template", scope["path"])  # type: ignore[call-overload]
        gauge = self._gauges.get((method, path))
        if gauge is None:
            if len(self._gauges) >= _MAX_LABEL_SETS:
                self._gauges.clear()
            labels = self._labels(method, path, 200)
            gauge = self._gauges[method, path] = self.requests_in_progress(labels).labels(*labels.values())
        started, status = time.perf_counter(), 200
        ended = 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                ended = time.perf_counter()
            await send(message)

        gauge.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            gauge.dec()
            children = self._children.get((method, path, status))
            if children is None:
                if len(self._children) >= _MAX_LABEL_SETS:
                    self._children.clear()
                labels = self._labels(method, path, status)
                values = list(labels.values())
                errors = self.requests_error_count(labels).labels(*values) if status >= 500 else None
                children = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values),
                    errors,
                )
                self._children[method, path, status] = children
            count, duration, error_count = children
            if error_count is not None:
                error_count.inc()
            count.inc()
            duration.observe(ended - started if ended else 0)


class RequestMetrics:
    """The series the middleware above records per request, for the lean ASGI paths in front of Litestar
    (api/openai/lean.py, api/respan/lean.py): same metrics, same labels, children looked up once."""

    def __init__(self) -> None:
        self._middleware = PrometheusMiddleware(app=_unused, config=prometheus_config())
        self._app_name = prometheus_config().app_name
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._in_progress: dict[tuple[str, str], Any] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        return {"method": method, "path": path, "status_code": status, "app_name": self._app_name}

    def started(self, method: str, path: str) -> None:
        """`path`: the route template, as Litestar's router names it (group_path)."""
        gauge = self._in_progress.get((method, path))
        if gauge is None:
            labels = self._labels(method, path, 200)
            gauge = self._middleware.requests_in_progress(labels).labels(*labels.values())
            self._in_progress[method, path] = gauge
        gauge.inc()

    def finished(self, method: str, path: str, status: int, seconds: float) -> None:
        self._in_progress[method, path].dec()
        children = self._children.get((method, path, status))
        if children is None:
            labels = self._labels(method, path, status)
            values = list(labels.values())
            m = self._middleware
            errors = m.requests_error_count(labels).labels(*values) if status >= 500 else None
            children = (m.request_count(labels).labels(*values), m.request_time(labels).labels(*values), errors)
            self._children[method, path, status] = children
        count, duration, errors = children
        if errors is not None:
            errors.inc()
        count.inc()
        duration.observe(seconds)


async def _unused(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("not called")  # PrometheusMiddleware wants an app; only its metric factories are used


def prometheus_config() -> PrometheusConfig:
    """Request metrics, grouped by route template (the gateway's lean path, api/openai/lean.py, records the
    same series for its routes)."""
    return PrometheusConfig(
        app_name="modelreg",
        prefix="modelreg_http",
        group_path=True,
        exclude=["^/metrics$"],
        middleware_class=CachedPrometheusMiddleware,
    )


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
