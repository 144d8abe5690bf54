"""SQLite's writer connection: aiosqlite's API, each call run on the event loop's own thread.

Why: aiosqlite hands every call (each execute, fetch, commit) to its connection's thread and back through
the event loop. A write transaction makes 10-20 such calls while it holds SQLite's single write lock, and
the profile put three quarters of a write's time in those hand-offs. The writer engine has one job
(Database serializes its transactions behind an asyncio lock), its pages are in memory and a commit in WAL
mode with synchronous=NORMAL appends to the WAL without an fsync, so each statement takes microseconds:
cheaper run where it is asked for than shipped to a thread.

What must not block the loop is a wait, and the only wait on this connection is for the write lock held
by another process (a second worker, the CLI): its busy timeout is 0, and BEGIN IMMEDIATE is retried
with asyncio sleeps until the statement timeout (`begin_immediate`), so the loop serves other requests
meanwhile. Readers keep aiosqlite's threads (store/database.py).

Checkpoints would block the loop too: SQLite runs one at the commit that finds the WAL over 1,000 pages,
copying them into the database file and syncing it (tens of ms to seconds on a busy disk). The writer's
automatic checkpoint is off (`wal_autocheckpoint=0`) and `Checkpointer` runs a PASSIVE checkpoint on a
reader's thread instead, at most once a second after commits. Durability does not change: a commit is in the
WAL either way, and checkpoints only move pages from the WAL into the database file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_

__all__ = ["Checkpointer", "begin_immediate", "connect_inline"]

log = logging.getLogger("modelreg.database")

_FIRST_RETRY_S = 0.0005
_LONGEST_RETRY_S = 0.02


class _InlineConnection(aiosqlite.Connection):
    """Statements run on the caller's thread. Connecting and closing still go through aiosqlite's thread
    (SQLAlchemy's adapter uses its queue for those), which is idle otherwise."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


async def connect_inline(path: str, timeout_s: float) -> aiosqlite.Connection:
    """The writer's driver connection (`async_creator` of its engine), usable from the loop's thread although
    opened on aiosqlite's. `timeout_s` is the busy timeout of its set-up pragmas (once per process: WAL mode may
    need a lock at first); the engine's connect handler then sets it to 0 for everything else."""
    connector = partial(sqlite3.connect, path, timeout=timeout_s, check_same_thread=False)
    connection = _InlineConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy's adapter does for aiosqlite's own connections
    return await connection


def begin_immediate(connection: Any, timeout_s: float) -> None:
    """BEGIN IMMEDIATE (take the write lock now), waiting without blocking the loop while another process
    holds it; after `timeout_s` the "database is locked" error is raised (a fault: 503)."""
    deadline = time.monotonic() + timeout_s
    delay = _FIRST_RETRY_S
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as error:
            if "locked" not in str(error.orig) or time.monotonic() + delay > deadline:
                raise
        await_(asyncio.sleep(delay))
        delay = min(delay * 2, _LONGEST_RETRY_S)


class Checkpointer:
    """PASSIVE checkpoints of the WAL on a reader's connection (aiosqlite's thread), never two at once and at
    most one per `every_s` after a commit; a failed one is tried again after a later commit."""

    def __init__(self, engine: AsyncEngine, every_s: float = 1.0) -> None:
        self._engine = engine
        self._every_s = every_s
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    def committed(self) -> None:
        now = time.monotonic()
        if self._task is None and now - self._last >= self._every_s:
            self._last = now
            self._task = asyncio.get_running_loop().create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            async with self._engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                assert driver is not None
                await driver.execute("PRAGMA wal_checkpoint(PASSIVE)")  # outside a transaction, as it must
        except Exception as error:  # noqa: BLE001 - the WAL only grows until the next one succeeds
            log.debug("WAL checkpoint failed: %s", error)
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            await self._task
