"""LISTEN for change notifications on PostgreSQL (store/counters.py) and act on them at once.

One dedicated connection per process, outside the pool. Each notification names the counter that moved;
`on_change(name)` drops what it can right away (app.py) and wakes the change watcher, which reads the
counters as on every poll. A lost notification (listener reconnecting, database restart) therefore costs
at most one poll interval, never a missed change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from modelreg.store.counters import CHANNEL
from modelreg.store.database import DatabaseTimeouts

__all__ = ["listen_for_changes"]

log = logging.getLogger("modelreg.listener")


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(
    database_url: str, on_change: Callable[[str | None], None], timeouts: DatabaseTimeouts
) -> None:
    """Run until cancelled: keep a LISTEN connection open (reconnecting with backoff); call `on_change`
    with the counter's name on every notification, and with None after every (re)connect (notifications
    may have been missed meanwhile)."""
    delay = 0.5
    while True:
        connection: Any = None
        try:
            connection = await asyncpg.connect(_dsn(database_url), timeout=timeouts.connect)
            closed = asyncio.Event()
            connection.add_termination_listener(lambda _connection, done=closed: done.set())
            await connection.add_listener(CHANNEL, lambda *args: on_change(str(args[3])))
            on_change(None)
            delay = 0.5
            while not closed.is_set():
                # A silently dead peer (frozen server, cut network) is noticed by a bounded ping.
                try:
                    async with asyncio.timeout(15):
                        await closed.wait()
                except TimeoutError:
                    await connection.execute("SELECT 1", timeout=timeouts.statement)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure: reconnect; the poll covers the gap
            log.info("change listener reconnecting (%s)", type(error).__name__)
        finally:
            if connection is not None:
                connection.terminate()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
