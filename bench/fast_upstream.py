"""A fast fake OpenAI-compatible upstream for the gateway benchmark: a raw ASGI app, served by granian.

tests/fake_upstream.py (http.server, a thread per connection, request recording) is built for checking
behaviour, not for speed: as the upstream of a benchmark it would be the bottleneck. This one does the
least an upstream must do and nothing else:

- `POST /v1/chat/completions` with `Authorization: Bearer $BENCH_UPSTREAM_KEY` (401 otherwise); the body
  is read whole and decoded (`model`, `stream`, `stream_options`);
  - not streamed: a `chat.completion` JSON body (Content-Length) with `usage`;
  - streamed (`"stream": true`): `text/event-stream`, one ASGI body message per event: the role chunk,
    REPLY_PIECES content chunks, the `finish_reason` chunk, the usage chunk (`choices: []`) when
    `stream_options.include_usage` is true, then `data: [DONE]`;
  - a model whose name ends in `-spaced` streams its events SPACED_S apart (the relay check: a gateway
    that buffered the stream would deliver the first event only at the end);
  - the response's `model` echoes the request's (the bench checks the name the gateway forwarded);
- `GET /healthz`: `{"status":"ok"}`; anything else: 404.

Answers are encoded once per model name and cached; nothing is recorded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from bench.bare_app import lifespan

__all__ = ["PROMPT_TOKENS", "REPLY_PIECES", "SPACED_S", "USAGE", "app", "completion_body", "stream_events"]

UPSTREAM_KEY = os.environ.get("BENCH_UPSTREAM_KEY", "sk-bench-upstream")
REPLY_PIECES = ("Hello", " from", " the", " fast", " fake", " upstream", ".")
SPACED_S = 0.02
CREATED = 1_764_547_200
PROMPT_TOKENS = 12
USAGE = {
    "prompt_tokens": PROMPT_TOKENS,
    "completion_tokens": len(REPLY_PIECES),
    "total_tokens": PROMPT_TOKENS + len(REPLY_PIECES),
    "prompt_tokens_details": {"cached_tokens": 0},
}
_CACHE_LIMIT = 64

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _StreamOptions(msgspec.Struct):
    include_usage: bool = False


class _ChatRequest(msgspec.Struct):
    model: str
    stream: bool = False
    stream_options: _StreamOptions | None = None


_DECODER = msgspec.json.Decoder(_ChatRequest)
_ENCODER = msgspec.json.Encoder()
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_EXPECTED_AUTH = f"Bearer {UPSTREAM_KEY}".encode()


def completion_body(model: str) -> bytes:
    return _ENCODER.encode(
        {
            "id": "chatcmpl-bench-0001",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(REPLY_PIECES), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )


def stream_events(model: str, include_usage: bool) -> list[bytes]:
    """Every SSE event of a streamed answer, `data: [DONE]` last."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload = {
            "id": "chatcmpl-bench-0001",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": choices,
            **extra,
        }
        return b"data: " + _ENCODER.encode(payload) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    events = [chunk(choice({"role": "assistant", "content": ""}))]
    events += [chunk(choice({"content": piece})) for piece in REPLY_PIECES]
    events.append(chunk(choice({}, "stop")))
    if include_usage:
        events.append(chunk([], usage=USAGE))
    events.append(b"data: [DONE]\n\n")
    return events


_bodies: dict[str, bytes] = {}
_streams: dict[tuple[str, bool], list[bytes]] = {}


def _cached_body(model: str) -> bytes:
    body = _bodies.get(model)
    if body is None:
        if len(_bodies) >= _CACHE_LIMIT:
            _bodies.clear()
        body = _bodies[model] = completion_body(model)
    return body


def _cached_events(model: str, include_usage: bool) -> list[bytes]:
    key = (model, include_usage)
    events = _streams.get(key)
    if events is None:
        if len(_streams) >= _CACHE_LIMIT:
            _streams.clear()
        events = _streams[key] = stream_events(model, include_usage)
    return events


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(message: str) -> bytes:
    return _ENCODER.encode({"error": {"message": message, "type": "invalid_request_error", "code": None}})


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
    return body


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if path == "/healthz":
        await _answer(send, 200, b'{"status":"ok"}')
        return
    if path != "/v1/chat/completions" or method != "POST":
        await _answer(send, 404, _error(f"no route {method} {path}"))
        return
    authorized = any(name == b"authorization" and value == _EXPECTED_AUTH for name, value in scope["headers"])
    raw = await _read_body(receive)
    if not authorized:
        await _answer(send, 401, _error("bad upstream key"))
        return
    try:
        request = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        await _answer(send, 400, _error("bad body"))
        return
    if not request.stream:
        await _answer(send, 200, _cached_body(request.model))
        return
    include_usage = request.stream_options is not None and request.stream_options.include_usage
    events = _cached_events(request.model, include_usage)
    spaced = request.model.endswith("-spaced")
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    last = len(events) - 1
    for index, event in enumerate(events):
        if spaced and index:
            await asyncio.sleep(SPACED_S)
        await send({"type": "http.response.body", "body": event, "more_body": index < last})
