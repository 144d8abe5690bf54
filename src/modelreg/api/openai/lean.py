"""The lean ASGI path: POST /v1/chat/completions, /v1/completions, /v1/responses and /v1/embeddings served
without Litestar's per-request machinery (routing, Request and Response objects, the exception and
middleware layers, the streaming response's task group), which cost more CPU per call than the call itself.

It answers exactly as the documented Litestar handlers (routes.py) do, because both run the same call
(calls.py: credentials, access, body checks, routing, SSRF-guarded upstream, measurement, error mapping);
what Litestar adds around them is done here too: the request id and access log (as api/request_id.py's
middleware), the request metrics (the same Prometheus series), the body size
limit (413), the stale-data header while the database is down. Anything else goes to Litestar: other paths
and methods, a malformed Content-Length, and requests carrying an Origin header when CORS is configured
(the CORS middleware answers those). The handlers stay registered: they document these routes in the
OpenAPI document and serve the trailing-slash spellings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from modelreg.api.lean_observe import Observer
from modelreg.api.openai.calls import Answer, error_of, forward
from modelreg.api.openai.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingsRequest, ResponsesRequest
from modelreg.registry import Registry

__all__ = ["HOT_ROUTES", "LeanGateway"]

log = logging.getLogger("modelreg.gateway")

HOT_ROUTES: dict[str, tuple[str, type[Any]]] = {
    "/v1/chat/completions": ("/chat/completions", ChatCompletionRequest),
    "/v1/completions": ("/completions", CompletionRequest),
    "/v1/responses": ("/responses", ResponsesRequest),
    "/v1/embeddings": ("/embeddings", EmbeddingsRequest),
}
"""path -> (upstream path, body shape), as routes.py's handlers."""

STALE_HEADER = (b"x-modelreg-stale", b"true")
_NO_BODY = frozenset({204, 304})
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


def _media_type(media_type: str) -> bytes:
    # Litestar's rule for the Content-Type of a response (responses of routes.py's handlers).
    return (f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type).encode("latin-1")


class LeanGateway:
    """Installed in front of Litestar's own ASGI handler (app.py); serves the hot routes, hands on the rest."""

    def __init__(
        self,
        litestar: ASGIApp,
        registry: Callable[[], Registry],
        *,
        max_body: int,
        metrics: bool,
        cors: bool,
        access_log: bool,
    ) -> None:
        self.litestar = litestar
        self._registry = registry
        """The app's registry as its state holds it now (read per call, like every handler's `registry(request)`)."""
        self._max_body = max_body
        self._observer = Observer(metrics=metrics, access_log=access_log)
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in HOT_ROUTES and scope.get("method") == "POST" and self._takes(scope):
            await self._call(scope, receive, send)
        else:
            await self.litestar(scope, receive, send)

    def _takes(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length" and not value.isdigit():
                return False  # Litestar's 400 for it
            if name == b"origin" and self._cors:
                return False
        return True

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        incoming = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"x-request-id"), None)
        with self._observer.request("POST", path, path, incoming) as observed:
            observed.status = await self._answer(scope, receive, send, observed.request_id)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, request_id: tuple[bytes, bytes]) -> int:
        """Serves the call; returns the status sent."""
        upstream_path, shape = HOT_ROUTES[scope["path"]]
        authorization = content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"content-length" and length is None:
                length = int(value)

        async def read_body() -> bytes:
            return await self._read_body(receive, length)

        try:
            answer = await forward(self._registry(), authorization, content_type, read_body, upstream_path, shape)
        except _Disconnected:
            return 499  # nobody to answer (nginx's code for it, in the metrics only)
        except Exception as exc:  # noqa: BLE001 - every error is an OpenAI-shaped answer (calls.error_of)
            status, body, headers = error_of(exc)
            extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
            await self._whole(send, status, "application/json", msgspec.json.encode(body), [*extra, request_id])
            return status
        if answer.events is not None:
            await self._stream(receive, send, answer, request_id)
        else:
            await self._whole(send, answer.status, answer.media_type, answer.content, [request_id])
        return answer.status

    async def _read_body(self, receive: Receive, length: int | None) -> bytes:
        if length is not None and length > self._max_body:
            raise RequestEntityTooLarge
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    total += len(chunk)
                    if total > self._max_body:
                        raise RequestEntityTooLarge
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            elif message["type"] == "http.disconnect":
                raise _Disconnected

    def _stale(self, status: int) -> bool:
        return self._registry().db.health.down and status < 400

    async def _whole(
        self, send: Send, status: int, media_type: str, content: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        request_id = headers.pop()
        if status in _NO_BODY or status < 200:
            content = b""
        else:
            headers += [(b"content-type", _media_type(media_type)), (b"content-length", str(len(content)).encode())]
        if self._stale(status):
            headers.append(STALE_HEADER)
        headers.append(request_id)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _stream(self, receive: Receive, send: Send, answer: Answer, request_id: tuple[bytes, bytes]) -> None:
        """The events as they come; a client that goes away (http.disconnect) cancels the relay at once, which
        closes the upstream connection and measures the call as cancelled (calls._relay)."""
        headers = [(b"cache-control", b"no-cache"), (b"content-type", _media_type("text/event-stream"))]
        if self._stale(200):
            headers.append(STALE_HEADER)
        headers.append(request_id)
        events = answer.events
        task = asyncio.current_task()
        assert task is not None and events is not None
        state = {"relaying": True, "gone": False}

        # The watch is a callback on the next message, not a task: granian's receive() is a future already
        # (ensure_future returns it as is; another server's coroutine becomes a task), a task per stream costs more.
        watcher: list[asyncio.Future[ReceiveMessage]] = []

        def watch() -> None:
            watcher[:] = [asyncio.ensure_future(receive())]
            watcher[0].add_done_callback(received)

        def received(message: asyncio.Future[ReceiveMessage]) -> None:
            if message.cancelled() or message.exception() is not None:
                return
            if message.result()["type"] != "http.disconnect":
                watch()
            elif state["relaying"]:
                state["gone"] = True
                task.cancel()

        watch()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in events:
                if answer.ended:  # the last piece: sent as the end of the answer
                    state["relaying"] = False
                    await send({"type": "http.response.body", "body": chunk, "more_body": False})
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                state["relaying"] = False
                await send(_END)
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            task.uncancel()
        except Exception:  # the answer has started: nothing left to tell the client
            log.warning("gateway stream ended early", exc_info=True)
        finally:
            state["relaying"] = False
            watcher[0].cancel()
            await events.aclose()  # type: ignore[attr-defined]
