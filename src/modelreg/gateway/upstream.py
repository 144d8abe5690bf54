"""One shared HTTP client for every upstream, with the connect-time SSRF check.

Each call resolves the upstream host, checks every address (ssrf.py), then connects to the checked
address with the original Host header and TLS server name (certificates are verified against the host
name), so a DNS answer that changes between the check and the connection cannot redirect the call.
Redirects are never followed.

The client is aiohttp, not httpx: measured on the gateway benchmark's upstream (docs/benchmarks.md), httpx
spent ~1,000 µs of CPU per request at 32 concurrent requests against aiohttp's ~90 µs, which alone made
the throughput target unreachable. Routes see only `UpstreamResponse` and the two errors below.
"""

from __future__ import annotations

import functools
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from yarl import URL

from modelreg.gateway.ssrf import IPAddress, UpstreamPolicy

__all__ = ["Timeout", "UpstreamClient", "UpstreamResponse", "UpstreamTimeout", "UpstreamUnreachable", "timeout_for"]

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0
RESOLVED_TTL = 30.0
_CACHE_LIMIT = 10_000


class UpstreamTimeout(Exception):
    """The upstream did not answer (or finish answering) within the provider's timeout."""


class UpstreamUnreachable(Exception):
    """Connecting to, or reading from, the upstream failed."""


class Timeout:
    __slots__ = ("client_timeout", "connect", "total")

    def __init__(self, total: float, connect: float) -> None:
        self.total, self.connect = total, connect
        self.client_timeout = aiohttp.ClientTimeout(total=total, connect=connect)


def timeout_for(extra_kwargs: dict[str, Any]) -> Timeout:
    """`extra_kwargs.timeout`: seconds for the whole call, the streamed answer included (default 600);
    connecting takes at most 10 of them."""
    value = extra_kwargs.get("timeout")
    total = float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    total = min(total or DEFAULT_TIMEOUT, 3600.0)
    return Timeout(total, min(CONNECT_TIMEOUT, total))


class UpstreamResponse:
    """An upstream answer whose headers have arrived; the body is read whole or streamed, then closed."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def content_type(self) -> str:
        return self._response.headers.get("Content-Type", "application/json")

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except TimeoutError:
            raise UpstreamTimeout() from None
        except aiohttp.ClientError:
            raise UpstreamUnreachable() from None
        finally:
            self._response.release()

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrives (decompressed, should an upstream compress anyway); b""
        at its end. A plain call, not an async iterator: a stream pays it once per network chunk."""
        try:
            return await self._response.content.readany()
        except TimeoutError:
            raise UpstreamTimeout() from None
        except aiohttp.ClientError:
            raise UpstreamUnreachable() from None

    def close(self) -> None:
        """Drop the connection (the caller went away or the stream broke: the upstream sees the abort);
        after a complete body the connection goes back to the pool instead."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """One verifying context per process: loading the system CA store costs ~0.1 s, and a context is shared
    safely by every connection (the test suite builds an app, so a client, per test)."""
    return ssl.create_default_context()


class UpstreamClient:
    def __init__(self, policy: UpstreamPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None
        self._tls = _default_tls()
        self._targets: dict[str, _Target] = {}
        self._resolved: dict[tuple[str, int], tuple[list[IPAddress], float]] = {}

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the server's event loop (aiohttp binds a session to its loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512, limit_per_host=0, use_dns_cache=False),
                trust_env=False,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                # Upstream cookies must never travel from one organization's call to another's.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        url = target.url(pinned, path)
        headers = target.headers if not api_key else {**target.headers, "Authorization": f"Bearer {api_key}"}
        tls: dict[str, Any] = {"ssl": self._tls, "server_hostname": target.host} if target.scheme == "https" else {}
        try:
            response = await self._client().request(
                method,
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=timeout.client_timeout,
                **tls,
            )
        except TimeoutError:
            raise UpstreamTimeout() from None
        except (aiohttp.ClientError, OSError, ValueError):
            raise UpstreamUnreachable() from None
        return UpstreamResponse(response)

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

    scheme: str
    host: str
    port: int
    default_port: int
    host_header: str
    path: str
    query: str

    @property
    def headers(self) -> dict[str, str]:
        """The request headers but the key (aiohttp copies them; never mutated)."""
        headers: dict[str, str] | None = self.__dict__.get("_headers")
        if headers is None:
            headers = self.__dict__["_headers"] = {
                "Host": self.host_header,
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "Accept-Encoding": "identity",
            }
        return headers

    def url(self, pinned: IPAddress, path: str) -> URL:
        """The URL to the pinned (checked) address; built once per address and path."""
        urls: dict[tuple[IPAddress, str], URL] = self.__dict__.setdefault("_urls", {})
        url = urls.get((pinned, path))
        if url is None:
            literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
            netloc = literal if self.port == self.default_port else f"{literal}:{self.port}"
            if len(urls) >= 64:
                urls.clear()
            url = urls[pinned, path] = URL(f"{self.scheme}://{netloc}{self.path}{path}{self.query}", encoded=True)
        return url

    @classmethod
    def of(cls, policy: UpstreamPolicy, base_url: str) -> _Target:
        scheme, host, port = policy.parse(base_url)
        policy.check_host_name(host)
        parts = urlsplit(base_url.rstrip("/"))
        default_port = 443 if scheme == "https" else 80
        host_header = host if port == default_port else f"{host}:{port}"
        return cls(scheme, host, port, default_port, host_header, parts.path, f"?{parts.query}" if parts.query else "")
