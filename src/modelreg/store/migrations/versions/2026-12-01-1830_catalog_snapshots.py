"""catalog snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 18:19:33.243159
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("model_count", sa.Integer(), nullable=False),
        sa.Column("content_gz", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("catalog_snapshots")
