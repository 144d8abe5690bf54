"""Materialized resolved models (model_views): conversion both ways, and refresh after writes.

refresh_views(names) re-resolves the named models and everything that inherits from them,
transitively, and rewrites their view rows in the caller's transaction. Every write path calls it:
model writes, provider updates and deletes (the provider is part of the resolved value), catalog sync.

Each transaction notes the resolved models whose view rows it wrote (or removed) in session.info[CHANGED]:
after the commit, this process applies exactly those to its in-memory index (store/memory.py) instead of
reloading the organization.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.catalog.load import Catalog
from modelreg.domain.grants import Grant
from modelreg.domain.inheritance import resolve_chain
from modelreg.domain.llm_model import LLMModel
from modelreg.domain.pricing import tiers_from_json, tiers_to_json
from modelreg.domain.provider import BuiltinProvider, Provider
from modelreg.domain.usage import Throughput
from modelreg.filters.fields import has_discount
from modelreg.store.deferred import insert_into, table_of
from modelreg.store.model_queries import load_base_chain, load_custom
from modelreg.store.rows import CustomModelRow, ModelViewRow

__all__ = [
    "CHANGED",
    "changed_models",
    "find_view_row",
    "list_view_rows",
    "model_from_view",
    "refresh_views",
    "stale_organizations",
    "view_values",
]


CHANGED = "modelreg.changed_views"
"""session.info key: {organization id: {model name: the resolved model as its view row holds it, None when
the row is gone}}."""


def changed_models(session: AsyncSession, organization_id: str) -> dict[str, LLMModel | None]:
    """The view changes this transaction made in the organization (mutable: writers add to it)."""
    changed: dict[str, dict[str, LLMModel | None]] = session.info.setdefault(CHANGED, {})
    return changed.setdefault(organization_id, {})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _provider_json(provider: Provider | BuiltinProvider | None) -> dict[str, Any] | None:
    if provider is None:
        return None
    if isinstance(provider, BuiltinProvider):
        return {"builtin": True, "provider_id": provider.provider_id, "provider_name": provider.provider_name}
    return {
        "builtin": False,
        "pk": provider.pk,
        "provider_id": provider.provider_id,
        "provider_name": provider.provider_name,
        "extra_kwargs": provider.extra_kwargs,
        "has_api_key": provider.has_api_key,
        "revision": provider.revision,
        "created_at": _iso(provider.created_at),
        "updated_at": _iso(provider.updated_at),
    }


def _provider_from_json(data: dict[str, Any] | None, organization_id: str, catalog: Catalog) -> Any:
    if not data:
        return None
    if data.get("builtin"):
        pid = str(data["provider_id"])
        return catalog.providers.get(pid) or BuiltinProvider(provider_id=pid, provider_name=str(data["provider_name"]))
    created, updated = data.get("created_at"), data.get("updated_at")
    return Provider(
        pk=int(data["pk"]),
        organization_id=organization_id,
        provider_id=str(data["provider_id"]),
        provider_name=str(data["provider_name"]),
        extra_kwargs=dict(data.get("extra_kwargs") or {}),
        has_api_key=bool(data.get("has_api_key")),
        revision=int(data.get("revision") or 1),
        created_at=datetime.fromisoformat(created) if created else None,
        updated_at=datetime.fromisoformat(updated) if updated else None,
    )


def view_values(model: LLMModel) -> dict[str, Any]:
    provider = model.provider
    return {
        "pk": model.pk,
        "organization_id": model.organization_id,
        "owner_user_id": model.owner_user_id,
        "model_name": model.name,
        "display_name": model.display_name,
        "base_model_name": model.base_model_name,
        "model_type": model.model_type,
        "provider_pk": provider.pk if isinstance(provider, Provider) else None,
        "provider_id": provider.provider_id if provider else None,
        "provider_name": provider.provider_name if provider else None,
        "provider": _provider_json(provider),
        "input_cost": model.input_cost,
        "output_cost": model.output_cost,
        "cache_hit_input_cost": model.cache_hit_input_cost,
        "cache_creation_input_cost": model.cache_creation_input_cost,
        "pricing_tiers": tiers_to_json(model.pricing_tiers),
        "max_context_window": model.max_context_window,
        "max_output_tokens": model.max_output_tokens,
        "streaming_support": model.streaming_support,
        "function_call": model.function_call,
        "image_support": model.image_support,
        "is_called_by_custom_name": model.is_called_by_custom_name,
        "has_discount": has_discount(model),
        "routable": provider is not None,
        "status": model.status,
        "native_name": model.native_name,
        "supported_params": model.supported_params,
        "supported_params_override": model.supported_params_override,
        "params": model.params,
        "meta": model.meta,
        "grants": [[g.principal_type, g.principal_id, g.permission] for g in model.grants],
        "is_active": model.is_active,
        "revision": model.revision,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


def model_from_view(row: Any, catalog: Catalog, throughput: Throughput | None = None) -> LLMModel:
    """`row`: a ModelViewRow, or a Core row of model_views (the same attribute names; cheaper to read)."""
    return LLMModel(
        throughput=throughput,
        name=row.model_name,
        display_name=row.display_name,
        base_model_name=row.base_model_name,
        affiliation="custom",
        organization_id=row.organization_id,
        owner_user_id=row.owner_user_id,
        model_type=row.model_type,
        input_cost=row.input_cost,
        output_cost=row.output_cost,
        cache_hit_input_cost=row.cache_hit_input_cost,
        cache_creation_input_cost=row.cache_creation_input_cost,
        pricing_tiers=(tiers_from_json(row.pricing_tiers) or ()) if row.pricing_tiers else (),
        max_context_window=row.max_context_window,
        max_output_tokens=row.max_output_tokens,
        streaming_support=row.streaming_support,
        function_call=row.function_call,
        image_support=row.image_support,
        supported_params=dict(row.supported_params or {}),
        supported_params_override=row.supported_params_override,
        params=dict(row.params or {}),
        meta=dict(row.meta or {}),
        grants=tuple(Grant(*g) for g in (row.grants or [])),
        is_active=row.is_active,
        is_called_by_custom_name=row.is_called_by_custom_name,
        status="deprecated" if row.status == "deprecated" else "active",
        provider=_provider_from_json(row.provider, row.organization_id, catalog),
        native_name=row.native_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revision=row.revision,
        pk=row.pk,
    )


async def _with_dependents(session: AsyncSession, organization_id: str, names: Iterable[str]) -> list[str]:
    """`names` plus every model that inherits from one of them, breadth first (bases before children)."""
    ordered: list[str] = []
    seen: set[str] = set()
    frontier = list(dict.fromkeys(names))
    while frontier:
        fresh = [n for n in frontier if n not in seen]
        seen.update(fresh)
        ordered.extend(fresh)
        if not fresh:
            break
        children: list[str] = []
        for start in range(0, len(fresh), 500):
            chunk = fresh[start : start + 500]
            rows = await session.scalars(
                select(CustomModelRow.model_name).where(
                    CustomModelRow.organization_id == organization_id, CustomModelRow.base_model_name.in_(chunk)
                )
            )
            children.extend(rows)
        frontier = children
    return ordered


async def refresh_views(
    session: AsyncSession,
    catalog: Catalog,
    organization_id: str,
    names: Iterable[str],
    resolved: Mapping[str, LLMModel] | None = None,
    *,
    created: bool = False,
    leaf: bool = False,
) -> list[str]:
    """Re-resolve `names` and their dependents; returns the names refreshed. `resolved`: models the caller
    has just resolved from this transaction's rows (a write's own model), used as they are. `created`: the
    models were inserted in this transaction, so they have no view row and nothing inherits from them yet.
    `leaf`: the caller knows that nothing inherits from them (their view rows are replaced, no others)."""
    affected = list(names) if created or leaf else await _with_dependents(session, organization_id, names)
    changed = changed_models(session, organization_id)
    known = resolved or {}
    rows: list[dict[str, Any]] = []
    gone: list[str] = []
    for name in affected:
        model = known.get(name)
        if model is None:
            custom = await load_custom(session, organization_id, name)
            if custom is None:
                changed[name] = None
                gone.append(name)
                continue
            chain = await load_base_chain(session, organization_id, custom.base_model_name)
            chain.pop(custom.name, None)
            model = resolve_chain(custom, chain.get, catalog.lookup_or_none, strict=False)
        values = view_values(model)
        rows.append(values)
        changed[name] = model_from_view(SimpleNamespace(**values), catalog)  # as read back (no ORM object)
    table = table_of(ModelViewRow)
    for start in range(0, 0 if created else len(gone), 500):  # their models are gone (cascaded, normally)
        chunk = gone[start : start + 500]
        await session.execute(
            delete(table).where(table.c.organization_id == organization_id, table.c.model_name.in_(chunk))
        )
    # Core executemany (an import writes thousands); an existing view row is replaced in the same statement.
    statement = insert_into(ModelViewRow) if created else _upsert_statement(session.get_bind().dialect.name)
    for start in range(0, len(rows), 500):
        await session.execute(statement, rows[start : start + 500])
    return affected


@functools.cache
def _upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (pk) DO UPDATE of every column: one statement where a delete and an insert were.
    A view row is keyed by its model's pk (deleted with it), so its (organization, name) cannot conflict."""
    table = table_of(ModelViewRow)
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    columns = {c.name: statement.excluded[c.name] for c in table.columns if c.name != "pk"}
    return statement.on_conflict_do_update(index_elements=[table.c.pk], set_=columns)


async def stale_organizations(session: AsyncSession) -> dict[str, list[str]]:
    """Custom models that have no view row yet (e.g. written before views existed), per organization."""
    rows = await session.execute(
        select(CustomModelRow.organization_id, CustomModelRow.model_name)
        .outerjoin(ModelViewRow, ModelViewRow.pk == CustomModelRow.pk)
        .where(ModelViewRow.pk.is_(None))
    )
    found: dict[str, list[str]] = {}
    for organization_id, name in rows.all():
        found.setdefault(organization_id, []).append(name)
    return found


async def find_view_row(session: AsyncSession, organization_id: str, name: str) -> ModelViewRow | None:
    query = select(ModelViewRow).where(ModelViewRow.organization_id == organization_id, ModelViewRow.model_name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def list_view_rows(session: AsyncSession, organization_id: str) -> list[ModelViewRow]:
    query = (
        select(ModelViewRow).where(ModelViewRow.organization_id == organization_id).order_by(ModelViewRow.model_name)
    )
    return list(await session.scalars(query))
