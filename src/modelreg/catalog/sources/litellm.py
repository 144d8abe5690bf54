"""litellm's ``model_prices_and_context_window`` JSON -> a full catalog snapshot (``from_litellm``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from modelreg.catalog.sources.common import (
    FORMAT,
    PRICE_FIELDS,
    CatalogFormatError,
    ConversionStats,
    derive_display_name,
    finite_number,
    pick_primary,
    round_sig,
    short,
    type_name,
    valid_name,
)
from modelreg.catalog.sources.providers import providers_table

__all__ = ["from_litellm"]

# litellm mode -> catalog model_type; every other mode is skipped.
MODE_TO_TYPE: dict[str, str] = {
    "chat": "chat",
    "completion": "chat",
    "embedding": "embedding",
    "audio_speech": "speech",
    "audio_transcription": "transcription",
}

# Default supported_params per model type, used when litellm carries no explicit list.
# Chat sets are then adjusted by the capability flags (see _chat_params()).
DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "chat": (
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stream",
        "user",
        "logit_bias",
    ),
    "chat_tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "chat_response_schema": ("response_format",),
    "chat_reasoning": ("reasoning_effort",),
    "embedding": ("encoding_format", "dimensions", "user"),
    "speech": ("voice", "response_format", "speed"),
    "transcription": ("language", "prompt", "response_format", "temperature"),
}
# Dropped from chat models whose litellm entry says supports_sampling_params: false.
SAMPLING_PARAMS = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias"})
# litellm entry keys that, if present, hold an explicit parameter list.
EXPLICIT_PARAM_KEYS = ("supported_openai_params", "supported_params")
# litellm entry keys that, if true, say an embedding model accepts `dimensions`.
DIMENSIONS_FLAGS = ("supports_dimensions", "supports_embedding_dimensions")


def _per_token_to_mtok(value: Any, where: str) -> float | None:
    """litellm prices are USD per token; the catalog wants USD per 1M tokens."""
    number = finite_number(value, where, parse_strings=True)
    return None if number is None else round_sig(number * 1_000_000)


def _token_limit(value: Any, where: str) -> int | None:
    """litellm token limits as int; None for missing, non-integral or non-positive values."""
    number = finite_number(value, where, parse_strings=True, negative_ok=True)
    if number is None or number != int(number) or number <= 0:
        return None
    return int(number)


def _flag(entry: Mapping[str, Any], key: str) -> int:
    """A litellm boolean capability flag as 0/1 (missing, or anything but true, means no)."""
    return 1 if entry.get(key) is True else 0


def _iso_date(value: Any) -> str | None:
    """litellm's deprecation_date, kept only when it is a real YYYY-MM-DD date."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def _litellm_prices(entry: Mapping[str, Any], where: str) -> dict[str, float | None]:
    """Per-token litellm prices converted to per-1M; cache read falls back to *_cache_hit."""
    cache_read_key = "cache_read_input_token_cost"
    if entry.get(cache_read_key) is None:
        cache_read_key = "input_cost_per_token_cache_hit"
    sources = {
        "input_cost": "input_cost_per_token",
        "output_cost": "output_cost_per_token",
        "cache_hit_input_cost": cache_read_key,
        "cache_creation_input_cost": "cache_creation_input_token_cost",
    }
    return {name: _per_token_to_mtok(entry.get(key), f"{where}: {key}") for name, key in sources.items()}


# litellm's long-context prices: `<price key>_above_<n>k_tokens` (n = 128, 200, 272, ...; k = 1,000 tokens).
# Variants with a further suffix (`_priority`, `_batches`, `_flex`, `_above_1hr...`) are request options that
# modelreg does not model, and are ignored like litellm's other service-tier prices.
TIER_KEY = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)"
    r"_above_(\d+)k_tokens$"
)
TIER_FIELDS = {
    "input_cost_per_token": "input_cost",
    "output_cost_per_token": "output_cost",
    "cache_read_input_token_cost": "cache_hit_input_cost",
    "cache_creation_input_token_cost": "cache_creation_input_cost",
}


def _litellm_tiers(entry: Mapping[str, Any], prices: Mapping[str, float | None], where: str) -> list[dict[str, Any]]:
    """One tier per threshold litellm prices above; a price it does not give for that threshold is null (the
    untiered price applies, as litellm bills it). A threshold without an input price takes the untiered input
    price; without that either, it is dropped."""
    by_threshold: dict[int, dict[str, Any]] = {}
    for key, value in entry.items():
        match = TIER_KEY.match(key)
        if match is None:
            continue
        price = _per_token_to_mtok(value, f"{where}: {key}")
        if price is None:
            continue
        threshold = int(match.group(2)) * 1000
        tier = by_threshold.setdefault(threshold, dict.fromkeys(("above_input_tokens", *PRICE_FIELDS)))
        tier["above_input_tokens"] = threshold
        tier[TIER_FIELDS[match.group(1)]] = price
    tiers = []
    for threshold in sorted(by_threshold):
        tier = by_threshold[threshold]
        if tier["input_cost"] is None:
            tier["input_cost"] = prices["input_cost"]
        if tier["input_cost"] is not None and threshold > 0:
            tiers.append(tier)
    return tiers


def _chat_params(entry: Mapping[str, Any], streaming: int) -> list[str]:
    """Default chat parameters, adjusted by litellm's capability flags."""
    params = list(DEFAULT_PARAMS["chat"])
    if entry.get("supports_sampling_params") is False:
        params = [p for p in params if p not in SAMPLING_PARAMS]
    if not streaming:
        params.remove("stream")
    if entry.get("supports_function_calling") is True:
        params += DEFAULT_PARAMS["chat_tools"]
    if entry.get("supports_response_schema") is True:
        params += DEFAULT_PARAMS["chat_response_schema"]
    if entry.get("supports_reasoning") is True:
        params += DEFAULT_PARAMS["chat_reasoning"]
    return params


def _supported_params(entry: Mapping[str, Any], model_type: str, streaming: int) -> list[str]:
    """An explicit litellm parameter list when present, else the documented default set."""
    for key in EXPLICIT_PARAM_KEYS:
        explicit = entry.get(key)
        if isinstance(explicit, list) and all(isinstance(p, str) for p in explicit):
            return list(dict.fromkeys(explicit))
    if model_type == "chat":
        return _chat_params(entry, streaming)
    params = list(DEFAULT_PARAMS[model_type])
    if model_type == "embedding" and not any(entry.get(k) is True for k in DIMENSIONS_FLAGS):
        params.remove("dimensions")
    return params


def _catalog_name(key: str, provider: str) -> str:
    """model_name: the litellm key if it already carries "<provider>/", else prefix it."""
    return key if key.startswith(provider + "/") else f"{provider}/{key}"


def _litellm_model(model_name: str, keys: list[str], entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One catalog model record from litellm data alone, in the field order the loader documents."""
    provider: str = entry["litellm_provider"]
    model_type = MODE_TO_TYPE[entry["mode"]]
    native_name = model_name[len(provider) + 1 :]
    prices = _litellm_prices(entry, where)
    streaming = 0
    if model_type == "chat":
        streaming = 0 if entry.get("supports_native_streaming") is False else 1
    max_input = _token_limit(entry.get("max_input_tokens"), f"{where}: max_input_tokens")
    max_tokens = _token_limit(entry.get("max_tokens"), f"{where}: max_tokens")
    return {
        "model_name": model_name,
        "native_name": native_name,
        "aliases": [k for k in sorted(keys) if k != model_name and valid_name(k)],
        "provider_id": provider,
        "display_name": derive_display_name(native_name),
        "model_type": model_type,
        "max_context_window": max_input if max_input is not None else max_tokens,
        "max_output_tokens": _token_limit(entry.get("max_output_tokens"), f"{where}: max_output_tokens"),
        **prices,
        "pricing_tiers": _litellm_tiers(entry, prices, where),
        "dated_prices": [],
        "streaming_support": streaming,
        "function_call": _flag(entry, "supports_function_calling"),
        "image_support": _flag(entry, "supports_vision"),
        "supported_params": _supported_params(entry, model_type, streaming),
        "deprecation_date": _iso_date(entry.get("deprecation_date")),
    }


def from_litellm(
    data: Mapping[str, Any], *, litellm_version: str | None = None, stats: ConversionStats | None = None
) -> dict[str, Any]:
    """A full snapshot from litellm's ``model_prices_and_context_window`` JSON (litellm data only).

    Entries whose ``mode`` is missing or not one of chat, completion, embedding, audio_speech,
    audio_transcription are skipped, and so are entries whose model_name would break the name
    rules; keys naming the same model are merged (the un-prefixed key's data wins, the other keys
    become aliases). Anything else malformed raises CatalogFormatError.
    """
    if not isinstance(data, Mapping):
        raise CatalogFormatError(f"litellm data: expected a JSON object of model entries, got {type_name(data)}")
    counts = stats if stats is not None else ConversionStats()
    grouped: dict[str, list[str]] = {}
    for key, entry in data.items():
        if not isinstance(key, str):
            raise CatalogFormatError(f"litellm data: entry keys must be strings, got {short(key)}")
        where = f"litellm entry {short(key)}"
        if not isinstance(entry, Mapping):
            raise CatalogFormatError(f"{where}: expected an object, got {type_name(entry)}")
        mode = entry.get("mode")
        if mode is not None and not isinstance(mode, str):
            raise CatalogFormatError(f"{where}: mode must be a string, got {type_name(mode)} {short(mode)}")
        if mode not in MODE_TO_TYPE:
            counts.skipped_mode += 1
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            raise CatalogFormatError(f"{where}: litellm_provider must be a non-empty string, got {short(provider)}")
        name = _catalog_name(key, provider)
        if not valid_name(name):
            counts.skipped_name += 1
            continue
        grouped.setdefault(name, []).append(key)

    models = []
    for model_name in sorted(grouped):
        keys = grouped[model_name]
        counts.merged_duplicates += len(keys) - 1
        primary = pick_primary(model_name, keys)
        record = _litellm_model(model_name, keys, data[primary], f"litellm entry {short(primary)}")
        counts.kept_types[record["model_type"]] += 1
        models.append(record)
    return {
        "format": FORMAT,
        "sources": {"litellm": litellm_version or "unknown"},
        "providers": providers_table(models),
        "models": models,
    }
