"""Filterable and sortable model fields: the allowlist. Anything else answers 400.

Each field has a kind that decides which operators and value types it accepts:

| kind     | values accepted (GET quick filters send strings; they are coerced)      |
|----------|--------------------------------------------------------------------------|
| text     | strings                                                                  |
| number   | numbers, or strings that parse as numbers                                |
| flag     | 0/1, true/false, "0"/"1"/"true"/"false" (compared as 0/1)                |
| boolean  | true/false, 0/1, "true"/"false"                                          |
| datetime | ISO-8601 strings (a trailing Z is fine)                                  |

`provider_id` is an alias of `provider__provider_id`. `is_active` is false only for deactivated custom models,
which only their writers can see at all (domain/access.py). Throughput fields are the caller's organization's
figures over the rolling window (services/metering.py), null for a model without traffic.
"""

from __future__ import annotations

from typing import Any, Literal

from modelreg.domain.llm_model import AFFILIATION_BUILTIN, AFFILIATION_CUSTOM, LLMModel

__all__ = ["FIELDS", "FIELD_ALIASES", "Kind", "canonical_field", "filter_row", "has_discount"]

Kind = Literal["text", "number", "flag", "boolean", "datetime"]

FIELDS: dict[str, Kind] = {
    "model_name": "text",
    "display_name": "text",
    "base_model_name": "text",
    "provider__provider_id": "text",
    "provider__provider_name": "text",
    "affiliation_category": "text",
    "source": "text",
    "model_type": "text",
    "status": "text",
    "input_cost": "number",
    "output_cost": "number",
    "cache_hit_input_cost": "number",
    "cache_creation_input_cost": "number",
    "max_context_window": "number",
    "streaming_support": "flag",
    "function_call": "flag",
    "image_support": "flag",
    "is_managed": "boolean",
    "is_called_by_custom_name": "boolean",
    "has_discount": "boolean",
    "available_to_user": "boolean",
    "is_active": "boolean",
    "created_at": "datetime",
    "updated_at": "datetime",
    "average_tps": "number",
    "average_ttft": "number",
    "average_latency": "number",
    "number_of_requests": "number",
}

FIELD_ALIASES = {"provider_id": "provider__provider_id", "id": "model_name", "name": "model_name"}


def canonical_field(name: str) -> str | None:
    name = FIELD_ALIASES.get(name, name)
    return name if name in FIELDS else None


def filter_row(model: LLMModel, *, available: bool) -> dict[str, Any]:
    """The values filters and sorting see for one model (canonical field names)."""
    provider = model.provider
    builtin = model.is_builtin
    throughput = model.throughput
    return {
        "model_name": model.name,
        "display_name": model.display_name,
        "base_model_name": model.base_model_name,
        "provider__provider_id": provider.provider_id if provider else None,
        "provider__provider_name": provider.provider_name if provider else None,
        "affiliation_category": AFFILIATION_BUILTIN if builtin else AFFILIATION_CUSTOM,
        "source": "hardcoded" if builtin else "db",
        "model_type": model.model_type,
        "status": model.status,
        "input_cost": model.input_cost,
        "output_cost": model.output_cost,
        "cache_hit_input_cost": model.cache_hit_input_cost,
        "cache_creation_input_cost": model.cache_creation_input_cost,
        "max_context_window": model.max_context_window,
        "streaming_support": model.streaming_support,
        "function_call": model.function_call,
        "image_support": model.image_support,
        "is_managed": builtin,
        "is_called_by_custom_name": model.is_called_by_custom_name,
        "has_discount": has_discount(model),
        "available_to_user": available,
        "is_active": model.is_active,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "average_tps": throughput.average_tps if throughput else None,
        "average_ttft": throughput.average_ttft if throughput else None,
        "average_latency": throughput.average_latency if throughput else None,
        "number_of_requests": throughput.number_of_requests if throughput else None,
    }


def has_discount(model: LLMModel) -> bool:
    """A cheaper price for cached input than for fresh input: the only discount the catalog data knows."""
    return (
        model.cache_hit_input_cost is not None
        and model.input_cost is not None
        and model.cache_hit_input_cost < model.input_cost
    )
