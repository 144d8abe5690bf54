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

from typing import Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post, route
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Stream

from modelreg.api.common import registry, streamed_json
from modelreg.api.contract import documented
from modelreg.api.errors import NotAuthenticated, parameter_error_body
from modelreg.api.openai.calls import STREAM_HEADERS, GatewayError, caller, error_of, forward
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
from modelreg.filters.parse import parse_filters
from modelreg.gateway.routing import upstream_provider
from modelreg.services.listing import parse_sort

__all__ = ["is_openai_path", "openai_error_response", "openai_router"]

AnyRequest = Request[Any, Any, Any]


HTTP_METHODS: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE"]] = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CHAT_EXAMPLE = {"model": "team-gpt", "messages": [{"role": "user", "content": "Hello"}], "stream": False}
NO_ACCESS = "The model does not exist or you do not have access to it."


def _handle(request: AnyRequest, exc: Exception) -> Response[Any]:
    detail = None
    if isinstance(exc, HTTPException) and not isinstance(exc, NotFoundException) and exc.status_code == 400:
        fields = parameter_error_body(request, exc)  # Litestar's parameter errors: the names, never the values
        detail = str(fields["detail"]) if fields else "Invalid request."
    status, body, headers = error_of(exc, detail)
    return Response(content=body, status_code=status, headers=headers)


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def openai_error_response(request: AnyRequest, exc: Exception) -> Response[Any]:
    """For errors raised before routing (unknown path, wrong method) on a /v1 path: app.py sends them here."""
    return _handle(request, exc)


async def _caller(request: AnyRequest) -> Principal:
    return await caller(registry(request), request.headers.get("authorization"))


def _callable(model: LLMModel, providers: dict[str, Provider]) -> bool:
    provider = upstream_provider(model, providers)
    return model.is_active and provider is not None and isinstance(provider.extra_kwargs.get("base_url"), str)


def _model_object(model: LLMModel, principal: Principal) -> ModelObject:
    created = int(model.created_at.timestamp()) if model.created_at else 0
    owner = model.provider.provider_id if model.is_builtin and model.provider else principal.organization_id
    return ModelObject(id=model.name, object="model", created=created, owned_by=owner)


_LIST_HEAD, _LIST_TAIL = msgspec.json.encode(ModelList(object="list", data=[])).split(b"[]")
"""`{"object":"list","data":` and `}`: around a streamed array, the bytes of the whole answer."""


@get("/v1/models", opt=documented(response=ModelList))
async def list_models(request: AnyRequest) -> Response[Any] | Stream:
    """Exactly the models this caller may call: readable, active and routable."""
    principal = await _caller(request)
    reg = registry(request)
    snapshot = await reg.index.org(principal.organization_id)
    # The same visibility as every list (memory or SQL path); then only what has a route. An organization
    # served by SQL is streamed batch by batch (services/listing.py), never held whole.
    streamed = await reg.listing.stream(principal, parse_filters(None), parse_sort(None))
    if not streamed.memoizable:

        def encode(model: LLMModel) -> bytes | None:
            callable_ = _callable(model, snapshot.providers)
            return msgspec.json.encode(_model_object(model, principal)) if callable_ else None

        return streamed_json(streamed, encode, _LIST_HEAD + b"[", b"]" + _LIST_TAIL)
    data = [
        _model_object(m, principal)
        async for batch in streamed.batches()
        for m in batch
        if _callable(m, snapshot.providers)
    ]
    return Response(content=ModelList(object="list", data=data))


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


async def _forward(request: AnyRequest, path: str, shape: type[Any]) -> Response[Any] | Stream:
    """The Litestar way in (the lean path, lean.py, serves the same calls without Litestar)."""
    headers = request.headers
    answer = await forward(
        registry(request), headers.get("authorization"), headers.get("content-type"), request.body, path, shape
    )
    if answer.events is not None:
        return Stream(answer.events, media_type=answer.media_type, headers=STREAM_HEADERS)
    return Response(content=answer.content, status_code=answer.status, media_type=answer.media_type)


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
