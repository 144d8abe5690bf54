"""Price tiers on the wire, shared by both dialects (`pricing_tiers`, a modelreg extension in each).

Accepted: a list of tiers (replaces the model's tiers as a whole; `[]` = no tiers, whatever the base has), or
null (inherit the base's tiers again); absent keeps what is stored. The ordering and bounds are checked by
domain/pricing.py, so every dialect and the CLI get the same messages.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from modelreg.domain.pricing import PriceTier

__all__ = ["WireTier", "tiers_from_wire", "tiers_to_wire"]

TierCost = Annotated[float, Meta(ge=0, le=1_000_000)]


class WireTier(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    above_input_tokens: Annotated[int, Meta(ge=1, le=1_000_000_000)]
    """The tier applies to calls whose prompt has strictly more input tokens than this."""
    input_cost: TierCost
    output_cost: TierCost | None = None
    """null: the model's untiered output price."""
    cache_hit_input_cost: TierCost | None = None
    cache_creation_input_cost: TierCost | None = None


WireTiers = Annotated[list[WireTier], Meta(max_length=16)]


def tiers_from_wire(tiers: list[WireTier] | msgspec.UnsetType | None) -> Any:
    """For ModelChanges: UNSET and None pass through, a list becomes plain dicts (validated by the service)."""
    if tiers is None or tiers is msgspec.UNSET:
        return tiers
    return [msgspec.structs.asdict(t) for t in tiers]


def tiers_to_wire(tiers: tuple[PriceTier, ...]) -> list[WireTier]:
    return [WireTier(**msgspec.structs.asdict(t)) for t in tiers]
