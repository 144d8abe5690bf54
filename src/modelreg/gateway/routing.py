"""Which upstream a call goes to, with which key, under which model name, with which defaults.

- A custom model goes to its own provider (or the one it inherits); a model whose provider is a built-in
  provider (a built-in model, or a custom model inheriting one) goes to the organization's custom provider
  with that provider_id (`openai`). Without one the model is not callable: 404 naming the provider to add.
- Upstream model name: the base's native name (`gpt-4o`, not `openai/gpt-4o`), or the custom name when
  the model is called by its custom name (no base, own provider).
- The model's `params` fill in what the request leaves out (the request wins); parameters that
  `supported_params` marks false are dropped rather than sent.
- Callable = readable (domain/access.py), active, and routable: GET /v1/models lists exactly these.
"""

from __future__ import annotations

from typing import Any

import msgspec

from modelreg.domain.access import can_read
from modelreg.domain.errors import DomainError
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.domain.provider import BuiltinProvider, Provider

__all__ = ["CALLER_CONTROLLED_KEYS", "NotCallable", "Route", "apply_defaults", "upstream_provider"]

# Keys a caller could use to steer the upstream or its credentials: never forwarded.
CALLER_CONTROLLED_KEYS = frozenset(
    {"api_base", "base_url", "api_key", "api_version", "extra_headers", "headers", "extra_query", "credential_override"}
)


class NotCallable(DomainError):
    """The caller may not call this model, or it has no route (rendered 404 by the gateway)."""


class Route(msgspec.Struct):
    model: LLMModel
    provider: Provider
    upstream_model: str


def upstream_provider(model: LLMModel, org_providers: dict[str, Provider]) -> Provider | None:
    provider = model.provider
    if isinstance(provider, Provider):
        return provider
    if isinstance(provider, BuiltinProvider):
        return org_providers.get(provider.provider_id)
    return None


def route_for(principal: Principal, model: LLMModel, org_providers: dict[str, Provider]) -> Route:
    if not can_read(principal, model):
        raise NotCallable("The model does not exist or you do not have access to it.")
    if not model.is_active:
        raise NotCallable("The model does not exist or you do not have access to it.")
    provider = upstream_provider(model, org_providers)
    if provider is None:
        if isinstance(model.provider, BuiltinProvider):
            raise NotCallable(
                f"No provider is configured for this model: create a provider with provider_id "
                f"'{model.provider.provider_id}' (POST /api/providers/)."
            )
        raise NotCallable("The model has no provider to call.")
    if not isinstance(provider.extra_kwargs.get("base_url"), str):
        raise NotCallable(f"Provider '{provider.provider_id}' has no base_url.")
    by_custom_name = model.is_called_by_custom_name or model.native_name is None
    upstream_model = model.name if by_custom_name else str(model.native_name)
    return Route(model=model, provider=provider, upstream_model=upstream_model)


def apply_defaults(body: dict[str, Any], model: LLMModel, upstream_model: str) -> dict[str, Any]:
    """The upstream body: caller-controlled routing keys removed, defaults filled, unsupported dropped."""
    out = {key: value for key, value in body.items() if key not in CALLER_CONTROLLED_KEYS}
    for key, value in model.params.items():
        if key not in out and key not in CALLER_CONTROLLED_KEYS and key != "model":
            out[key] = value
    for key, support in model.supported_params.items():
        if support is False:
            out.pop(key, None)
    out["model"] = upstream_model
    return out
