"""One gateway call, free of any web framework: credentials, body, route, upstream, answer, measurement.

Both ways in use it, so they answer alike by construction: the Litestar handlers in routes.py (documented
in the OpenAPI document, and serving whatever the lean path hands on) and the lean ASGI path in lean.py
(the hot POST routes). Errors are exceptions; `error_of` maps every one to its OpenAI-shaped answer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from litestar.exceptions import HTTPException, NotFoundException

from modelreg.api import unavailable
from modelreg.api.common import check_media_type
from modelreg.api.errors import NotAuthenticated
from modelreg.api.openai.schemas import EmbeddingsRequest, ResponsesRequest
from modelreg.auth.authenticator import AuthenticationFailed
from modelreg.domain.errors import DomainError, NotFound
from modelreg.domain.principal import Principal
from modelreg.domain.usage import Outcome
from modelreg.gateway.measure import Measurement, SSEFilter, ask_for_usage, usage_of_body
from modelreg.gateway.routing import NotCallable, Route, apply_defaults, route_for
from modelreg.gateway.ssrf import UpstreamRefused
from modelreg.gateway.upstream import UpstreamResponse, UpstreamTimeout, UpstreamUnreachable, timeout_for
from modelreg.registry import Registry
from modelreg.store.faults import fault_kind

__all__ = ["Answer", "GatewayError", "caller", "error_of", "forward"]

log = logging.getLogger("modelreg.gateway")

STREAM_HEADERS = {"Cache-Control": "no-cache"}


class GatewayError(Exception):
    def __init__(
        self, status: int, message: str, kind: str, code: str | int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param


class Answer:
    """What a call answers: a whole body (`content`) or server-sent events (`events`). `ended` turns true as
    `events` hands out its last piece (the upstream's body is complete and measured), so a server may send
    that piece as the end of its answer rather than follow it with an empty one."""

    __slots__ = ("content", "ended", "events", "media_type", "status")

    def __init__(
        self, status: int, media_type: str, content: bytes = b"", events: AsyncIterator[bytes] | None = None
    ) -> None:
        self.status, self.media_type, self.content, self.events = status, media_type, content, events
        self.ended = False


def _timed_out() -> GatewayError:
    return GatewayError(504, "The upstream provider timed out.", "upstream_error", "upstream_timeout")


def _unreachable() -> GatewayError:
    return GatewayError(502, "The upstream provider could not be reached.", "upstream_error", "upstream_unreachable")


def _shape(
    status: int,
    message: str,
    kind: str,
    code: str | int | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers


def error_of(exc: Exception, http_detail: str | None = None) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """Status, OpenAI-shaped body and extra headers for an exception raised while serving a /v1 request.
    `http_detail`: the message for a framework HTTPException when the caller has a better one."""
    if isinstance(exc, GatewayError):
        return _shape(exc.status, exc.message, exc.kind, exc.code, exc.param)
    if isinstance(exc, AuthenticationFailed):
        return _shape(401, "Invalid or expired credentials.", "invalid_request_error", "invalid_api_key")
    if isinstance(exc, NotCallable):
        return _shape(404, exc.message, "invalid_request_error", "model_not_found")
    if isinstance(exc, NotFound):
        return _shape(
            404, "The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
        )
    if isinstance(exc, DomainError):
        return _shape(400, exc.message, "invalid_request_error", None)
    if isinstance(exc, msgspec.DecodeError | msgspec.ValidationError):
        return _shape(400, "The request body must be a JSON object.", "invalid_request_error", None)
    if isinstance(exc, NotAuthenticated):
        return _shape(401, "Authentication credentials were not provided.", "invalid_request_error", "missing_api_key")
    if isinstance(exc, NotFoundException):
        return _shape(404, "Unknown request URL. See /docs for the operations.", "invalid_request_error", "unknown_url")
    if isinstance(exc, HTTPException):
        detail = http_detail or (exc.detail if isinstance(exc.detail, str) else "Request failed.")
        return _shape(exc.status_code, detail, "invalid_request_error", None)
    if fault_kind(exc) is not None:
        headers = unavailable.retry_headers()
        return _shape(503, unavailable.MESSAGE, "service_unavailable", "database_unavailable", headers=headers)
    log.error("gateway error: %s", type(exc).__name__, exc_info=exc)
    return _shape(500, "Internal server error.", "server_error", None)


async def caller(reg: Registry, authorization: str | None) -> Principal:
    principal = await reg.authenticator.authenticate(authorization)
    if principal is None:
        raise GatewayError(
            401, "Authentication credentials were not provided.", "invalid_request_error", "missing_api_key"
        )
    return principal


_FIELD_RE = re.compile(r" - at `\$\.([A-Za-z_]+)|missing required field `([A-Za-z_]+)`")


def _body(content_type: str | None, raw: bytes, shape: type[Any]) -> dict[str, Any]:
    """The body as sent (relayed unchanged), checked against `shape` before anything goes upstream."""
    check_media_type(content_type, raw)
    try:
        body = msgspec.json.decode(raw or b"null")
    except (msgspec.DecodeError, RecursionError):
        raise GatewayError(400, "The request body is not valid JSON.", "invalid_request_error") from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", "invalid_request_error")
    if "model" not in body or body["model"] == "":
        raise GatewayError(400, "'model' is required.", "invalid_request_error", "missing_model", "model")
    try:
        msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        # msgspec names the path and the expected type, never the value sent.
        match = _FIELD_RE.search(str(exc))
        param = (match.group(1) or match.group(2)) if match else None
        raise GatewayError(400, str(exc), "invalid_request_error", "invalid_value", param) from None
    return body


async def _route(reg: Registry, principal: Principal, name: str) -> Route:
    if reg.prices.due():  # a scheduled price came into force: the call is billed at it (docs/pricing.md)
        await reg.prices.apply_due()
    model = await reg.models.get(principal, name)
    snapshot = await reg.index.org(principal.organization_id)
    return route_for(principal, model, snapshot.providers)


async def forward(
    reg: Registry,
    authorization: str | None,
    content_type: str | None,
    read_body: Callable[[], Awaitable[bytes]],
    path: str,
    shape: type[Any],
) -> Answer:
    """POST the body (read once the caller is known; checked against `shape`) to the model's provider at
    `path`; the answer, measured."""
    started, at = time.perf_counter(), reg.clock()
    principal = await caller(reg, authorization)
    body = _body(content_type, await read_body(), shape)
    route = await _route(reg, principal, body["model"])
    payload = apply_defaults(body, route.model, route.upstream_model)
    streaming = shape is not EmbeddingsRequest and payload.get("stream") is True
    # The Responses API reports usage in its final event and has no stream_options.
    caller_wants_usage = streaming and shape is not ResponsesRequest and ask_for_usage(payload, route.model)
    measure = Measurement(reg.meter, principal.organization_id, route, started, at)
    try:
        response = await _send(reg, route, path, payload)
        if response.status >= 400 or not streaming:
            return await _whole_answer(response, measure)
    except GatewayError as exc:
        measure.done("client_error" if exc.status < 500 else "upstream_error")
        raise
    except BaseException:
        measure.done("gateway_error")
        raise
    sse = SSEFilter(drop_usage_chunk=not caller_wants_usage)
    answer = Answer(200, "text/event-stream")
    answer.events = _relay(response, measure, sse, answer)
    return answer


async def _send(reg: Registry, route: Route, path: str, payload: dict[str, Any]) -> UpstreamResponse:
    """The upstream's response, headers read, body not yet (redirects refused)."""
    api_key = await reg.providers.api_key_for(reg.db, route.provider)
    try:
        response = await reg.upstream.post(
            route.provider.extra_kwargs["base_url"],
            path,
            api_key,
            msgspec.json.encode(payload),
            timeout_for(route.provider.extra_kwargs),
        )
    except UpstreamRefused as exc:
        raise GatewayError(502, exc.message, "upstream_error", "upstream_refused") from None
    except UpstreamTimeout:
        raise _timed_out() from None
    except UpstreamUnreachable:
        raise _unreachable() from None
    if 300 <= response.status < 400:
        response.close()  # redirects are never followed, nor passed on as an answer
        message = f"The upstream provider answered with a redirect (status {response.status})."
        raise GatewayError(502, message, "upstream_error", response.status)
    return response


async def _whole_answer(response: UpstreamResponse, measure: Measurement) -> Answer:
    """A non-streaming answer or an upstream error, read whole; 4xx passed through, 5xx as 502."""
    try:
        content = await response.read()
    except UpstreamTimeout:
        raise _timed_out() from None
    except UpstreamUnreachable:
        raise GatewayError(502, "The upstream connection failed.", "upstream_error", "upstream_unreachable") from None
    status = response.status
    if status >= 500:
        raise GatewayError(502, f"The upstream provider failed (status {status}).", "upstream_error", status)
    if status >= 400:
        measure.done("client_error")
    else:
        measure.done("ok", usage_of_body(content))
    return Answer(status, response.content_type, content)


async def _relay(
    response: UpstreamResponse, measure: Measurement, sse: SSEFilter, answer: Answer
) -> AsyncIterator[bytes]:
    """Events as they arrive; a client that goes away closes the upstream connection (finally) and is
    measured as cancelled. An upstream that breaks off mid-stream ends the stream with an error event, so
    the caller never takes a truncated answer for a complete one."""
    outcome: Outcome = "cancelled"
    try:
        events = b""
        while chunk := await response.read_chunk():
            events = sse.feed(chunk)
            if response.complete:
                break  # the body's end came with this chunk: `events` is the last piece
            if events:
                yield events
            if sse.finished:  # the caller has the whole stream: leaving now does not make it cancelled
                outcome = "ok"
            events = b""
        events += sse.tail()
        outcome = "ok"
        measure.done(outcome, sse.usage, sse.first_token_at)
        response.close()
        answer.ended = True
        if events:
            yield events
    except (UpstreamTimeout, UpstreamUnreachable) as exc:
        outcome = "upstream_error"
        log.warning("upstream stream broke off: %s", type(exc).__name__)
        timed_out = isinstance(exc, UpstreamTimeout)
        error = {
            "message": "The upstream provider stopped responding." if timed_out else "The upstream stream broke off.",
            "type": "upstream_error",
            "code": "upstream_timeout" if timed_out else "upstream_unreachable",
        }
        yield b"\n\ndata: " + msgspec.json.encode({"error": error}) + b"\n\n"
    finally:
        measure.done(outcome, sse.usage, sse.first_token_at)
        response.close()
