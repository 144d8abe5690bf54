"""Database faults: which errors mean "the database is not answering", and what a process does about it.

- `fault_kind` tells a fault (timeout, refused or dropped connection, server shutting down, pool
  exhausted) from an ordinary error (a constraint, a bad query): faults answer 503, never 500.
- `DatabaseHealth` remembers the last fault. After a client-side timeout (a frozen server, a cut network)
  it fails further requests at once instead of letting each wait for its own timeout, until a probe
  succeeds: the change watcher probes every poll interval (and at once when the change listener
  reconnects), /readyz on every call. Refused connections fail fast by themselves and do not open it, so
  a restarted database is used again on the very next request; neither do pool timeouts (an overloaded
  process, not a dead database).
- `FaultLog` writes one line per kind of fault per interval (with how many were folded into it), never a
  traceback per request.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import asyncpg
from sqlalchemy import exc as sa_exc

__all__ = ["DatabaseHealth", "DatabaseUnavailable", "FaultLog", "fault_kind"]

log = logging.getLogger("modelreg.database")


class DatabaseUnavailable(Exception):
    """Raised without trying while the database recently timed out (see DatabaseHealth)."""

    def __init__(self, kind: str = "unavailable") -> None:
        super().__init__(f"database unavailable ({kind})")
        self.kind = kind


_BREAKER_KINDS = frozenset({"timeout"})


def _kind_of(error: BaseException) -> str | None:
    if isinstance(error, DatabaseUnavailable):
        return error.kind
    if isinstance(error, sa_exc.TimeoutError):  # QueuePool: no connection free within pool_timeout
        return "pool timeout"
    if isinstance(error, TimeoutError):  # connect_timeout / command_timeout / asyncio.timeout
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, asyncpg.exceptions.CannotConnectNowError | asyncpg.exceptions.AdminShutdownError):
        return "server starting or shutting down"
    if isinstance(error, asyncpg.exceptions.QueryCanceledError):
        return "statement timeout"
    if isinstance(error, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.exceptions.InterfaceError):
        return "connection lost"
    if isinstance(error, asyncpg.exceptions.TooManyConnectionsError):
        return "too many connections"
    if isinstance(error, OSError):
        return "network error"
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return "database locked"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "connection lost"
    return None


def fault_kind(error: BaseException) -> str | None:
    """The kind of database fault behind `error` (its causes included), or None for any other error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return kind
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper around the driver's error
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return None


class FaultLog:
    def __init__(self, interval_seconds: float = 10.0) -> None:
        self.interval = interval_seconds
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def note(self, kind: str, error: BaseException | None = None) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._folded[kind] = self._folded.get(kind, 0) + 1
            return
        self._last[kind] = now
        folded = self._folded.pop(kind, 0)
        detail = f": {type(error).__name__}" if error is not None else ""
        more = f" ({folded} more in the last {self.interval:g} s)" if folded else ""
        log.warning("database not available (%s%s)%s", kind, detail, more)

    def recovered(self) -> None:
        if self._last:
            log.warning("database answers again")
        self._last.clear()
        self._folded.clear()


class DatabaseHealth:
    def __init__(self, log_interval_seconds: float = 10.0) -> None:
        self.faults = FaultLog(log_interval_seconds)
        self.down_since: float | None = None
        """monotonic() of the first fault since the database last answered; None while it answers."""
        self.last_kind: str | None = None
        self._open = False
        self.counts: dict[str, int] = {}
        """Faults by kind since start (for metrics)."""

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def check(self) -> None:
        """Fail at once while a timeout says the database is not answering (until a probe succeeds)."""
        if self._open:
            raise DatabaseUnavailable(self.last_kind or "unavailable")

    def failed(self, kind: str, error: BaseException | None = None) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        self.last_kind = kind
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind in _BREAKER_KINDS:
            self._open = True
        if not isinstance(error, DatabaseUnavailable):
            self.faults.note(kind, error)

    def succeeded(self) -> None:
        if self.down_since is not None:
            self.down_since = None
            self._open = False
            self.faults.recovered()
