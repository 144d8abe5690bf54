"""X-Request-ID: every response carries one (the caller's, when it sent a sane one; else a new one), and
every log line written while serving the request names it (logs.py). With JSON logs, one access line
per request: method, route path (no query string), status, duration."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.logs import REQUEST_ID
from modelreg.services.audit import request_id_from

__all__ = ["RequestIdMiddleware"]

access_log = logging.getLogger("modelreg.access")


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return value.decode("latin-1")
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, access: bool) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_incoming(scope))
        token = REQUEST_ID.set(request_id)
        header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access:
                extra: dict[str, Any] = {
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status[0] if status else None,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
                access_log.info("request", extra=extra)
            REQUEST_ID.reset(token)
