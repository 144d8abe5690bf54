"""gateway/measure.py's SSEFilter on its own: what it relays is the upstream's bytes (less the usage-only chunk
when the caller did not ask for it), however the network splits them, and it finds the usage wherever it is."""

from __future__ import annotations

import json

import pytest

from modelreg.gateway.measure import SSEFilter

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def _event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _chunk(content: str) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": content}}]}


EVENTS = [
    _event({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
    *(_event(_chunk(word)) for word in ("Hello", " there", ",", " friend")),
    _event({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
]
USAGE_EVENT = _event({"id": "c", "choices": [], "usage": USAGE})
DONE = b"data: [DONE]\n\n"


def _splits(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
@pytest.mark.parametrize("drop", [False, True])
def test_relays_the_bytes_and_finds_the_usage(size: int, drop: bool) -> None:
    stream = b"".join([*EVENTS, USAGE_EVENT, DONE])
    sse = SSEFilter(drop_usage_chunk=drop)
    pieces = _splits(stream, size)
    relayed = b"".join(sse.feed(chunk) for chunk in pieces[:-1])
    assert not sse.finished  # the end marker has not been seen yet
    relayed += sse.feed(pieces[-1]) + sse.tail()
    assert sse.finished
    assert relayed == (b"".join([*EVENTS, DONE]) if drop else stream)
    assert sse.usage is not None and sse.usage.prompt_tokens == 7 and sse.usage.completion_tokens == 3
    assert sse.first_token_at is not None


def test_usage_split_over_data_lines_after_the_first_token_is_found() -> None:
    """Events after the first token are relayed without decoding unless they may carry usage; an event whose
    JSON is split over several data lines must still be read."""
    usage = json.dumps({"id": "c", "choices": [], "usage": USAGE}, separators=(",", ":")).encode()
    cut = usage.index(b"usage") + 3
    split_event = b"data: " + usage[:cut] + b"\ndata: " + usage[cut:] + b"\n\n"
    sse = SSEFilter(drop_usage_chunk=False)
    relayed = sse.feed(b"".join(EVENTS)) + sse.feed(split_event + DONE) + sse.tail()
    assert relayed == b"".join([*EVENTS, split_event, DONE])
    assert sse.usage is not None and sse.usage.prompt_tokens == 7


@pytest.mark.parametrize("size", [1, 5, 100_000])
def test_crlf_line_ends_and_multi_line_events(size: int) -> None:
    """Events ended by CRLF blank lines, or spread over `event:` and several `data:` lines, are events like
    any other: relayed as sent, the usage found in them, the usage-only one dropped when not asked for."""
    crlf = [event.replace(b"\n", b"\r\n") for event in EVENTS]
    usage = USAGE_EVENT.replace(b"\n", b"\r\n")
    named = b"event: message\n" + EVENTS[1]
    stream = b"".join([*crlf, named, usage, DONE])
    sse = SSEFilter(drop_usage_chunk=True)
    relayed = b"".join(sse.feed(chunk) for chunk in _splits(stream, size)) + sse.tail()
    assert relayed == b"".join([*crlf, named, DONE])
    assert sse.usage is not None and sse.usage.completion_tokens == 3
    assert sse.first_token_at is not None


def test_responses_stream_is_finished_by_response_completed() -> None:
    created = b'event: response.created\ndata: {"type":"response.created","response":{"id":"r"}}\n\n'
    delta = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n'
    completed = _event({"type": "response.completed", "response": {"id": "r", "usage": {"input_tokens": 4}}})
    sse = SSEFilter(drop_usage_chunk=False)
    assert sse.feed(created + delta) == created + delta
    assert not sse.finished and sse.first_token_at is not None
    assert sse.feed(completed) == completed
    assert sse.finished and sse.usage is not None and sse.usage.prompt_tokens == 4
