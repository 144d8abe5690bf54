"""catalog history details; unique organization names

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_snapshots") as batch:
        batch.add_column(sa.Column("origin", sa.String(500), nullable=True))
        batch.add_column(sa.Column("added", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("changed", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("removed", sa.Integer(), nullable=True))
    # Names become unique (the CLI's --org takes a name): older duplicates get their id appended.
    organizations = sa.table("organizations", sa.column("id", sa.String), sa.column("name", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(organizations.c.id, organizations.c.name).order_by(organizations.c.id)).all()
    seen: set[str] = set()
    for org_id, name in rows:
        if name in seen:
            connection.execute(
                organizations.update().where(organizations.c.id == org_id).values(name=f"{name} ({org_id})")
            )
        seen.add(name)
    with op.batch_alter_table("organizations") as batch:
        batch.create_unique_constraint("uq_organizations_name", ["name"])


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_constraint("uq_organizations_name", type_="unique")
    with op.batch_alter_table("catalog_snapshots") as batch:
        for column in ("removed", "changed", "added", "origin"):
            batch.drop_column(column)
