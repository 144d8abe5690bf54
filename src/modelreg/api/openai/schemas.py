"""Wire shapes of the OpenAI-compatible gateway, for the contract and the checks made before a call goes
upstream. The body itself is relayed as sent (every field the upstream understands passes through), so
these structs document and check; they never drop or rewrite fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "EmbeddingsRequest",
    "ModelList",
    "ModelObject",
    "ResponsesRequest",
]

ModelName = Annotated[str, Meta(min_length=1, max_length=256)]


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    """OpenAI's chat completion request; other OpenAI fields (temperature, tools, ...) are relayed as sent."""

    model: ModelName
    messages: Annotated[list[dict[str, Any]], Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None


class CompletionRequest(msgspec.Struct, kw_only=True):
    """OpenAI's (legacy) text completion request."""

    model: ModelName
    prompt: str | list[Any]
    stream: bool | None = None
    stream_options: StreamOptions | None = None


class ResponsesRequest(msgspec.Struct, kw_only=True):
    """OpenAI's Responses API request (`input`: a string or a list of input items)."""

    model: ModelName
    input: str | list[Any]
    stream: bool | None = None


class EmbeddingsRequest(msgspec.Struct, kw_only=True):
    model: ModelName
    input: str | list[Any]


class ModelObject(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(msgspec.Struct, kw_only=True):
    object: Literal["list"]
    data: list[ModelObject]
