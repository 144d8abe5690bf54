"""Lists of organizations too large for the in-memory index (store/memory.py, `in_memory=False`).

A query's matches are kept as an *order*: the built-in entries and the names of the custom models, in
sort order, nothing else. It is built once per snapshot, viewer, filters and sort with one SQL query
that reads only names and the sort column (~8 bytes of list plus one name per model); any page is then
a slice of it, and only the page's models are read from model_views, by name. So page 1,000 of
100,000 models costs what page 1 costs.

A whole list sorted by name is streamed without an order (`by_name`): keyset pagination over the
(organization, name) index, one batch of models at a time, so its memory does not grow with the
organization. Other sorts stream the order's names batch by batch (`batches`).

An order is keyed by its snapshot and by the organization's change counter (store/counters.py): a write
to the organization, in this process or another, makes the next read build a new order; the old ones
age out of a bounded LRU (`_ORDER_BUDGET` names, all organizations and queries together). The console's
counts per provider and per type are GROUP BY queries, memoized the same way (`facet_counts`).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from functools import total_ordering
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.llm_model import LLMModel
from modelreg.domain.principal import Principal
from modelreg.filters.to_sql import SQL_COLUMNS, order_by, to_sql
from modelreg.filters.tree import Bundle
from modelreg.store.access_sql import readable_sql
from modelreg.store.database import Database
from modelreg.store.memory import ModelIndex, OrgModels, org_counter
from modelreg.store.rows import ChangeCounterRow, ModelViewRow
from modelreg.store.views import model_from_view

__all__ = ["FETCH_BATCH", "STREAM_BATCH", "Entry", "MergePosition", "Order", "SqlOrders", "keyset_batch"]

Entry = tuple[dict[str, Any], LLMModel]
Item = Entry | str
"""A built-in (its filter row and model) or a custom model's name."""
_ORDER_BUDGET = 600_000
"""Names held in orders, all organizations together (~50 MB at most)."""
_PARTITION = 5_000
_VIEWS = ModelViewRow.__table__
_FacetCounts = tuple[list[tuple[str, str, int, str]], list[tuple[str | None, int]]]
"""(provider_id, provider_name, count, first model name) per provider; (model_type, count) per type."""
_FACET_MEMO = 256
"""Facet counts kept (a few hundred bytes each), all organizations together."""
FETCH_BATCH = 500
"""Models read per query when a page resolves names (well under SQLite's variable limit)."""
STREAM_BATCH = 200
"""Models per batch of a streamed list. What a batch allocates (rows, decoded JSON, models, their bytes)
is freed after it but mostly not returned to the OS, so the worker's peak grows with it: 500 models per
batch left ~16 MB above the RSS before a 100,000-model stream, 2,000 ~35 MB, 50 to 200 ~7 MB."""


@total_ordering
class MergePosition:
    """Orders one entry exactly as SQL's order_by does (nulls last, then value, ties by name ascending)."""

    __slots__ = ("descending", "name", "value")

    def __init__(self, value: Any, name: str, descending: bool) -> None:
        self.value, self.name, self.descending = value, name, descending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MergePosition) and (self.value, self.name) == (other.value, other.name)

    def __lt__(self, other: MergePosition) -> bool:
        if (self.value is None) != (other.value is None):
            return other.value is None
        if self.value is not None and self.value != other.value:
            return bool(self.value > other.value) if self.descending else bool(self.value < other.value)
        return self.name < other.name


class Order:
    """One query's matches in sort order."""

    __slots__ = ("builtin_count", "custom_count", "items")

    def __init__(self, items: list[Item], custom_count: int) -> None:
        self.items = items
        self.custom_count = custom_count
        self.builtin_count = len(items) - custom_count


class SqlOrders:
    def __init__(self, index: ModelIndex, db: Database) -> None:
        self._index = index
        self._db = db
        self._orders: OrderedDict[Any, Order] = OrderedDict()
        self._facets: OrderedDict[Any, _FacetCounts] = OrderedDict()
        self._held = 0

    async def order(
        self,
        principal: Principal,
        snapshot: OrgModels,
        tree: Bundle,
        sort_field: str,
        descending: bool,
        viewer: Any,
        builtins: Callable[[], list[Entry]],
    ) -> Order:
        """The matches of `tree` in this order: `builtins` (already filtered and sorted) merged with the
        organization's custom models that `principal` may read and `tree` matches."""
        async with self._db.read() as session:
            return await self._order_in(session, principal, snapshot, tree, sort_field, descending, viewer, builtins)

    async def window(
        self,
        principal: Principal,
        snapshot: OrgModels,
        tree: Bundle,
        sort_field: str,
        descending: bool,
        viewer: Any,
        builtins: Callable[[], list[Entry]],
        offset: int,
        limit: int,
    ) -> tuple[Order, list[LLMModel]]:
        """One page: the order (as `order`) and the models of its slice, in one read transaction (one
        connection, and the page's rows are from the very state whose change counter keyed the order)."""
        async with self._db.read() as session:
            order = await self._order_in(session, principal, snapshot, tree, sort_field, descending, viewer, builtins)
            models = await self._resolve_in(session, principal, snapshot, order.items[offset : offset + limit])
        return order, models

    async def _order_in(
        self,
        session: AsyncSession,
        principal: Principal,
        snapshot: OrgModels,
        tree: Bundle,
        sort_field: str,
        descending: bool,
        viewer: Any,
        builtins: Callable[[], list[Entry]],
    ) -> Order:
        counter = await _counter(session, principal)
        key = (snapshot.serial, counter, viewer, msgspec.json.encode(tree), sort_field, descending)
        found = self._orders.get(key)
        if found is not None:
            self._orders.move_to_end(key)
            return found
        dialect = session.get_bind().dialect.name
        # Sorted by name, the name is the value: one column, plain strings, no row objects.
        by_name = sort_field == "model_name"
        columns = (ModelViewRow.model_name,) if by_name else (ModelViewRow.model_name, SQL_COLUMNS[sort_field])
        query = (
            select(*columns)
            .where(
                (ModelViewRow.organization_id == principal.organization_id)
                & readable_sql(principal)
                & to_sql(tree, dialect)
            )
            .order_by(*order_by(sort_field, descending, dialect))
        )
        # Read in partitions from the cursor: never the whole result as rows at once.
        names: list[Any] = []
        values: list[Any] = names
        if by_name:
            async for part in (await session.stream_scalars(query)).partitions(_PARTITION):
                names.extend(part)
        else:
            values = []
            async for rows in (await session.stream(query)).partitions(_PARTITION):
                names.extend(row[0] for row in rows)
                values.extend(row[1] for row in rows)
        entries = builtins()
        items: list[Item]
        if entries:
            merged: Iterable[tuple[Any, str, Item]] = heapq.merge(
                ((e[0][sort_field], e[1].name, e) for e in entries),
                zip(values, names, names, strict=True),
                # By name ascending (the default sort) the name alone orders: a third of the merge's time.
                key=(lambda t: t[1]) if by_name and not descending else lambda t: MergePosition(t[0], t[1], descending),
            )
            items = [item for _, _, item in merged]
        else:
            items = names
        order = Order(items, len(names))
        del names, values
        self._remember(key, order)
        return order

    async def facet_counts(self, principal: Principal, snapshot: OrgModels, tree: Bundle, viewer: Any) -> _FacetCounts:
        """The custom models `tree` matches, counted per provider (id, name, and the first model name of
        each, for the caller's merge with the built-ins) and per model type, by SQL's GROUP BY: no model
        is read. Memoized like orders (snapshot, change counter, viewer, filters)."""
        async with self._db.read() as session:
            counter = await _counter(session, principal)
            key = (snapshot.serial, counter, viewer, msgspec.json.encode(tree))
            found = self._facets.get(key)
            if found is not None:
                self._facets.move_to_end(key)
                return found
            dialect = session.get_bind().dialect.name
            scope = (
                (ModelViewRow.organization_id == principal.organization_id)
                & readable_sql(principal)
                & to_sql(tree, dialect)
            )
            first = ModelViewRow.model_name.collate("C") if dialect == "postgresql" else ModelViewRow.model_name
            by_provider = (
                select(ModelViewRow.provider_id, ModelViewRow.provider_name, func.count(), func.min(first))
                .where(scope & ModelViewRow.provider_id.is_not(None))
                .group_by(ModelViewRow.provider_id, ModelViewRow.provider_name)
            )
            by_type = select(ModelViewRow.model_type, func.count()).where(scope).group_by(ModelViewRow.model_type)
            providers = [
                (str(pid), str(name or ""), int(n), str(first_name))
                for pid, name, n, first_name in await session.execute(by_provider)
            ]
            types = [(kind, int(n)) for kind, n in await session.execute(by_type)]
        self._facets[key] = (providers, types)
        while len(self._facets) > _FACET_MEMO:
            self._facets.popitem(last=False)
        return providers, types

    def _remember(self, key: Any, order: Order) -> None:
        if order.custom_count > _ORDER_BUDGET:
            return
        self._orders[key] = order
        self._held += order.custom_count
        while self._held > _ORDER_BUDGET:
            _, dropped = self._orders.popitem(last=False)
            self._held -= dropped.custom_count

    async def resolve(self, principal: Principal, snapshot: OrgModels, items: Iterable[Item]) -> list[LLMModel]:
        """The models of a slice of an order, in its order. A custom model deleted (or no longer readable)
        since the order was built is left out; one changed meanwhile is read as it is now."""
        async with self._db.read() as session:
            return await self._resolve_in(session, principal, snapshot, items)

    async def _resolve_in(
        self, session: AsyncSession, principal: Principal, snapshot: OrgModels, items: Iterable[Item]
    ) -> list[LLMModel]:
        items = list(items)
        names = [item for item in items if isinstance(item, str)]
        found: dict[str, LLMModel] = {}
        figures = snapshot.throughput
        catalog = self._index.catalog
        for start in range(0, len(names), FETCH_BATCH):
            # Core rows, not ORM objects: no identity map or instrumented attributes for rows read once.
            query = select(_VIEWS).where(
                (ModelViewRow.organization_id == principal.organization_id)
                & ModelViewRow.model_name.in_(names[start : start + FETCH_BATCH])
                & readable_sql(principal)
            )
            for row in await session.execute(query):
                found[row.model_name] = model_from_view(row, catalog, figures.get(row.model_name))
        models: list[LLMModel] = []
        for item in items:
            if isinstance(item, str):
                model = found.get(item)
                if model is not None:
                    models.append(model)
            else:
                models.append(item[1])
        return models

    async def batches(
        self, principal: Principal, snapshot: OrgModels, order: Order, batch: int = STREAM_BATCH
    ) -> AsyncIterator[list[LLMModel]]:
        """The order's models, `batch` at a time (one short read per batch)."""
        for start in range(0, len(order.items), batch):
            yield await self.resolve(principal, snapshot, order.items[start : start + batch])

    async def by_name(
        self,
        principal: Principal,
        snapshot: OrgModels,
        tree: Bundle,
        descending: bool,
        builtins: list[Entry],
        batch: int = STREAM_BATCH,
    ) -> tuple[int, AsyncIterator[list[LLMModel]]]:
        """Everything `tree` matches sorted by name, without an order: keyset pagination over the
        (organization, name) index, `batch` custom models per short read transaction, merged on the fly
        with `builtins` (already filtered and sorted). Memory is one batch whatever the organization's size.

        The count and the first batch are read here, in one transaction (a database fault is answered
        before the first byte); each later batch sees what was committed before it was read: a model
        created or deleted ahead of the stream's position shows or is gone, one behind it does not, and
        no name is listed twice (the key is the name)."""
        dialect = self._db.read_engine.dialect.name
        scope = _scope(principal, tree, dialect)

        async def read(session: AsyncSession, after: str | None) -> list[LLMModel]:
            figures, catalog = snapshot.throughput, self._index.catalog
            keyed = keyset_batch(scope, dialect, descending, batch, after)
            return [model_from_view(row, catalog, figures.get(row.model_name)) for row in await session.execute(keyed)]

        async with self._db.read() as session:
            custom = int(await session.scalar(select(func.count()).select_from(_VIEWS).where(scope)) or 0)
            first = await read(session, None)

        async def batches() -> AsyncIterator[list[LLMModel]]:
            # Built-ins go before a custom model of the same name, as heapq.merge puts them in an order.
            pending = iter(builtins)
            builtin = next(pending, None)
            models = first
            while True:
                merged: list[LLMModel] = []
                for model in models:
                    while builtin is not None and (
                        builtin[1].name >= model.name if descending else builtin[1].name <= model.name
                    ):
                        merged.append(builtin[1])
                        builtin = next(pending, None)
                    merged.append(model)
                if len(models) < batch:
                    if builtin is not None:
                        merged.append(builtin[1])
                    merged.extend(entry[1] for entry in pending)
                    if merged:
                        yield merged
                    return
                yield merged
                async with self._db.read() as session:
                    models = await read(session, models[-1].name)

        return len(builtins) + custom, batches()


def _scope(principal: Principal, tree: Bundle, dialect: str) -> ColumnElement[bool]:
    """The view rows of the principal's organization that it may read and `tree` matches."""
    return (ModelViewRow.organization_id == principal.organization_id) & readable_sql(principal) & to_sql(tree, dialect)


def keyset_batch(
    scope: ColumnElement[bool], dialect: str, descending: bool, batch: int, after: str | None
) -> Select[Any]:
    """One batch of a stream by name: the next `batch` rows of `scope` after the name `after` (None: the
    first). On PostgreSQL names compare by code point (`COLLATE "C"`, served by migration 0011's index)."""
    name = ModelViewRow.model_name.collate("C") if dialect == "postgresql" else ModelViewRow.model_name
    query = select(_VIEWS).where(scope).order_by(name.desc() if descending else name.asc()).limit(batch)
    return query if after is None else query.where(name < after if descending else name > after)


async def _counter(session: AsyncSession, principal: Principal) -> int | None:
    """The organization's change counter, bumped by every write in its transaction: a write by another
    process shows at once, as when every page was read from SQL (one indexed lookup)."""
    return await session.scalar(
        select(ChangeCounterRow.value).where(ChangeCounterRow.name == org_counter(principal.organization_id))
    )
