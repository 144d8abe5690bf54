"""One shared HTTP client for every upstream, with the connect-time SSRF check.

Each call resolves the upstream host, checks every address (ssrf.py), then connects to the checked
address with the original Host header and TLS server name (certificates are verified against the host
name), so a DNS answer that changes between the check and the connection cannot redirect the call.
Redirects are never followed.

The connections are http1.py's (a lean HTTP/1.1 client over asyncio protocols), not aiohttp's nor httpx's:
measured on the gateway benchmark (docs/benchmarks.md), httpx spent ~1,000 µs of CPU per request at 32
concurrent requests, aiohttp ~90 µs, and aiohttp's share was still the largest part of a proxied call.
Routes see only `UpstreamResponse` and the two errors below.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import msgspec

from modelreg.gateway.http1 import Connection, Pool, UpstreamTimeout, UpstreamUnreachable
from modelreg.gateway.ssrf import IPAddress, UpstreamPolicy

__all__ = ["Timeout", "UpstreamClient", "UpstreamResponse", "UpstreamTimeout", "UpstreamUnreachable", "timeout_for"]

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0
RESOLVED_TTL = 30.0
_CACHE_LIMIT = 10_000


class Timeout(msgspec.Struct, frozen=True):
    """Seconds for the whole call (the answer read to its end included), and for connecting within them."""

    total: float
    connect: float


def timeout_for(extra_kwargs: dict[str, Any]) -> Timeout:
    """`extra_kwargs.timeout`: seconds for the whole call, the streamed answer included (default 600);
    connecting takes at most 10 of them."""
    value = extra_kwargs.get("timeout")
    total = float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    total = min(total or DEFAULT_TIMEOUT, 3600.0)
    return Timeout(total, min(CONNECT_TIMEOUT, total))


class UpstreamResponse:
    """An upstream answer whose headers have arrived; the body is read whole or streamed, then closed."""

    __slots__ = ("_connection", "content_type", "status")

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection
        self.status = connection.status
        content_type = connection.content_type
        self.content_type = "application/json" if content_type is None else content_type.decode("latin-1")

    async def read(self) -> bytes:
        """The whole body; the connection goes back to the pool."""
        chunks: list[bytes] = []
        try:
            while chunk := await self.read_chunk():
                chunks.append(chunk)
        finally:
            self.close()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrives (decompressed, should an upstream compress anyway); b""
        at its end. A plain call, not an async iterator: a stream pays it once per network chunk."""
        if self._connection is None:
            return b""
        return await self._connection.read_chunk()

    @property
    def complete(self) -> bool:
        """The whole body has arrived (and been handed out by read_chunk, or is waiting there)."""
        return self._connection is None or self._connection.at_end

    def close(self) -> None:
        """Drop the connection (the caller went away or the stream broke: the upstream sees the abort);
        after a complete body the connection goes back to the pool instead."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.done()


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """One verifying context per process: loading the system CA store costs ~0.1 s, and a context is shared
    safely by every connection (the test suite builds an app, so a client, per test)."""
    return ssl.create_default_context()


class UpstreamClient:
    def __init__(self, policy: UpstreamPolicy) -> None:
        self.policy = policy
        self._pool = Pool()
        self._tls = _default_tls()
        self._targets: dict[str, _Target] = {}
        self._resolved: dict[tuple[str, int], tuple[list[IPAddress], float]] = {}

    async def close(self) -> None:
        await self._pool.close()

    async def post(
        self, base_url: str, path: str, api_key: str | None, body: bytes, timeout: Timeout
    ) -> UpstreamResponse:
        """POST `body` to base_url + path; returns once the status and headers are in."""
        return await self.request("POST", base_url, path, api_key, body, timeout)

    async def request(
        self, method: str, base_url: str, path: str, api_key: str | None, body: bytes | None, timeout: Timeout
    ) -> UpstreamResponse:
        """Any method, through the same SSRF guard (checked, pinned addresses; no redirects)."""
        target = self._target(base_url)
        pinned = (await self._addresses(target.host, target.port))[0]
        head = target.head(method, path)
        if api_key:
            if not api_key.isprintable():  # a line break would end the header: refused as aiohttp did
                raise UpstreamUnreachable()
            head += b"Authorization: Bearer " + api_key.encode() + b"\r\n"
        data = head + b"\r\n" if body is None else b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        key = (str(pinned), target.port, target.host if target.tls else None)
        pool = self._pool
        deadline = asyncio.get_running_loop().time() + timeout.total
        connection = await pool.connect(key, self._tls if target.tls else None, deadline, timeout.connect)
        try:
            connection.send(data, deadline)
            await connection.head()
        except BaseException:
            connection.close()
            raise
        return UpstreamResponse(connection)

    def _target(self, base_url: str) -> _Target:
        target = self._targets.get(base_url)
        if target is None:
            if len(self._targets) >= _CACHE_LIMIT:
                self._targets.clear()
            target = self._targets[base_url] = _Target.of(self.policy, base_url)
        return target

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, every one checked by the policy; a checked answer is reused for
        RESOLVED_TTL seconds (safe against rebinding: the connection goes to exactly these addresses)."""
        now = time.monotonic()
        cached = self._resolved.get((host, port))
        if cached is not None and cached[1] > now:
            return cached[0]
        addresses = await self.policy.resolve(host, port)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.clear()
        self._resolved[host, port] = (addresses, now + RESOLVED_TTL)
        return addresses


class _Target(msgspec.Struct, frozen=True, dict=True):
    """A provider's base_url, parsed and checked once (the URL is immutable; a provider change brings a new one)."""

    tls: bool
    host: str
    port: int
    host_header: str
    path: str
    query: str

    def head(self, method: str, path: str) -> bytes:
        """The request line and the headers but the key and the length; built once per method and path."""
        heads: dict[tuple[str, str], bytes] = self.__dict__.setdefault("_heads", {})
        head = heads.get((method, path))
        if head is None:
            if len(heads) >= 64:
                heads.clear()
            head = heads[method, path] = (
                f"{method} {self.path}{path}{self.query} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                "Accept-Encoding: identity\r\n"
            ).encode("ascii")
        return head

    @classmethod
    def of(cls, policy: UpstreamPolicy, base_url: str) -> _Target:
        scheme, host, port = policy.parse(base_url)
        policy.check_host_name(host)
        parts = urlsplit(base_url.rstrip("/"))
        default_port = 443 if scheme == "https" else 80
        name = host.encode("idna").decode("ascii") if not host.isascii() else host
        host_header = f"[{name}]" if ":" in name else name
        if port != default_port:
            host_header = f"{host_header}:{port}"
        query = f"?{parts.query}" if parts.query else ""
        return cls(scheme == "https", host, port, host_header, parts.path, query)
