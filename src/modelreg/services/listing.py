"""Model lists with filters, sorting and pagination, and their summaries.

Who sees what: anonymous callers see the built-in models only; an authenticated caller sees the
built-ins plus the custom models of their organization — the same rule retrieve applies
(`ModelService.get`), so a list never shows what retrieve refuses and never hides what it returns.

Order: by `sort` (nulls last in both directions), ties by model_name ascending, text by code point.

Two paths with identical results (tests compare them):
- memory: the organization's snapshot (store/memory.py) is filtered in sorted order; results are
  memoized per snapshot and filter, so a repeated query costs a dictionary lookup;
- SQL: organizations too large for memory get their custom models filtered and sorted in SQL
  (filters/to_sql.py) into an order of names merged with the built-ins filtered in memory; a page is a
  slice of that order whose models alone are read (services/sql_listing.py).

Unbounded lists are streamed (`stream`): the models come in batches, so a list of 100,000 models never
exists whole in memory, neither as objects nor as one response body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import msgspec

from modelreg.domain.access import can_read
from modelreg.domain.errors import InvalidInput
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.filters.evaluate import compile_predicate
from modelreg.filters.fields import canonical_field
from modelreg.filters.prefilter import RowIndex, flat_conditions
from modelreg.filters.tree import Bundle, Condition
from modelreg.services.sql_listing import STREAM_BATCH, Order, SqlOrders
from modelreg.store.database import Database
from modelreg.store.memory import ModelIndex, OrgModels

__all__ = ["Facets", "ListResult", "ModelListing", "Sort", "Streamed", "parse_sort"]

Entry = tuple[dict[str, Any], LLMModel]
_MEMO_LIMIT = 256
_MEMOIZABLE_LIST = 10_000
"""Longer lists are streamed, never built whole (a whole body of 10,000 models is ~12 MB)."""
_RESPONSE_BUDGET = 64 * 1024 * 1024  # bytes of memoized response bodies, all organizations together


class Sort(msgspec.Struct, frozen=True):
    field: str
    descending: bool = False


_BY_NAME = Sort("model_name")


def parse_sort(raw: str | None) -> Sort:
    text = (raw or "model_name").strip()
    descending = text.startswith("-")
    field = canonical_field(text.lstrip("-+"))
    if field is None:
        raise InvalidInput(
            "Cannot sort by this field; sort_by takes a filterable field, '-' for descending.", "sort_by"
        )
    return Sort(field, descending)


class ListResult(msgspec.Struct):
    models: list[LLMModel]
    total: int
    global_count: int
    custom_count: int


class Streamed:
    """Everything a query matched, for an answer written batch by batch (services/sql_listing.py)."""

    __slots__ = ("_batches", "memoizable", "total")

    def __init__(self, total: int, batches: AsyncIterator[list[LLMModel]], memoizable: bool) -> None:
        self.total = total
        self._batches = batches
        self.memoizable = memoizable
        """Small and served from memory: worth building whole and memoizing (`cached_response`)."""

    def batches(self) -> AsyncIterator[list[LLMModel]]:
        return self._batches


class Facets(msgspec.Struct):
    """How many of the matched models each provider and each model type has (most first)."""

    providers: list[tuple[str, str, int]]
    """(provider_id, provider_name, count)"""
    model_types: list[tuple[str, int]]


def _uses_field(tree: Bundle, field: str) -> bool:
    return any(
        (child.field == field) if isinstance(child, Condition) else _uses_field(child, field) for child in tree.children
    )


def sort_entries(entries: Iterable[Entry], sort: Sort) -> list[Entry]:
    """Stable two-pass sort: by name, then by value (reverse keeps ties in name order); nulls last."""
    by_name = sorted(entries, key=lambda e: e[1].name)
    present = [e for e in by_name if e[0][sort.field] is not None]
    missing = [e for e in by_name if e[0][sort.field] is None]
    present.sort(key=lambda e: e[0][sort.field], reverse=sort.descending)
    return present + missing


class ModelListing:
    def __init__(self, index: ModelIndex, db: Database) -> None:
        self._index = index
        self._sql = SqlOrders(index, db)
        self.batch = STREAM_BATCH
        """Models per batch of a streamed list read from SQL (tests force small ones)."""
        self._responses: OrderedDict[Any, bytes] = OrderedDict()
        """Whole response bodies, keyed by the snapshot (serial) they came from: a new snapshot means new
        keys, and the old entries age out of this byte-bounded LRU."""
        self._response_bytes = 0

    async def run(
        self, principal: Principal | None, tree: Bundle, sort: Sort, offset: int, limit: int | None
    ) -> ListResult:
        snapshot = await self._index.org(principal.organization_id) if principal is not None else None
        if snapshot is not None and not snapshot.in_memory:
            assert principal is not None
            return await self._run_sql(principal, snapshot, tree, sort, offset, limit)
        matches = self._matches(snapshot, principal, tree, sort)
        page = matches.page(offset, limit)
        return ListResult([m for _, m in page], matches.total, matches.total - matches.custom, matches.custom)

    async def stream(self, principal: Principal | None, tree: Bundle, sort: Sort) -> Streamed:
        """Everything `tree` matches, in batches of models. The query runs here, so that a database fault
        is answered before the first byte; the batches then read the models (SQL organizations)."""
        snapshot = await self._index.org(principal.organization_id) if principal is not None else None
        if snapshot is not None and not snapshot.in_memory:
            assert principal is not None
            if sort.field == "model_name":
                entries = self._builtins(snapshot, tree, sort)()
                total, batches = await self._sql.by_name(
                    principal, snapshot, tree, sort.descending, entries, self.batch
                )
                return Streamed(total, batches, memoizable=False)
            # Other sorts have no index to walk: the order of names (services/sql_listing.py).
            order = await self._order(principal, snapshot, tree, sort)
            return Streamed(len(order.items), self._sql.batches(principal, snapshot, order, self.batch), False)
        models = [m for _, m in self._matches(snapshot, principal, tree, sort).page(0, None)]
        return Streamed(len(models), _slices(models), memoizable=len(models) <= _MEMOIZABLE_LIST)

    async def facets(self, principal: Principal | None, tree: Bundle) -> Facets:
        """Counts per provider and model type over everything `tree` matches, memoized like the matches."""
        snapshot = await self._index.org(principal.organization_id) if principal is not None else None
        memo = self._memo(snapshot) if snapshot is None or snapshot.in_memory else None
        key = ("facets", _viewer(principal), msgspec.json.encode(tree))
        if memo is not None and key in memo:
            memo.move_to_end(key)
            return memo[key]  # type: ignore[no-any-return]
        # provider_id -> [name, count, first model's name]: the name shown is that of the first model in
        # name order (ties between a built-in's provider and an organization's provider of the same id).
        providers: dict[str, list[Any]] = {}
        types: dict[str, int] = {}
        custom: list[tuple[str, str, int, str]] = []
        if snapshot is not None and not snapshot.in_memory:
            assert principal is not None
            # Built-ins counted here, custom models by SQL (GROUP BY): no model of the organization is read.
            models = [model for _, model in self._builtins(snapshot, tree, _BY_NAME)()]
            custom, custom_types = await self._sql.facet_counts(principal, snapshot, tree, _viewer(principal))
            for model_type, count in custom_types:
                types[model_type or "unknown"] = types.get(model_type or "unknown", 0) + count
        else:
            models = (await self.run(principal, tree, _BY_NAME, 0, None)).models
        for model in models:  # in name order
            if model.provider is not None:
                entry = providers.setdefault(model.provider.provider_id, [model.provider.provider_name, 0, model.name])
                entry[1] += 1
            kind = model.model_type or "unknown"
            types[kind] = types.get(kind, 0) + 1
        for provider_id, provider_name, count, first_name in custom:
            entry = providers.setdefault(provider_id, [provider_name, 0, first_name])
            if first_name < entry[2]:
                entry[0], entry[2] = provider_name, first_name
            entry[1] += count
        facets = Facets(
            providers=sorted(((pid, name, n) for pid, (name, n, _) in providers.items()), key=lambda p: (-p[2], p[0])),
            model_types=sorted(types.items(), key=lambda t: (-t[1], t[0])),
        )
        return self._remember(memo, key, facets) if memo is not None else facets  # type: ignore[no-any-return]

    async def cached_response(
        self, principal: Principal | None, key: Any, build: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """A whole response body, memoized with the snapshot it was built from (so any write to the
        organization, or a catalog change, drops it); organizations served by SQL are not memoized."""
        snapshot = await self._index.org(principal.organization_id) if principal is not None else None
        if snapshot is not None and not snapshot.in_memory:
            return await build()
        source = snapshot.serial if snapshot is not None else self._index.catalog_serial
        full_key = (source, _viewer(principal), key)
        cached = self._responses.get(full_key)
        if cached is not None:
            self._responses.move_to_end(full_key)
            return cached
        body = await build()
        if len(body) <= _RESPONSE_BUDGET // 8:
            self._responses[full_key] = body
            self._response_bytes += len(body)
            while self._response_bytes > _RESPONSE_BUDGET:
                _, dropped = self._responses.popitem(last=False)
                self._response_bytes -= len(dropped)
        return body

    # ---- memory ------------------------------------------------------------------------------

    def _memo(self, snapshot: OrgModels | None) -> OrderedDict[Any, Any]:
        return snapshot.cache if snapshot is not None else self._index.builtin_cache

    def _structures(self, snapshot: OrgModels | None) -> OrderedDict[Any, Any]:
        """Sort orders and row indexes: costly to build, few in number; kept apart from the per-query
        memo so that a stream of distinct filters cannot evict them."""
        return snapshot.structures if snapshot is not None else self._index.builtin_structures

    @staticmethod
    def _remember(memo: OrderedDict[Any, Any], key: Any, value: Any) -> Any:
        memo[key] = value
        while len(memo) > _MEMO_LIMIT:
            memo.popitem(last=False)
        return value

    def _sorted(
        self, snapshot: OrgModels | None, principal: Principal | None, sort: Sort, with_availability: bool
    ) -> list[Entry]:
        memo = self._structures(snapshot)
        key = ("sorted", _viewer(principal), sort, with_availability)
        if key in memo:
            memo.move_to_end(key)
            return memo[key]  # type: ignore[no-any-return]
        rows = self._index.builtin_rows_for(snapshot) if with_availability else self._index.builtin_rows
        entries: list[Entry] = list(zip(rows, self._index.builtins_for(snapshot), strict=True))
        if snapshot is not None:
            entries.extend(
                (row, model)
                for row, model in zip(snapshot.rows, snapshot.models, strict=True)
                if can_read(principal, model)
            )
        return self._remember(memo, key, sort_entries(entries, sort))  # type: ignore[no-any-return]

    def _row_index(
        self, snapshot: OrgModels | None, principal: Principal | None, sort: Sort, with_availability: bool
    ) -> tuple[RowIndex, set[int]]:
        """Indexes over the entries in this sort order (row i = i-th entry), and the custom models' rows."""
        memo = self._structures(snapshot)
        key = ("row index", _viewer(principal), sort, with_availability)
        if key in memo:
            memo.move_to_end(key)
            return memo[key]  # type: ignore[no-any-return]
        entries = self._sorted(snapshot, principal, sort, with_availability)
        customs = {i for i, (_, model) in enumerate(entries) if not model.is_builtin}
        return self._remember(memo, key, (RowIndex([row for row, _ in entries]), customs))  # type: ignore[no-any-return]

    def _matches(self, snapshot: OrgModels | None, principal: Principal | None, tree: Bundle, sort: Sort) -> Matches:
        memo = self._memo(snapshot)
        # The tree itself is the key: key order matters (connectors fold left to right), aliases are resolved.
        key = ("matches", _viewer(principal), msgspec.json.encode(tree), sort)
        if key in memo:
            memo.move_to_end(key)
            return memo[key]  # type: ignore[no-any-return]
        with_availability = _needs_availability(tree, sort)
        entries = self._sorted(snapshot, principal, sort, with_availability)
        flat = flat_conditions(tree)
        if flat is not None:
            index, customs = self._row_index(snapshot, principal, sort, with_availability)
            selected = index.select(flat)
            # Cheap to recompute (~0.2 ms): not memoized, so distinct queries do not churn the memo.
            return Matches(entries, selected, len(selected & customs) if customs else 0)
        else:
            if tree.children:
                predicate = compile_predicate(tree)
                entries = [entry for entry in entries if predicate(entry[0])]
            matches = Matches(entries, None, sum(1 for _, model in entries if not model.is_builtin))
        return self._remember(memo, key, matches)  # type: ignore[no-any-return]

    # ---- SQL ---------------------------------------------------------------------------------

    def _builtins(self, snapshot: OrgModels, tree: Bundle, sort: Sort) -> Callable[[], list[Entry]]:
        """The built-ins `tree` matches, sorted (called only when an order is built)."""

        def builtins() -> list[Entry]:
            if _needs_availability(tree, sort):
                # Built-in availability depends on this organization's providers: not shareable.
                predicate = compile_predicate(tree)
                rows = zip(self._index.builtin_rows_for(snapshot), self._index.builtins_for(snapshot), strict=True)
                return [e for e in sort_entries(rows, sort) if predicate(e[0])]
            return [(row, snapshot.builtin(m)) for row, m in self._matches(None, None, tree, sort).page(0, None)]

        return builtins

    async def _order(self, principal: Principal, snapshot: OrgModels, tree: Bundle, sort: Sort) -> Order:
        builtins, viewer = self._builtins(snapshot, tree, sort), _viewer(principal)
        return await self._sql.order(principal, snapshot, tree, sort.field, sort.descending, viewer, builtins)

    async def _run_sql(
        self, principal: Principal, snapshot: OrgModels, tree: Bundle, sort: Sort, offset: int, limit: int | None
    ) -> ListResult:
        if limit is None:
            order = await self._order(principal, snapshot, tree, sort)
            models = await self._sql.resolve(principal, snapshot, order.items[offset:])
        else:
            builtins, viewer = self._builtins(snapshot, tree, sort), _viewer(principal)
            order, models = await self._sql.window(
                principal, snapshot, tree, sort.field, sort.descending, viewer, builtins, offset, limit
            )
        return ListResult(models, len(order.items), order.builtin_count, order.custom_count)


_PER_ORGANIZATION = ("available_to_user", "average_tps", "average_ttft", "average_latency", "number_of_requests")


def _needs_availability(tree: Bundle, sort: Sort) -> bool:
    """Built-ins' available_to_user (the organization's providers) and throughput fields (its figures)
    differ per organization: their rows are only built when a query uses them."""
    return sort.field in _PER_ORGANIZATION or any(_uses_field(tree, field) for field in _PER_ORGANIZATION)


def _viewer(principal: Principal | None) -> Any:
    """What visibility depends on, as a memo key: admins see their whole organization."""
    if principal is None:
        return None
    if principal.is_admin:
        return ("admin", principal.organization_id)
    return (principal.user_id, principal.group_ids)


class Matches:
    """The models a query matched, in sort order: either a list, or a set of positions into the sorted
    entries (from the prefilter), which pages without materializing everything."""

    __slots__ = ("_entries", "_selected", "custom", "total")

    def __init__(self, entries: list[Entry], selected: set[int] | None, custom: int) -> None:
        self._entries, self._selected, self.custom = entries, selected, custom
        self.total = len(entries) if selected is None else len(selected)

    def page(self, offset: int, limit: int | None) -> list[Entry]:
        if self._selected is None:
            return self._entries[offset:] if limit is None else self._entries[offset : offset + limit]
        if limit is None or offset + limit >= self.total // 2:
            chosen = sorted(self._selected)[offset:]
            return [self._entries[i] for i in (chosen if limit is None else chosen[:limit])]
        # Early pages: walk the sorted entries until the page is full.
        found: list[Entry] = []
        wanted = offset + limit
        for position, entry in enumerate(self._entries):
            if position in self._selected:
                found.append(entry)
                if len(found) == wanted:
                    break
        return found[offset:]


async def _slices(models: list[LLMModel]) -> AsyncIterator[list[LLMModel]]:
    for start in range(0, len(models), STREAM_BATCH):
        yield models[start : start + STREAM_BATCH]
