"""Run Alembic migrations programmatically, and tell whether a database is at head."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = [
    "UnmigratedDatabase",
    "alembic_config",
    "check_at_head",
    "current_heads",
    "expected_heads",
    "upgrade_to_head",
]

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


def current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


@functools.cache
def expected_heads(database_url: str) -> frozenset[str]:
    """The newest migration(s) this version ships (read once: the scripts do not change while running)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


async def check_at_head(database_url: str, timeout: float | None = None) -> None:
    """Raise UnmigratedDatabase unless the schema is exactly at the newest migration. `timeout` bounds
    connecting and each statement (PostgreSQL)."""
    expected = expected_heads(database_url)
    bounded = timeout is not None and not database_url.startswith("sqlite")
    connect_args = {"timeout": timeout, "command_timeout": timeout} if bounded else {}
    engine = create_async_engine(database_url, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(current_heads)
    finally:
        await engine.dispose()
    if current != expected:
        raise UnmigratedDatabase(
            f"database schema is at {sorted(current) or 'nothing'}, this version needs {sorted(expected)}: "
            "run `modelreg migrate` first"
        )


def check_at_head_sync(database_url: str, timeout: float | None = None) -> None:
    asyncio.run(check_at_head(database_url, timeout))
