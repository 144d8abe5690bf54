"""model price history (dated prices)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_prices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_cost", sa.Float(), nullable=True),
        sa.Column("output_cost", sa.Float(), nullable=True),
        sa.Column("cache_hit_input_cost", sa.Float(), nullable=True),
        sa.Column("cache_creation_input_cost", sa.Float(), nullable=True),
        sa.Column("pricing_tiers", sa.JSON(), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("actor_user_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"], ["custom_models.pk"], name=op.f("fk_model_prices_model_pk_custom_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_prices")),
    )
    op.create_index("ix_model_prices_model", "model_prices", ["model_pk", "effective_from"], unique=False)
    op.create_index("ix_model_prices_pending", "model_prices", ["applied", "effective_from"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_model_prices_pending", table_name="model_prices")
    op.drop_index("ix_model_prices_model", table_name="model_prices")
    op.drop_table("model_prices")
