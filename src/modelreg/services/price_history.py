"""Reading dated prices: a model's price history as GET .../prices/ lists it (own entries, its bases', the
catalog's at the root), and the prices in force at any moment along its inheritance chain (to bill a call at
the prices of its start). Writing them: services/price_schedule.py.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select

from modelreg.catalog.load import Catalog
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.pricing import PriceSet, inherit_prices
from modelreg.store.database import Database
from modelreg.store.model_queries import load_base_chain
from modelreg.store.rows import ModelPriceRow

__all__ = ["ChainPrices", "HistoryEntry", "chain_prices", "price_history"]

P = ModelPriceRow


class HistoryEntry(msgspec.Struct, kw_only=True):
    """One entry of a model's price history as GET .../prices/ lists it."""

    id: int | None
    """null for entries that are not stored (the catalog's, or a model's prices from before history)."""
    model_name: str
    """The model the entry belongs to: this model, one of its bases, or the built-in at the root."""
    source: str
    """own, base (inherited from `model_name`) or catalog."""
    effective_from: datetime | None
    """null: in force since before any recorded date."""
    status: str
    """in_force, superseded or scheduled (for the model the entry belongs to)."""
    origin: str
    """create, update, restore, baseline, schedule, current (stored before history began) or catalog."""
    prices: PriceSet
    actor_user_id: str | None = None
    created_at: datetime | None = None


class ChainPrices:
    """A model's inheritance chain with every link's dated prices, to price calls at any moment in memory."""

    def __init__(self, links: list[tuple[list[tuple[float, PriceSet]], PriceSet]]) -> None:
        self._links = links
        """Per link (the model first): its entries (start, prices) by start, and its prices before any."""
        self._starts = [[start for start, _ in entries] for entries, _ in links]

    def at(self, seconds: float) -> PriceSet:
        chain: list[PriceSet] = []
        for (entries, fallback), starts in zip(self._links, self._starts, strict=True):
            i = bisect.bisect_right(starts, seconds)
            chain.append(entries[i - 1][1] if i else fallback)
        return inherit_prices(chain)


async def chain_prices(db: Database, catalog: Catalog, organization_id: str, model: LLMModel) -> ChainPrices:
    """`model`'s chain with its dated prices (one query per chain, then any moment in memory)."""
    if model.is_builtin:
        return ChainPrices([catalog.dated_prices(model.name)])
    async with db.read() as session:
        chain = await load_base_chain(session, organization_id, model.name)
        rows = (
            await session.scalars(
                select(P).where(P.model_pk.in_([m.pk for m in chain.values()])).order_by(P.effective_from, P.id)
            )
        ).all()
    by_pk: dict[int, list[tuple[float, PriceSet]]] = {}
    for row in rows:
        by_pk.setdefault(row.model_pk, []).append((row.effective_from.timestamp(), PriceSet.of(row)))
    links = [(by_pk.get(m.pk, []), PriceSet.of(m)) for m in chain.values()]
    root_name = list(chain.values())[-1].base_model_name if chain else None
    root = catalog.lookup_or_none(root_name) if root_name else None
    if root is not None:
        links.append(catalog.dated_prices(root.name))
    return ChainPrices(links)


async def price_history(
    db: Database, catalog: Catalog, now: float, organization_id: str, model: LLMModel
) -> list[HistoryEntry]:
    """The price history of a readable model: its own entries, its bases', the catalog's at the root;
    by effective_from (entries without a date first)."""
    entries: list[HistoryEntry] = []
    root: LLMModel | None = model if model.is_builtin else None
    if not model.is_builtin:
        async with db.read() as session:
            chain = await load_base_chain(session, organization_id, model.name)
            rows = (
                await session.scalars(
                    select(P).where(P.model_pk.in_([m.pk for m in chain.values()])).order_by(P.effective_from, P.id)
                )
            ).all()
        for link in chain.values():
            source = "own" if link.name == model.name else "base"
            own = [r for r in rows if r.model_pk == link.pk]
            current = max((r for r in own if r.effective_from.timestamp() <= now), key=_start, default=None)
            for r in own:
                status = "scheduled" if r.effective_from.timestamp() > now else "superseded"
                entries.append(
                    HistoryEntry(
                        id=r.id,
                        model_name=link.name,
                        source=source,
                        effective_from=r.effective_from,
                        status="in_force" if r is current else status,
                        origin=r.origin,
                        prices=PriceSet.of(r),
                        actor_user_id=r.actor_user_id,
                        created_at=r.created_at,
                    )
                )
            if current is None and PriceSet.of(link) != PriceSet():
                entries.append(
                    HistoryEntry(
                        id=None,
                        model_name=link.name,
                        source=source,
                        effective_from=None,
                        status="in_force",
                        origin="current",
                        prices=PriceSet.of(link),
                    )
                )
        last = list(chain.values())[-1] if chain else None
        if last is not None and last.base_model_name:
            root = catalog.lookup_or_none(last.base_model_name)
    if root is not None:
        dated, before = catalog.dated_prices(root.name)
        starts = [start for start, _ in dated]
        in_force = bisect.bisect_right(starts, now) - 1
        entries.append(_catalog_entry(root.name, None, before, "superseded" if in_force >= 0 else "in_force"))
        for i, (start, prices) in enumerate(dated):
            status = "in_force" if i == in_force else "scheduled" if start > now else "superseded"
            entries.append(_catalog_entry(root.name, start, prices, status))
    return sorted(entries, key=lambda e: (e.effective_from is not None, e.effective_from or _EPOCH))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _start(row: ModelPriceRow) -> tuple[datetime, int]:
    return row.effective_from, row.id


def _catalog_entry(name: str, start: float | None, prices: PriceSet, status: str) -> HistoryEntry:
    return HistoryEntry(
        id=None,
        model_name=name,
        source="catalog",
        effective_from=datetime.fromtimestamp(start, UTC) if start is not None else None,
        status=status,
        origin="catalog",
        prices=prices,
    )
