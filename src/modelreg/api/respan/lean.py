"""The lean ASGI path for the hot read: GET /api/models/{name}/ served without Litestar's per-request machinery
(Request object, parameter parsing, the middleware stack, the Response object and its JSON encoding), which
costs more CPU than the read itself: the model comes from the in-memory snapshot and its JSON is memoized
per snapshot (convert.model_bytes), so what is left is routing, authentication and sending.

It answers exactly as routes.retrieve_model does, because it runs the same steps (the authenticator, the
registry's `models.get` with the one permission rule of domain/access.py, another organization's model
answering as a missing one) and gives the same answers around them: errors from api/errors.py's table, the
ETag of a custom model, X-Request-ID and the access log (as api/request_id.py), the request metrics (the same
series, labelled with the route template), X-Modelreg-Stale while the database is down, 503 + Retry-After
when it is needed and does not answer.

Litestar's own router decides which handler a path reaches (cached per path): only paths it routes to
retrieve_model are taken, and of those not the sub-resources that handler hands on (status, revisions,
prices). Anything else goes to Litestar: other methods (HEAD included), a query string, a root path, an
invalid Host header (Litestar's 400), and an Origin header when CORS is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Litestar
from litestar._asgi.utils import is_valid_host
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils import normalize_path

from modelreg.api.common import path_name
from modelreg.api.errors import NotAuthenticated, error_parts
from modelreg.api.history_routes import revisions_target
from modelreg.api.lean_observe import Observer
from modelreg.api.price_routes import prices_target
from modelreg.api.respan.convert import model_bytes, model_etag
from modelreg.api.respan.routes import retrieve_model, status_target
from modelreg.registry import Registry

__all__ = ["LeanReads"]

log = logging.getLogger("modelreg.api")

PREFIX = "/api/models/"
JSON = (b"content-type", b"application/json")
STALE_HEADER = (b"x-modelreg-stale", b"true")


class LeanReads:
    """Installed in front of Litestar's own ASGI handler (app.py); serves the hot read, hands on the rest."""

    def __init__(
        self,
        litestar: ASGIApp,
        app: Litestar,
        registry: Callable[[], Registry],
        *,
        metrics: bool,
        cors: bool,
        access_log: bool,
    ) -> None:
        self.litestar = litestar
        """Litestar's handler: everything this path does not serve, and the reference it is tested against."""
        self._route = app.asgi_router.handle_routing
        self._registry = registry
        self._observer = Observer(metrics=metrics, access_log=access_log)
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "GET" and scope["path"].startswith(PREFIX):  # HTTP only: others have no method
            taken = self._takes(scope)
            if taken is not None:
                await self._call(scope, send, *taken)
                return
        await self.litestar(scope, receive, send)

    def _takes(self, scope: Scope) -> tuple[str, str, str] | None:
        """(the name as Litestar passes it to retrieve_model, the route template, the path as Litestar's router
        leaves it in the scope: the access log's), if this path serves it."""
        if scope.get("query_string") or scope.get("root_path"):
            return None
        try:
            _, handler, path, params, template = self._route(normalize_path(scope["path"]), "GET")
        except Exception:  # noqa: BLE001 - Litestar's 404/405: Litestar answers them
            return None
        if handler.fn is not retrieve_model.fn:
            return None
        name: str = params["model_name"]
        if status_target(name) is not None or revisions_target(name) is not None or prices_target(name) is not None:
            return None
        for header, value in scope["headers"]:
            if header == b"host" and not is_valid_host(value):
                return None
            if header == b"origin" and self._cors:
                return None
        return name, template, path

    async def _call(self, scope: Scope, send: Send, name: str, template: str, path: str) -> None:
        incoming = authorization = None
        for header, value in scope["headers"]:
            if header == b"x-request-id" and incoming is None:
                incoming = value.decode("latin-1")
            elif header == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        with self._observer.request("GET", template, path, incoming) as observed:
            observed.status, headers, body = await self._answer(authorization, name, path)
            headers.append(observed.request_id)
            await send({"type": "http.response.start", "status": observed.status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _answer(self, authorization: str | None, name: str, path: str) -> tuple[int, list[Any], bytes]:
        """routes.retrieve_model's answer: (status, headers, body)."""
        reg = self._registry()
        try:
            principal = await reg.authenticator.authenticate(authorization)
            if principal is None:
                raise NotAuthenticated()
            # Unlike require_principal, no audit.set_actor_user: a read records nothing (request_context
            # skips GET too), and it is a tenth of this path's own time.
            model = await reg.models.get(principal, path_name(name))
            body = model_bytes(reg.index, model, principal)
        except Exception as exc:  # noqa: BLE001 - every error is an answer of api/errors.py's table
            status, detail, extra = error_parts(exc, "GET", path)
            body = msgspec.json.encode(detail)
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
            headers += [JSON, (b"content-length", str(len(body)).encode())]
            return status, headers, body
        headers = [] if model.is_builtin else [(b"etag", model_etag(reg.index, model))]
        headers += [JSON, (b"content-length", str(len(body)).encode())]
        if reg.db.health.down:
            headers.append(STALE_HEADER)
        return 200, headers, body
