"""A shutdown while the database refuses writes still ends: what could not be written is one log line, and the
app's connections are closed whatever failed (an open one could keep SQLite's write lock after the app is gone).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from typing import Any

from sqlalchemy.engine import make_url

from conftest import Env, _wipe, app_client
from modelreg.catalog.load import Catalog


class Records(logging.Handler):
    """modelreg's log records (Litestar's logging set-up replaces the root handlers, caplog's with them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_shutdown_with_the_write_lock_held_elsewhere_ends_cleanly(sqlite_url: str, catalog: Catalog) -> None:
    path = make_url(sqlite_url).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    seen = Records()
    logging.getLogger("modelreg").addHandler(seen)
    try:
        async with app_client(sqlite_url, catalog, db_statement_timeout=0.3) as client:
            env = Env(client, sqlite_url)
            org = await env.org("shutdown")
            # An authenticated read: the key's last use waits in memory for the next flush (at shutdown here).
            assert (await client.get("/api/models/", headers=org.headers)).status_code == 200
            registry: Any = client.app.state.registry
            holder.execute("BEGIN IMMEDIATE")  # another process writing for longer than the statement timeout
        # The lifespan ended without raising (the test client would have), and said why in one line.
        lines = [r for r in seen.records if "last use could not be written" in r.getMessage()]
        assert [r.getMessage() for r in lines] == ["API keys' last use could not be written: database locked"]
        assert lines[0].levelno == logging.WARNING and lines[0].exc_info is None
        # Closed even so: nothing of the app's is left checked out.
        assert registry.db.write_engine.pool.checkedout() == 0
        assert registry.db.read_engine.pool.checkedout() == 0
    finally:
        logging.getLogger("modelreg").removeHandler(seen)
        with contextlib.suppress(sqlite3.Error):
            holder.rollback()
        holder.close()
    await _wipe(sqlite_url)
