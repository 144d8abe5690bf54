"""Custom models: lookup (custom first, then the built-in catalog), create-or-update, patch, replace, delete.

Rules enforced here, whichever dialect calls:
- a custom model belongs to the caller's organization; anything else answers NotFound;
- built-in models are read-only (ReadOnlyModel), and a custom model may not take a built-in's name;
- base_model_name must name a model the caller can read; it is stored canonical (`gpt-4o` is kept as
  `openai/gpt-4o`), and the chain may not loop;
- a model needs a way to be called: a custom provider, or a base whose provider is used.

Over 400 lines on purpose: the write rules (`ModelService._write`) and what they read (`Lookups`) are one
unit, shared by single writes and imports (services/model_import.py); split, the rules would be in two places.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import Catalog
from modelreg.domain.access import AccessProhibited, can_read, can_write, normalize_grants
from modelreg.domain.errors import BaseModelNotFound, HasDependents, InvalidInput, NotFound, ReadOnlyModel
from modelreg.domain.etags import entity_tag
from modelreg.domain.grants import DEFAULT_GRANTS, EVERYONE, Grant
from modelreg.domain.inheritance import resolve_chain
from modelreg.domain.llm_model import INHERITABLE_FIELDS, MODEL_TYPES, CustomModel, LLMModel
from modelreg.domain.names import could_be_stored, validate_model_name, validate_name
from modelreg.domain.pricing import PriceSet, tiers_to_json, validate_tiers
from modelreg.domain.principal import Principal
from modelreg.services.identity import organization_principals
from modelreg.services.model_history import (
    STATE_FIELDS,
    find_revision,
    list_revisions,
    record_change,
    stored_state,
)
from modelreg.services.price_schedule import record_edit
from modelreg.services.providers import check_if_match
from modelreg.store.database import Database
from modelreg.store.deferred import defer_rows, insert_deferred, table_of
from modelreg.store.memory import ModelIndex, bump_models
from modelreg.store.model_queries import (
    WritableRow,
    custom_model_from_row,
    dependents_of,
    find_custom_row,
    find_provider_row,
    find_writable_row,
    grants_of,
    insert_model_row,
    load_base_chain,
    load_custom,
    replace_grants,
    save_model_row,
)
from modelreg.store.rows import CustomModelRow, ModelRevisionRow, ProviderRow
from modelreg.store.views import changed_models, find_view_row, model_from_view, refresh_views

__all__ = ["Link", "Lookups", "ModelChanges", "ModelService"]

UNSET: Any = msgspec.UNSET
_PRINCIPALS = "modelreg.organization_principals"
"""session.info key: the organizations' (user ids, group ids), read once per transaction."""

# Fields of ModelChanges that map 1:1 onto CustomModelRow columns.
_COLUMN_FIELDS = (
    *(f for f in INHERITABLE_FIELDS if f != "pricing_tiers"),
    "supported_params_override",
    "params",
    "meta",
)


class ModelChanges(msgspec.Struct, kw_only=True):
    """A change set in domain terms: UNSET = keep, None = clear (inherit again)."""

    display_name: str | msgspec.UnsetType | None = msgspec.UNSET
    base_model_name: str | msgspec.UnsetType | None = msgspec.UNSET
    provider_id: str | msgspec.UnsetType | None = msgspec.UNSET
    model_type: str | msgspec.UnsetType | None = msgspec.UNSET
    input_cost: float | msgspec.UnsetType | None = msgspec.UNSET
    output_cost: float | msgspec.UnsetType | None = msgspec.UNSET
    cache_hit_input_cost: float | msgspec.UnsetType | None = msgspec.UNSET
    cache_creation_input_cost: float | msgspec.UnsetType | None = msgspec.UNSET
    pricing_tiers: list[Any] | msgspec.UnsetType | None = msgspec.UNSET
    """Replaces the model's tiers as a whole (validated here, whichever dialect); None inherits the base's."""
    max_context_window: int | msgspec.UnsetType | None = msgspec.UNSET
    streaming_support: int | msgspec.UnsetType | None = msgspec.UNSET
    function_call: int | msgspec.UnsetType | None = msgspec.UNSET
    image_support: int | msgspec.UnsetType | None = msgspec.UNSET
    supported_params_override: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    params: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    meta: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    access_grants: tuple[Grant, ...] | msgspec.UnsetType = msgspec.UNSET
    """Replaces every grant when given. Absent on create: DEFAULT_GRANTS (organization-wide read)."""
    is_active: bool | msgspec.UnsetType = msgspec.UNSET

    def filled(self) -> ModelChanges:
        """PUT semantics: every editable field not given becomes None (grants and is_active are kept)."""
        keep = ("access_grants", "is_active")
        values: dict[str, Any] = {
            f: (None if getattr(self, f) is msgspec.UNSET and f not in keep else getattr(self, f))
            for f in self.__struct_fields__
        }
        return ModelChanges(**values)


_DELETE_MODEL = delete(table_of(CustomModelRow)).where(table_of(CustomModelRow).c.pk == bindparam("pk"))
"""Core: the ORM's delete would also look for the row among the session's objects."""


def _tag(row: CustomModelRow) -> str:
    """The ETag of the stored row, equal to LLMModel.etag of the model read from it."""
    return entity_tag("model", row.organization_id, row.model_name, row.created_at, row.revision)


class Link(msgspec.Struct, frozen=True):
    """One step of a model's inheritance chain, the model itself first, the catalog's built-in last."""

    name: str
    builtin: bool
    values: dict[str, Any]
    """The inheritable fields this link sets itself (None left out)."""
    provider_id: str | None


class ModelService:
    """Reads come from the in-memory index (no session); writes take the caller's session."""

    def __init__(self, index: ModelIndex, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.index = index
        self._db = db
        self.clock = clock
        """The time price changes take effect at (docs/pricing.md, dated prices); injected by tests."""

    @property
    def catalog(self) -> Catalog:
        return self.index.catalog

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, principal: Principal | None, name: str) -> LLMModel:
        """A built-in name or alias is answered from memory (custom models cannot take those names);
        otherwise the caller's custom model, then a bare catalog name; NotFound otherwise."""
        if not could_be_stored(name):
            raise NotFound()
        exact = self.catalog.exact(name)
        if exact is not None:
            return await self._as_seen_by(principal, exact)
        if principal is not None:
            custom = await self._custom(principal.organization_id, name)
            if custom is not None:
                if not can_read(principal, custom):
                    raise NotFound()
                return custom
        builtin = self.catalog.lookup(name)
        if builtin is None:
            raise NotFound()
        return await self._as_seen_by(principal, builtin)

    async def _as_seen_by(self, principal: Principal | None, builtin: LLMModel) -> LLMModel:
        """A built-in with the caller's organization's figures (throughput), if it has any."""
        if principal is None or not self.index.throughput_of(principal.organization_id):
            return builtin
        return (await self.index.org(principal.organization_id)).builtin(builtin)

    async def _custom(self, organization_id: str, name: str) -> LLMModel | None:
        snapshot = await self.index.org(organization_id)
        model = snapshot.by_name.get(name)
        if model is not None:
            return model
        # Not in this process's snapshot: it may have been created by another process within the
        # poll interval, or the organization is too large to hold. The database decides.
        async with self._db.read() as session:
            row = await find_view_row(session, organization_id, name)
        if row is None:
            return None
        return model_from_view(row, self.catalog, self.index.throughput_of(organization_id).get(name))

    async def chain(self, principal: Principal | None, model: LLMModel) -> list[Link]:
        """Where each resolved value of a readable model comes from: the model, its custom bases, the
        built-in at the root. A broken link ends the chain there, as reads do."""
        if model.is_builtin or principal is None:
            return [_link_of_builtin(model)]
        async with self._db.read() as session:
            found = await load_base_chain(session, principal.organization_id, model.name)
        links: list[Link] = []
        name: str | None = model.name
        while name is not None and name in found and len(links) < len(found):
            custom = found[name]
            values = {f: getattr(custom, f) for f in INHERITABLE_FIELDS if getattr(custom, f) is not None}
            provider = custom.provider.provider_id if custom.provider else None
            links.append(Link(name=custom.name, builtin=False, values=values, provider_id=provider))
            name = custom.base_model_name
        root = self.catalog.lookup_or_none(name) if name is not None else None
        if root is not None:
            links.append(_link_of_builtin(root))
        return links

    # ---- writes ------------------------------------------------------------------------------

    async def create_or_update(
        self, session: AsyncSession, principal: Principal, name: str, changes: ModelChanges
    ) -> tuple[LLMModel, bool]:
        validate_model_name(name)
        if name in self.catalog.reserved_names:
            raise InvalidInput("A built-in model already has this name; choose another name.", "model_name")
        row = await insert_model_row(session, principal.organization_id, principal.user_id, name)
        found = None
        if row is not None:
            grants = changes.access_grants if changes.access_grants is not msgspec.UNSET else DEFAULT_GRANTS
            valid = await self.valid_grants(session, principal, grants)
            await replace_grants(session, row.pk, valid, fresh=True)
            changes = msgspec.structs.replace(changes, access_grants=msgspec.UNSET)
            found = (row, None, valid)
        model = await self._write(
            session,
            principal,
            name,
            changes,
            if_match=None,
            require_route=row is not None,
            action="update" if row is None else "create",
            found=found,
        )
        return model, row is not None

    async def create_new(
        self, session: AsyncSession, principal: Principal, name: str, changes: ModelChanges
    ) -> LLMModel:
        """Create only (Open WebUI's /create): an existing name is refused, never updated."""
        validate_model_name(name, "id")
        if name in self.catalog.reserved_names or await find_custom_row(session, principal.organization_id, name):
            raise InvalidInput(
                "Uh-oh! This model id is already registered. Please choose another model id string.", "id"
            )
        model, created = await self.create_or_update(session, principal, name, changes)
        if not created:  # lost a race with a concurrent create of the same id
            raise InvalidInput(
                "Uh-oh! This model id is already registered. Please choose another model id string.", "id"
            )
        return model

    async def toggle(self, session: AsyncSession, principal: Principal, name: str) -> LLMModel:
        row, _, _ = await self._writable(session, principal, name, "modified")
        changes = ModelChanges(is_active=not row.is_active)
        return await self.update(session, principal, name, changes, replace=False, if_match=None)

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        name: str,
        changes: ModelChanges,
        *,
        replace: bool,
        if_match: str | None,
    ) -> LLMModel:
        if replace:
            changes = changes.filled()
        routing_touched = (
            replace or changes.base_model_name is not msgspec.UNSET or changes.provider_id is not msgspec.UNSET
        )
        return await self._write(session, principal, name, changes, if_match=if_match, require_route=routing_touched)

    async def delete(self, session: AsyncSession, principal: Principal, name: str, if_match: str | None) -> None:
        found, grants = await self._locked(session, principal, name, "deleted")
        row, provider_row = found.row, found.provider
        check_if_match(if_match, _tag(row))
        if found.has_dependents:
            raise HasDependents(await dependents_of(session, principal.organization_id, name))
        before = stored_state(row, provider_row, grants)
        defer_rows(session)  # the revision and audit entry: Core inserts, as a write's
        await record_change(
            session,
            organization_id=principal.organization_id,
            model_pk=row.pk,
            model_name=name,
            revision=row.revision + 1,
            action="delete",
            before=before,
            after=None,
        )
        await insert_deferred(session)
        await session.execute(_DELETE_MODEL, {"pk": row.pk})  # its view row and grants too (cascade)
        changed_models(session, principal.organization_id)[name] = None
        await bump_models(session, principal.organization_id)

    # ---- history -----------------------------------------------------------------------------

    async def revisions(
        self, session: AsyncSession, principal: Principal, name: str, *, offset: int, limit: int
    ) -> tuple[int, list[ModelRevisionRow]]:
        """How many revisions the model has and one page of them, newest first. They hold params and grants,
        so only its writers may read them (domain/access.py: unreadable answers like missing, readable but not
        writable is refused)."""
        row, _, _ = await self._writable(session, principal, name, "modified")
        return await list_revisions(session, principal.organization_id, row.pk, offset=offset, limit=limit)

    async def restore(
        self, session: AsyncSession, principal: Principal, name: str, revision: int, if_match: str | None
    ) -> LLMModel:
        """Write revision `revision`'s stored fields back: a new revision, checked like any write."""
        row, _, _ = await self._writable(session, principal, name, "modified")
        found = await find_revision(session, principal.organization_id, row.pk, revision)
        if found is None or found.after is None:
            raise NotFound()
        state = dict(found.after)
        changes = ModelChanges(
            **{field: state.get(field) for field in STATE_FIELDS if field not in ("access_grants", "is_active")},
            is_active=bool(state.get("is_active", True)),
            access_grants=tuple(
                Grant(g["access_type"], g["access_id"], g["permission"]) for g in state.get("access_grants") or []
            ),
        )
        return await self._write(
            session, principal, name, changes, if_match=if_match, require_route=True, action="restore"
        )

    async def _writable(
        self, session: AsyncSession, principal: Principal, name: str, action: str
    ) -> tuple[CustomModelRow, ProviderRow | None, tuple[Grant, ...]]:
        """The stored model, its provider and grants, if the caller may write it (domain/access.py)."""
        pair = await find_custom_row(session, principal.organization_id, name)
        if pair is None:
            self._raise_for_missing(name, action)
            raise NotFound()
        grants = await grants_of(session, pair[0].pk)
        self.require_write(principal, custom_model_from_row(pair[0], pair[1], grants))
        return pair[0], pair[1], grants

    async def _locked(
        self, session: AsyncSession, principal: Principal, name: str, action: str
    ) -> tuple[WritableRow, tuple[Grant, ...]]:
        """Like `_writable`, the row locked for this transaction's write, with the facts the write needs."""
        found = await find_writable_row(session, principal.organization_id, name)
        if found is None:
            self._raise_for_missing(name, action)
            raise NotFound()
        grants = await grants_of(session, found.row.pk)
        self.require_write(principal, custom_model_from_row(found.row, found.provider, grants))
        return found, grants

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def require_write(principal: Principal, model: CustomModel) -> None:
        """Unreadable answers like missing; readable but not writable is AccessProhibited."""
        if not can_read(principal, model):
            raise NotFound()
        if not can_write(principal, model):
            raise AccessProhibited()

    async def valid_grants(
        self, session: AsyncSession, principal: Principal, grants: tuple[Grant, ...]
    ) -> tuple[Grant, ...]:
        if all(g.principal_type == "user" and g.principal_id == EVERYONE for g in grants):
            # Nothing to look up (the default grants): two queries fewer per create.
            return normalize_grants(grants, user_ids=set(), group_ids=set())
        # Looked up once per transaction (a bulk import validates many models' grants).
        known: dict[str, tuple[set[str], set[str]]] = session.info.setdefault(_PRINCIPALS, {})
        if principal.organization_id not in known:
            known[principal.organization_id] = await organization_principals(session, principal.organization_id)
        users, groups = known[principal.organization_id]
        return normalize_grants(grants, user_ids=users, group_ids=groups)

    def _raise_for_missing(self, name: str, action: str) -> None:
        """A write addressed at a built-in name is refused as read-only rather than not found."""
        if self.catalog.lookup(name) is not None:
            raise ReadOnlyModel(action)

    async def _resolve(self, lookups: Lookups, model: CustomModel, *, strict: bool) -> tuple[LLMModel, frozenset[str]]:
        """The resolved model, and the names of the custom models it inherits from."""
        chain = await lookups.chain(model.base_model_name)
        chain.pop(model.name, None)
        lookup = self.catalog.lookup if strict else self.catalog.lookup_or_none
        return resolve_chain(model, chain.get, lookup, strict=strict), frozenset(chain)

    async def _canonical_base(self, lookups: Lookups, principal: Principal, name: str) -> str:
        validate_model_name(name, "base_model_name")
        base = await lookups.custom(name)
        if base is not None:
            if not can_read(principal, base):
                raise BaseModelNotFound()  # exactly like a missing base
            return name
        builtin = self.catalog.lookup(name, field="base_model_name")
        if builtin is None:
            raise BaseModelNotFound()
        return builtin.name

    async def _write(
        self,
        session: AsyncSession,
        principal: Principal,
        name: str,
        changes: ModelChanges,
        *,
        if_match: str | None,
        require_route: bool,
        action: str = "update",
        lookups: Lookups | None = None,
        found: tuple[CustomModelRow, ProviderRow | None, tuple[Grant, ...]] | None = None,
    ) -> LLMModel:
        """One model's change, checked and recorded. `lookups`: where the rest of the write reads and puts
        what it needs (one query each by default; an import's batch serves them from memory). `found`: the
        row, its provider and grants, when the caller has just inserted it."""
        lookups = lookups or Lookups(session, principal.organization_id, self.catalog.reserved_names)
        if found is None:
            row, provider_row, grants = await lookups.writable(self, principal, name)
        else:
            row, provider_row, grants = found
            self.require_write(principal, custom_model_from_row(row, provider_row, grants))
        before = None if action == "create" else stored_state(row, provider_row, grants)
        before_prices = None if action == "create" else PriceSet.of(row)
        if if_match is not None:
            check_if_match(if_match, _tag(row))
        if changes.access_grants is not msgspec.UNSET:
            grants = await self.valid_grants(session, principal, changes.access_grants)
            await lookups.set_grants(row.pk, grants)
        if changes.is_active is not msgspec.UNSET:
            row.is_active = changes.is_active
        for field in _COLUMN_FIELDS:
            value = getattr(changes, field)
            if value is not msgspec.UNSET:
                setattr(row, field, value)
        if changes.pricing_tiers is not msgspec.UNSET:
            row.pricing_tiers = (
                None if changes.pricing_tiers is None else tiers_to_json(validate_tiers(changes.pricing_tiers))
            )
        if row.display_name is not None:
            validate_name(row.display_name, "display_name")
        if row.model_type is not None and row.model_type not in MODEL_TYPES:
            raise InvalidInput(f"must be one of: {', '.join(MODEL_TYPES)}", "model_type")
        if changes.base_model_name is not msgspec.UNSET:
            row.base_model_name = (
                None
                if changes.base_model_name is None
                else await self._canonical_base(lookups, principal, changes.base_model_name)
            )
        if changes.provider_id is not msgspec.UNSET:
            if changes.provider_id is None:
                row.provider_pk, provider_row = None, None
            else:
                validate_name(changes.provider_id, "custom_provider_id")
                provider_row = await lookups.provider(changes.provider_id)
                if provider_row is None:
                    raise NotFound()
                row.provider_pk = provider_row.pk
        if require_route and row.base_model_name is None and row.provider_pk is None:
            raise InvalidInput(
                "custom_provider_id (or provider_id) is required unless base_model_name is set.", "custom_provider_id"
            )
        row.revision += 1
        row.updated_at = datetime.now(UTC)
        await lookups.saved(row)
        # Strict resolution validates the whole chain (unknown base, cycles) before the commit.
        resolved, chain = await self._resolve(lookups, custom_model_from_row(row, provider_row, grants), strict=True)
        defer_rows(session)  # the revision, audit and price rows: inserted by `wrote` (or the import's end)
        await record_change(
            session,
            organization_id=principal.organization_id,
            model_pk=row.pk,
            model_name=name,
            revision=row.revision,
            action=action,
            before=before,
            after=stored_state(row, provider_row, grants),
        )
        await record_edit(session, row, before_prices, origin=action, at=self.clock(), known=lookups.has_prices(row.pk))
        await lookups.wrote(self.catalog, row, provider_row, grants, resolved, chain, created=action == "create")
        return resolved


class Lookups:
    """What a model write reads besides its own row, and what it does once written: one query each, the view
    row and the change counter at once (single writes). services/model_import.py serves an import's batch
    from memory instead; the rules in ModelService._write are the same for both."""

    def __init__(self, session: AsyncSession, organization_id: str, builtin: frozenset[str]) -> None:
        self.session = session
        self.organization_id = organization_id
        self.builtin = builtin
        """The catalog's names and aliases: no custom model has one (create_or_update refuses them)."""
        self._found: WritableRow | None = None
        """The written model's row as `writable` read it (single writes write one model)."""

    async def writable(
        self, service: ModelService, principal: Principal, name: str
    ) -> tuple[CustomModelRow, ProviderRow | None, tuple[Grant, ...]]:
        self._found, grants = await service._locked(self.session, principal, name, "modified")
        return self._found.row, self._found.provider, grants

    async def custom(self, name: str) -> CustomModel | None:
        if name in self.builtin:
            return None
        return await load_custom(self.session, self.organization_id, name)

    async def chain(self, start: str | None) -> dict[str, CustomModel]:
        if start is None or start in self.builtin:  # a built-in base: no custom link to read
            return {}
        return await load_base_chain(self.session, self.organization_id, start)

    async def provider(self, provider_id: str) -> ProviderRow | None:
        return await find_provider_row(self.session, self.organization_id, provider_id)

    async def set_grants(self, model_pk: int, grants: tuple[Grant, ...], *, fresh: bool = False) -> None:
        await replace_grants(self.session, model_pk, grants, fresh=fresh)

    async def saved(self, row: CustomModelRow) -> None:
        await save_model_row(self.session, row)

    def has_prices(self, model_pk: int) -> bool | None:
        """Whether the model has price entries, if known without a query (None: ask the database)."""
        found = self._found
        return found.has_prices if found is not None and found.row.pk == model_pk else None

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
        name = row.model_name
        await insert_deferred(self.session)
        # A model nothing inherits from (known from its locked row) has only its own view row to rewrite.
        leaf = created or (self._found is not None and self._found.row.pk == row.pk and not self._found.has_dependents)
        await refresh_views(
            self.session, catalog, self.organization_id, [name], {name: resolved}, created=created, leaf=leaf
        )
        await bump_models(self.session, self.organization_id)


def _link_of_builtin(model: LLMModel) -> Link:
    values = {f: getattr(model, f) for f in INHERITABLE_FIELDS if getattr(model, f) is not None}
    return Link(
        name=model.name, builtin=True, values=values, provider_id=model.provider.provider_id if model.provider else None
    )
