"""A fake OpenAI-compatible upstream, run as a real process: `python tests/fake_upstream.py --port N`.

Standard library only (http.server with one thread per connection, HTTP/1.1 keep-alive, chunked SSE).

Endpoints:
- `POST /v1/chat/completions`: JSON `chat.completion` with `usage` (`prompt_tokens`, `completion_tokens`,
  `total_tokens`, `prompt_tokens_details.cached_tokens`), or with `"stream": true` a `text/event-stream` of
  `data: {chat.completion.chunk}` events (role first, one content piece per word, a `finish_reason` chunk, a
  usage chunk with `choices: []` when `stream_options.include_usage` is true), then `data: [DONE]`.
- `POST /v1/completions`: the same, as a `text_completion` (`choices[].text`; the prompt is the user message);
  streamed as `text_completion` chunks with `choices[].text`, plus the usage chunk when asked.
- `POST /v1/responses`: the same, as a Responses API `response` (`output[0].content[0].text`, `usage` with
  `input_tokens`/`output_tokens`; `input` a string or a list of items); streamed as named events
  `response.created`, one `response.output_text.delta` per word, `response.completed` (carrying the usage).
- `POST /v1/embeddings`: one deterministic vector per input (`dimensions`, default 8), as JSON floats, or
  base64 of little-endian float32 when `encoding_format` is `base64` (what the official SDK asks for).
- `GET /v1/models`: a small fixed list.
- `GET /_requests`: every request received so far (except these `/_...` control routes), oldest first:
  `{id, method, path, query, headers (lower-case names), body (parsed JSON, or null), raw (text when the body
  is not JSON), received_at, outcome}`; `outcome` is `answered`, `streamed`, `aborted` (the client went away
  mid-answer), `failed` (an error status was sent), `redirected`, `dropped`, `hung` or `pending`.
  `DELETE /_requests` forgets them. `GET /_health` answers `{"status": "ok"}`.

Behaviour on demand, from the `x-fake-behaviour` header or else the request's `model`:
- `delay-<ms>`: sleep that long, then answer normally;
- `fail-<status>`: answer that status with an OpenAI error body (see `error_body`);
- `hang`: never answer (the connection is held until the client leaves or the process stops);
- `drop`: close the connection without answering;
- `slow-stream` or `slow-stream-<n>`: the reply is `n` words (default 5) and, streamed, its chunks are
  spaced 200 ms apart;
- `stall-stream`: streamed, the role chunk and two content chunks are sent, then nothing more (the
  connection is held as with `hang`); not streamed, the same as `hang`;
- `gzip`: a normal answer, sent with `Content-Encoding: gzip` when the request's `Accept-Encoding` allows it
  (streamed: each event compressed and flushed as it is sent, as compressing proxies do);
- `redirect-<port>`: `307` to the same path on `http://127.0.0.1:<port>` (a client that follows it reaches
  whatever listens there);
- anything else: answer normally; the response's `model` echoes the request's `model`.

`--host ::1` (any host with a colon) listens on IPv6.

In tests, `running_fake_upstream()` starts the process on a free port, waits until it answers, and stops it.
The reply text, usage and vectors are computable in advance with `expected_reply`, `expected_usage` and
`expected_embedding`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "STREAM_CHUNK_SPACING",
    "FakeUpstream",
    "error_body",
    "expected_embedding",
    "expected_reply",
    "expected_usage",
    "running_fake_upstream",
]

STREAM_CHUNK_SPACING = 0.2
DEFAULT_DIMENSIONS = 8
HANG_LIMIT_SECONDS = 600.0

_DELAY = re.compile(r"^delay-(\d+)$")
_FAIL = re.compile(r"^fail-(\d{3})$")
_SLOW_STREAM = re.compile(r"^slow-stream(?:-(\d+))?$")
_REDIRECT = re.compile(r"^redirect-(\d+)$")


# ---- what the fake answers (shared with the tests) -------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def expected_reply(model: str, messages: list[dict[str, Any]]) -> str:
    """The assistant text the fake answers to `messages` when called with upstream `model`."""
    slow = _SLOW_STREAM.match(model)
    if slow:
        return " ".join(f"tok{i}" for i in range(int(slow.group(1) or 5)))
    last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"fake reply to: {last_user}"


def _pieces(reply: str) -> list[str]:
    return re.findall(r"\S+\s*", reply) or [reply]


def expected_usage(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The `usage` object of the answer (non-streamed, and the final usage chunk when streamed)."""
    prompt = max(1, sum(_words(_text_of(m.get("content"))) for m in messages))
    completion = len(_pieces(expected_reply(model, messages)))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": prompt // 2},
    }


def expected_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The vector for `text`: multiples of 1/64 in [-2, 2), exactly representable as float32."""
    digest = b""
    counter = 0
    while len(digest) < dimensions:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return [(byte - 128) / 64 for byte in digest[:dimensions]]


def error_body(status: int) -> dict[str, Any]:
    """The OpenAI-style body the fake sends with `fail-<status>`."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {
        "error": {
            "message": f"fake upstream says {status}",
            "type": kind,
            "param": None,
            "code": f"fake_{status}",
        }
    }


# ---- the server ------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.next_id = 1
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            entry["id"] = self.next_id
            self.next_id += 1
            self.records.append(entry)
        return entry

    def set_outcome(self, entry: dict[str, Any], outcome: str) -> None:
        with self.lock:
            entry["outcome"] = outcome

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return json.loads(json.dumps(self.records))

    def clear(self) -> int:
        with self.lock:
            count = len(self.records)
            self.records.clear()
            return count


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet; everything is in /_requests

    # -- plumbing --

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _accepts_gzip(self) -> bool:
        return "gzip" in self.headers.get("Accept-Encoding", "").lower()

    def _send_json(self, status: int, payload: Any, *, close: bool = False, compress: bool = False) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if compress and self._accepts_gzip():
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone() from exc

    def _client_gone(self) -> bool:
        """True once the peer has closed its side (readable with no data, or an error)."""
        try:
            self.connection.setblocking(False)
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            finally:
                self.connection.setblocking(True)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    # -- routes --

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_health":
            self._send_json(200, {"status": "ok"})
        elif path == "/_requests":
            self._send_json(200, self.server.snapshot())
        elif path == "/v1/models":
            entry = self._record(b"")
            self._send_json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
            self.server.set_outcome(entry, "answered")
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found", "code": None}})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/_requests":
            self._send_json(200, {"cleared": self.server.clear()})
        else:
            self._send_json(404, {"error": {"message": "no route", "type": "not_found", "code": None}})

    def do_POST(self) -> None:
        raw = self._read_body()
        entry = self._record(raw)
        path = urlsplit(self.path).path
        body = entry["body"] if isinstance(entry["body"], dict) else None
        if path not in ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings"):
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found", "code": None}})
            self.server.set_outcome(entry, "failed")
            return
        if body is None:
            self._send_json(400, {"error": {"message": "body is not a JSON object", "type": "invalid", "code": None}})
            self.server.set_outcome(entry, "failed")
            return
        model = str(body.get("model", ""))
        behaviour = self.headers.get("x-fake-behaviour") or model
        try:
            if self._misbehave(entry, behaviour):
                return
            if path == "/v1/embeddings":
                self._send_json(200, self._embeddings(body, model), compress=behaviour == "gzip")
                self.server.set_outcome(entry, "answered")
            elif body.get("stream"):
                self._stream(entry, body, model, behaviour, path)
            else:
                answer = {
                    "/v1/chat/completions": self._completion,
                    "/v1/completions": self._text_completion,
                    "/v1/responses": self._response,
                }[path](body, model)
                self._send_json(200, answer, compress=behaviour == "gzip")
                self.server.set_outcome(entry, "answered")
        except _ClientGone:
            self.server.set_outcome(entry, "aborted")
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.server.set_outcome(entry, "aborted")
            self.close_connection = True

    def _record(self, raw: bytes) -> dict[str, Any]:
        parts = urlsplit(self.path)
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text) if text else None
            leftover = None
        except ValueError:
            parsed, leftover = None, text
        return self.server.record(
            {
                "method": self.command,
                "path": parts.path,
                "query": parts.query,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": parsed,
                "raw": leftover,
                "received_at": time.time(),
                "outcome": "pending",
            }
        )

    def _misbehave(self, entry: dict[str, Any], behaviour: str) -> bool:
        """Apply delay/fail/hang/drop; True when the answer has been given (or withheld) here."""
        if delay := _DELAY.match(behaviour):
            time.sleep(int(delay.group(1)) / 1000)
            return False
        if fail := _FAIL.match(behaviour):
            status = int(fail.group(1))
            self._send_json(status, error_body(status))
            self.server.set_outcome(entry, "failed")
            return True
        if behaviour == "hang" or (behaviour == "stall-stream" and not entry["body"].get("stream")):
            self._hold(entry)
            return True
        if redirect := _REDIRECT.match(behaviour):
            data = json.dumps({"moved": True}).encode()
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{redirect.group(1)}{urlsplit(self.path).path}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.server.set_outcome(entry, "redirected")
            return True
        if behaviour == "drop":
            self.server.set_outcome(entry, "dropped")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        return False

    def _hold(self, entry: dict[str, Any]) -> None:
        """Answer nothing more until the client leaves (outcome `aborted`) or the process stops."""
        self.server.set_outcome(entry, "hung")
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            if self._client_gone():
                self.server.set_outcome(entry, "aborted")
                break
            time.sleep(0.05)
        self.close_connection = True

    @staticmethod
    def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
        """Chat `messages`, a completion's `prompt` or a response's `input`, as chat messages."""
        if "prompt" in body:
            prompt = body["prompt"]
            return [{"role": "user", "content": prompt if isinstance(prompt, str) else " ".join(map(str, prompt))}]
        messages = body.get("messages", body.get("input"))
        if isinstance(messages, str):
            return [{"role": "user", "content": messages}]
        return [{"role": "user", **m} for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    def _text_completion(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        messages = self._messages(body)
        return {
            "id": f"cmpl-fake-{int(time.time() * 1000)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "text": expected_reply(model, messages), "finish_reason": "stop", "logprobs": None}
            ],
            "usage": expected_usage(model, messages),
        }

    def _response(self, body: dict[str, Any], model: str, status: str = "completed") -> dict[str, Any]:
        messages = self._messages(body)
        usage = expected_usage(model, messages)
        text = expected_reply(model, messages)
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_fake",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": usage["prompt_tokens_details"]["cached_tokens"]},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage["total_tokens"],
            },
        }

    def _events(self, body: dict[str, Any], model: str, path: str) -> list[tuple[str | None, dict[str, Any]]]:
        """The stream of `path` as (event name, data) pairs."""
        messages = self._messages(body)
        pieces = _pieces(expected_reply(model, messages))
        if path == "/v1/responses":
            done = self._response(body, model)
            started = {**self._response(body, model, "in_progress"), "output": [], "usage": None}
            events: list[tuple[str | None, dict[str, Any]]] = [
                ("response.created", {"type": "response.created", "sequence_number": 0, "response": started})
            ]
            for number, piece in enumerate(pieces, start=1):
                delta = {
                    "type": "response.output_text.delta",
                    "sequence_number": number,
                    "item_id": "msg_fake",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                }
                events.append(("response.output_text.delta", delta))
            completed = {"type": "response.completed", "sequence_number": len(pieces) + 1, "response": done}
            return [*events, ("response.completed", completed)]
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        ident, created = f"chatcmpl-fake-{int(time.time() * 1000)}", int(time.time())
        text = path == "/v1/completions"
        kind = "text_completion" if text else "chat.completion.chunk"

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
            choice.update({"text": delta.get("content", "")} if text else {"delta": delta})
            return {"id": ident, "object": kind, "created": created, "model": model, "choices": [choice]}

        chunks = [] if text else [chunk({"role": "assistant", "content": ""}, None)]
        chunks += [chunk({"content": piece}, None) for piece in pieces]
        chunks.append(chunk({}, "stop"))
        if include_usage:
            usage = expected_usage(model, messages)
            chunks.append(
                {"id": ident, "object": kind, "created": created, "model": model, "choices": [], "usage": usage}
            )
        return [(None, c) for c in chunks]

    def _completion(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        messages = self._messages(body)
        return {
            "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": expected_reply(model, messages)},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": expected_usage(model, messages),
        }

    def _stream(self, entry: dict[str, Any], body: dict[str, Any], model: str, behaviour: str, path: str) -> None:
        spacing = STREAM_CHUNK_SPACING if _SLOW_STREAM.match(behaviour) else 0.0
        events = self._events(body, model, path)

        compressor = zlib.compressobj(wbits=31) if behaviour == "gzip" and self._accepts_gzip() else None
        stall = behaviour == "stall-stream"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if compressor is not None:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(data: bytes) -> None:
            if compressor is not None:
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self._write_chunk(data)

        for index, event in enumerate(events):
            if stall and index == 3:
                self._hold(entry)
                return
            if index and spacing:
                time.sleep(spacing)
            name, data = event
            send((f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode() + b"\n\n")
        if path != "/v1/responses":  # the Responses API ends with response.completed, not [DONE]
            send(b"data: [DONE]\n\n")
        if compressor is not None:
            self._write_chunk(compressor.flush())
        self._write_chunk(b"")  # the terminating zero-length chunk
        self.server.set_outcome(entry, "streamed")

    def _embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        raw_input = body.get("input")
        inputs = raw_input if isinstance(raw_input, list) else [raw_input]
        dims = body.get("dimensions")
        dimensions = dims if isinstance(dims, int) and dims > 0 else DEFAULT_DIMENSIONS
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else json.dumps(item)
            tokens += max(1, _words(text))
            vector = expected_embedding(text, dimensions)
            encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def serve(host: str, port: int, announce: bool = True) -> None:
    server = _Server((host, port))

    def stop(signum: int, frame: Any) -> None:
        del signum, frame
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if announce:
        print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.stopping.set()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as `LISTENING <port>`)")
    args = parser.parse_args(argv)
    serve(args.host, args.port)


# ---- the test helper -----------------------------------------------------------------------------


@dataclass
class FakeUpstream:
    """A running fake upstream process."""

    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        """What a provider's `extra_kwargs.base_url` should be."""
        return f"{self.root}/v1"

    @property
    def root(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, optionally only those to `path` (e.g. `/v1/chat/completions`)."""
        import httpx

        recorded: list[dict[str, Any]] = httpx.get(f"{self.root}/_requests", timeout=10).json()
        return [r for r in recorded if path is None or r["path"] == path]

    def clear(self) -> None:
        import httpx

        httpx.delete(f"{self.root}/_requests", timeout=10).raise_for_status()

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll the record until `predicate(records)` is true; returns the records (last seen on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.requests()
            if predicate(records) or time.monotonic() > deadline:
                return records
            time.sleep(0.05)


@contextlib.contextmanager
def running_fake_upstream(
    port: int = 0, host: str = "127.0.0.1", startup_timeout: float = 20.0
) -> Iterator[FakeUpstream]:
    """Start `fake_upstream.py` as a process (a free port unless `port` is given), wait until it answers, and
    stop it (SIGTERM, then SIGKILL) on exit."""
    import httpx

    # stderr (tracebacks) goes to a file, so a full pipe can never block the process; stdout says the port.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--host", host, "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode(errors="replace").strip()
            if not line.startswith("LISTENING "):
                process.wait(timeout=10)
                log.seek(0)
                raise RuntimeError(f"fake upstream did not start: {line!r}\n{log.read().decode(errors='replace')}")
            upstream = FakeUpstream(int(line.split()[1]), process, host)
            deadline = time.monotonic() + startup_timeout
            while True:
                try:
                    if httpx.get(f"{upstream.root}/_health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fake upstream on port {upstream.port} did not become healthy")
                time.sleep(0.05)
            yield upstream
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


if __name__ == "__main__":
    main()
