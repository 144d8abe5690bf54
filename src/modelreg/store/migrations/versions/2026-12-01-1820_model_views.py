"""model views

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:13:30.802130
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_views",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("owner_user_id", sa.String(length=40), nullable=True),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("base_model_name", sa.String(length=256), nullable=True),
        sa.Column("model_type", sa.String(length=32), nullable=True),
        sa.Column("provider_pk", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.String(length=256), nullable=True),
        sa.Column("provider_name", sa.String(length=256), nullable=True),
        sa.Column("provider", sa.JSON(), nullable=True),
        sa.Column("input_cost", sa.Float(), nullable=True),
        sa.Column("output_cost", sa.Float(), nullable=True),
        sa.Column("cache_hit_input_cost", sa.Float(), nullable=True),
        sa.Column("cache_creation_input_cost", sa.Float(), nullable=True),
        sa.Column("max_context_window", sa.Integer(), nullable=True),
        sa.Column("max_output_tokens", sa.Integer(), nullable=True),
        sa.Column("streaming_support", sa.SmallInteger(), nullable=True),
        sa.Column("function_call", sa.SmallInteger(), nullable=True),
        sa.Column("image_support", sa.SmallInteger(), nullable=True),
        sa.Column("is_called_by_custom_name", sa.Boolean(), nullable=False),
        sa.Column("has_discount", sa.Boolean(), nullable=False),
        sa.Column("routable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("native_name", sa.String(length=256), nullable=True),
        sa.Column("supported_params", sa.JSON(), nullable=False),
        sa.Column("supported_params_override", sa.JSON(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pk"], ["custom_models.pk"], name=op.f("fk_model_views_pk_custom_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_model_views")),
        sa.UniqueConstraint("organization_id", "model_name", name="uq_model_views_org_model_name"),
    )
    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_views_provider_pk"), ["provider_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_views_provider_pk"))

    op.drop_table("model_views")
