""" "Test connection" for a custom provider: list its models (`GET <base_url>/models`) through the
gateway's upstream client, so the same SSRF guard, pinned addresses and no-redirect rule apply.
The provider's key is sent upstream exactly as the gateway sends it, and never appears in the result."""

from __future__ import annotations

import time

import msgspec

from modelreg.domain.errors import InvalidInput
from modelreg.domain.provider import Provider
from modelreg.gateway.upstream import Timeout, UpstreamClient, UpstreamTimeout, UpstreamUnreachable
from modelreg.services.providers import ProviderService
from modelreg.store.database import Database

__all__ = ["ConnectionCheck", "check_connection"]

_TIMEOUT = Timeout(total=10.0, connect=5.0)


class ConnectionCheck(msgspec.Struct, kw_only=True):
    ok: bool
    message: str
    latency_ms: float | None = None
    status: int | None = None
    models: list[str] = msgspec.field(default_factory=list)


async def check_connection(
    upstream: UpstreamClient, providers: ProviderService, db: Database, provider: Provider
) -> ConnectionCheck:
    base_url = provider.extra_kwargs.get("base_url")
    if not isinstance(base_url, str) or not base_url:
        return ConnectionCheck(ok=False, message="This provider has no base_url: set one in extra_kwargs.")
    api_key = await providers.api_key_for(db, provider)
    started = time.perf_counter()
    try:
        response = await upstream.request("GET", base_url, "/models", api_key, None, _TIMEOUT)
        try:
            body = await response.read()
        finally:
            response.close()
    except InvalidInput as exc:  # refused by the SSRF guard
        return ConnectionCheck(ok=False, message=f"Refused: {exc.message}")
    except UpstreamTimeout:
        return ConnectionCheck(ok=False, message="The provider did not answer within 10 s.")
    except UpstreamUnreachable:
        return ConnectionCheck(ok=False, message="The provider could not be reached.")
    latency = (time.perf_counter() - started) * 1000
    if response.status != 200:
        return ConnectionCheck(
            ok=False, status=response.status, latency_ms=latency, message=f"The provider answered {response.status}."
        )
    try:
        data = msgspec.json.decode(body)
        names = sorted(str(item["id"]) for item in data["data"] if isinstance(item, dict) and "id" in item)
    except (msgspec.DecodeError, KeyError, TypeError):
        return ConnectionCheck(ok=False, status=200, latency_ms=latency, message="The answer is not a model list.")
    noun = "model" if len(names) == 1 else "models"
    return ConnectionCheck(
        ok=True, status=200, latency_ms=latency, models=names[:500], message=f"Connected: {len(names)} {noun}."
    )
