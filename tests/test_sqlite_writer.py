"""SQLite's writer connection runs its statements on the event loop's thread (store/sqlite_writer.py): waiting
for the write lock another process holds must not stop the loop, and must end in the "database locked"
fault (503) after the statement timeout, never in a hang."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from modelreg.store.database import Database, DatabaseTimeouts
from modelreg.store.faults import fault_kind


async def _ticks(seconds: float) -> int:
    """How many 10 ms sleeps the loop completed in `seconds` (a blocked loop completes none)."""
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_a_writer_waits_for_another_process_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    db = Database(url, DatabaseTimeouts(statement=0.6))
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
        other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)  # another process's connection
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")

        async def write(value: int) -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})

        started = time.monotonic()
        _, ticks = await asyncio.gather(write(1), _ticks(0.3))
        assert time.monotonic() - started >= 0.2  # it did wait for the lock
        assert ticks >= 10  # and the loop went on meanwhile

        other.execute("BEGIN IMMEDIATE")  # held past the statement timeout
        started = time.monotonic()
        with pytest.raises(Exception) as refused:
            await write(2)
        assert fault_kind(refused.value) == "database locked"
        assert 0.5 < time.monotonic() - started < 2
        other.execute("COMMIT")
        other.close()

        await write(3)  # the connection is usable again
        async with db.read() as session:
            assert list((await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars()) == [1, 3]
    finally:
        await db.dispose()


async def test_commits_reach_the_database_file_through_checkpoints_off_the_loop(tmp_path: Path) -> None:
    """The writer's automatic checkpoints are off (they would run on the loop); the Checkpointer moves the WAL
    into the database file from a reader's thread after commits."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (7)"))
        # Connections stay open (closing the last one would checkpoint by itself): the file, read without its
        # WAL, has the row once the Checkpointer ran.
        copy = tmp_path / "copy.db"
        found: list[tuple[int]] = []
        deadline = time.monotonic() + 5
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            copy.write_bytes((tmp_path / "c.db").read_bytes())
            with contextlib.closing(sqlite3.connect(copy)) as plain:
                tables = plain.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()
                found = plain.execute("SELECT v FROM t").fetchall() if tables else []
        assert found == [(7,)]
    finally:
        await db.dispose()
