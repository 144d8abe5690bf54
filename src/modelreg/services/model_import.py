"""Imports: many custom models in one transaction, all or nothing, each with the checks of a single write.

Every model goes through ModelService._write, the rules of single writes (names, fields, tiers, bases,
providers, grants, the permission rule, strict resolution, its revision, audit entry and price entry). What a
single write asks the database one statement at a time is served here for the whole request at once:
- new names are inserted, and every named row read back with its provider and grants, 500 names a statement;
- bases, chains and providers come from the request's own rows first, from the database once per name;
- grants, revisions, audit entries and price entries are inserted at the end, 1,000 rows a statement
  (store/deferred.py), the models' own rows in one flush;
- view rows (of the models and their dependents) are written once, and the change counter is bumped once.
The models are applied in request order as if written one after the other: a base must come before the
models built on it, and a name given twice is created, then updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import Catalog
from modelreg.domain.errors import DomainError, InvalidInput
from modelreg.domain.grants import DEFAULT_GRANTS, Grant
from modelreg.domain.llm_model import CustomModel, LLMModel
from modelreg.domain.names import validate_model_name
from modelreg.domain.pricing import PriceSet
from modelreg.domain.principal import Principal
from modelreg.services.models import Lookups, ModelChanges, ModelService
from modelreg.store.deferred import defer_rows, insert_deferred, table_of
from modelreg.store.memory import bump_models
from modelreg.store.model_queries import custom_model_from_row
from modelreg.store.rows import CustomModelRow, ModelGrantRow, ModelPriceRow, ProviderRow
from modelreg.store.views import refresh_views

__all__ = ["ImportRefused", "write_import"]

_CHUNK = 500


class ImportRefused(Exception):
    """Model `position` of the request was refused for `error`: nothing is written."""

    def __init__(self, position: int, error: DomainError) -> None:
        super().__init__(f"models[{position}]: {error}")
        self.position = position
        self.error = error


async def write_import(
    service: ModelService,
    session: AsyncSession,
    principal: Principal,
    items: Sequence[tuple[str | None, ModelChanges]],
) -> list[bool]:
    """Create or update each (name, changes) in order in the caller's transaction; whether each was created.
    Raises ImportRefused for the first model refused (the caller's transaction then rolls back)."""
    valid = [name for name, _ in items if name is not None and _name_error(service.catalog, name) is None]
    created = await _insert_new(session, principal, list(dict.fromkeys(valid)))
    batch = _Batch(session, principal, created, service.catalog.reserved_names)
    await batch.load(valid)
    defer_rows(session)
    answers: list[bool] = []
    with session.no_autoflush:  # the batch's rows are flushed once, in finish()
        for position, (name, changes) in enumerate(items):
            try:
                answers.append(await batch.write(service, name, changes))
            except DomainError as error:
                raise ImportRefused(position, error) from error
    await batch.finish(service.catalog)
    return answers


def _name_error(catalog: Catalog, name: str) -> DomainError | None:
    """The refusal of the name itself, as create_or_update words it."""
    try:
        validate_model_name(name)
    except DomainError as error:
        return error
    if name in catalog.reserved_names:
        return InvalidInput("A built-in model already has this name; choose another name.", "model_name")
    return None


async def _insert_new(session: AsyncSession, principal: Principal, names: list[str]) -> set[str]:
    """Insert the names not stored yet (as create_or_update does, ignoring conflicts); the ones inserted."""
    dialect = session.get_bind().dialect.name
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(CustomModelRow)
    statement = (
        insert_of(table)
        .on_conflict_do_nothing(index_elements=["organization_id", "model_name"])
        .returning(table.c.model_name)
    )
    now = datetime.now(UTC)
    common = {"organization_id": principal.organization_id, "user_id": principal.user_id, "revision": 0}
    values = [{**common, "model_name": name, "created_at": now, "updated_at": now} for name in names]
    created: set[str] = set()
    for start in range(0, len(values), _CHUNK):  # one compiled statement, many rows each round trip
        created.update(await session.scalars(statement, values[start : start + _CHUNK]))
    return created


class _Batch(Lookups):
    """The request's rows in memory, and the lookups of ModelService._write answered from them."""

    def __init__(self, session: AsyncSession, principal: Principal, created: set[str], builtin: frozenset[str]) -> None:
        super().__init__(session, principal.organization_id, builtin)
        self.principal = principal
        self.rows: dict[str, tuple[CustomModelRow, ProviderRow | None, tuple[Grant, ...]]] = {}
        self.unwritten = set(created)
        """Inserted by this request and not written yet: missing, for the models before them."""
        self.others: dict[str, CustomModel | None] = {}
        """Models not in the request, read once."""
        self.providers: dict[str, ProviderRow | None] = {}
        self.grants: dict[int, tuple[Grant, ...]] = {}
        """The grants to insert, per model pk."""
        self.replaced: set[int] = set()
        """Models whose stored grants are deleted first."""
        self.prices: dict[int, PriceSet] = {}
        self.priced: set[int] = set()
        """Models with price entries (stored, or added by this request)."""
        self.written: dict[str, tuple[int, LLMModel, frozenset[str]]] = {}
        """name -> (step, resolved model, names of its custom bases)."""
        self.steps = 0

    async def load(self, names: list[str]) -> None:
        unique = list(dict.fromkeys(names))
        locking = self.session.get_bind().dialect.name == "postgresql"
        for start in range(0, len(unique), _CHUNK):
            query = (
                select(CustomModelRow, ProviderRow)
                .outerjoin(ProviderRow, ProviderRow.pk == CustomModelRow.provider_pk)
                .where(
                    CustomModelRow.organization_id == self.organization_id,
                    CustomModelRow.model_name.in_(unique[start : start + _CHUNK]),
                )
            )
            if locking:
                query = query.with_for_update(of=CustomModelRow)
            for row, provider in await self.session.execute(query):
                self.rows[row.model_name] = (row, provider, ())
                self.prices[row.pk] = PriceSet() if row.model_name in self.unwritten else PriceSet.of(row)
        by_pk = {row.pk: name for name, (row, _, _) in self.rows.items()}
        pks = list(by_pk)
        found: dict[int, list[Grant]] = {}
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start : start + _CHUNK]
            grants = await self.session.execute(
                select(
                    ModelGrantRow.model_pk, ModelGrantRow.principal_type, ModelGrantRow.principal_id,
                    ModelGrantRow.permission,
                ).where(ModelGrantRow.model_pk.in_(chunk))
            )  # fmt: skip
            for pk, kind, ident, permission in grants:
                found.setdefault(pk, []).append(Grant(kind, ident, permission))  # type: ignore[arg-type]
            priced = await self.session.scalars(
                select(ModelPriceRow.model_pk).where(ModelPriceRow.model_pk.in_(chunk)).distinct()
            )
            self.priced.update(priced)
        for pk, grants_found in found.items():
            name = by_pk[pk]
            self.rows[name] = (self.rows[name][0], self.rows[name][1], tuple(sorted(grants_found)))

    async def write(self, service: ModelService, name: str | None, changes: ModelChanges) -> bool:
        """One model, as create_or_update writes it; whether it was created."""
        if name is None:
            raise InvalidInput("This field is required.", "model_name")
        refused = _name_error(service.catalog, name)
        if refused is not None:
            raise refused
        created = name in self.unwritten
        if created:
            row, provider, _ = self.rows[name]
            given = changes.access_grants if changes.access_grants is not msgspec.UNSET else DEFAULT_GRANTS
            grants = await service.valid_grants(self.session, self.principal, given)
            await self.set_grants(row.pk, grants, fresh=True)
            self.rows[name] = (row, provider, grants)
            changes = msgspec.structs.replace(changes, access_grants=msgspec.UNSET)
            self.unwritten.discard(name)
        await service._write(
            self.session,
            self.principal,
            name,
            changes,
            if_match=None,
            require_route=created,
            action="create" if created else "update",
            lookups=self,
        )
        return created

    async def finish(self, catalog: Catalog) -> None:
        """Grants, the models' rows, revisions, audit and price entries, view rows, one counter bump."""
        replaced = sorted(self.replaced)
        for start in range(0, len(replaced), _CHUNK):
            chunk = replaced[start : start + _CHUNK]
            await self.session.execute(delete(ModelGrantRow).where(ModelGrantRow.model_pk.in_(chunk)))
        grant_rows = [
            {"model_pk": pk, "principal_type": g.principal_type, "principal_id": g.principal_id,
             "permission": g.permission}
            for pk, grants in self.grants.items()
            for g in grants
        ]  # fmt: skip
        for start in range(0, len(grant_rows), 1_000):
            await self.session.execute(insert(table_of(ModelGrantRow)), grant_rows[start : start + 1_000])
        await self.session.flush()
        await insert_deferred(self.session)
        if not self.written:
            return
        last = {name: step for name, (step, _, _) in self.written.items()}
        # A resolution stays true unless one of the model's bases was written after it (those are resolved
        # again by refresh_views, from the rows as they are now).
        current = {
            name: model
            for name, (step, model, chain) in self.written.items()
            if all(last.get(base, 0) < step for base in chain)
        }
        await refresh_views(self.session, catalog, self.organization_id, list(self.written), current)
        await bump_models(self.session, self.organization_id)

    # ---- Lookups, from memory --------------------------------------------------------------------

    async def writable(
        self, service: ModelService, principal: Principal, name: str
    ) -> tuple[CustomModelRow, ProviderRow | None, tuple[Grant, ...]]:
        row, provider, grants = self.rows[name]
        service.require_write(principal, custom_model_from_row(row, provider, grants))
        return row, provider, grants

    async def custom(self, name: str) -> CustomModel | None:
        if name in self.rows:
            return None if name in self.unwritten else custom_model_from_row(*self.rows[name])
        if name not in self.others:
            self.others[name] = await super().custom(name)
        return self.others[name]

    async def chain(self, start: str | None) -> dict[str, CustomModel]:
        found: dict[str, CustomModel] = {}
        name = start
        while name is not None and name not in found and len(found) < 64:
            model = await self.custom(name)
            if model is None:
                break
            found[name] = model
            name = model.base_model_name
        return found

    async def provider(self, provider_id: str) -> ProviderRow | None:
        if provider_id not in self.providers:
            self.providers[provider_id] = await super().provider(provider_id)
        return self.providers[provider_id]

    async def set_grants(self, model_pk: int, grants: tuple[Grant, ...], *, fresh: bool = False) -> None:
        self.grants[model_pk] = grants
        if not fresh:
            self.replaced.add(model_pk)

    async def saved(self, row: CustomModelRow) -> None:
        return None  # the request's rows are flushed together by `finish`

    def has_prices(self, model_pk: int) -> bool | None:
        return model_pk in self.priced

    async def wrote(
        self,
        catalog: Catalog,
        row: CustomModelRow,
        provider_row: ProviderRow | None,
        grants: tuple[Grant, ...],
        resolved: LLMModel,
        chain: frozenset[str],
        *,
        created: bool,
    ) -> None:
        self.rows[row.model_name] = (row, provider_row, grants)
        prices = PriceSet.of(row)
        if prices != self.prices.get(row.pk, PriceSet()):  # record_edit added an entry
            self.priced.add(row.pk)
        self.prices[row.pk] = prices
        self.steps += 1
        self.written[row.model_name] = (self.steps, resolved, chain)
