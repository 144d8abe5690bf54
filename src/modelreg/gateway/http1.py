"""The gateway's HTTP/1.1 client: asyncio protocols, llhttp's response parser (httptools), a keep-alive pool.

It replaces aiohttp's `ClientSession` on the gateway's hot path, where that spent more CPU per call than the
rest of the call (docs/benchmarks.md, "The upstream client"). It does what the gateway needs and no more:
a request is written as one buffer of pre-built bytes; the answer's status, Content-Type and Content-Encoding
are kept, other headers are parsed (by llhttp) and dropped; bodies framed by Content-Length, chunked, or
ended by the connection's close; gzip/deflate bodies decompressed (the gateway asks for `identity`, an
upstream may compress anyway); any size, with reading paused while more than 1 MiB waits to be consumed.
Connections are reused (HTTP/1.1 keep-alive) per address, port and TLS server name, idle at most 15 s,
at most 512 open; a POST is never retried. Timeouts: connecting (the pool wait included) and the whole
call, the body read to its end included. Where to connect (the checked, pinned address) is upstream.py's
decision, not this module's.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from typing import Any

import httptools

__all__ = ["Connection", "Pool", "UpstreamTimeout", "UpstreamUnreachable"]

KEEPALIVE_S = 15.0
POOL_LIMIT = 512
_HIGH_WATER = 1 << 20
"""Received bytes not yet consumed past which the socket is not read (a slow caller slows the upstream)."""

PoolKey = tuple[str, int, str | None]
"""(address, port, TLS server name or None for plain http)."""


class UpstreamTimeout(Exception):
    """The upstream did not answer (or finish answering) within the provider's timeout."""


class UpstreamUnreachable(Exception):
    """Connecting to, or reading from, the upstream failed (refused, reset, a malformed or truncated answer)."""


class Connection(asyncio.Protocol):
    """One upstream connection: at most one request at a time; its answer is read through this object."""

    def __init__(self, pool: Pool, key: PoolKey) -> None:
        self._pool, self.key = pool, key
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._begin()

    def _begin(self) -> None:
        self.status = 0
        self.content_type: bytes | None = None
        self._encoding = b""
        self._framed = self._headers_done = self._complete = self._keep_alive = self._interim = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._inflate: Any = None

    # ---- the request -------------------------------------------------------------------------------

    def send(self, data: bytes, deadline: float) -> None:
        """Write the whole request; the call fails with UpstreamTimeout at `deadline` (loop time) unless done."""
        if self._transport is None or self._busy:  # closed meanwhile by the upstream
            raise UpstreamUnreachable()
        self._begin()
        self._busy = True
        self._timer = self._pool.loop.call_at(deadline, self._fail, UpstreamTimeout())
        self._transport.write(data)

    async def head(self) -> None:
        """Until the status and headers are in."""
        while not self._headers_done:
            await self._wait()

    async def read_chunk(self) -> bytes:
        """What has arrived of the body since the last call (waiting for some); b"" at its end."""
        while True:
            if self._chunks:
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if self._paused and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if self._complete:
                return b""
            await self._wait()

    @property
    def at_end(self) -> bool:
        return self._complete and self._error is None

    def done(self) -> None:
        """The caller is finished with this answer: a complete one returns the connection to the pool; an
        incomplete one closes it (the upstream sees the abort)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._busy = False
        if self._complete and self._error is None and self._keep_alive and not self.closed:
            self._pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            try:
                self._transport.abort()
            except RuntimeError:  # its event loop has closed (a pool outliving a test's loop)
                self._transport = None
        self._gone()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._pool.loop.create_future()
        await waiter
        if self._error is not None and not self._chunks:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None and not self._complete:
            self._error = error
            if self._transport is not None:
                self._transport.abort()
            self._wake()

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool.forget(self)

    # ---- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # bytes nobody asked for: the connection cannot be trusted with a request
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:  # malformed, an upgrade, or a body that does not decompress
            self._fail(UpstreamUnreachable())

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._busy and self._headers_done and not self._framed and not self._complete and self._error is None:
            self._end_of_message(keep_alive=False)  # a body delimited by the connection's end (HTTP/1.0 style)
        else:
            self._fail(UpstreamUnreachable())
        self._gone()

    # ---- httptools callbacks ------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value
        elif name == b"content-encoding":
            self._encoding = value.strip().lower()
        elif name in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._interim = True
            self.content_type, self._encoding, self._framed = None, b"", False
            return
        self.status = status
        if self._encoding in (b"gzip", b"x-gzip", b"deflate"):
            self._inflate = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        self._headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._inflate is not None:
            body = self._inflate.decompress(body)  # zlib.error becomes the parser's callback error
            if not body:
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._end_of_message(keep_alive=self._parser.should_keep_alive())

    def _end_of_message(self, *, keep_alive: bool) -> None:
        if self._inflate is not None:
            tail = self._inflate.flush()
            if tail:
                self._chunks.append(tail)
        self._keep_alive = keep_alive
        self._complete = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()


class Pool:
    """Open connections by (address, port, TLS server name); idle ones reused most recent first."""

    def __init__(self, limit: int = POOL_LIMIT, keepalive: float = KEEPALIVE_S) -> None:
        self._limit, self._keepalive = limit, keepalive
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    async def connect(
        self, key: PoolKey, tls: ssl.SSLContext | None, deadline: float, connect_timeout: float
    ) -> Connection:
        """An idle connection for `key`, or a new one (waiting for a free slot when `limit` are open)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a pool serves one event loop (a test suite may run several in turn)
            self._drop_all()
            self._loop = loop
        connect_by = min(deadline, loop.time() + connect_timeout)
        while True:
            idle = self._idle.get(key)
            while idle:
                connection = idle.pop()
                if loop.time() - connection.idle_since < self._keepalive:
                    return connection
                connection.close()
            if len(self._open) < self._limit:
                break
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, connect_by - loop.time())
            except TimeoutError:
                raise UpstreamTimeout() from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        address, port, server_name = key
        connection = Connection(self, key)
        self._open.add(connection)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: connection, address, port, ssl=tls, server_hostname=server_name),
                connect_by - loop.time(),
            )
        except TimeoutError:
            connection.close()
            raise UpstreamTimeout() from None
        except (OSError, ssl.SSLError, ValueError):
            connection.close()
            raise UpstreamUnreachable() from None
        except BaseException:
            connection.close()
            raise
        return connection

    def release(self, connection: Connection) -> None:
        connection.idle_since = self.loop.time()
        self._idle.setdefault(connection.key, []).append(connection)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._keepalive, self._sweep)
        self._wake_one()

    def forget(self, connection: Connection) -> None:
        """A connection closed (by either side): no longer open, nor idle."""
        if connection in self._open:
            self._open.discard(connection)
            idle = self._idle.get(connection.key)
            if idle and connection in idle:
                idle.remove(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        """Close the connections idle longer than the keep-alive time (an upstream may close them any moment)."""
        self._sweeper = None
        expired = self.loop.time() - self._keepalive
        for connections in list(self._idle.values()):
            for connection in [c for c in connections if c.idle_since <= expired]:
                connection.close()
        if any(self._idle.values()):
            self._sweeper = self.loop.call_later(self._keepalive, self._sweep)

    def _drop_all(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in list(self._open):
            connection.close()
        self._idle.clear()

    async def close(self) -> None:
        self._drop_all()
        await asyncio.sleep(0)  # let the transports finish closing
