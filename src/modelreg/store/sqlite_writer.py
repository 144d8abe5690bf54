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
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.util import await_

__all__ = ["begin_immediate", "connect_inline"]

_FIRST_RETRY_S = 0.0005
_LONGEST_RETRY_S = 0.02


class _InlineConnection(aiosqlite.Connection):
    """Statements run on the caller's thread. Connecting and closing still go through aiosqlite's thread
    (SQLAlchemy's adapter uses its queue for those), which is idle otherwise."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


async def connect_inline(path: str) -> aiosqlite.Connection:
    """The writer's driver connection (`async_creator` of its engine): no busy wait inside SQLite, and
    usable from the loop's thread although opened on aiosqlite's."""
    connection = _InlineConnection(partial(sqlite3.connect, path, timeout=0, check_same_thread=False), 64)
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
