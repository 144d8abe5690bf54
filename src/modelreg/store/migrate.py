"""Run Alembic migrations programmatically, and tell whether a database is at head."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = ["UnmigratedDatabase", "alembic_config", "check_at_head", "upgrade_to_head"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class UnmigratedDatabase(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        _ensure_sqlite_dir(database_url)
    command.upgrade(alembic_config(database_url), "head")


def _ensure_sqlite_dir(database_url: str) -> None:
    path = database_url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def check_at_head(database_url: str) -> None:
    """Raise UnmigratedDatabase unless the schema is exactly at the newest migration."""
    expected = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_current_heads)
    finally:
        await engine.dispose()
    if current != expected:
        raise UnmigratedDatabase(
            f"database schema is at {sorted(current) or 'nothing'}, this version needs {sorted(expected)}: "
            "run `modelreg migrate` first"
        )


def check_at_head_sync(database_url: str) -> None:
    asyncio.run(check_at_head(database_url))
