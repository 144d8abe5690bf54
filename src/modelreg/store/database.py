"""Engines and transactions.

SQLite is one writer at a time. Rather than letting concurrent writers collide and fail with
"database is locked", write transactions start with BEGIN IMMEDIATE on a dedicated engine and are
serialized in-process by a lock; readers use a second engine and never block in WAL mode. The writer's
statements run on the event loop's thread (store/sqlite_writer.py), the readers' on aiosqlite's threads.
PostgreSQL uses one engine for both.

Routes and the CLI open transactions here; services receive the session and never commit.

Every database call is bounded (DatabaseTimeouts): connecting, waiting for a pooled connection and each
statement. A fault (store/faults.py) is recorded in `health` on its way out of a transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from modelreg.filters.regex import safe_regex
from modelreg.store.faults import DatabaseHealth, fault_kind
from modelreg.store.sqlite_writer import Checkpointer, begin_immediate, connect_inline

__all__ = ["Database", "DatabaseTimeouts"]


@dataclass(frozen=True)
class DatabaseTimeouts:
    connect: float = 3.0
    """Seconds to open a connection (TCP and the server's start-up answer)."""
    pool: float = 5.0
    """Seconds to wait for a free pooled connection."""
    statement: float = 5.0
    """Seconds one statement may take (client-side: also ends waits on a frozen server); on SQLite the
    busy timeout (how long a writer waits for the lock)."""


def _py_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _regexp(pattern: str, value: str | None) -> bool:
    return isinstance(value, str) and safe_regex(pattern).search(value) is not None


def _json_loads(text: str | bytes) -> Any:
    """JSON columns read back with msgspec's decoder (json.loads took a sixth of a page read of model views,
    msgspec a quarter of that); json.loads for what only it accepts (NaN, huge numbers from json.dumps)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _sqlite_engine(url: str, *, immediate: bool, timeouts: DatabaseTimeouts) -> AsyncEngine:
    path = make_url(url).database
    in_memory = path in (None, "", ":memory:")  # one shared connection (StaticPool): no waits
    options: dict[str, Any] = {"json_deserializer": _json_loads}
    if not in_memory:
        options["pool_timeout"] = timeouts.pool
    inline = immediate and not in_memory
    if inline:
        assert path is not None
        # Database's write lock lets one transaction use it at a time: one connection is all it needs.
        options.update(async_creator=partial(connect_inline, path, timeouts.statement), pool_size=1, max_overflow=0)
    else:
        options.update(connect_args={"timeout": timeouts.statement})
    engine = create_async_engine(url, **options)
    busy_ms = 0 if inline else int(timeouts.statement * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that our BEGIN is the one that runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a commit survives the application
        # crashing (the WAL is in the OS's cache), only a power loss or OS crash can take the last ones back.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # The WAL is truncated back to 64 MB after a checkpoint (a bulk import may grow it far beyond).
        cursor.execute("PRAGMA journal_size_limit=67108864")
        if inline:  # its checkpoints run on a reader's thread (sqlite_writer.Checkpointer), not on the loop
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        # Filters (filters/to_sql.py) need Python's case folding and linear-time regexes inside SQLite.
        dbapi_connection.create_function("py_lower", 1, _py_lower, deterministic=True)
        dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if inline:
            begin_immediate(connection, timeouts.statement)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str, timeouts: DatabaseTimeouts) -> AsyncEngine:
    statement_ms = str(int(timeouts.statement * 1000))
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        json_deserializer=_json_loads,
        pool_timeout=timeouts.pool,
        connect_args={
            "timeout": timeouts.connect,
            "command_timeout": timeouts.statement,
            # The server ends what runs too long too, releasing its locks, even if this client is gone.
            "server_settings": {"statement_timeout": statement_ms, "lock_timeout": statement_ms},
        },
    )


class Database:
    def __init__(self, url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        self.url = url
        self.timeouts = timeouts or DatabaseTimeouts()
        self.health = DatabaseHealth()
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, immediate=False, timeouts=self.timeouts)
            self.write_engine = _sqlite_engine(url, immediate=True, timeouts=self.timeouts)
        else:
            self.read_engine = self.write_engine = _postgres_engine(url, self.timeouts)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        in_memory = make_url(url).database in (None, "", ":memory:")
        self._checkpoints = Checkpointer(self.read_engine) if self.is_sqlite and not in_memory else None

    @asynccontextmanager
    async def _watched(self, probe: bool) -> AsyncIterator[None]:
        """Record how the transaction went in `health`. `probe`: try even while recent timeouts say the
        database is down (the change watcher and /readyz find out when it answers again)."""
        if not probe:
            self.health.check()
        try:
            yield
        except BaseException as error:
            kind = fault_kind(error)
            if kind is not None:
                self.health.failed(kind, error)
            raise
        self.health.succeeded()

    @asynccontextmanager
    async def read(self, *, probe: bool = False) -> AsyncIterator[AsyncSession]:
        async with self._watched(probe), self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends normally, rolled back on any exception."""
        if self._write_lock is None:
            async with self._watched(False), self._write_sessions() as session, session.begin():
                yield session
            return
        async with self._watched(False), self._write_lock, self._write_sessions() as session, session.begin():
            yield session
        if self._checkpoints is not None:
            self._checkpoints.committed()

    async def dispose(self) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.close()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
