"""usage minutes and model throughput

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:53:54.964656
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_throughput",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("average_tps", sa.Float(), nullable=True),
        sa.Column("average_ttft", sa.Float(), nullable=True),
        sa.Column("average_latency", sa.Float(), nullable=True),
        sa.Column("number_of_requests", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "model_name", name=op.f("pk_model_throughput")),
    )
    op.create_table(
        "usage_minutes",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("provider_id", sa.String(length=256), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("upstream_failures", sa.BigInteger(), nullable=False),
        sa.Column("gateway_failures", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_count", sa.BigInteger(), nullable=False),
        sa.Column("ttft_sum", sa.Float(), nullable=False),
        sa.Column("ttft_count", sa.BigInteger(), nullable=False),
        sa.Column("tps_sum", sa.Float(), nullable=False),
        sa.Column("tps_count", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_hit_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("unpriced", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "model_name", "provider_id", "minute", "is_public", name=op.f("pk_usage_minutes")
        ),
    )
    with op.batch_alter_table("usage_minutes", schema=None) as batch_op:
        batch_op.create_index("ix_usage_minutes_minute", ["minute"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_minutes", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_minutes_minute")

    op.drop_table("usage_minutes")
    op.drop_table("model_throughput")
