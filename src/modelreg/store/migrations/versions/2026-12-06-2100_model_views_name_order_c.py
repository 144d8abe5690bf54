"""model views: an index in code-point order of names on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00

Lists sort names by code point (`COLLATE "C"` on PostgreSQL, filters/to_sql.py); the unique index on
(organization_id, model_name) has the database's default collation, which the planner cannot use for that
order. A streamed list walks this index batch by batch (keyset pagination, services/sql_listing.py):
without it, every batch would sort the whole organization. SQLite compares names by code point already,
so its unique index serves (nothing to do there).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_model_views_org_name_c ON model_views (organization_id, model_name COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_model_views_org_name_c")
