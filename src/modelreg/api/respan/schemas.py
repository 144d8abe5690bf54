"""Wire shapes of the Respan dialect.

Request bodies: unknown keys are ignored (as Django REST Framework does), and so are the read-only
or privilege-bearing keys (`id`, `affiliation_category`, `source`, `organization_id`, `user_id`,
`throughput`, `provider`, `is_called_by_custom_name`, `supported_params`): they are simply not
fields here, so nothing in a body can set them. UNSET tells an absent key from an explicit null.

Responses: built field by field from these structs (an allowlist), so nothing stored can leak.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from modelreg.api.grants import WireGrant

__all__ = [
    "RespanModel",
    "RespanModelPage",
    "RespanModelWrite",
    "RespanNestedProvider",
    "RespanPage",
    "RespanProvider",
    "RespanProviderPage",
    "RespanProviderWrite",
    "RespanSummary",
]

Cost = Annotated[float, Meta(ge=0, le=1_000_000)]
"""USD per 1M tokens; finite and non-negative (JSON has no NaN, and 1e999 is beyond the bound)."""
ContextWindow = Annotated[int, Meta(ge=1, le=1_000_000_000)]
Flag = Literal[0, 1]
Name = Annotated[str, Meta(max_length=100_000)]
"""Real length rules (1-256, no control characters) are checked by domain.names with clear messages."""


class RespanModelWrite(msgspec.Struct, kw_only=True):
    model_name: Name | UnsetType = UNSET
    display_name: Name | UnsetType | None = UNSET
    base_model_name: Name | UnsetType | None = UNSET
    custom_provider_id: Name | UnsetType | None = UNSET
    """The provider's string id; a number (the legacy primary key) is refused: keys are never exposed."""
    provider_id: Name | UnsetType | None = UNSET
    """Alias of custom_provider_id ("either one can be used"); custom_provider_id wins when both are sent."""
    model_type: Name | UnsetType | None = UNSET
    input_cost: Cost | UnsetType | None = UNSET
    output_cost: Cost | UnsetType | None = UNSET
    cache_hit_input_cost: Cost | UnsetType | None = UNSET
    cache_creation_input_cost: Cost | UnsetType | None = UNSET
    max_context_window: ContextWindow | UnsetType | None = UNSET
    streaming_support: Flag | UnsetType | None = UNSET
    function_call: Flag | UnsetType | None = UNSET
    image_support: Flag | UnsetType | None = UNSET
    supported_params_override: dict[str, Any] | UnsetType | None = UNSET
    params: dict[str, Any] | UnsetType | None = UNSET
    """Default request parameters (shared with the Open WebUI view)."""
    meta: dict[str, Any] | UnsetType | None = UNSET
    access_grants: list[Any] | UnsetType = UNSET
    """Replaces every grant; see api/grants.py for the accepted forms."""
    is_active: bool | UnsetType = UNSET


class RespanProviderWrite(msgspec.Struct, kw_only=True):
    provider_id: Name | UnsetType = UNSET
    provider_name: Name | UnsetType = UNSET
    api_key: Annotated[str, Meta(max_length=20000)] | UnsetType | None = UNSET
    extra_kwargs: dict[str, Any] | UnsetType | None = UNSET


class RespanNestedProvider(msgspec.Struct, kw_only=True):
    id: str
    provider_id: str
    provider_name: str
    extra_kwargs: dict[str, Any]
    is_managed: bool
    created_at: datetime | None
    updated_at: datetime | None


class RespanProvider(msgspec.Struct, kw_only=True):
    id: str
    provider_id: str
    provider_name: str
    extra_kwargs: dict[str, Any]
    is_managed: bool
    created_at: datetime | None
    updated_at: datetime | None


class Throughput(msgspec.Struct, kw_only=True):
    average_tps: float | None
    average_ttft: float | None
    average_latency: float | None
    number_of_requests: int


class RespanModel(msgspec.Struct, kw_only=True):
    id: str
    model_name: str
    display_name: str | None
    base_model_name: str | None
    affiliation_category: str
    is_called_by_custom_name: bool
    input_cost: float | None
    output_cost: float | None
    cache_hit_input_cost: float | None
    cache_creation_input_cost: float | None
    max_context_window: int | None
    streaming_support: int | None
    function_call: int | None
    image_support: int | None
    source: str
    model_type: str | None
    supported_params: dict[str, Any]
    throughput: Throughput | None
    provider: RespanNestedProvider | None
    is_managed: bool
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    # Shared with the Open WebUI view (one record, two dialects); null/empty for built-ins.
    user_id: str | None
    is_active: bool
    params: dict[str, Any]
    """Empty unless the caller may write the model (it may hold a system prompt)."""
    meta: dict[str, Any]
    access_grants: list[WireGrant]


class RespanPage(msgspec.Struct, kw_only=True):
    """The paginated envelope. `count` is the total number of items (docs/decisions.md)."""

    count: int
    next: str | None
    previous: str | None
    current_filters: dict[str, Any]
    results: list[Any]


class RespanProviderPage(RespanPage, kw_only=True):
    results: list[RespanProvider]


class RespanModelPage(RespanPage, kw_only=True):
    results: list[RespanModel]


class SummaryCounts(msgspec.Struct, kw_only=True):
    total_count: int
    global_count: int
    custom_count: int


class RespanSummary(msgspec.Struct, kw_only=True):
    summary: SummaryCounts


class CatalogProvider(msgspec.Struct, kw_only=True):
    provider_name: str
    provider_id: str
    moderation: str
    credential_fields: list[str]


class CatalogItem(msgspec.Struct, kw_only=True):
    """GET /api/models/public item: the union of the old and current shapes."""

    model_name: str
    max_context_window: int | None
    input_cost: float | None
    output_cost: float | None
    prompt_cost: float | None
    """Alias of input_cost (current client)."""
    completion_cost: float | None
    """Alias of output_cost (current client)."""
    rate_limit: int | None
    """Legacy field; modelreg has no per-model rate limit, so it is always null."""
    provider: CatalogProvider


class CatalogPage(msgspec.Struct, kw_only=True):
    """GET /api/models/public (without `unnest=true`, which answers the bare array)."""

    models: list[CatalogItem]
