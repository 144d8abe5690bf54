"""OpenAI-compatible gateway routes. Errors are OpenAI-shaped: {"error": {"message", "type", "code"}}.

| situation                                              | status |
|--------------------------------------------------------|--------|
| no or bad credentials                                  | 401    |
| unknown, unreadable, inactive or unroutable model      | 404 (names the provider to add, if that is why) |
| unknown /v1 path                                       | 404 (code "unknown_url")                         |
| bad body (not JSON, `model` not a string, `messages` not a non-empty array, ...) | 400 (`param` names the field) |
| body declared as another media type                    | 415    |
| upstream 4xx                                           | passed through with its body |
| upstream 5xx, connection failure, refused address      | 502    |
| upstream timeout                                       | 504    |
| database not answering                                 | 503 + Retry-After (type "service_unavailable") |

Only OpenAI-compatible upstream wire formats are spoken (OpenAI, Azure OpenAI's compatible endpoint,
vLLM, OpenRouter, Together, ...); native Anthropic/Gemini/Bedrock formats are out of scope.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post, route
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Stream

from modelreg.api import unavailable
from modelreg.api.common import json_content_type, optional_principal, registry
from modelreg.api.contract import documented
from modelreg.api.errors import NotAuthenticated, parameter_error_body
from modelreg.api.openai.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingsRequest,
    ModelList,
    ModelObject,
    ResponsesRequest,
)
from modelreg.auth.authenticator import AuthenticationFailed
from modelreg.domain.errors import DomainError, NotFound
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.names import could_be_stored
from modelreg.domain.principal import Principal
from modelreg.domain.provider import Provider
from modelreg.domain.usage import Outcome
from modelreg.filters.parse import parse_filters
from modelreg.gateway.measure import Measurement, SSEFilter, ask_for_usage, usage_of_body
from modelreg.gateway.routing import NotCallable, Route, apply_defaults, route_for, upstream_provider
from modelreg.gateway.ssrf import UpstreamRefused
from modelreg.gateway.upstream import UpstreamResponse, UpstreamTimeout, UpstreamUnreachable, timeout_for
from modelreg.services.listing import parse_sort
from modelreg.store.faults import fault_kind

__all__ = ["is_openai_path", "openai_error_response", "openai_router"]

log = logging.getLogger("modelreg.gateway")
AnyRequest = Request[Any, Any, Any]


class GatewayError(Exception):
    def __init__(
        self, status: int, message: str, kind: str, code: str | int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param


HTTP_METHODS: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE"]] = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CHAT_EXAMPLE = {"model": "team-gpt", "messages": [{"role": "user", "content": "Hello"}], "stream": False}
NO_ACCESS = "The model does not exist or you do not have access to it."


def _timed_out() -> GatewayError:
    return GatewayError(504, "The upstream provider timed out.", "upstream_error", "upstream_timeout")


def _unreachable() -> GatewayError:
    return GatewayError(502, "The upstream provider could not be reached.", "upstream_error", "upstream_unreachable")


def _error(
    status: int,
    message: str,
    kind: str,
    code: str | int | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    error = {"message": message, "type": kind, "param": param, "code": code}
    return Response(content={"error": error}, status_code=status, headers=headers)


def _handle(request: AnyRequest, exc: Exception) -> Response[Any]:
    if isinstance(exc, GatewayError):
        return _error(exc.status, exc.message, exc.kind, exc.code, exc.param)
    if isinstance(exc, AuthenticationFailed):
        return _error(401, "Invalid or expired credentials.", "invalid_request_error", "invalid_api_key")
    if isinstance(exc, NotCallable):
        return _error(404, exc.message, "invalid_request_error", "model_not_found")
    if isinstance(exc, NotFound):
        return _error(
            404, "The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
        )
    if isinstance(exc, DomainError):
        return _error(400, exc.message, "invalid_request_error", None)
    if isinstance(exc, msgspec.DecodeError | msgspec.ValidationError):
        return _error(400, "The request body must be a JSON object.", "invalid_request_error", None)
    if isinstance(exc, NotAuthenticated):
        return _error(401, "Authentication credentials were not provided.", "invalid_request_error", "missing_api_key")
    if isinstance(exc, NotFoundException):
        return _error(404, "Unknown request URL. See /docs for the operations.", "invalid_request_error", "unknown_url")
    if isinstance(exc, HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 400:  # Litestar's parameter errors: the names, never the values or the URL
            fields = parameter_error_body(request, exc)
            detail = str(fields["detail"]) if fields else "Invalid request."
        return _error(exc.status_code, detail, "invalid_request_error", None)
    if fault_kind(exc) is not None:
        headers = unavailable.retry_headers()
        return _error(503, unavailable.MESSAGE, "service_unavailable", "database_unavailable", headers=headers)
    log.error("gateway error: %s", type(exc).__name__, exc_info=exc)
    return _error(500, "Internal server error.", "server_error", None)


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def openai_error_response(request: AnyRequest, exc: Exception) -> Response[Any]:
    """For errors raised before routing (unknown path, wrong method) on a /v1 path: app.py sends them here."""
    return _handle(request, exc)


async def _caller(request: AnyRequest) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise GatewayError(
            401, "Authentication credentials were not provided.", "invalid_request_error", "missing_api_key"
        )
    return principal


_FIELD_RE = re.compile(r" - at `\$\.([A-Za-z_]+)|missing required field `([A-Za-z_]+)`")


async def _body(request: AnyRequest, shape: type[Any]) -> dict[str, Any]:
    """The body as sent (relayed unchanged), checked against `shape` before anything goes upstream."""
    raw = await request.body()
    json_content_type(request, raw)
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


def _callable(model: LLMModel, providers: dict[str, Provider]) -> bool:
    provider = upstream_provider(model, providers)
    return model.is_active and provider is not None and isinstance(provider.extra_kwargs.get("base_url"), str)


def _model_object(model: LLMModel, principal: Principal) -> ModelObject:
    created = int(model.created_at.timestamp()) if model.created_at else 0
    owner = model.provider.provider_id if model.is_builtin and model.provider else principal.organization_id
    return ModelObject(id=model.name, object="model", created=created, owned_by=owner)


@get("/v1/models")
async def list_models(request: AnyRequest) -> ModelList:
    """Exactly the models this caller may call: readable, active and routable."""
    principal = await _caller(request)
    reg = registry(request)
    snapshot = await reg.index.org(principal.organization_id)
    # The same visibility as every list (memory or SQL path); then only what has a route.
    visible = await reg.listing.run(principal, parse_filters(None), parse_sort(None), 0, None)
    data = [_model_object(m, principal) for m in visible.models if _callable(m, snapshot.providers)]
    return ModelList(object="list", data=data)


@get("/v1/models/{model:path}")
async def retrieve_model(request: AnyRequest, model: FromPath[str]) -> ModelObject:
    """One model of the list (the SDK's `models.retrieve`); ids may contain `/`. Anything the list would not
    show answers 404."""
    principal = await _caller(request)
    reg = registry(request)
    name = model.removeprefix("/")
    if not could_be_stored(name):
        raise NotFound()
    found = await reg.models.get(principal, name)
    snapshot = await reg.index.org(principal.organization_id)
    if not _callable(found, snapshot.providers):
        raise NotFound()
    return _model_object(found, principal)


async def _route(request: AnyRequest, principal: Principal, name: str) -> Route:
    reg = registry(request)
    if reg.prices.due():  # a scheduled price came into force: the call is billed at it (docs/pricing.md)
        await reg.prices.apply_due()
    model = await reg.models.get(principal, name)
    snapshot = await reg.index.org(principal.organization_id)
    return route_for(principal, model, snapshot.providers)


async def _forward(request: AnyRequest, path: str, shape: type[Any]) -> Response[Any] | Stream:
    started, at = time.perf_counter(), registry(request).clock()
    principal = await _caller(request)
    body = await _body(request, shape)
    route = await _route(request, principal, body["model"])
    payload = apply_defaults(body, route.model, route.upstream_model)
    streaming = shape is not EmbeddingsRequest and payload.get("stream") is True
    # The Responses API reports usage in its final event and has no stream_options.
    caller_wants_usage = streaming and shape is not ResponsesRequest and ask_for_usage(payload, route.model)
    reg = registry(request)
    measure = Measurement(reg.meter, principal.organization_id, route, started, at)
    try:
        response = await _send(request, route, path, payload)
        if response.status >= 400 or not streaming:
            return await _whole_answer(response, measure)
    except GatewayError as exc:
        measure.done("client_error" if exc.status < 500 else "upstream_error")
        raise
    except BaseException:
        measure.done("gateway_error")
        raise
    sse = SSEFilter(drop_usage_chunk=not caller_wants_usage)
    return Stream(_relay(response, measure, sse), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _send(request: AnyRequest, route: Route, path: str, payload: dict[str, Any]) -> UpstreamResponse:
    """The upstream's response, headers read, body not yet (redirects refused)."""
    reg = registry(request)
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


async def _whole_answer(response: UpstreamResponse, measure: Measurement) -> Response[Any]:
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
    return Response(content=content, status_code=status, media_type=response.content_type)


async def _relay(response: UpstreamResponse, measure: Measurement, sse: SSEFilter) -> AsyncIterator[bytes]:
    """Events as they arrive; a client that goes away closes the upstream connection (finally) and is
    measured as cancelled. An upstream that breaks off mid-stream ends the stream with an error event, so
    the caller never takes a truncated answer for a complete one."""
    outcome: Outcome = "cancelled"
    try:
        async for chunk in response.chunks():
            events = sse.feed(chunk)
            if events:
                yield events
        rest = sse.tail()
        if rest:
            yield rest
        outcome = "ok"
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


_UPSTREAM_ERRORS = (403, 404, 429, 502, 504)


def _call(body: type[Any], example: Any = None, *, stream: bool = True) -> dict[str, Any]:
    """A gateway call: the answer is the upstream's (JSON, or server-sent events when streaming); upstream 4xx
    are passed through, so 403 and 429 are documented too."""
    return documented(body=body, response=dict[str, Any], stream=stream, errors=_UPSTREAM_ERRORS, example=example)


@post("/v1/chat/completions", status_code=200, opt=_call(ChatCompletionRequest, CHAT_EXAMPLE))
async def chat_completions(request: AnyRequest) -> Response[Any] | Stream:
    """A chat completion through the model's provider (`stream: true`: server-sent events), measured."""
    return await _forward(request, "/chat/completions", ChatCompletionRequest)


@post(
    "/v1/completions",
    status_code=200,
    opt=_call(CompletionRequest, {"model": "team-gpt", "prompt": "Say hello", "max_tokens": 16}),
)
async def completions(request: AnyRequest) -> Response[Any] | Stream:
    """A (legacy) text completion through the model's provider, streaming or not, measured."""
    return await _forward(request, "/completions", CompletionRequest)


@post("/v1/responses", status_code=200, opt=_call(ResponsesRequest, {"model": "team-gpt", "input": "Say hello"}))
async def responses(request: AnyRequest) -> Response[Any] | Stream:
    """A Responses API call through the model's provider, streaming or not, measured."""
    return await _forward(request, "/responses", ResponsesRequest)


@post(
    "/v1/embeddings",
    status_code=200,
    opt=_call(EmbeddingsRequest, {"model": "team-embed", "input": "hello"}, stream=False),
)
async def embeddings(request: AnyRequest) -> Response[Any] | Stream:
    """Embeddings through the model's provider, measured."""
    return await _forward(request, "/embeddings", EmbeddingsRequest)


@route("/v1/{rest:path}", http_method=HTTP_METHODS, include_in_schema=False)
async def unknown_path(rest: FromPath[str]) -> None:
    """Unknown /v1 paths answer in OpenAI's error shape (the SDKs parse it), not the registry's."""
    del rest
    raise NotFoundException()


_HANDLED: tuple[type[Exception], ...] = (
    Exception,
    GatewayError,
    DomainError,
    AuthenticationFailed,
    NotAuthenticated,
    HTTPException,
    NotFoundException,
    msgspec.DecodeError,
    msgspec.ValidationError,
)

openai_router = Router(
    path="/",
    route_handlers=[list_models, retrieve_model, chat_completions, completions, responses, embeddings, unknown_path],
    # Every type the app-level table knows is listed here too: the most specific handler wins in Litestar.
    exception_handlers=dict.fromkeys(_HANDLED, _handle),
)
