"""model revisions and the audit log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _history_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.String(length=40), nullable=True),
        sa.Column("via", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "model_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        *_history_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_revisions")),
    )
    op.create_index(
        "ix_model_revisions_org_model", "model_revisions", ["organization_id", "model_pk", "revision"], unique=False
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=256), nullable=False),
        *_history_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_org_at", "audit_log", ["organization_id", "at"], unique=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_org_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_model_revisions_org_model", table_name="model_revisions")
    op.drop_table("model_revisions")
