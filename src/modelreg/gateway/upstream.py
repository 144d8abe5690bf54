"""One shared HTTP client for every upstream, with the connect-time SSRF check.

Each call resolves the upstream host, checks every address (ssrf.py), then connects to the checked
address with the original Host header and TLS server name, so a DNS answer that changes between the
check and the connection cannot redirect the call. Redirects are never followed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from modelreg.gateway.ssrf import UpstreamPolicy

__all__ = ["UpstreamClient", "timeout_for"]

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0


def timeout_for(extra_kwargs: dict[str, Any]) -> httpx.Timeout:
    value = extra_kwargs.get("timeout")
    total = float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    total = min(total or DEFAULT_TIMEOUT, 3600.0)
    return httpx.Timeout(total, connect=min(CONNECT_TIMEOUT, total))


class UpstreamClient:
    def __init__(self, policy: UpstreamPolicy) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def build(
        self, base_url: str, path: str, api_key: str | None, body: bytes, timeout: httpx.Timeout
    ) -> httpx.Request:
        scheme, host, port = self.policy.parse(base_url)
        addresses = await self.policy.resolve(host, port)
        pinned = addresses[0]
        parts = urlsplit(base_url.rstrip("/") + path)
        literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        default_port = 443 if scheme == "https" else 80
        netloc = literal if port == default_port else f"{literal}:{port}"
        url = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
        host_header = host if port == default_port else f"{host}:{port}"
        headers = {
            "Host": host_header,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        if scheme == "https":
            extensions["sni_hostname"] = host
        return self._client.build_request("POST", url, content=body, headers=headers, extensions=extensions)

    async def send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        return await self._client.send(request, stream=stream, follow_redirects=False)
