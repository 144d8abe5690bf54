"""Open WebUI wire <-> domain (see schemas.py for the field mapping)."""

from __future__ import annotations

import msgspec

from modelreg.api.grants import grants_from_wire, grants_to_wire
from modelreg.api.meta import CAPABILITY_FLAGS, meta_view, split_meta
from modelreg.api.openwebui.schemas import WebUIModel, WebUIModelForm, WebUIThroughput
from modelreg.api.pricing import tiers_from_wire, tiers_to_wire
from modelreg.domain.access import can_write, readable_params
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.services.models import ModelChanges

__all__ = ["form_changes", "model_wire"]


def form_changes(form: WebUIModelForm) -> ModelChanges:
    """The seed's update: name, params and meta replace what is stored; base_model_id is kept when omitted;
    grants replace when given; is_active defaults to true."""
    meta, present = split_meta(form.meta)
    # meta replaces what is stored: a capability the form leaves out inherits again.
    flags = {field: present.get(field) for field in CAPABILITY_FLAGS.values()}
    return ModelChanges(
        display_name=form.name,
        base_model_name=form.base_model_id,
        provider_id=form.custom_provider_id,
        pricing_tiers=tiers_from_wire(form.pricing_tiers),
        params=form.params,
        meta=meta,
        access_grants=msgspec.UNSET if form.access_grants is msgspec.UNSET else grants_from_wire(form.access_grants),
        is_active=form.is_active,
        image_support=flags["image_support"],
        function_call=flags["function_call"],
        streaming_support=flags["streaming_support"],
    )


def _unix(model: LLMModel, field: str) -> int | None:
    value = getattr(model, field)
    return int(value.timestamp()) if value is not None else None


def _throughput(model: LLMModel) -> WebUIThroughput | None:
    figures = model.throughput
    return msgspec.convert(figures, WebUIThroughput, from_attributes=True) if figures is not None else None


def model_wire(model: LLMModel, principal: Principal | None) -> WebUIModel:
    meta = meta_view(model)
    if model.is_builtin and "description" not in meta and model.display_name:
        meta["description"] = model.display_name
    return WebUIModel(
        id=model.name,
        user_id=model.owner_user_id,
        base_model_id=model.base_model_name,
        name=model.display_name,
        params=readable_params(principal, model),
        meta=meta,
        access_grants=grants_to_wire(model.grants),
        is_active=model.is_active,
        created_at=_unix(model, "created_at"),
        updated_at=_unix(model, "updated_at"),
        write_access=can_write(principal, model),
        throughput=msgspec.convert(model.throughput, WebUIThroughput, from_attributes=True)
        if model.throughput
        else None,
        pricing_tiers=tiers_to_wire(model.pricing_tiers),
    )
