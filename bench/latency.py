"""Sequential latency over one kept-alive HTTP/1.1 connection, with the least client overhead we can get.

A blocking socket and pre-built request bytes: the client adds a few microseconds, and the same ones to
both sides of a comparison (direct to the upstream, and through modelreg), so their difference is what
the gateway adds. For each request it notes the time to the first complete SSE event of the body (the
first chunk of a stream; for a JSON answer, the whole body) and to the end of the response.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass

from bench.servers import HOST, BenchError

__all__ = ["Connection", "Sample", "percentile", "raw_request"]

_RECV = 65536


@dataclass(frozen=True)
class Sample:
    first_s: float
    """Request sent -> first complete SSE event received (JSON answers: the whole body)."""
    total_s: float
    """Request sent -> the response's last byte received."""
    body: bytes


def raw_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Connection:
    """One kept-alive connection to 127.0.0.1:`port`; `send` times one request/response."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.port = port
        self._sock = socket.create_connection((HOST, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self) -> bytes:
        data = self._sock.recv(_RECV)
        if not data:
            raise BenchError(f"127.0.0.1:{self.port} closed the connection mid-response")
        return data

    def send(self, request: bytes) -> Sample:
        started = time.perf_counter()
        self._sock.sendall(request)
        buffer = self._pending
        while b"\r\n\r\n" not in buffer:
            buffer += self._recv()
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(buffer) < length:
                buffer += self._recv()
            body, self._pending = buffer[:length], buffer[length:]
            done = time.perf_counter()
            first = done
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, first, done = self._chunked(buffer)
        else:
            raise BenchError(f"response without Content-Length or chunked encoding: {head!r}")
        if status != 200:
            raise BenchError(f"127.0.0.1:{self.port} answered {status}: {body[:300]!r}")
        return Sample(first - started, done - started, body)

    def _chunked(self, buffer: bytes) -> tuple[bytes, float, float]:
        """(body, time of the first complete SSE event, time of the last chunk) of a chunked body."""
        body = b""
        first: float | None = None
        while True:
            while b"\r\n" not in buffer:
                buffer += self._recv()
            size_line, _, buffer = buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buffer) < size + 2:
                buffer += self._recv()
            body += buffer[:size]
            buffer = buffer[size + 2 :]
            if first is None and b"\n\n" in body:
                first = time.perf_counter()
            if size == 0:  # no trailers are sent by either server
                done = time.perf_counter()
                self._pending = buffer
                return body, first if first is not None else done, done
