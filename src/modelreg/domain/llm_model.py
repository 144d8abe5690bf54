"""The model record as readers see it (LLMModel) and as an organization stores it (CustomModel).

A CustomModel is sparse: every attribute left None inherits from its base model at read time
(see inheritance.py), so a change to the base shows through. LLMModel is the resolved value that
every dialect renders; built-in catalog models are LLMModels from the start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from modelreg.domain.etags import entity_tag
from modelreg.domain.grants import Grant
from modelreg.domain.provider import BuiltinProvider, Provider
from modelreg.domain.usage import Throughput

__all__ = [
    "AFFILIATION_BUILTIN",
    "AFFILIATION_CUSTOM",
    "INHERITABLE_FIELDS",
    "MODEL_TYPES",
    "CustomModel",
    "LLMModel",
]

AFFILIATION_BUILTIN = "keywordsai"  # the current official client's value; "respan" and "builtin" are accepted aliases
AFFILIATION_CUSTOM = "custom"
MODEL_TYPES = ("chat", "embedding", "image", "video", "rerank", "speech", "transcription", "audio")

# Attributes a custom model may leave unset to inherit them from its base.
INHERITABLE_FIELDS = (
    "display_name",
    "model_type",
    "input_cost",
    "output_cost",
    "cache_hit_input_cost",
    "cache_creation_input_cost",
    "max_context_window",
    "streaming_support",
    "function_call",
    "image_support",
)


class LLMModel(msgspec.Struct, kw_only=True):
    """A resolved model: what retrieve and list return, in either dialect."""

    name: str
    display_name: str | None = None
    base_model_name: str | None = None
    affiliation: Literal["builtin", "custom"]
    organization_id: str | None = None
    owner_user_id: str | None = None
    model_type: str | None = None
    input_cost: float | None = None
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None
    max_context_window: int | None = None
    max_output_tokens: int | None = None
    streaming_support: int | None = None
    function_call: int | None = None
    image_support: int | None = None
    supported_params: dict[str, Any] = msgspec.field(default_factory=dict)
    supported_params_override: dict[str, Any] | None = None
    is_called_by_custom_name: bool = False
    status: Literal["active", "deprecated"] = "active"
    provider: Provider | BuiltinProvider | None = None
    native_name: str | None = None
    """Name the upstream provider expects (built-ins: `gpt-4o` for `openai/gpt-4o`)."""
    aliases: tuple[str, ...] = ()
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """Default request parameters (Open WebUI `params`); only writers may see them."""
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    """Open WebUI `meta` minus the capabilities that map onto the flags (vision, function_calling, streaming)."""
    grants: tuple[Grant, ...] = ()
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    revision: int = 0
    pk: int | None = None
    throughput: Throughput | None = None
    """The organization's measured figures over the rolling window (None without traffic or caller)."""

    @property
    def is_builtin(self) -> bool:
        return self.affiliation == "builtin"

    @property
    def etag(self) -> str:
        return entity_tag("model", self.organization_id, self.name, self.created_at, self.revision)


class CustomModel(msgspec.Struct, kw_only=True):
    """An organization's stored definition; None means "inherit"."""

    pk: int
    organization_id: str
    owner_user_id: str | None
    name: str
    base_model_name: str | None
    provider: Provider | None
    display_name: str | None = None
    model_type: str | None = None
    input_cost: float | None = None
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None
    max_context_window: int | None = None
    streaming_support: int | None = None
    function_call: int | None = None
    image_support: int | None = None
    supported_params_override: dict[str, Any] | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    grants: tuple[Grant, ...] = ()
    is_active: bool = True
    revision: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_builtin(self) -> bool:
        return False
