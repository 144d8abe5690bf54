"""Faults for tests: freeze (SIGSTOP), thaw, stop and restart a PostgreSQL server of tests/pg_server.py.

Only ever use it on a server started for the test module itself (`running_postgres()`), never on the
session's shared one: other tests would hang or fail.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from pg_server import OS_USER, PgServer, find_pg_bindir

__all__ = ["PgControl"]


@dataclass
class PgControl:
    server: PgServer
    datadir: Path

    @classmethod
    def of(cls, server: PgServer) -> PgControl:
        with psycopg.connect(
            host=server.host, port=server.port, user=server.user, dbname=server.dbname, autocommit=True
        ) as connection:
            row = connection.execute("SHOW data_directory").fetchone()
        assert row is not None
        return cls(server, Path(str(row[0])))

    def _processes(self) -> list[psutil.Process]:
        postmaster = psutil.Process(int((self.datadir / "postmaster.pid").read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]

    def freeze(self) -> None:
        """Every server process stopped, its connections left open: clients wait, nobody answers."""
        for process in self._processes():
            process.suspend()

    def thaw(self) -> None:
        for process in self._processes():
            process.resume()

    def _pg_ctl(self, *args: str) -> None:
        command = [str(find_pg_bindir() / "pg_ctl"), "-D", str(self.datadir), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/", timeout=60)

    def stop(self) -> None:
        """A clean fast shutdown: connections are closed, new ones are refused."""
        self._opts = (self.datadir / "postmaster.opts").read_text()
        self._pg_ctl("stop", "-m", "fast", "-w")

    def start(self) -> None:
        """Start again with the options it ran with (port, sockets), as `pg_ctl restart` would."""
        words = shlex.split(self._opts)[1:]
        options = [w for i, w in enumerate(words) if w != "-D" and (i == 0 or words[i - 1] != "-D")]
        log = self.datadir.parent / "postgresql.log"
        self._pg_ctl("start", "-w", "-l", str(log), "-o", shlex.join(options))
