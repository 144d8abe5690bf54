"""Queries for custom models and providers, always scoped to one organization.

Every function takes the organization id explicitly: there is no query here that can return
another organization's rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.grants import Grant
from modelreg.domain.llm_model import CustomModel
from modelreg.domain.pricing import tiers_from_json
from modelreg.domain.provider import Provider
from modelreg.store.deferred import insert_into, table_of
from modelreg.store.rows import CustomModelRow, ModelGrantRow, ModelPriceRow, ProviderRow

__all__ = [
    "WritableRow",
    "custom_model_from_row",
    "dependents_of",
    "find_custom_row",
    "find_provider_row",
    "find_writable_row",
    "grants_of",
    "insert_ignoring_conflict",
    "insert_model_row",
    "list_custom_models",
    "load_base_chain",
    "load_custom",
    "provider_from_row",
    "replace_grants",
    "save_model_row",
]


def provider_from_row(row: ProviderRow) -> Provider:
    return Provider(
        pk=row.pk,
        organization_id=row.organization_id,
        provider_id=row.provider_id,
        provider_name=row.provider_name,
        extra_kwargs=dict(row.extra_kwargs or {}),
        has_api_key=row.secrets_enc is not None,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def custom_model_from_row(
    row: CustomModelRow, provider: ProviderRow | None, grants: tuple[Grant, ...] = ()
) -> CustomModel:
    return CustomModel(
        pk=row.pk,
        organization_id=row.organization_id,
        owner_user_id=row.user_id,
        name=row.model_name,
        base_model_name=row.base_model_name,
        provider=provider_from_row(provider) if provider is not None else None,
        display_name=row.display_name,
        model_type=row.model_type,
        input_cost=row.input_cost,
        output_cost=row.output_cost,
        cache_hit_input_cost=row.cache_hit_input_cost,
        cache_creation_input_cost=row.cache_creation_input_cost,
        pricing_tiers=tiers_from_json(row.pricing_tiers),
        max_context_window=row.max_context_window,
        streaming_support=row.streaming_support,
        function_call=row.function_call,
        image_support=row.image_support,
        supported_params_override=row.supported_params_override,
        params=dict(row.params or {}),
        meta=dict(row.meta or {}),
        grants=grants,
        is_active=row.is_active,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _with_provider(organization_id: Any) -> Select[CustomModelRow, ProviderRow]:
    query = (
        select(CustomModelRow, ProviderRow)
        .outerjoin(ProviderRow, ProviderRow.pk == CustomModelRow.provider_pk)
        .where(CustomModelRow.organization_id == organization_id)
    )
    return query


@functools.cache
def _find_statement(for_update: bool) -> Select[CustomModelRow, ProviderRow]:
    """Built once: every write and every read by name runs it."""
    query = _with_provider(bindparam("org")).where(CustomModelRow.model_name == bindparam("name"))
    return query.with_for_update(of=CustomModelRow) if for_update else query


async def find_custom_row(
    session: AsyncSession, organization_id: str, name: str, *, for_update: bool = False
) -> tuple[CustomModelRow, ProviderRow | None] | None:
    found = (await session.execute(_find_statement(for_update), {"org": organization_id, "name": name})).first()
    if found is None:
        return None
    model_row: CustomModelRow = found[0]
    provider_row: ProviderRow | None = found[1]
    return model_row, provider_row


class WritableRow(NamedTuple):
    """A model's row locked for a write, with what the write would otherwise ask in statements of its own."""

    row: CustomModelRow
    provider: ProviderRow | None
    has_prices: bool
    """Whether the model has price history entries (services/price_schedule.py, record_edit)."""
    has_dependents: bool
    """Whether another model names it as its base (their view rows follow it; a delete is refused)."""


_MODELS = table_of(CustomModelRow)
_PROVIDERS = table_of(ProviderRow)
_MODEL_COLUMNS = tuple(c.name for c in _MODELS.c)
_PROVIDER_COLUMNS = tuple(c.name for c in _PROVIDERS.c)
_CHILD = _MODELS.alias("child")
_HAS_PRICES = exists().where(table_of(ModelPriceRow).c.model_pk == _MODELS.c.pk)
_HAS_DEPENDENTS = exists().where(
    _CHILD.c.organization_id == bindparam("org"), _CHILD.c.base_model_name == bindparam("name")
)
# Core, not the ORM: the write path's statements cost several times their CPU through the ORM's layers (about
# 270 against 70 µs for a one-row statement), and one model's row needs no unit of work. The row comes back
# as a transient CustomModelRow (the attributes the rules read and set) and is written by `save_model_row`.
_WRITABLE = (
    select(_MODELS, *(c.label(f"provider_{c.name}") for c in _PROVIDERS.c), _HAS_PRICES, _HAS_DEPENDENTS)
    .select_from(_MODELS.outerjoin(_PROVIDERS, _PROVIDERS.c.pk == _MODELS.c.provider_pk))
    .where(_MODELS.c.organization_id == bindparam("org"), _MODELS.c.model_name == bindparam("name"))
    .with_for_update(of=_MODELS)
)


def _model_row(values: Sequence[Any]) -> CustomModelRow:
    return CustomModelRow(**dict(zip(_MODEL_COLUMNS, values, strict=True)))


async def find_writable_row(session: AsyncSession, organization_id: str, name: str) -> WritableRow | None:
    """The row FOR UPDATE, its provider, and two facts every write of it needs: one statement, not three."""
    found = (await session.execute(_WRITABLE, {"org": organization_id, "name": name})).first()
    if found is None:
        return None
    models, providers = len(_MODEL_COLUMNS), len(_PROVIDER_COLUMNS)
    provider = found[models : models + providers]
    return WritableRow(
        _model_row(found[:models]),
        None if provider[0] is None else ProviderRow(**dict(zip(_PROVIDER_COLUMNS, provider, strict=True))),
        bool(found[-2]),
        bool(found[-1]),
    )


_KEPT = frozenset(("pk", "organization_id", "user_id", "model_name", "created_at"))
"""Columns a write never changes."""
_SAVED = tuple(name for name in _MODEL_COLUMNS if name not in _KEPT)
_SAVE = (
    update(_MODELS)
    .where(_MODELS.c.pk == bindparam("row_pk"))
    .values({name: bindparam(f"new_{name}") for name in _SAVED})
)


async def save_model_row(session: AsyncSession, row: CustomModelRow) -> None:
    """Write back a row read by find_writable_row or insert_model_row (every column a write may change)."""
    await session.execute(_SAVE, {"row_pk": row.pk, **{f"new_{name}": getattr(row, name) for name in _SAVED}})


_GRANT_COLUMNS = table_of(ModelGrantRow).c
_GRANTS_OF = select(_GRANT_COLUMNS.principal_type, _GRANT_COLUMNS.principal_id, _GRANT_COLUMNS.permission).where(
    _GRANT_COLUMNS.model_pk == bindparam("pk")
)  # Core: a select of the mapped class's attributes takes the ORM's path (several times the CPU)


async def grants_of(session: AsyncSession, model_pk: int) -> tuple[Grant, ...]:
    rows = await session.execute(_GRANTS_OF, {"pk": model_pk})
    return tuple(sorted(Grant(t, i, p) for t, i, p in rows.all()))  # type: ignore[arg-type]


_DELETE_GRANTS = delete(table_of(ModelGrantRow)).where(table_of(ModelGrantRow).c.model_pk == bindparam("pk"))


async def replace_grants(
    session: AsyncSession, model_pk: int, grants: tuple[Grant, ...], *, fresh: bool = False
) -> None:
    """`fresh`: the model was inserted in this transaction and has no grants yet. Core statements: no ORM
    object is kept for a grant (grants_of reads them as values)."""
    if not fresh:  # Core: the ORM's delete would look for the rows among the session's objects
        await session.execute(_DELETE_GRANTS, {"pk": model_pk})
    if grants:
        rows = [
            {"model_pk": model_pk, "principal_type": g.principal_type, "principal_id": g.principal_id,
             "permission": g.permission}
            for g in grants
        ]  # fmt: skip
        await session.execute(insert_into(ModelGrantRow), rows)


async def load_custom(session: AsyncSession, organization_id: str, name: str) -> CustomModel | None:
    """The stored model with its provider and grants."""
    pair = await find_custom_row(session, organization_id, name)
    if pair is None:
        return None
    return custom_model_from_row(pair[0], pair[1], await grants_of(session, pair[0].pk))


async def list_custom_models(session: AsyncSession, organization_id: str) -> list[CustomModel]:
    rows = await session.execute(_with_provider(organization_id).order_by(CustomModelRow.model_name))
    return [custom_model_from_row(model, provider) for model, provider in rows.all()]


async def load_base_chain(session: AsyncSession, organization_id: str, start: str | None) -> dict[str, CustomModel]:
    """The organization's custom models reachable from `start` through base links (bounded)."""
    found: dict[str, CustomModel] = {}
    name = start
    while name is not None and name not in found and len(found) < 64:
        model = await load_custom(session, organization_id, name)
        if model is None:
            break
        found[name] = model
        name = model.base_model_name
    return found


async def dependents_of(session: AsyncSession, organization_id: str, name: str) -> list[str]:
    rows = await session.scalars(
        select(CustomModelRow.model_name)
        .where(CustomModelRow.organization_id == organization_id, CustomModelRow.base_model_name == name)
        .order_by(CustomModelRow.model_name)
    )
    return list(rows)


async def find_provider_row(
    session: AsyncSession, organization_id: str, provider_id: str, *, for_update: bool = False
) -> ProviderRow | None:
    query = select(ProviderRow).where(
        ProviderRow.organization_id == organization_id, ProviderRow.provider_id == provider_id
    )
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def insert_model_row(
    session: AsyncSession, organization_id: str, user_id: str, name: str
) -> CustomModelRow | None:
    """A new model's row (revision 0, to be written by the caller with save_model_row), or None when the name
    is taken. One statement: the conflict is ignored (concurrent creates of one name end in one row, as
    insert_ignoring_conflict does) and the row comes back with it (no read after the insert)."""
    now = datetime.now(UTC)
    values = {"org": organization_id, "user": user_id, "name": name, "now": now}
    statement = _insert_model_statement(session.get_bind().dialect.name)
    found = (await session.execute(statement, values)).first()
    return None if found is None else _model_row(found)


@functools.cache
def _insert_model_statement(dialect: str) -> Any:
    """Built once per dialect (a statement per write costs more to build than to run)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now: Any = bindparam("now")
    return (
        insert(_MODELS)
        .values(
            organization_id=bindparam("org"), user_id=bindparam("user"), model_name=bindparam("name"), revision=0,
            created_at=now, updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "model_name"])
        .returning(*_MODELS.c)
    )  # fmt: skip


async def insert_ignoring_conflict(
    session: AsyncSession, table: type[CustomModelRow] | type[ProviderRow], keys: Sequence[str], values: dict[str, Any]
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING pk: the new pk, or None when the row already existed.

    This is what lets 50 parallel upserts of one name end in one row without a unique-violation error.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)).returning(table.pk)
    return (await session.execute(statement)).scalar_one_or_none()
