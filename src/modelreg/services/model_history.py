"""Model revisions: every change to a custom model keeps its stored fields before and after (who, when, through
what), written with the change and with its audit entry (services/audit.py), in the same transaction.

The state kept is the stored, sparse record (null = inherits), exactly what a restore writes back: display
and routing fields, prices and tiers, flags, supported_params_override, params, meta, is_active and grants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.domain.grants import Grant
from modelreg.domain.llm_model import INHERITABLE_FIELDS
from modelreg.services import audit
from modelreg.store.deferred import add_row
from modelreg.store.rows import CustomModelRow, ModelRevisionRow, ProviderRow

__all__ = ["STATE_FIELDS", "find_revision", "list_revisions", "record_change", "stored_state"]

STATE_FIELDS = (
    "base_model_name",
    "provider_id",
    *INHERITABLE_FIELDS,
    "supported_params_override",
    "params",
    "meta",
    "is_active",
    "access_grants",
)


def stored_state(row: CustomModelRow, provider: ProviderRow | None, grants: tuple[Grant, ...]) -> dict[str, Any]:
    state: dict[str, Any] = {field: getattr(row, field) for field in INHERITABLE_FIELDS}
    state |= {
        "base_model_name": row.base_model_name,
        "provider_id": provider.provider_id if provider is not None else None,
        "supported_params_override": row.supported_params_override,
        "params": dict(row.params or {}),
        "meta": dict(row.meta or {}),
        "is_active": row.is_active,
        "access_grants": [
            {"access_type": g.principal_type, "access_id": g.principal_id, "permission": g.permission}
            for g in sorted(grants)
        ],
    }
    return {field: state[field] for field in STATE_FIELDS}


async def record_change(
    session: AsyncSession,
    *,
    organization_id: str,
    model_pk: int,
    model_name: str,
    revision: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """One revision and its audit entry (object `model`, id = the model's name)."""
    actor = audit.current_actor()
    add_row(
        session,
        ModelRevisionRow,
        {
            "organization_id": organization_id,
            "model_pk": model_pk,
            "model_name": model_name,
            "revision": revision,
            "action": action,
            "at": datetime.now(UTC),
            "actor_user_id": actor.user_id,
            "via": actor.via,
            "request_id": actor.request_id,
            "before": before,
            "after": after,
        },
    )
    await audit.record(
        session,
        organization_id=organization_id,
        action=action,
        object_type="model",
        object_id=model_name,
        before=before,
        after=after,
    )


async def list_revisions(
    session: AsyncSession, organization_id: str, model_pk: int, *, offset: int, limit: int
) -> tuple[int, list[ModelRevisionRow]]:
    """How many revisions the model has, and one page of them, newest first (paged in SQL: a model
    written every minute for a year has half a million)."""
    where = (ModelRevisionRow.organization_id == organization_id, ModelRevisionRow.model_pk == model_pk)
    count = await session.scalar(select(func.count()).select_from(ModelRevisionRow).where(*where))
    query = select(ModelRevisionRow).where(*where).order_by(ModelRevisionRow.revision.desc())
    return count or 0, list(await session.scalars(query.offset(offset).limit(limit)))


async def find_revision(
    session: AsyncSession, organization_id: str, model_pk: int, revision: int
) -> ModelRevisionRow | None:
    query = select(ModelRevisionRow).where(
        ModelRevisionRow.organization_id == organization_id,
        ModelRevisionRow.model_pk == model_pk,
        ModelRevisionRow.revision == revision,
    )
    return (await session.execute(query)).scalars().first()
