"""LISTEN for change notifications on PostgreSQL (store/counters.py) and act on them at once.

One dedicated connection per process, outside the pool. Each notification names the counter that moved and
its new value (`name:value`, store/counters.py); `on_change(name, value)` acts on it right away (app.py):
an organization's snapshot goes through the same rule as the poll (store/memory.py, `ModelIndex.observe`),
so this process's own writes do not drop it; what needs I/O (a catalog, the meter) wakes the change
watcher, which reads the counters as on every poll. A lost notification (listener reconnecting, database
restart) therefore costs at most one poll interval, never a missed change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from modelreg.store.counters import CHANNEL, parse_notification
from modelreg.store.database import DatabaseTimeouts

__all__ = ["listen_for_changes"]

log = logging.getLogger("modelreg.listener")


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_changes(
    database_url: str, on_change: Callable[[str | None, int | None], None], timeouts: DatabaseTimeouts
) -> None:
    """Run until cancelled: keep a LISTEN connection open (reconnecting with backoff); call `on_change`
    with the counter's name and new value on every notification (value None: a bare name from a server of
    the previous version, changed to an unknown value), and with (None, None) after every (re)connect
    (notifications may have been missed meanwhile)."""
    delay = 0.5
    while True:
        connection: Any = None
        try:
            connection = await asyncpg.connect(_dsn(database_url), timeout=timeouts.connect)
            closed = asyncio.Event()
            connection.add_termination_listener(lambda _connection, done=closed: done.set())
            await connection.add_listener(CHANNEL, lambda *args: on_change(*parse_notification(str(args[3]))))
            on_change(None, None)
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
