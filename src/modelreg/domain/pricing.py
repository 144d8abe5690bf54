"""Tiered prices: a model's prices may change with the size of the prompt (how providers bill long context).

The billing rule (docs/pricing.md): a tier applies when the call's prompt tokens (fresh input + cache hits +
cache creation, i.e. OpenAI's `prompt_tokens`) are strictly above its `above_input_tokens`; the highest such
tier prices the whole call, input, output and cache alike (Anthropic bills "prompts exceeding 200K tokens",
Google "prompts longer than 200k tokens" the same way). A price a tier leaves null is the model's untiered
price of the same kind, which is how LiteLLM bills its `*_above_<n>_tokens` fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec

from modelreg.domain.errors import InvalidInput

__all__ = [
    "MAX_TIERS",
    "TIER_PRICE_FIELDS",
    "PriceSet",
    "PriceTier",
    "Prices",
    "inherit_prices",
    "prices_for",
    "tiers_from_json",
    "tiers_to_json",
    "validate_tiers",
]

MAX_TIERS = 16
MAX_PRICE = 1_000_000.0
MAX_THRESHOLD = 1_000_000_000
TIER_PRICE_FIELDS = ("input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost")


class PriceTier(msgspec.Struct, frozen=True, kw_only=True):
    """Prices per 1M tokens for calls whose prompt is above `above_input_tokens`."""

    above_input_tokens: int
    input_cost: float
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None


class Prices(msgspec.Struct, frozen=True, kw_only=True):
    """The four prices one call is billed at (per 1M tokens)."""

    input_cost: float | None
    output_cost: float | None
    cache_hit_input_cost: float | None
    cache_creation_input_cost: float | None


class PriceSet(msgspec.Struct, frozen=True, kw_only=True):
    """One model's own prices from some moment on (a price history entry, or its stored fields): None inherits
    from the base, field by field; `pricing_tiers` None inherits the base's tiers as a whole."""

    input_cost: float | None = None
    output_cost: float | None = None
    cache_hit_input_cost: float | None = None
    cache_creation_input_cost: float | None = None
    pricing_tiers: tuple[PriceTier, ...] | None = None

    @classmethod
    def of(cls, holder: Any) -> PriceSet:
        """The price fields of a model, a stored row (tiers as JSON) or an entry row."""
        tiers = holder.pricing_tiers
        if tiers is not None and not isinstance(tiers, tuple):
            tiers = tiers_from_json(tiers)
        return cls(**{f: getattr(holder, f) for f in TIER_PRICE_FIELDS}, pricing_tiers=tiers)


def inherit_prices(chain: Sequence[PriceSet]) -> PriceSet:
    """The resolved prices of a chain (the model first, its root last): each price from the first link that
    sets it, the tiers from the first link that sets tiers (`()` when none does)."""
    values: dict[str, Any] = {}
    for field in (*TIER_PRICE_FIELDS, "pricing_tiers"):
        values[field] = next((getattr(s, field) for s in chain if getattr(s, field) is not None), None)
    if values["pricing_tiers"] is None:
        values["pricing_tiers"] = ()
    return PriceSet(**values)


def _price(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where} must be a number", "pricing_tiers")
    if not 0 <= value <= MAX_PRICE:
        raise InvalidInput(f"{where} must be between 0 and {MAX_PRICE:g}", "pricing_tiers")
    return float(value)


def validate_tiers(raw: Any) -> tuple[PriceTier, ...]:
    """Tiers from JSON-like input (a list of objects), checked: whole positive thresholds in strictly ascending
    order, an input price on each, non-negative finite prices, no unknown keys, at most MAX_TIERS."""
    if not isinstance(raw, list | tuple):
        raise InvalidInput("pricing_tiers must be a list (or null to inherit)", "pricing_tiers")
    if len(raw) > MAX_TIERS:
        raise InvalidInput(f"pricing_tiers may hold at most {MAX_TIERS} tiers", "pricing_tiers")
    tiers: list[PriceTier] = []
    allowed = {"above_input_tokens", *TIER_PRICE_FIELDS}
    for i, item in enumerate(raw):
        where = f"pricing_tiers[{i}]"
        if isinstance(item, PriceTier):
            item = msgspec.structs.asdict(item)
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object", "pricing_tiers")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise InvalidInput(f"{where}: unknown field {unknown[0]!r}", "pricing_tiers")
        threshold = item.get("above_input_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 < threshold <= MAX_THRESHOLD:
            raise InvalidInput(
                f"{where}.above_input_tokens must be a whole number between 1 and {MAX_THRESHOLD}", "pricing_tiers"
            )
        if tiers and threshold <= tiers[-1].above_input_tokens:
            raise InvalidInput("pricing_tiers must be in strictly ascending above_input_tokens order", "pricing_tiers")
        input_cost = _price(item.get("input_cost"), f"{where}.input_cost")
        if input_cost is None:
            raise InvalidInput(f"{where}.input_cost is required", "pricing_tiers")
        tiers.append(
            PriceTier(
                above_input_tokens=threshold,
                input_cost=input_cost,
                **{f: _price(item.get(f), f"{where}.{f}") for f in TIER_PRICE_FIELDS[1:]},
            )
        )
    return tuple(tiers)


def prices_for(
    base: Prices,
    tiers: Sequence[PriceTier],
    prompt_tokens: int,
) -> Prices:
    """The prices a call with `prompt_tokens` is billed at: the highest tier it is strictly above, else base."""
    chosen: PriceTier | None = None
    for tier in tiers:
        if prompt_tokens > tier.above_input_tokens:
            chosen = tier
    if chosen is None:
        return base
    return Prices(
        input_cost=chosen.input_cost,
        output_cost=chosen.output_cost if chosen.output_cost is not None else base.output_cost,
        cache_hit_input_cost=(
            chosen.cache_hit_input_cost if chosen.cache_hit_input_cost is not None else base.cache_hit_input_cost
        ),
        cache_creation_input_cost=(
            chosen.cache_creation_input_cost
            if chosen.cache_creation_input_cost is not None
            else base.cache_creation_input_cost
        ),
    )


def tiers_to_json(tiers: Sequence[PriceTier] | None) -> list[dict[str, Any]] | None:
    """Stored form (JSON columns, snapshots): None stays None (inherit)."""
    return None if tiers is None else [msgspec.structs.asdict(t) for t in tiers]


def tiers_from_json(raw: Any) -> tuple[PriceTier, ...] | None:
    """Stored form back (already validated when written)."""
    return None if raw is None else tuple(msgspec.convert(raw, tuple[PriceTier, ...]))
