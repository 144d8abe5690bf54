"""Measuring one gateway call: time to first token, latency, the upstream's token usage, cost.

Streams: the upstream is asked for usage in its last chunk (`stream_options.include_usage`) unless the
model marks `stream_options` unsupported; when the caller did not ask for it, that usage-only chunk is
measured and then dropped, so the caller sees exactly the stream it asked for. Events are relayed as soon
as they are complete (an event split across two network chunks waits for its second half, nothing more).
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec

from modelreg.domain.llm_model import LLMModel
from modelreg.domain.usage import Call, Outcome, TokenUsage, call_cost, token_usage
from modelreg.gateway.routing import Route
from modelreg.metrics import GATEWAY_CALLS, GATEWAY_LATENCY
from modelreg.services.metering import Meter

__all__ = ["Measurement", "SSEFilter", "ask_for_usage", "usage_of_body"]


def ask_for_usage(payload: dict[str, Any], model: LLMModel) -> bool:
    """Make a streaming payload ask for usage; True when the caller asked for it themselves."""
    options = payload.get("stream_options")
    caller_asked = isinstance(options, dict) and options.get("include_usage") is True
    if not caller_asked and model.supported_params.get("stream_options") is not False:
        payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return caller_asked


class _UsageOnly(msgspec.Struct):
    usage: Any = None


class _Choice(msgspec.Struct):
    delta: Any = None
    text: Any = None
    """Text completions stream `text` instead of a `delta`."""


class _Chunk(msgspec.Struct):
    """A chat or text completion chunk, or a Responses API event (`type`, `delta`, `response.usage`)."""

    choices: list[_Choice] | None = None
    usage: Any = None
    type: str | None = None
    delta: Any = None
    response: Any = None


_USAGE_DECODER = msgspec.json.Decoder(_UsageOnly)
_CHUNK_DECODER = msgspec.json.Decoder(_Chunk)
_EVENT_END = re.compile(rb"\r?\n\r?\n")


def _plain(chunk: bytes) -> bool:
    """Complete events of one line each (every line ends with an empty one), none mentioning usage: nothing
    in them can be the usage chunk, even split over several data lines."""
    return (
        chunk.endswith(b"\n\n")
        and b"usage" not in chunk
        and b"\r" not in chunk
        and chunk.count(b"\n") == 2 * chunk.count(b"\n\n")
    )


def _event_end(data: bytes, start: int, crlf: bool) -> int:
    """Where the event starting at `start` ends (after its blank line); -1 if it is not complete yet."""
    if crlf:  # the regular expression only where line ends may be CRLF: it is several times slower than find
        match = _EVENT_END.search(data, start)
        return -1 if match is None else match.end()
    end = data.find(b"\n\n", start)
    return -1 if end < 0 else end + 2


def usage_of_body(content: bytes) -> TokenUsage | None:
    try:
        return token_usage(_USAGE_DECODER.decode(content).usage)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def _has_token(chunk: _Chunk) -> bool:
    if chunk.type is not None:  # Responses API: the first output delta
        return chunk.type.endswith(".delta") and bool(chunk.delta)
    for choice in chunk.choices or []:
        delta = choice.delta
        if isinstance(delta, dict) and any(value for key, value in delta.items() if key != "role"):
            return True
        if isinstance(choice.text, str) and choice.text:
            return True
    return False


class SSEFilter:
    """Splits the upstream's bytes into SSE events; notes the first token and the usage; drops the
    usage-only chunk when the caller did not ask for it. `finished`: the stream's end marker has been fed
    (`data: [DONE]`, or the Responses API's `response.completed`): the caller has the whole answer, whatever
    the upstream's framing still sends."""

    def __init__(self, *, drop_usage_chunk: bool) -> None:
        self.drop_usage_chunk = drop_usage_chunk
        self.usage: TokenUsage | None = None
        self.first_token_at: float | None = None
        self.finished = False
        self._buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        if self.first_token_at is not None and not self._buffer and _plain(chunk):
            self.finished = self.finished or chunk.endswith(b"[DONE]\n\n")
            return chunk  # whole one-line events without usage: every one is relayed as is (see _keep)
        data = self._buffer + chunk if self._buffer else chunk
        self.finished = self.finished or data.endswith((b"[DONE]\n\n", b"[DONE]\r\n\r\n"))
        out: list[bytes] = []
        start = 0
        skipping = True
        crlf = b"\r" in data
        while True:
            if skipping and self.first_token_at is not None:
                start, skipping = self._plain_run(data, start, out)
            end = _event_end(data, start, crlf)
            if end < 0:
                break
            event = data[start:end]
            start = end
            if self._keep(event):
                out.append(event)
        self._buffer = data[start:]
        return out[0] if len(out) == 1 else b"".join(out)

    @staticmethod
    def _plain_run(data: bytes, start: int, out: list[bytes]) -> tuple[int, bool]:
        """Once the first token is known: the complete one-line events from `start` up to the first that
        mentions usage, relayed whole (nothing in them is read: see _keep). Returns where the rest starts,
        and whether another run may follow (not after a run that was not plain)."""
        usage = data.find(b"usage", start)
        end = data.rfind(b"\n\n", start, len(data) if usage < 0 else usage) + 2
        if end <= start:
            return start, True
        if not _plain(data[start:end]):
            return start, False
        out.append(data[start:end])
        return end, True

    def tail(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        return rest if rest and self._keep(rest) else b""

    def _keep(self, event: bytes) -> bool:
        if event.startswith(b"data:") and event.find(b"\n") == len(event) - 2:  # one line (the usual case)
            payload = event[5:].strip()
        else:
            payload = b"".join(line[5:].strip() for line in event.splitlines() if line.startswith(b"data:"))
        if not payload or payload == b"[DONE]":
            return True
        if self.first_token_at is not None and b'"usage"' not in payload:
            return True  # nothing left to learn from this event: relay it undecoded
        try:
            chunk = _CHUNK_DECODER.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return True
        choices = chunk.choices or []
        if self.first_token_at is None and _has_token(chunk):
            self.first_token_at = time.perf_counter()
        if chunk.usage is not None:
            self.usage = token_usage(chunk.usage) or self.usage
            if not choices and chunk.type is None and self.drop_usage_chunk:
                return False
        elif isinstance(chunk.response, dict) and chunk.response.get("usage") is not None:
            self.finished = self.finished or chunk.type == "response.completed"
            self.usage = token_usage(chunk.response["usage"]) or self.usage  # response.completed
        return True


_SERIES: dict[tuple[str, str], tuple[Any, Any]] = {}


def _series(provider: str, outcome: str) -> tuple[Any, Any]:
    """The labelled metric children of a (provider, outcome), looked up once (labels() costs per call)."""
    series = _SERIES.get((provider, outcome))
    if series is None:
        if len(_SERIES) > 10_000:
            _SERIES.clear()
        series = _SERIES[provider, outcome] = (
            GATEWAY_CALLS.labels(provider, outcome),
            GATEWAY_LATENCY.labels(provider),
        )
    return series


class Measurement:
    """One call's clock and identity; `done` hands the figures to the meter exactly once."""

    __slots__ = ("_at", "_finished", "_meter", "_organization_id", "_route", "_started")

    def __init__(self, meter: Meter, organization_id: str, route: Route, started: float, at: float) -> None:
        self._meter, self._organization_id, self._route = meter, organization_id, route
        self._started, self._at = started, at
        self._finished = False

    def done(self, outcome: Outcome, usage: TokenUsage | None = None, first_token_at: float | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        now = time.perf_counter()
        model = self._route.model
        tokens = usage or TokenUsage()
        provider = self._route.provider.provider_id
        calls, latency = _series(provider, outcome)
        calls.inc()
        latency.observe(now - self._started)
        self._meter.record(
            Call(
                organization_id=self._organization_id,
                model_name=model.name,
                provider_id=self._route.provider.provider_id,
                outcome=outcome,
                usage=tokens,
                ttft=None if first_token_at is None else first_token_at - self._started,
                latency=now - self._started,
                cost=call_cost(model, tokens),
                at=self._at,
            ),
            public=model.is_builtin,
        )
