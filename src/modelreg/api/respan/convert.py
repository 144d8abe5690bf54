"""Respan wire <-> domain. All renaming between the dialect and the domain happens here."""

from __future__ import annotations

from typing import Any

import msgspec

from modelreg.api.grants import grants_from_wire, grants_to_wire
from modelreg.api.meta import meta_view, split_meta
from modelreg.api.pricing import tiers_from_wire, tiers_to_wire
from modelreg.api.respan.schemas import (
    CatalogItem,
    CatalogProvider,
    RespanModel,
    RespanModelWrite,
    RespanNestedProvider,
    RespanProvider,
    RespanProviderWrite,
    Throughput,
)
from modelreg.domain.access import can_write, readable_params
from modelreg.domain.llm_model import AFFILIATION_BUILTIN, AFFILIATION_CUSTOM, LLMModel
from modelreg.domain.principal import Principal
from modelreg.domain.provider import BuiltinProvider, Provider
from modelreg.domain.usage import Throughput as DomainThroughput
from modelreg.services.models import ModelChanges
from modelreg.services.providers import ProviderChanges
from modelreg.store.memory import ModelIndex

__all__ = [
    "catalog_item_wire",
    "model_bytes",
    "model_changes",
    "model_etag",
    "model_wire",
    "provider_changes",
    "provider_wire",
]

UNSET: Any = msgspec.UNSET


def model_changes(body: RespanModelWrite) -> ModelChanges:
    provider = body.custom_provider_id if body.custom_provider_id is not msgspec.UNSET else body.provider_id
    meta: Any = body.meta
    flags: dict[str, Any] = {}
    if isinstance(body.meta, dict):
        # meta.capabilities.vision & co. set the flags unless the body sets the flag fields themselves.
        meta, from_meta = split_meta(body.meta)
        flags = {field: value for field, value in from_meta.items() if getattr(body, field) is msgspec.UNSET}
    changes = ModelChanges(
        display_name=body.display_name,
        base_model_name=body.base_model_name,
        provider_id=provider,
        model_type=body.model_type,
        input_cost=body.input_cost,
        output_cost=body.output_cost,
        cache_hit_input_cost=body.cache_hit_input_cost,
        cache_creation_input_cost=body.cache_creation_input_cost,
        pricing_tiers=tiers_from_wire(body.pricing_tiers),
        max_context_window=body.max_context_window,
        streaming_support=body.streaming_support,
        function_call=body.function_call,
        image_support=body.image_support,
        supported_params_override=body.supported_params_override,
        params=body.params,
        meta=meta,
        access_grants=UNSET if body.access_grants is msgspec.UNSET else grants_from_wire(body.access_grants),
        is_active=body.is_active,
    )
    return msgspec.structs.replace(changes, **flags) if flags else changes


def provider_changes(body: RespanProviderWrite) -> ProviderChanges:
    extra = body.extra_kwargs
    return ProviderChanges(
        provider_name=body.provider_name,
        extra_kwargs={} if extra is None else extra,
        api_key=body.api_key,
    )


def _nested(provider: Provider | BuiltinProvider | None) -> RespanNestedProvider | None:
    if provider is None:
        return None
    if isinstance(provider, BuiltinProvider):
        return RespanNestedProvider(
            id=provider.provider_id,
            provider_id=provider.provider_id,
            provider_name=provider.provider_name,
            extra_kwargs={},
            is_managed=True,
            created_at=None,
            updated_at=None,
        )
    return RespanNestedProvider(
        id=provider.provider_id,
        provider_id=provider.provider_id,
        provider_name=provider.provider_name,
        extra_kwargs=dict(provider.extra_kwargs),
        is_managed=False,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


def provider_wire(provider: Provider) -> RespanProvider:
    return RespanProvider(
        id=provider.provider_id,
        provider_id=provider.provider_id,
        provider_name=provider.provider_name,
        extra_kwargs=dict(provider.extra_kwargs),
        is_managed=False,
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


def model_wire(model: LLMModel, principal: Principal | None = None) -> RespanModel:
    builtin = model.is_builtin
    return RespanModel(
        id=model.name,
        model_name=model.name,
        display_name=model.display_name,
        base_model_name=model.base_model_name,
        affiliation_category=AFFILIATION_BUILTIN if builtin else AFFILIATION_CUSTOM,
        is_called_by_custom_name=model.is_called_by_custom_name,
        input_cost=model.input_cost,
        output_cost=model.output_cost,
        cache_hit_input_cost=model.cache_hit_input_cost,
        cache_creation_input_cost=model.cache_creation_input_cost,
        pricing_tiers=tiers_to_wire(model.pricing_tiers),
        max_context_window=model.max_context_window,
        streaming_support=model.streaming_support,
        function_call=model.function_call,
        image_support=model.image_support,
        source="hardcoded" if builtin else "db",
        model_type=model.model_type,
        supported_params=dict(model.supported_params),
        throughput=throughput_wire(model.throughput),
        provider=_nested(model.provider),
        is_managed=builtin,
        status=model.status,
        created_at=model.created_at,
        updated_at=model.updated_at,
        user_id=model.owner_user_id,
        is_active=model.is_active,
        params=readable_params(principal, model),
        meta=meta_view(model),
        access_grants=grants_to_wire(model.grants),
    )


def throughput_wire(figures: DomainThroughput | None) -> Throughput | None:
    if figures is None:
        return None
    return Throughput(
        average_tps=figures.average_tps,
        average_ttft=figures.average_ttft,
        average_latency=figures.average_latency,
        number_of_requests=figures.number_of_requests,
    )


def catalog_item_wire(model: LLMModel) -> CatalogItem:
    provider = model.provider
    assert isinstance(provider, BuiltinProvider)
    return CatalogItem(
        model_name=model.name,
        max_context_window=model.max_context_window,
        input_cost=model.input_cost,
        output_cost=model.output_cost,
        prompt_cost=model.input_cost,
        completion_cost=model.output_cost,
        rate_limit=None,
        provider=CatalogProvider(
            provider_name=provider.provider_name,
            provider_id=provider.provider_id,
            moderation=provider.moderation,
            credential_fields=list(provider.credential_fields),
        ),
    )


def encode_model(model: LLMModel, principal: Principal | None = None) -> bytes:
    return msgspec.json.encode(model_wire(model, principal))


def model_bytes(index: ModelIndex, model: LLMModel, principal: Principal | None) -> bytes:
    """The model's JSON for this caller, memoized per model and per kind of caller (writers see params)."""
    key = "respan:w" if can_write(principal, model) else "respan:r"
    return index.encoded(model, key, lambda m: encode_model(m, principal))


def model_etag(index: ModelIndex, model: LLMModel) -> bytes:
    """The custom model's ETag as a header value, memoized with its JSON (a digest per read otherwise)."""
    return index.encoded(model, "etag", lambda m: m.etag.encode("latin-1"))
