"""The gateway's upstream HTTP/1.1 client (gateway/http1.py through gateway/upstream.py) against scripted
servers in this process: framing (Content-Length, chunked, connection close), compression, keep-alive reuse,
large bodies, timeouts, malformed and truncated answers. The gateway's behaviour end to end (error mapping,
relay, SSRF) is tests/test_gateway.py's."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from modelreg.gateway import http1
from modelreg.gateway.ssrf import UpstreamPolicy
from modelreg.gateway.upstream import Timeout, UpstreamClient, UpstreamTimeout, UpstreamUnreachable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
QUICK = Timeout(total=5.0, connect=2.0)
Serve = Callable[[Handler], Awaitable["Scripted"]]


class Scripted:
    """A server on 127.0.0.1 whose every connection runs `handler`; it counts connections and keeps requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> bytes:
        """One request (head and Content-Length body) off the connection; b"" once the client has closed it."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        raw = head + await reader.readexactly(length)
        self.requests.append(raw)
        return raw


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Scripted:
        scripted = Scripted(handler)
        server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0)
        servers.append(server)
        scripted.port = server.sockets[0].getsockname()[1]
        return scripted

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    upstream = UpstreamClient(UpstreamPolicy(["127.0.0.0/8"]))
    yield upstream
    await upstream.close()


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def call(client: UpstreamClient, server: Scripted, body: bytes | None = b"{}", key: str | None = "sk-1") -> bytes:
    method = "GET" if body is None else "POST"
    response = await client.request(method, f"http://127.0.0.1:{server.port}/v1?x=1", "/chat", key, body, QUICK)
    return await response.read()


async def test_request_bytes_and_keep_alive_reuse(serve: Serve, client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.request(reader):
            writer.write(answer(b'{"ok":true}', "Content-Type: application/json; charset=utf-8"))

    server = await serve(handler)
    response = await client.post(f"http://127.0.0.1:{server.port}/v1?x=1", "/chat", "sk-1", b'{"a":1}', QUICK)
    assert (response.status, response.content_type) == (200, "application/json; charset=utf-8")
    assert await response.read() == b'{"ok":true}'
    assert await call(client, server, None, key=None) == b'{"ok":true}'
    assert server.connections == 1  # the second call reused the connection
    assert server.requests == [
        b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nAccept-Encoding: identity\r\n"
        b'Authorization: Bearer sk-1\r\nContent-Length: 7\r\n\r\n{"a":1}' % server.port,
        b"GET /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nAccept-Encoding: identity\r\n\r\n" % server.port,
    ]


async def test_chunked_stream_arrives_piece_by_piece_and_gzip_is_undone(serve: Serve, client: UpstreamClient) -> None:
    sent = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunk(b"data: 1\n\n"))
        await sent.wait()
        writer.write(chunk(b"data: 2\n\n") + b"0\r\n\r\n")
        await server.request(reader)  # the connection is reused: a gzip answer, sent although not asked for
        writer.write(answer(gzip.compress(b"x" * 100_000), "Content-Encoding: gzip"))
        await server.request(reader)

    server = await serve(handler)
    response = await client.post(f"http://127.0.0.1:{server.port}/v1", "/chat", None, b"{}", QUICK)
    assert response.content_type == "text/event-stream"
    assert await response.read_chunk() == b"data: 1\n\n"  # before the server sends the rest
    sent.set()
    assert await response.read_chunk() == b"data: 2\n\n"
    assert await response.read_chunk() == b""
    response.close()
    assert await call(client, server) == b"x" * 100_000
    assert server.connections == 1


async def test_large_bodies_both_ways(serve: Serve, client: UpstreamClient) -> None:
    """8 MB up, echoed back chunked in pieces of 64 KiB (reading pauses while 1 MiB waits unread)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await server.request(reader)
        body = raw.split(b"\r\n\r\n", 1)[1]
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(body), 65536):
            writer.write(chunk(body[start : start + 65536]))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await server.request(reader)

    server = await serve(handler)
    big = bytes(range(256)) * (8 * 4096)
    response = await client.post(f"http://127.0.0.1:{server.port}/v1", "/chat", None, big, QUICK)
    received = b""
    while piece := await response.read_chunk():
        received += piece
        await asyncio.sleep(0)
    assert received == big


async def test_body_ended_by_close_and_connection_close_are_not_reused(serve: Serve, client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await server.request(reader)
        if len(server.requests) == 1:
            writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"till":')
            await writer.drain()
            writer.write(b'"close"}')
        else:
            writer.write(answer(raw[-2:], "Connection: close"))

    server = await serve(handler)
    assert await call(client, server) == b'{"till":"close"}'
    assert await call(client, server) == b"{}"
    assert await call(client, server) == b"{}"
    assert server.connections == 3


async def test_interim_answer_then_the_real_one(serve: Serve, client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"done", status="201 Created"))
        await server.request(reader)

    server = await serve(handler)
    response = await client.post(f"http://127.0.0.1:{server.port}/v1", "/chat", None, b"{}", QUICK)
    assert response.status == 201
    assert await response.read() == b"done"


async def test_upstream_closing_an_idle_connection_costs_nothing(serve: Serve, client: UpstreamClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(answer(b"one"))
        await writer.drain()  # then close while the client keeps the connection idle

    server = await serve(handler)
    assert await call(client, server) == b"one"
    await asyncio.sleep(0.05)
    assert await call(client, server) == b"one"
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 banana\r\n\r\n",  # not HTTP
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",  # truncated, then closed
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a bad chunk size
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Encoding: gzip\r\n\r\nnope",  # not gzip
        b"",  # closed without a word
    ],
)
async def test_malformed_or_broken_answers_are_unreachable(serve: Serve, client: UpstreamClient, reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        writer.write(reply)

    server = await serve(handler)
    with pytest.raises(UpstreamUnreachable):
        await call(client, server)


async def test_timeouts_and_refusals(serve: Serve, client: UpstreamClient) -> None:
    stalled: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.request(reader)
        if b"stall-body" in server.requests[-1]:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        stalled.append(writer)
        await asyncio.sleep(30)

    server = await serve(handler)
    url = f"http://127.0.0.1:{server.port}/v1"
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):  # no answer at all
        await client.post(url, "/chat", None, b"{}", Timeout(total=0.3, connect=0.3))
    response = await client.post(url, "/chat", None, b'"stall-body"', Timeout(total=0.3, connect=0.3))
    with pytest.raises(UpstreamTimeout):  # the answer started, then stopped
        await response.read()
    assert 0.5 <= time.monotonic() - started < 3
    with pytest.raises(UpstreamUnreachable):  # a key that would end the header line
        await client.post(url, "/chat", "sk-1\r\nX-Injected: 1", b"{}", QUICK)
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(UpstreamUnreachable):  # nothing listens
        await client.post(f"http://127.0.0.1:{port}/v1", "/chat", None, b"{}", QUICK)


async def test_pool_limit_waits_for_a_free_connection(serve: Serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.request(reader):
            await asyncio.sleep(0.01)
            writer.write(answer(b"ok"))

    server = await serve(handler)
    upstream = UpstreamClient(UpstreamPolicy(["127.0.0.0/8"]))
    upstream._pool = http1.Pool(limit=2)
    try:
        bodies = await asyncio.gather(*(call(upstream, server) for _ in range(10)))
    finally:
        await upstream.close()
    assert bodies == [b"ok"] * 10
    assert server.connections == 2
