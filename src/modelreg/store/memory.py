"""In-memory index of resolved models: the hot read path (retrieve, lists, filters) without a query.

- Built-ins come from the catalog and never touch the database.
- Each organization's custom models are loaded from model_views on first use and kept up to date:
  this process's own model writes are applied to the snapshot right after their commit (`committed`:
  the view rows the transaction wrote, store/views.py), a new snapshot sharing every unchanged model,
  filter row and encoded body, so a write costs O(changed models), not a reload of the organization.
  That is only done when nothing else can have changed meanwhile: the organization's change counter
  `models:<org>` must have moved by exactly this transaction's own bumps since the value this process
  last accounted for, and every bump must come from a model write (`bump_models`); otherwise (another
  process wrote, a provider or catalog change) the snapshot is dropped and reloaded on next use. Other
  processes (CLI, other workers or replicas) are noticed through that counter (`observe`, store/own_writes.py)
  within the poll interval, or at once on PostgreSQL, whose notifications carry the counter's value. A load
  that raced with an invalidation or an update is discarded (generation check), so a stale snapshot is never
  stored.
- Organizations with more custom models than `max_models_per_org` are not held in memory: their
  reads go to SQL (to_sql.py), with identical results.
- Throughput (the organization's measured figures, services/metering.py) is attached to the models of a
  snapshot, built-ins included through a per-organization overlay: a new set of figures replaces the
  snapshot without a database read, so everything memoized from the old one is dropped with it.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import itertools
import weakref
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import Catalog
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.provider import Provider
from modelreg.domain.usage import Throughput
from modelreg.filters.fields import filter_row
from modelreg.store import counters
from modelreg.store.database import Database
from modelreg.store.model_queries import provider_from_row
from modelreg.store.own_writes import Ledger, bumped_values
from modelreg.store.rows import ModelViewRow, ProviderRow
from modelreg.store.views import CHANGED, model_from_view

__all__ = ["ORG_COUNTER_PREFIX", "ModelIndex", "OrgModels", "bump_models", "org_counter"]

MODEL_BUMPS = "modelreg.model_bumps"
"""session.info key: {organization id: how many of its counter bumps came from bump_models}."""
HELD = "modelreg.held_values"
"""session.info key: the values `committing` held back, released by this transaction only (values are reused)."""


ORG_COUNTER_PREFIX = "models:"


_settled: weakref.ref[Catalog] | None = None
"""The catalog the last settle_heap() froze: placing it again (another app in the same process, as in the
test suite) finds it frozen already, and the full collection is skipped."""
_builtin_rows: weakref.WeakKeyDictionary[Catalog, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def builtin_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """The filter rows of a catalog's built-ins, computed once per catalog (read-only: shared by every index
    serving that catalog, and frozen with it)."""
    rows = _builtin_rows.get(catalog)
    if rows is None:
        rows = _builtin_rows[catalog] = [filter_row(m, available=False) for m in catalog.models.values()]
    return rows


def settle_heap(catalog: Catalog | None = None) -> None:
    """Move the catalog (the bulk of long-lived objects) out of the cyclic collector's reach.

    Measured (docs/benchmarks.md): with ~150,000 tracked objects alive, full collections paused the
    worker ~100 ms several times in 10 s, which was the whole p99 of cached list requests.
    Only when the catalog is placed (start-up, a sync), never per snapshot: gc.freeze() freezes every
    object alive at that moment, and a frozen object that later dies in a reference cycle (a replaced
    snapshot with its memos, the session and request that loaded it) is never collected. Freezing on
    every snapshot load leaked ~15 MB per write under a mixed read/write load; without it the heap stays
    flat (docs/benchmarks.md, "Memory under writes"). Each call rebuilds the frozen set (unfreeze, one
    full collection, freeze): one pause per catalog swap, and the replaced catalog is reclaimed.
    """
    global _settled
    if catalog is not None and _settled is not None and _settled() is catalog:
        return
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _settled = weakref.ref(catalog) if catalog is not None else None
    # Fewer, cheaper collections: request handling allocates many short-lived containers.
    if gc.get_threshold()[0] < 20_000:
        gc.set_threshold(20_000, 20, 100)


_SERIALS = itertools.count(1)


def org_counter(organization_id: str) -> str:
    return ORG_COUNTER_PREFIX + organization_id


async def bump_models(session: AsyncSession, organization_id: str) -> None:
    """Bump the organization's counter for a write that changed custom models only, every change noted
    through refresh_views (store/views.py): this process then updates its snapshot in place after the
    commit. Writes that change anything else a snapshot holds (providers) bump with counters.bump."""
    await counters.bump(session, org_counter(organization_id))
    explained: dict[str, int] = session.info.setdefault(MODEL_BUMPS, {})
    explained[organization_id] = explained.get(organization_id, 0) + 1


class OrgModels:
    """One organization's resolved custom models, plus what lists need about its providers."""

    def __init__(
        self,
        models: list[LLMModel],
        providers: dict[str, Provider],
        *,
        in_memory: bool = True,
        throughput: dict[str, Throughput] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.throughput = throughput or {}
        """The organization's figures by model name (custom and built-in)."""
        models = [_with_throughput(m, self.throughput.get(m.name)) for m in models]
        self.builtin_overlay: dict[str, LLMModel] = {}
        """Built-ins this organization has figures for, as copies carrying them."""
        if catalog is not None:
            for name, figures in self.throughput.items():
                builtin = catalog.models.get(name)
                if builtin is not None:
                    self.builtin_overlay[name] = msgspec.structs.replace(builtin, throughput=figures)
        self.serial = next(_SERIALS)
        """Unique per snapshot (never reused, unlike id()): a cache key for what was computed from it."""
        self.in_memory = in_memory
        """False for organizations too large to hold: `models` is empty and reads go to SQL."""
        self.models = sorted(models, key=lambda m: m.name)
        self.names = [m.name for m in self.models]
        """The models' names, in the same (sorted) order."""
        self.by_name = {m.name: m for m in self.models}
        self.providers = providers
        """The organization's custom providers by provider_id (public data only, no secrets)."""
        self.provider_ids = frozenset(providers)
        self.rows = [filter_row(m, available=m.provider is not None) for m in self.models]
        self.cache: OrderedDict[Any, Any] = OrderedDict()
        """Per-snapshot memo of list results (key: normalized filters + sort); dies with the snapshot."""
        self.structures: OrderedDict[Any, Any] = OrderedDict()
        """Sort orders and row indexes built from this snapshot (services/listing.py)."""
        self.encoded: dict[str, dict[str, bytes]] = {}
        """Memo of each model's wire bytes: model name -> dialect -> bytes. Shared with the snapshots made
        from this one by `updated` (which drops the changed models' entries): only the current snapshot's
        models are looked up in it (ModelIndex.encoded)."""

    def updated(self, changes: Mapping[str, LLMModel | None]) -> OrgModels:
        """This snapshot with `changes` applied (model name -> resolved model; None: gone) as a new snapshot
        (new serial, empty list memos) reusing every unchanged model, filter row and encoded body."""
        fresh = copy.copy(self)
        fresh.serial = next(_SERIALS)
        names, models, rows, by_name = list(self.names), list(self.models), list(self.rows), dict(self.by_name)
        for name, model in changes.items():
            self.encoded.pop(name, None)
            at = bisect_left(names, name)
            present = at < len(names) and names[at] == name
            if model is None:
                if present:
                    del names[at], models[at], rows[at], by_name[name]
                continue
            model = _with_throughput(model, self.throughput.get(name))
            row = filter_row(model, available=model.provider is not None)
            if present:
                models[at], rows[at] = model, row
            else:
                names.insert(at, name)
                models.insert(at, model)
                rows.insert(at, row)
            by_name[name] = model
        fresh.names, fresh.models, fresh.rows, fresh.by_name = names, models, rows, by_name
        fresh.cache = OrderedDict()
        fresh.structures = OrderedDict()
        return fresh

    def with_throughput(self, throughput: dict[str, Throughput], catalog: Catalog) -> OrgModels:
        """The same models and providers with new figures (a new snapshot: new serial, empty memos)."""
        return OrgModels(self.models, self.providers, in_memory=self.in_memory, throughput=throughput, catalog=catalog)

    def builtin(self, model: LLMModel) -> LLMModel:
        """A built-in as this organization sees it (with its figures, if it has any)."""
        return self.builtin_overlay.get(model.name, model)


def _retrieve(task: asyncio.Task[OrgModels]) -> None:
    """Mark a failed load's exception as seen: the requests that awaited it got it already."""
    if not task.cancelled():
        task.exception()


def _values(organization_id: str, info: Mapping[str, Any]) -> list[int]:
    return bumped_values(info.get(counters.BUMPS, {}), org_counter(organization_id))


def _with_throughput(model: LLMModel, figures: Throughput | None) -> LLMModel:
    return model if model.throughput == figures else msgspec.structs.replace(model, throughput=figures)


class ModelIndex:
    def __init__(self, db: Database, catalog: Catalog, max_models_per_org: int = 20_000, max_orgs: int = 1_000):
        self._db = db
        self.max_models_per_org = max_models_per_org
        self._max_orgs = max_orgs
        self._orgs: OrderedDict[str, OrgModels] = OrderedDict()
        self._generation: dict[str, int] = {}
        self._loading: dict[str, tuple[int, asyncio.Task[OrgModels]]] = {}
        """Loads in flight, per organization: (generation they started at, the load)."""
        self._ledger = Ledger()  # the counter values this process accounted for
        self._throughput: dict[str, dict[str, Throughput]] = {}
        self.set_catalog(catalog)

    def set_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.catalog_serial = next(_SERIALS)
        self.builtins = list(catalog.models.values())
        self.builtin_rows = builtin_rows(catalog)
        self.builtin_cache: OrderedDict[Any, Any] = OrderedDict()
        self.builtin_structures: OrderedDict[Any, Any] = OrderedDict()
        self.builtin_encoded: dict[str, dict[str, bytes]] = {}
        self.invalidate_all()
        settle_heap(catalog)

    def encoded(self, model: LLMModel, dialect: str, encode: Callable[[LLMModel], bytes]) -> bytes:
        """The model's wire bytes, memoized where the model is current (built-in, or in a live snapshot)."""
        if model.is_builtin:
            memo = self.builtin_encoded if self.catalog.models.get(model.name) is model else None
        else:
            snapshot = self._orgs.get(model.organization_id or "")
            memo = snapshot.encoded if snapshot is not None and snapshot.by_name.get(model.name) is model else None
        if memo is None:
            return encode(model)
        per_model = memo.get(model.name)
        if per_model is None:
            per_model = memo[model.name] = {}
        cached = per_model.get(dialect)
        if cached is None:
            cached = per_model[dialect] = encode(model)
        return cached

    def throughput_of(self, organization_id: str) -> dict[str, Throughput]:
        return self._throughput.get(organization_id, {})

    def set_throughput(self, figures: dict[str, dict[str, Throughput]]) -> None:
        """New figures for every organization (from model_throughput): snapshots whose figures changed are
        replaced in place, others are kept with everything memoized from them."""
        previous, self._throughput = self._throughput, figures
        for organization_id in previous.keys() | figures.keys():
            current = figures.get(organization_id, {})
            if previous.get(organization_id, {}) == current:
                continue
            # A load in flight read the old figures: the generation bump keeps it from being stored.
            self._generation[organization_id] = self._generation.get(organization_id, 0) + 1
            snapshot = self._orgs.get(organization_id)
            if snapshot is not None:
                self._orgs[organization_id] = snapshot.with_throughput(current, self.catalog)

    def invalidate(self, organization_id: str) -> None:
        self._generation[organization_id] = self._generation.get(organization_id, 0) + 1
        self._orgs.pop(organization_id, None)

    def observe(self, organization_id: str, value: int) -> bool:
        """The organization's counter was read by the change watcher or announced by a notification: drop the
        snapshot (and say so) unless this process accounted for that value already (store/own_writes.py)."""
        if not self._ledger.is_change(organization_id, value):
            return False
        self._drop(organization_id, value)
        return True

    def committing(self, organization_id: str, info: MutableMapping[str, Any]) -> None:
        """Before a write's commit (`info`: its session.info): its counter values are this process's own."""
        self._ledger.committing(organization_id, info.setdefault(HELD, _values(organization_id, info)))

    def abandoned(self, organization_id: str, info: MutableMapping[str, Any]) -> None:
        """The commit failed or its outcome is unknown (a fault): if it landed, the poll or its notification
        drops the snapshot; if later transactions were applied ahead of it, nothing would: dropped now."""
        values: list[int] = info.pop(HELD, [])
        self._ledger.release(organization_id, values)
        if values and self._ledger.has_ahead(organization_id) and self._ledger.is_change(organization_id, values[-1]):
            self._drop(organization_id, values[-1])

    def committed(self, organization_id: str, info: MutableMapping[str, Any]) -> None:
        """After a write transaction on the organization committed (`info`: its session.info): apply its model
        changes to the snapshot if nothing else can have changed it (module docstring), else drop it; also if
        transactions finish out of order (store/own_writes.py: dropping made reads reload while writes went on)."""
        self._ledger.release(organization_id, info.pop(HELD, []))
        values = _values(organization_id, info)
        if not values:
            self.invalidate(organization_id)
            return
        first, value = values[0] - 1, values[-1]  # the counter before and after this transaction's bumps
        snapshot = self._orgs.get(organization_id)
        in_order = self._ledger.in_order(organization_id, first)
        ahead = not in_order and self._ledger.can_go_ahead(organization_id, first)
        own = len(values) == info.get(MODEL_BUMPS, {}).get(organization_id, 0)
        self.invalidate(organization_id)  # also discards loads in flight: they may have read the old state
        if not (own and snapshot is not None and snapshot.in_memory and (in_order or ahead)):
            self._drop(organization_id, value)
            return
        changes: Mapping[str, LLMModel | None] = info.get(CHANGED, {}).get(organization_id, {})
        newer = self._ledger.written_after(organization_id, value)  # by transactions applied ahead
        changes = {name: model for name, model in changes.items() if name not in newer}
        fresh = snapshot.updated(changes)
        if len(fresh.models) > self.max_models_per_org:
            self._drop(organization_id, value)
            return
        self._orgs[organization_id] = fresh
        if ahead:
            self._ledger.went_ahead(organization_id, first, value, changes)
        else:
            self._ledger.applied(organization_id, value)

    def _drop(self, organization_id: str, value: int) -> None:
        self.invalidate(organization_id)
        self._ledger.dropped(organization_id, value)

    def invalidate_all(self) -> None:
        for organization_id in list(self._orgs):
            self.invalidate(organization_id)

    async def org(self, organization_id: str) -> OrgModels:
        """The organization's snapshot (check `in_memory`: too large ones only carry provider ids).

        Concurrent requests for a missing snapshot share one load (per generation): 32 connections reading
        an organization of 2,000 models right after it was dropped made 32 loads at once, each slower for
        the others, and no request was answered for seconds."""
        if organization_id in self._orgs:
            self._orgs.move_to_end(organization_id)
            return self._orgs[organization_id]
        generation = self._generation.get(organization_id, 0)
        pending = self._loading.get(organization_id)
        if pending is None or pending[0] != generation:
            task = asyncio.get_running_loop().create_task(self._load_and_keep(organization_id, generation))
            task.add_done_callback(_retrieve)
            pending = self._loading[organization_id] = (generation, task)
        # shield: a cancelled request does not cancel the load the others wait for.
        return await asyncio.shield(pending[1])

    async def _load_and_keep(self, organization_id: str, generation: int) -> OrgModels:
        try:
            snapshot = await self._load(organization_id)
        finally:
            pending = self._loading.get(organization_id)
            if pending is not None and pending[1] is asyncio.current_task():
                del self._loading[organization_id]
        if self._generation.get(organization_id, 0) == generation:
            self._orgs[organization_id] = snapshot
            while len(self._orgs) > self._max_orgs:
                self._orgs.popitem(last=False)
        return snapshot

    async def _load(self, organization_id: str) -> OrgModels:
        async with self._db.read() as session:
            scope = ModelViewRow.organization_id == organization_id
            count = int(await session.scalar(select(func.count()).select_from(ModelViewRow).where(scope)) or 0)
            provider_rows = await session.scalars(
                select(ProviderRow).where(ProviderRow.organization_id == organization_id)
            )
            providers = {row.provider_id: provider_from_row(row) for row in provider_rows}
            throughput = self.throughput_of(organization_id)
            if count > self.max_models_per_org:
                return OrgModels([], providers, in_memory=False, throughput=throughput, catalog=self.catalog)
            rows = await session.scalars(select(ModelViewRow).where(scope))
            models = [model_from_view(row, self.catalog) for row in rows]
        return OrgModels(models, providers, throughput=throughput, catalog=self.catalog)

    def builtins_for(self, snapshot: OrgModels | None) -> list[LLMModel]:
        """The built-ins as this organization sees them (with its figures)."""
        if snapshot is None or not snapshot.builtin_overlay:
            return self.builtins
        return [snapshot.builtin(m) for m in self.builtins]

    def builtin_rows_for(self, snapshot: OrgModels | None) -> list[dict[str, Any]]:
        """Built-in rows with this organization's values: available_to_user is true when it has a provider
        whose provider_id is the built-in's provider id (the gateway routes built-ins that way), and the
        throughput fields are its own figures."""
        ids = snapshot.provider_ids if snapshot else frozenset()
        overlay = snapshot.builtin_overlay if snapshot else {}
        if not ids and not overlay:
            return self.builtin_rows
        rows = []
        for row, model in zip(self.builtin_rows, self.builtins, strict=True):
            available = row["provider__provider_id"] in ids
            if model.name in overlay:
                row = filter_row(overlay[model.name], available=available)
            elif available:
                row = {**row, "available_to_user": True}
            rows.append(row)
        return rows
