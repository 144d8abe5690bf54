"""Helpers every dialect's routes share: the registry, the caller, body decoding."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from modelreg.api.errors import NotAuthenticated
from modelreg.domain.principal import Principal
from modelreg.registry import Registry

__all__ = ["decode_body", "optional_principal", "path_name", "registry", "require_principal"]

T = TypeVar("T")

AnyRequest = Request[Any, Any, Any]


def registry(request: AnyRequest) -> Registry:
    value: Registry = request.app.state.registry
    return value


async def optional_principal(request: AnyRequest) -> Principal | None:
    return await registry(request).authenticator.authenticate(request.headers.get("authorization"))


async def require_principal(request: AnyRequest) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise NotAuthenticated()
    return principal


async def decode_body(request: AnyRequest, type_: type[T]) -> T:
    """Decode a JSON object body strictly into `type_`; an empty body counts as `{}`."""
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    return msgspec.json.decode(raw, type=type_)


def path_name(value: str) -> str:
    """Litestar's path converter keeps the leading slash; trailing slashes are already stripped."""
    return value[1:] if value.startswith("/") else value
