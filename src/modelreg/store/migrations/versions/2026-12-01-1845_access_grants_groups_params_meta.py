"""access grants groups params meta

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:42:00.457836
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_groups_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("organization_id", "name", name="uq_groups_org_name"),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "model_grants",
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("principal_type", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("permission", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"], ["custom_models.pk"], name=op.f("fk_model_grants_model_pk_custom_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "model_pk", "principal_type", "principal_id", "permission", name=op.f("pk_model_grants")
        ),
    )
    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("grants", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("model_views", schema=None) as batch_op:
        batch_op.drop_column("is_active")
        batch_op.drop_column("grants")
        batch_op.drop_column("meta")
        batch_op.drop_column("params")

    with op.batch_alter_table("custom_models", schema=None) as batch_op:
        batch_op.drop_column("is_active")
        batch_op.drop_column("meta")
        batch_op.drop_column("params")

    op.drop_table("model_grants")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_id"))

    op.drop_table("group_members")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_organization_id"))

    op.drop_table("groups")
