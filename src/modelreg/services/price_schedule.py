"""Dated prices, the writing side: a custom model's price history as it is edited, prices scheduled for later,
and applying them (and the catalog's dated prices) when their time comes (docs/pricing.md, "Dated prices").

- Every change of a model's stored prices (create, update, restore, in any dialect) is recorded as an entry
  in force from the moment of the change (`record_edit`, called by the model write path in its transaction);
  before the first one, the prices the model had until then become a `baseline` entry from its creation.
- Writers schedule a price set from a future `effective_from` (`schedule`); when its time comes it is written
  into the model's stored fields (`apply_due`: a model revision and an audit entry by the `scheduler`), so
  every read, list, filter and dialect shows it without knowing about schedules. The app runs `apply_due`
  at each entry's time, and the gateway and request logs catch up first (`due`), so no call is priced at a
  price that has been replaced.
- A call is billed at the prices in force when it started (`chain_prices`, services/price_history.py): the
  latest entry of each link of its inheritance chain that had begun by then, the catalog's dated prices at
  the root. Costs are stored with the call, so a later change never rewrites them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.access import AccessProhibited, can_read, can_write
from modelreg.domain.errors import InvalidInput, NotFound, ReadOnlyModel
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.pricing import TIER_PRICE_FIELDS, PriceSet, tiers_to_json, validate_tiers
from modelreg.domain.principal import Principal
from modelreg.services import audit
from modelreg.services.model_history import record_change, stored_state
from modelreg.services.price_history import ChainPrices, HistoryEntry, chain_prices, price_history
from modelreg.store import counters
from modelreg.store.database import Database
from modelreg.store.deferred import add_row
from modelreg.store.memory import ModelIndex, org_counter
from modelreg.store.model_queries import custom_model_from_row, find_custom_row, grants_of
from modelreg.store.rows import CustomModelRow, ModelPriceRow
from modelreg.store.views import refresh_views

__all__ = ["PriceSchedule", "record_edit"]

log = logging.getLogger("modelreg.prices")
P = ModelPriceRow
RETRY_SECONDS = 1.0
MAX_PENDING_PER_MODEL = 100
PRESENT_TOLERANCE_SECONDS = 60.0
"""An effective_from up to this far in the past counts as "now" (clock skew between client and server)."""


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _entry_values(prices: PriceSet) -> dict[str, Any]:
    values: dict[str, Any] = {f: getattr(prices, f) for f in TIER_PRICE_FIELDS}
    values["pricing_tiers"] = tiers_to_json(prices.pricing_tiers)
    return values


async def record_edit(
    session: AsyncSession,
    row: CustomModelRow,
    before: PriceSet | None,
    *,
    origin: str,
    at: float,
    known: bool | None = None,
) -> None:
    """Called by the model write path after it changed `row` (not yet committed): a change of its own prices
    (or a create that sets some) becomes an entry in force from `at`. `before` is None for a create.
    `known`: whether the model has entries already, when the caller knows (None: looked up)."""
    after = PriceSet.of(row)
    if after == (before if before is not None else PriceSet()):
        return
    actor = audit.current_actor().user_id
    common = {"organization_id": row.organization_id, "model_pk": row.pk, "model_name": row.model_name}
    if before is not None and not (known if known is not None else await _has_entries(session, row.pk)):
        baseline = {"effective_from": min(row.created_at, _instant(at)), "origin": "baseline"}
        add_row(session, P, {**common, **_entry_values(before), **baseline, "applied": True, "actor_user_id": None})
    entry = {"effective_from": _instant(at), "origin": origin, "applied": True, "actor_user_id": actor}
    add_row(session, P, {**common, **_entry_values(after), **entry})


async def _has_entries(session: AsyncSession, model_pk: int) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(P).where(P.model_pk == model_pk)))


class PriceSchedule:
    def __init__(self, db: Database, index: ModelIndex, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._index = index
        self.clock = clock
        self.next_due = 0.0
        """When the earliest scheduled entry this process knows of comes into force (0: look it up)."""
        self.wake = asyncio.Event()
        """Set when this process scheduled an entry: the app's loop recomputes when to apply."""
        self._lock = asyncio.Lock()
        self._noted = math.inf
        """The earliest entry committed by this process while apply_due ran (it may have read before)."""

    # ---- prices in force --------------------------------------------------------------------------

    def due(self) -> bool:
        """Cheap check for the request path: has a scheduled entry (or a catalog's dated price) come into force
        without being applied?"""
        return self.clock() >= min(self.next_due, self._index.catalog.next_transition)

    def noted(self, effective_from: float) -> None:
        """An entry was scheduled (call after its commit): apply it at its time."""
        self._noted = min(self._noted, effective_from)
        self.next_due = min(self.next_due, effective_from)
        self.wake.set()

    async def catch_up(self) -> None:
        if self.due():
            await self.apply_due()

    async def chain_prices(self, organization_id: str, model: LLMModel) -> ChainPrices:
        """`model`'s chain with its dated prices (one query per chain, then any moment in memory)."""
        return await chain_prices(self._db, self._index.catalog, organization_id, model)

    # ---- history and scheduling ---------------------------------------------------------------------

    async def history(self, principal: Principal, model: LLMModel) -> list[HistoryEntry]:
        """The price history of a readable model (services/price_history.py)."""
        return await price_history(self._db, self._index.catalog, self.clock(), principal.organization_id, model)

    async def schedule(
        self, session: AsyncSession, principal: Principal, name: str, effective_from: float, given: dict[str, Any]
    ) -> HistoryEntry:
        """Schedule the model's own prices from `effective_from` (now or later). Prices not given keep the
        value in force just before that moment; null inherits from the base. After the commit, call `noted`."""
        row = await self._writable(session, principal, name)
        now = self.clock()
        if effective_from < now - PRESENT_TOLERANCE_SECONDS:
            raise InvalidInput(
                "effective_from must not be in the past: a price in force earlier would rewrite the cost of calls "
                "already recorded. Change the price now (PATCH) or schedule it for a later time.",
                "effective_from",
            )
        effective_from = max(effective_from, now)
        if "pricing_tiers" in given and given["pricing_tiers"] is not None:
            given = {**given, "pricing_tiers": validate_tiers(given["pricing_tiers"])}
        rows = (await session.scalars(select(P).where(P.model_pk == row.pk).order_by(P.effective_from, P.id))).all()
        if any(not r.applied and r.effective_from.timestamp() == effective_from for r in rows):
            raise InvalidInput("A price is already scheduled at this time; delete it first.", "effective_from")
        if sum(1 for r in rows if not r.applied) >= MAX_PENDING_PER_MODEL:
            raise InvalidInput(f"At most {MAX_PENDING_PER_MODEL} prices may be scheduled per model.", "effective_from")
        earlier = [r for r in rows if r.effective_from.timestamp() <= effective_from]
        base = PriceSet.of(earlier[-1]) if earlier else PriceSet.of(row)
        prices = msgspec.structs.replace(base, **given)
        if not rows:  # the prices in force until then, so calls before the entry keep them
            session.add(
                P(
                    organization_id=row.organization_id,
                    model_pk=row.pk,
                    model_name=row.model_name,
                    **_entry_values(PriceSet.of(row)),
                    effective_from=min(row.created_at, _instant(now)),
                    origin="baseline",
                    applied=True,
                )
            )
        entry = P(
            organization_id=row.organization_id,
            model_pk=row.pk,
            model_name=row.model_name,
            **_entry_values(prices),
            effective_from=_instant(effective_from),
            origin="schedule",
            applied=False,
            actor_user_id=principal.user_id,
            created_at=_instant(now),
        )
        session.add(entry)
        await session.flush()
        await audit.record(
            session,
            organization_id=row.organization_id,
            action="schedule_price",
            object_type="model",
            object_id=row.model_name,
            after=_audit_state(entry),
        )
        return HistoryEntry(
            id=entry.id,
            model_name=row.model_name,
            source="own",
            effective_from=entry.effective_from,
            status="scheduled",
            origin="schedule",
            prices=prices,
            actor_user_id=principal.user_id,
            created_at=entry.created_at,
        )

    async def unschedule(self, session: AsyncSession, principal: Principal, name: str, entry_id: int) -> None:
        """Delete a scheduled entry that is not in force yet (one in force is history: schedule another)."""
        row = await self._writable(session, principal, name)
        entry = await session.scalar(select(P).where(P.id == entry_id, P.model_pk == row.pk))
        if entry is None:
            raise NotFound()
        if entry.applied or entry.effective_from.timestamp() <= self.clock():
            raise InvalidInput(
                "This price is in force already and is part of the history; schedule a new price instead.", "id"
            )
        await session.delete(entry)
        await audit.record(
            session,
            organization_id=row.organization_id,
            action="unschedule_price",
            object_type="model",
            object_id=row.model_name,
            before=_audit_state(entry),
        )

    async def _writable(self, session: AsyncSession, principal: Principal, name: str) -> CustomModelRow:
        """The stored model if the caller may write it (domain/access.py): unreadable answers like missing,
        readable but not writable 403, a built-in is read-only."""
        pair = await find_custom_row(session, principal.organization_id, name, for_update=True)
        if pair is None:
            if self._index.catalog.lookup(name) is not None:
                raise ReadOnlyModel("modified")
            raise NotFound()
        model = custom_model_from_row(pair[0], pair[1], await grants_of(session, pair[0].pk))
        if not can_read(principal, model):
            raise NotFound()
        if not can_write(principal, model):
            raise AccessProhibited()
        return pair[0]

    # ---- applying scheduled entries -----------------------------------------------------------------

    async def apply_due(self) -> None:
        """Write every scheduled entry that has come into force into its model's stored fields, then note
        when the next one is due. Safe to run in several processes at once (each entry is claimed once)."""
        async with self._lock:
            now = self.clock()
            self._noted = math.inf
            if now >= self._index.catalog.next_transition:
                await self._switch_catalog(now)
            try:
                async with self._db.read() as session:
                    due = (
                        await session.execute(
                            select(P.id, P.organization_id)
                            .where(P.applied.is_(False), P.effective_from <= _instant(now))
                            .order_by(P.effective_from, P.id)
                        )
                    ).all()
                for entry_id, organization_id in due:
                    try:
                        async with self._db.write() as session:
                            await self._apply(session, entry_id, now)
                    finally:
                        self._index.invalidate(organization_id)
                async with self._db.read() as session:
                    upcoming = await session.scalar(select(func.min(P.effective_from)).where(P.applied.is_(False)))
            except BaseException:
                self.next_due = now + RETRY_SECONDS
                raise
            self.next_due = min(upcoming.timestamp() if upcoming is not None else math.inf, self._noted)

    async def _switch_catalog(self, now: float) -> None:
        """A built-in's dated price came into force: serve the catalog at `now`, and rewrite the views of the
        custom models inheriting a built-in whose prices changed (every process does the same, idempotently)."""
        old = self._index.catalog
        fresh = old.at(now)
        changed = sorted(
            name for name, model in fresh.models.items() if PriceSet.of(model) != PriceSet.of(old.models[name])
        )
        if not changed:
            self._index.set_catalog(fresh)
            return
        by_org: dict[str, list[str]] = {}
        try:
            async with self._db.write() as session:
                rows = await session.execute(
                    select(CustomModelRow.organization_id, CustomModelRow.model_name).where(
                        CustomModelRow.base_model_name.in_(changed)
                    )
                )
                for organization_id, name in rows.all():
                    by_org.setdefault(organization_id, []).append(name)
                for organization_id, names in by_org.items():
                    await refresh_views(session, fresh, organization_id, names)
                    await counters.bump(session, org_counter(organization_id))
        except Exception as error:  # noqa: BLE001 - built-ins are served right; their heirs' views at the next write
            log.warning("dated catalog prices: rewriting inheriting views failed: %s", type(error).__name__)
        self._index.set_catalog(fresh)  # after the views: nothing reads the heirs' old prices with the new catalog
        for organization_id in by_org:
            self._index.invalidate(organization_id)
        log.info("dated catalog prices in force: %d built-ins changed price", len(changed))

    async def _apply(self, session: AsyncSession, entry_id: int, now: float) -> None:
        claimed = await session.execute(
            update(P).where(P.id == entry_id, P.applied.is_(False)).values(applied=True).returning(P.model_pk)
        )
        model_pk = claimed.scalar_one_or_none()
        if model_pk is None:
            return  # another process applied it
        latest = await session.scalar(
            select(P)
            .where(P.model_pk == model_pk, P.effective_from <= _instant(now))
            .order_by(P.effective_from.desc(), P.id.desc())
            .limit(1)
        )
        if latest is None or latest.id != entry_id:
            return  # a later change (an edit, or a later entry) is in force already
        pair = await find_custom_row(session, latest.organization_id, latest.model_name, for_update=True)
        if pair is None or pair[0].pk != model_pk:
            return
        row, provider = pair
        grants = await grants_of(session, row.pk)
        before = stored_state(row, provider, grants)
        prices = PriceSet.of(latest)
        for field in TIER_PRICE_FIELDS:
            setattr(row, field, getattr(prices, field))
        row.pricing_tiers = tiers_to_json(prices.pricing_tiers)
        row.revision += 1
        row.updated_at = _instant(now)
        await session.flush()
        with audit.acting("scheduler", user_id=latest.actor_user_id):
            await record_change(
                session,
                organization_id=row.organization_id,
                model_pk=row.pk,
                model_name=row.model_name,
                revision=row.revision,
                action="price_effective",
                before=before,
                after=stored_state(row, provider, grants),
            )
        await refresh_views(session, self._index.catalog, row.organization_id, [row.model_name])
        await counters.bump(session, org_counter(row.organization_id))

    async def run(self, poll_seconds: float) -> None:
        """The app's loop: apply entries at their time; look for other processes' entries every poll_seconds."""
        while True:
            self.wake.clear()  # before applying: an entry scheduled meanwhile wakes the next round
            try:
                await self.apply_due()
            except Exception as error:  # noqa: BLE001 - retried shortly; faults were logged where they happened
                log.warning("applying scheduled prices failed, retrying: %s", type(error).__name__)
            delay = min(max(self.next_due - self.clock(), 0.0), poll_seconds)
            try:
                async with asyncio.timeout(delay):
                    await self.wake.wait()
            except TimeoutError:
                pass


def _audit_state(entry: ModelPriceRow) -> dict[str, Any]:
    return {
        "id": entry.id,
        "effective_from": entry.effective_from.isoformat(),
        **{f: getattr(entry, f) for f in TIER_PRICE_FIELDS},
        "pricing_tiers": entry.pricing_tiers,
    }
