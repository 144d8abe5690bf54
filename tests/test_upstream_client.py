"""The gateway's upstream HTTP/1.1 client (gateway/http1.py through gateway/upstream.py) against scripted
servers in this process: framing (Content-Length, chunked, connection close), compression, keep-alive reuse,
large bodies, timeouts, malformed and truncated answers. The gateway's behaviour end to end (error mapping,
relay, SSRF) is tests/test_gateway.py's."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `localhost`, and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


async def test_tls_verifies_the_host_name_on_the_pinned_address(tmp_path: Path) -> None:
    """https: the connection goes to the checked address, with the URL's host as TLS server name (certificate
    checked against it) and Host header; a name the certificate does not cover is refused."""
    server_tls, client_tls = _self_signed(tmp_path)
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                seen.append(head)
                writer.write(answer(b"secure"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    upstream = UpstreamClient(UpstreamPolicy(["127.0.0.0/8"]))
    upstream._tls = client_tls
    upstream._resolved["localhost", port] = ([ipaddress.ip_address("127.0.0.1")], time.monotonic() + 60)
    upstream._resolved["127.0.0.1", port] = ([ipaddress.ip_address("127.0.0.1")], time.monotonic() + 60)
    try:
        for _ in range(2):
            response = await upstream.request("GET", f"https://localhost:{port}/v1", "/models", None, None, QUICK)
            assert await response.read() == b"secure"
        assert len(seen) == 2 and seen[0].startswith(b"GET /v1/models HTTP/1.1\r\nHost: localhost:%d\r\n" % port)
        with pytest.raises(UpstreamUnreachable):  # the certificate names localhost, not 127.0.0.1
            await upstream.request("GET", f"https://127.0.0.1:{port}/v1", "/models", None, None, QUICK)
    finally:
        await upstream.close()
        server.close()


async def test_an_abandoned_call_never_hands_its_answer_to_the_next(serve: Serve, client: UpstreamClient) -> None:
    """A call cancelled while waiting (its caller went away), or a stream closed half read, closes its
    connection: the late answer cannot reach the next call (which may be another organization's)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while raw := await server.request(reader):
            if b"slow" in raw:
                await asyncio.sleep(0.2)
                writer.write(answer(b"late answer"))
            elif b"half" in raw:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first half"))
            else:
                writer.write(answer(b"right answer"))

    server = await serve(handler)
    url = f"http://127.0.0.1:{server.port}/v1"
    slow = asyncio.ensure_future(client.post(url, "/chat", None, b'"slow"', QUICK))
    await asyncio.sleep(0.05)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    half = await client.post(url, "/chat", None, b'"half"', QUICK)
    assert await half.read_chunk() == b"first half"
    half.close()
    assert await call(client, server) == b"right answer"
    await asyncio.sleep(0.3)
    assert await call(client, server) == b"right answer"
    assert server.connections == 3
