"""The composition root: create_app(settings) builds everything; nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, Router, get, post
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware

from modelreg.api.account_routes import account_router
from modelreg.api.admin import admin_router
from modelreg.api.common import decode_body, registry
from modelreg.api.contract import documented
from modelreg.api.docs_page import openapi_config, openapi_json
from modelreg.api.errors import exception_handlers
from modelreg.api.health import healthz, readyz
from modelreg.api.history_routes import request_context
from modelreg.api.metrics import metrics, metrics_middleware
from modelreg.api.openai.lean import LeanGateway
from modelreg.api.openai.routes import is_openai_path, openai_error_response, openai_router
from modelreg.api.openwebui.routes import openwebui_router
from modelreg.api.request_id import RequestIdMiddleware
from modelreg.api.respan.lean import LeanReads
from modelreg.api.respan.routes import respan_router
from modelreg.auth.authenticator import AuthenticationFailed
from modelreg.catalog.load import Catalog, catalog_from_snapshot, load_catalog
from modelreg.catalog.scheduled import run_scheduled_sync
from modelreg.catalog.sync import installed_snapshot, installed_version
from modelreg.config import Settings, load_settings
from modelreg.logs import configure_logging
from modelreg.metrics import CACHE_RELOADS
from modelreg.registry import Registry, build_registry
from modelreg.services import audit
from modelreg.services.auth_tokens import TokenRequest, TokenResponse, issue_token
from modelreg.store import counters
from modelreg.store.faults import fault_kind
from modelreg.store.listener import listen_for_changes
from modelreg.store.memory import ORG_COUNTER_PREFIX
from modelreg.store.migrate import check_at_head
from modelreg.store.views import refresh_views, stale_organizations
from modelreg.ui.router import console_router, template_config

__all__ = ["create_app"]

__version__ = importlib.metadata.version("modelreg")

log = logging.getLogger("modelreg")
MAX_BODY_BYTES = 1024 * 1024
STALE_HEADER = "X-Modelreg-Stale"
"""Set ("true") on answers served from memory while the database is not answering."""


@functools.cache
def _favicon() -> bytes:
    return (Path(__file__).parent / "static" / "favicon.png").read_bytes()


@get(
    "/static/favicon.png",
    media_type="image/png",
    cache_control=CacheControlHeader(max_age=86400, public=True),
    opt=documented(media_type="image/png", auth="none"),
)
async def favicon() -> bytes:
    """The default `meta.profile_image_url` of a model (Open WebUI's default, seed 004)."""
    return _favicon()


@post(
    "/api/auth/token",
    status_code=200,
    opt=documented(
        body=TokenRequest, auth="none", errors=(401,), example={"email": "admin@example.com", "password": "..."}
    ),
)
async def token(request: Request[Any, Any, Any]) -> TokenResponse:
    """A JWT for a user with a password (use it as `Authorization: Bearer <token>`)."""
    body = await decode_body(request, TokenRequest)
    reg = registry(request)
    async with reg.db.read() as session:
        result = await issue_token(session, reg.tokens, body)
    if result is None:
        raise AuthenticationFailed()
    return result


async def _watch_changes(reg: Registry, seen: dict[str, int], wake: asyncio.Event) -> None:
    """Poll the change counters (starting from `seen`, read before serving, so no change between start-up
    and the first poll is missed) every poll interval, or at once when `wake` is set (a PostgreSQL
    notification: store/listener.py); drop caches that another process made stale. Flush last-used times."""
    loop = asyncio.get_running_loop()
    last_flush = loop.time()
    while True:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives as its
        # timeout fires, and the watcher would then never stop (a shutdown that hangs).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(reg.settings.cache_poll_seconds):
                await wake.wait()
        wake.clear()  # before reading: a change committed during the read wakes the next round
        try:
            async with reg.db.read(probe=True) as session:
                current = await counters.read_all(session)
            for name, value in current.items():
                if seen.get(name) == value:
                    continue
                if name.startswith(ORG_COUNTER_PREFIX):
                    # Counted only when dropped: this process's own writes move the counter too.
                    if reg.index.observe(name.removeprefix(ORG_COUNTER_PREFIX), value):
                        CACHE_RELOADS.labels("models").inc()
                    continue
                CACHE_RELOADS.labels(name).inc()
                if name == counters.IDENTITY:
                    reg.authenticator.invalidate()
                elif name == counters.CATALOG:
                    await _load_installed_catalog(reg)
                elif name == counters.USAGE:
                    await reg.meter.load()
            seen = current
            if loop.time() - last_flush >= reg.settings.last_used_flush_seconds:
                last_flush = loop.time()
                await reg.authenticator.flush_last_used()
        except Exception as error:  # noqa: BLE001 - a transient database error must not kill the watcher
            _log_background_failure("change watcher", error)


async def _run_meter(reg: Registry) -> None:
    """Write measured calls every usage_flush_seconds and keep throughput current."""
    while True:
        await asyncio.sleep(reg.settings.usage_flush_seconds)
        try:
            await reg.meter.tick()
        except Exception as error:  # noqa: BLE001 - the sums stay pending, retried on the next round
            _log_background_failure("meter", error)


def _why(error: BaseException) -> str:
    """A fault in one line: its kind when it is a database fault, else the exception's type."""
    return fault_kind(error) or type(error).__name__


def _trace(error: BaseException) -> BaseException | None:
    """A traceback for bugs only: a database fault is one line (the fault log says the rest)."""
    return error if fault_kind(error) is None else None


def _log_background_failure(task: str, error: Exception) -> None:
    """Database faults were logged (once per kind per interval) where they happened; anything else is a bug."""
    if fault_kind(error) is None:
        log.error("%s failed, retrying", task, exc_info=error)


AUDIT_PRUNE_SECONDS = 3600.0


async def _prune_audit_log(reg: Registry) -> None:
    """Delete audit entries past MODELREG_AUDIT_RETENTION_DAYS, at start and then hourly."""
    while True:
        try:
            async with reg.db.write() as session:
                pruned = await audit.prune(session, reg.settings.audit_retention_days)
            if pruned:
                log.info("audit log: %d entries past the retention period deleted", pruned)
        except Exception:  # retried on the next round
            log.warning("audit log: pruning failed, retrying", exc_info=True)
        await asyncio.sleep(AUDIT_PRUNE_SECONDS)


async def _stop(task: asyncio.Task[None]) -> None:
    # Cancel until it is done: a cancellation swallowed by a library must not hang the shutdown.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1)
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _load_installed_catalog(reg: Registry) -> None:
    """Serve the newest catalog installed by `modelreg catalog sync` (if any) instead of the shipped one."""
    async with reg.db.read() as session:
        version = await installed_version(session)
        if not version:
            return
        snapshot = await installed_snapshot(session)
    reg.catalog_version = version
    catalog = catalog_from_snapshot(snapshot)
    reg.index.set_catalog(catalog)
    log.info("serving the installed catalog: %d models, sources %s", len(catalog), catalog.sources)


async def _heal_views(reg: Registry) -> None:
    """Give every custom model a view row (models stored before views existed, or an interrupted sync)."""
    async with reg.db.read() as session:
        stale = await stale_organizations(session)
    for organization_id, names in stale.items():
        async with reg.writing(organization_id) as session:
            await refresh_views(session, reg.index.catalog, organization_id, names)
        log.info("rebuilt %d model views of organization %s", len(names), organization_id)


def _routing_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """404/405 raised before any route matched: in OpenAI's shape under /v1 (the SDKs parse it), else ours."""
    if is_openai_path(request.url.path):
        return openai_error_response(request, exc)
    handler: Any = exception_handlers[HTTPException]
    return handler(request, exc)  # type: ignore[no-any-return]


def _cors(settings: Settings) -> CORSConfig | None:
    """Off unless MODELREG_CORS_ORIGINS lists origins (browser clients such as Open WebUI's direct
    connections). Credentials are bearer headers, never cookies, so no allow_credentials."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "OpenAI-Organization", "OpenAI-Project"],
        expose_headers=["ETag"],
        max_age=600,
    )


def create_app(
    settings: Settings | None = None, catalog: Catalog | None = None, clock: Callable[[], float] = time.time
) -> Litestar:
    """`clock`: unix time as the registry sees it (tests inject one to move through dated prices)."""
    settings = settings or load_settings()
    reg = build_registry(settings, catalog or load_catalog(), clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The registry in the app's state (set below): the test suite reuses one app with a fresh registry per test.
        reg: Registry = app.state.registry
        await check_at_head(settings.database_url)
        async with reg.db.read() as session:
            seen = await counters.read_all(session)
        await _load_installed_catalog(reg)
        await _heal_views(reg)
        await reg.meter.load()
        wake = asyncio.Event()
        watcher = asyncio.create_task(_watch_changes(reg, seen, wake))
        meter = asyncio.create_task(_run_meter(reg))
        pruner = asyncio.create_task(_prune_audit_log(reg))
        price_clock = asyncio.create_task(reg.prices.run(settings.price_poll_seconds))
        scheduled = None
        if settings.catalog_sync_url:
            scheduled = asyncio.create_task(
                run_scheduled_sync(reg, settings.catalog_sync_url, settings.catalog_sync_seconds)
            )
        listener = None
        if not reg.db.is_sqlite:

            def on_change(name: str | None, value: int | None) -> None:
                # Act at once on what needs no I/O; the watcher reloads the rest. An organization's counter
                # with its value is settled here, by the poll's rule (this process's own writes keep the
                # snapshot): waking the watcher for it would cost a read of every counter per write.
                if name is not None and name.startswith(ORG_COUNTER_PREFIX):
                    organization_id = name.removeprefix(ORG_COUNTER_PREFIX)
                    if value is not None:
                        if reg.index.observe(organization_id, value):
                            CACHE_RELOADS.labels("models").inc()
                        return
                    reg.index.invalidate(organization_id)  # a previous version's bare name: value unknown
                elif name == counters.IDENTITY:
                    reg.authenticator.invalidate()
                wake.set()

            listener = asyncio.create_task(listen_for_changes(settings.database_url, on_change, reg.db.timeouts))
        try:
            yield
        finally:
            if listener is not None:
                await _stop(listener)
            await _stop(pruner)
            await _stop(price_clock)
            if scheduled is not None:
                await _stop(scheduled)
            await _stop(watcher)
            await _stop(meter)
            try:  # nothing measured is lost on a clean shutdown
                if await reg.meter.flush():
                    await reg.meter.recompute()
            except Exception as error:  # one line: the database may be what is failing
                log.error(
                    "meter: %d measured calls could not be written: %s",
                    reg.meter.pending_calls,
                    _why(error),
                    exc_info=_trace(error),
                )
            try:
                await reg.authenticator.flush_last_used()
            except Exception as error:  # a key's last use is a hint: not worth a failed shutdown
                log.warning("API keys' last use could not be written: %s", _why(error), exc_info=_trace(error))
            # Whatever failed above, the connections are closed (an open one may hold SQLite's write lock).
            await reg.upstream.close()
            await reg.db.dispose()

    async def mark_stale(response: Response[Any]) -> Response[Any]:
        """While the database does not answer, what is served from memory may be stale: say so."""
        if app.state.registry.db.health.down and (response.status_code or 200) < 400:
            response.headers[STALE_HEADER] = "true"
        return response

    def on_app_init(config: AppConfig) -> AppConfig:
        config.state["registry"] = reg
        return config

    configure_logging(settings.log_format)
    root_handlers: list[Any] = [healthz, readyz, favicon, token, openapi_json]
    # The request id first: the audit context (request_context) and every log line use it.
    middleware: list[Any] = [
        DefineMiddleware(RequestIdMiddleware, access=settings.log_format == "json"),
        request_context,
    ]
    if settings.metrics == "admin":
        root_handlers.append(metrics)
        middleware.append(metrics_middleware())
    app = Litestar(
        route_handlers=[
            Router(path="/", route_handlers=root_handlers, exception_handlers=exception_handlers),
            respan_router,
            openwebui_router,
            admin_router,
            account_router,
            openai_router,
            console_router(settings),
        ],
        template_config=template_config(),
        lifespan=[lifespan],
        after_request=mark_stale,
        middleware=middleware,
        on_app_init=[on_app_init],
        exception_handlers={**exception_handlers, HTTPException: _routing_error},
        request_max_body_size=MAX_BODY_BYTES,
        cors_config=_cors(settings),
        openapi_config=openapi_config(__version__),
        debug=False,
    )
    # The hot routes skip Litestar's per-request machinery (api/openai/lean.py: the gateway's calls;
    # api/respan/lean.py: GET /api/models/{name}/), answering alike.
    reads = LeanReads(
        app.asgi_handler,
        app,
        lambda: app.state.registry,
        metrics=settings.metrics == "admin",
        cors=bool(settings.cors_origins),
        access_log=settings.log_format == "json",
    )
    app.asgi_handler = LeanGateway(
        reads,
        lambda: app.state.registry,
        max_body=MAX_BODY_BYTES,
        metrics=settings.metrics == "admin",
        cors=bool(settings.cors_origins),
        access_log=settings.log_format == "json",
    )
    return app
