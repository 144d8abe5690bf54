"""Wire shapes of the Open WebUI dialect.

Field mapping onto the one model record (convert.py does it):
    id = model_name, name = display_name, base_model_id = base_model_name,
    meta.capabilities.vision = image_support, .function_calling = function_call, .streaming = streaming_support
    (booleans here, 0/1 in the Respan view); other meta and capability keys are kept as given;
    created_at / updated_at are unix seconds here, ISO-8601 in the Respan view.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from modelreg.api.grants import WireGrant
from modelreg.api.pricing import WireTier, WireTiers

__all__ = [
    "WebUIAccessForm",
    "WebUIDeleteForm",
    "WebUIImportForm",
    "WebUIModel",
    "WebUIModelForm",
    "WebUIModelPage",
    "WebUIThroughput",
]

Id = Annotated[str, Meta(max_length=100_000)]


class WebUIModelForm(msgspec.Struct, kw_only=True):
    """POST /api/models/model/update (and /create): the seed's body."""

    id: Id
    name: Id
    base_model_id: Id | UnsetType | None = UNSET
    """Kept when omitted (update)."""
    params: dict[str, Any]
    meta: dict[str, Any]
    access_grants: list[Any] | UnsetType = UNSET
    """When given, replaces every grant."""
    is_active: bool = True
    custom_provider_id: Id | UnsetType | None = UNSET
    """modelreg extension: a model without base_model_id needs a provider to be callable."""
    pricing_tiers: WireTiers | UnsetType | None = UNSET
    """modelreg extension (the Respan view's field): kept when omitted, null inherits the base's tiers."""


class WebUIAccessForm(msgspec.Struct, kw_only=True):
    id: Id
    name: Id | UnsetType = UNSET
    access_grants: list[Any]


class WebUIDeleteForm(msgspec.Struct, kw_only=True):
    id: Id


class WebUIImportForm(msgspec.Struct, kw_only=True):
    models: Annotated[list[Any], Meta(max_length=10_000)]


class WebUIThroughput(msgspec.Struct, kw_only=True):
    """modelreg extension: the organization's figures over the rolling window (null without traffic);
    the Respan view's `throughput` plus cost (USD) and token totals."""

    average_tps: float | None
    average_ttft: float | None
    average_latency: float | None
    number_of_requests: int
    cost: float
    prompt_tokens: int
    completion_tokens: int


class WebUIModel(msgspec.Struct, kw_only=True):
    id: str
    user_id: str | None
    base_model_id: str | None
    name: str | None
    params: dict[str, Any]
    """Empty unless the caller may write the model."""
    meta: dict[str, Any]
    access_grants: list[WireGrant]
    is_active: bool
    created_at: int | None
    updated_at: int | None
    write_access: bool
    throughput: WebUIThroughput | None = None
    pricing_tiers: list[WireTier] = msgspec.field(default_factory=list)
    """modelreg extension: the resolved tiers, as in the Respan view."""


class WebUIModelPage(msgspec.Struct, kw_only=True):
    items: list[WebUIModel]
    total: int
