"""Dated prices over HTTP (Respan dialect; docs/pricing.md, "Dated prices"):

    GET    /api/models/{name}/prices/          the model's price history: own, inherited, the catalog's
    POST   /api/models/{name}/prices/          schedule the model's own prices from `effective_from` (writers)
    DELETE /api/models/{name}/prices/{id}/     delete a scheduled entry not yet in force (writers)

Suffix routes beside the greedy `{model_name:path}` routes, like `status/` and `revisions/`: no model may be
named so that they would shadow it (domain/names.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response
from msgspec import UNSET, Meta, UnsetType

from modelreg.api.common import decode_body, path_name, registry, require_principal
from modelreg.api.pricing import WireTier, WireTiers, tiers_from_wire, tiers_to_wire
from modelreg.domain.pricing import TIER_PRICE_FIELDS, PriceSet
from modelreg.services.price_history import HistoryEntry
from modelreg.services.usage_reports import parse_time

__all__ = [
    "PriceEntry",
    "PriceHistory",
    "PriceScheduleWrite",
    "model_prices",
    "price_entry_target",
    "prices_target",
    "schedule_price",
    "unschedule_price",
]

AnyRequest = Request[Any, Any, Any]
PRICES_SUFFIX = "/prices"
_ENTRY = re.compile(r"^(?P<name>.+)/prices/(?P<id>[0-9]{1,9})$")  # ids fit a 32-bit column
Cost = Annotated[float, Meta(ge=0, le=1_000_000)]


def prices_target(path: str) -> str | None:
    """`<model name>/prices`."""
    name = path.removeprefix("/")
    if name.endswith(PRICES_SUFFIX) and len(name) > len(PRICES_SUFFIX):
        return name[: -len(PRICES_SUFFIX)]
    return None


def price_entry_target(path: str) -> tuple[str, int] | None:
    """`<model name>/prices/<id>`."""
    match = _ENTRY.match(path.removeprefix("/"))
    return (match["name"], int(match["id"])) if match else None


class PriceEntry(msgspec.Struct, kw_only=True):
    id: int | None
    """The entry's id (to delete a scheduled one); null for the catalog's and for prices stored before
    history began."""
    model_name: str
    """The model the entry belongs to: this one, a base it inherits from, or the built-in at the root."""
    source: Literal["own", "base", "catalog"]
    effective_from: datetime | None
    """UTC; null: in force since before any recorded date."""
    status: Literal["in_force", "superseded", "scheduled"]
    origin: str
    """create, update, restore (an edit), baseline (the prices before the first recorded change), schedule,
    current (stored before history began) or catalog."""
    input_cost: float | None
    """USD per 1M tokens; null inherits from the base."""
    output_cost: float | None
    cache_hit_input_cost: float | None
    cache_creation_input_cost: float | None
    pricing_tiers: list[WireTier] | None
    """null inherits the base's tiers."""
    actor_user_id: str | None
    created_at: datetime | None


class CurrentPrices(msgspec.Struct, kw_only=True):
    """The model's resolved prices now (inheritance applied), as retrieve shows them."""

    input_cost: float | None
    output_cost: float | None
    cache_hit_input_cost: float | None
    cache_creation_input_cost: float | None
    pricing_tiers: list[WireTier]


class PriceHistory(msgspec.Struct, kw_only=True):
    model_name: str
    current: CurrentPrices
    count: int
    results: list[PriceEntry]
    """By effective_from, undated entries first."""


class PriceScheduleWrite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A price set from `effective_from` on. A price not sent keeps the value in force just before then;
    null inherits from the base model."""

    effective_from: str | float
    """ISO-8601 (no zone means UTC) or unix seconds; now or later."""
    input_cost: Cost | UnsetType | None = UNSET
    output_cost: Cost | UnsetType | None = UNSET
    cache_hit_input_cost: Cost | UnsetType | None = UNSET
    cache_creation_input_cost: Cost | UnsetType | None = UNSET
    pricing_tiers: WireTiers | UnsetType | None = UNSET


def _wire(entry: HistoryEntry) -> PriceEntry:
    prices = entry.prices
    return PriceEntry(
        id=entry.id,
        model_name=entry.model_name,
        source=entry.source,  # type: ignore[arg-type]
        effective_from=entry.effective_from,
        status=entry.status,  # type: ignore[arg-type]
        origin=entry.origin,
        **{f: getattr(prices, f) for f in TIER_PRICE_FIELDS},
        pricing_tiers=None if prices.pricing_tiers is None else tiers_to_wire(prices.pricing_tiers),
        actor_user_id=entry.actor_user_id,
        created_at=entry.created_at,
    )


async def model_prices(request: AnyRequest, name: str) -> PriceHistory:
    """Readers of the model may see its prices (they are part of the model)."""
    principal = await require_principal(request)
    reg = registry(request)
    await reg.prices.catch_up()
    model = await reg.models.get(principal, path_name(name))
    entries = await reg.prices.history(principal, model)
    current = PriceSet.of(model)
    return PriceHistory(
        model_name=model.name,
        current=CurrentPrices(
            **{f: getattr(current, f) for f in TIER_PRICE_FIELDS},
            pricing_tiers=tiers_to_wire(model.pricing_tiers),
        ),
        count=len(entries),
        results=[_wire(e) for e in entries],
    )


async def schedule_price(request: AnyRequest, name: str) -> Response[Any]:
    principal = await require_principal(request)
    body = await decode_body(request, PriceScheduleWrite)
    effective_from = parse_time(body.effective_from, "effective_from")
    given: dict[str, Any] = {f: getattr(body, f) for f in TIER_PRICE_FIELDS if getattr(body, f) is not UNSET}
    if body.pricing_tiers is not UNSET:
        given["pricing_tiers"] = tiers_from_wire(body.pricing_tiers)
    reg = registry(request)
    async with reg.db.write() as session:
        entry = await reg.prices.schedule(session, principal, path_name(name), effective_from, given)
    assert entry.effective_from is not None
    reg.prices.noted(entry.effective_from.timestamp())
    await reg.prices.catch_up()  # an entry in force now is written into the model before answering
    if entry.effective_from is not None and entry.effective_from.timestamp() <= reg.clock():
        entry = msgspec.structs.replace(entry, status="in_force")
    return Response(_wire(entry), status_code=201)


async def unschedule_price(request: AnyRequest, name: str, entry_id: int) -> None:
    principal = await require_principal(request)
    reg = registry(request)
    async with reg.db.write() as session:
        await reg.prices.unschedule(session, principal, path_name(name), entry_id)
