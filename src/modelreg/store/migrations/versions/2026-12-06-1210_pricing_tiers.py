"""pricing tiers on custom models and their views

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pricing_tiers", sa.JSON(), nullable=True))
    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pricing_tiers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.drop_column("pricing_tiers")
    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.drop_column("pricing_tiers")
