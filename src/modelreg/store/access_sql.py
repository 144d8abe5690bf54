"""The SQL twin of domain/access.py's can_read, for lists served from SQL (model_views).

Kept next to nothing else on purpose: tests compare it with can_read over a matrix of principals and grants.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, true

from modelreg.domain.grants import EVERYONE
from modelreg.domain.principal import Principal
from modelreg.store.rows import ModelGrantRow, ModelViewRow

__all__ = ["readable_sql"]


def readable_sql(principal: Principal) -> ColumnElement[bool]:
    """Custom models of the principal's organization that it may read (the caller scopes by organization)."""
    if principal.is_admin:
        return true()
    holders = [
        and_(ModelGrantRow.principal_type == "user", ModelGrantRow.principal_id.in_([principal.user_id, EVERYONE]))
    ]
    if principal.group_ids:
        holders.append(
            and_(ModelGrantRow.principal_type == "group", ModelGrantRow.principal_id.in_(sorted(principal.group_ids)))
        )
    held = or_(*holders)
    granted = exists().where(ModelGrantRow.model_pk == ModelViewRow.pk, held).correlate(ModelViewRow)
    may_write = (
        exists()
        .where(ModelGrantRow.model_pk == ModelViewRow.pk, ModelGrantRow.permission == "write", held)
        .correlate(ModelViewRow)
    )
    # A deactivated model stays readable only for those who may write it (as in domain/access.py).
    visible = and_(granted, or_(ModelViewRow.is_active.is_(True), may_write))
    return or_(ModelViewRow.owner_user_id == principal.user_id, visible)
