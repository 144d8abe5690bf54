"""A throwaway PostgreSQL server for the test suite.

Usage::

    from pg_server import running_postgres  # or tests.pg_server, depending on sys.path

    with running_postgres() as pg:
        pg.create_database("modelreg_test")
        engine = create_async_engine(pg.sqlalchemy_url("modelreg_test"))
        ...
        pg.drop_database("modelreg_test")

The server is started with pytest-postgresql's ``PostgreSQLExecutor`` (``pg_ctl`` under the hood)
from the machine's PostgreSQL server binaries. Its data directory, socket directory and log file
live in a fresh ``tempfile.mkdtemp()`` directory that is removed when the context exits. It
listens on ``127.0.0.1`` on a free TCP port, with ``trust`` authentication for user ``postgres``.

PostgreSQL refuses to run as root. When the tests run as root (locally and in CI), ``pg_ctl`` is
invoked through ``tests/pg_ctl_wrapper.sh``, which ``exec``\\ s ``runuser -u postgres -- <pg_ctl>``;
the real ``pg_ctl`` path reaches the wrapper through the ``MODELREG_REAL_PG_CTL`` environment
variable.

Binary lookup order: ``$MODELREG_PG_BINDIR``, then ``pg_config --bindir``, then the highest
version among ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from mirakuru.exceptions import AlreadyRunning, ExecutorError, ProcessExitedWithError
from psycopg import sql
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy.engine import URL

__all__ = ["PgServer", "find_pg_bindir", "running_postgres"]

logger = logging.getLogger(__name__)

BINDIR_ENV = "MODELREG_PG_BINDIR"
REAL_PG_CTL_ENV = "MODELREG_REAL_PG_CTL"
WRAPPER = Path(__file__).resolve().with_name("pg_ctl_wrapper.sh")
OS_USER = "postgres"  # the unprivileged system user the server runs as when we are root

_HOST = "127.0.0.1"
_DB_USER = "postgres"
_MAINTENANCE_DB = "postgres"
_START_TIMEOUT = 60
_PORT_ATTEMPTS = 3
_INSTALL_HINT = (
    "Install the PostgreSQL server with `apt-get install postgresql` (Debian/Ubuntu), "
    f"or set {BINDIR_ENV} to the directory that contains pg_ctl and initdb."
)


@dataclass(frozen=True)
class PgServer:
    """Connection details of a running throwaway PostgreSQL server."""

    host: str
    port: int
    user: str
    password: str | None
    dbname: str

    def sqlalchemy_url(self, dbname: str | None = None) -> str:
        """Return an async SQLAlchemy URL, e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/db``."""
        url = URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=dbname or self.dbname,
        )
        return url.render_as_string(hide_password=False)

    def create_database(self, name: str) -> None:
        """Create database ``name`` (it must not exist yet)."""
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, terminating any connections still open to it."""
        with self._connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            autocommit=True,
            connect_timeout=10,
        )


def _has_pg_ctl(bindir: Path) -> bool:
    pg_ctl = bindir / "pg_ctl"
    return pg_ctl.is_file() and os.access(pg_ctl, os.X_OK)


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> (15,), (9, 6), ...; non-numeric names sort first.
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return ()


def find_pg_bindir() -> Path:
    """Locate the PostgreSQL server binaries, or raise ``RuntimeError`` explaining how to install them."""
    explicit = os.environ.get(BINDIR_ENV)
    if explicit:
        if _has_pg_ctl(Path(explicit)):
            return Path(explicit)
        raise RuntimeError(f"{BINDIR_ENV}={explicit!r} does not contain an executable pg_ctl. {_INSTALL_HINT}")

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], check=True, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # pg_config from libpq-dev alone may point at a directory without server binaries.
        if out and _has_pg_ctl(Path(out)):
            return Path(out)

    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_pg_ctl(p)]
    if candidates:
        return max(candidates, key=_version_key)

    raise RuntimeError(f"PostgreSQL server binaries (pg_ctl) were not found. {_INSTALL_HINT}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _ensure_wrapper_executable() -> str:
    if not WRAPPER.is_file():
        raise RuntimeError(f"missing {WRAPPER}; it is needed to run PostgreSQL as {OS_USER!r} when root")
    mode = WRAPPER.stat().st_mode
    wanted = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    if mode & wanted != wanted:  # git checkouts may drop the executable bit
        os.chmod(WRAPPER, mode | wanted)
    return str(WRAPPER)


def _prepare_dirs_for_os_user(base: Path, paths: list[Path]) -> None:
    """Hand ``base`` and ``paths`` over to the ``postgres`` system user and check it can reach them."""
    if shutil.which("runuser") is None:
        raise RuntimeError("`runuser` (util-linux) is required to run PostgreSQL as root")
    try:
        account = pwd.getpwnam(OS_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root, but there is no {OS_USER!r} system user to run PostgreSQL as. {_INSTALL_HINT}"
        ) from None
    for path in [base, *paths]:
        os.chown(path, account.pw_uid, account.pw_gid)
    # The executor removes and re-creates the data dir via initdb, so postgres must own `base`;
    # every ancestor must also be traversable by it (true for /tmp, not for e.g. TMPDIR=/root/tmp).
    base.chmod(0o711)
    check = subprocess.run(
        ["runuser", "-u", OS_USER, "--", "test", "-w", str(base), "-a", "-x", str(base)],
        check=False,
        cwd="/",
        timeout=10,
    )
    if check.returncode != 0:
        raise RuntimeError(
            f"the {OS_USER!r} user cannot write to {base}; point TMPDIR at a directory whose "
            "ancestors are all traversable by it (e.g. TMPDIR=/tmp)"
        )


def _log_tail(logfile: Path, lines: int = 30) -> str:
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return "<no PostgreSQL log>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty PostgreSQL log>"


def _stop(executor: PostgreSQLExecutor) -> None:
    try:
        executor.stop()
    except (ExecutorError, OSError, subprocess.SubprocessError):
        logger.warning("pg_ctl stop failed; killing the PostgreSQL processes", exc_info=True)
        executor.kill()  # kills every process mirakuru marked, i.e. the postmaster and its children


def _start(executable: str, base: Path, datadir: Path, sockdir: Path, logfile: Path) -> PostgreSQLExecutor:
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        if attempt > 1:
            # A fresh data dir per retry: a discarded executor's __del__ may still rmtree its own one.
            datadir = base / f"data-{attempt}"
        port = _free_port(_HOST)
        executor = PostgreSQLExecutor(
            executable=executable,
            host=_HOST,
            port=port,
            datadir=str(datadir),
            unixsocketdir=str(sockdir),
            logfile=str(logfile),
            startparams="-w",
            dbname=_MAINTENANCE_DB,
            user=_DB_USER,
            password=None,  # initdb --auth=trust
            postgres_options=f"-c listen_addresses={_HOST}",
            timeout=_START_TIMEOUT,
        )
        try:
            executor.start()
        except AlreadyRunning:
            # Someone grabbed the port between _free_port() and the start; try another one.
            if attempt == _PORT_ATTEMPTS:
                raise
            continue
        except ProcessExitedWithError as exc:
            log = _log_tail(logfile)
            if "Address already in use" in log and attempt < _PORT_ATTEMPTS:
                continue
            raise RuntimeError(f"PostgreSQL failed to start ({exc}); log {logfile}:\n{log}") from exc
        except subprocess.CalledProcessError as exc:  # initdb failed
            output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output
            raise RuntimeError(f"initdb failed in {base} (exit {exc.returncode}):\n{output}") from exc
        except ExecutorError as exc:  # e.g. TimeoutExpired
            _stop(executor)
            raise RuntimeError(f"PostgreSQL failed to start ({exc}); log {logfile}:\n{_log_tail(logfile)}") from exc
        # mirakuru returns as soon as the port accepts connections, which can be before `pg_ctl start -w`
        # (and, as root, its runuser parent) has exited. Let it finish: otherwise an early stop() sends
        # SIGTERM to the still-running launcher and runuser stalls teardown for 2s ("Session terminated").
        if executor.process is not None:
            try:
                executor.process.wait(timeout=_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("pg_ctl start is still running although PostgreSQL accepts connections")
        return executor
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running_postgres() -> Iterator[PgServer]:
    """Start a throwaway PostgreSQL server, yield its connection details, then stop and delete it."""
    pg_ctl = find_pg_bindir() / "pg_ctl"
    as_root = os.geteuid() == 0

    previous_env = os.environ.get(REAL_PG_CTL_ENV)
    base = Path(tempfile.mkdtemp(prefix="modelreg-pg-"))
    executor: PostgreSQLExecutor | None = None
    try:
        datadir = base / "data"
        sockdir = base / "sock"
        logfile = base / "postgresql.log"
        datadir.mkdir(mode=0o700)
        sockdir.mkdir(mode=0o700)
        logfile.touch(mode=0o600)

        if as_root:
            executable = _ensure_wrapper_executable()
            _prepare_dirs_for_os_user(base, [datadir, sockdir, logfile])
            # The executor's own pg_ctl calls (--version, status, stop) inherit os.environ rather
            # than its envvars, so the wrapper's variable must live in os.environ itself.
            os.environ[REAL_PG_CTL_ENV] = str(pg_ctl)
        else:
            executable = str(pg_ctl)

        started = time.monotonic()
        executor = _start(executable, base, datadir, sockdir, logfile)
        logger.info(
            "PostgreSQL ready on %s:%s in %.2fs (files in %s)",
            _HOST,
            executor.port,
            time.monotonic() - started,
            base,
        )
        yield PgServer(host=_HOST, port=executor.port, user=_DB_USER, password=None, dbname=_MAINTENANCE_DB)
    finally:
        try:
            if executor is not None:
                _stop(executor)
        finally:
            shutil.rmtree(base, ignore_errors=True)
            if as_root:
                if previous_env is None:
                    os.environ.pop(REAL_PG_CTL_ENV, None)
                else:
                    os.environ[REAL_PG_CTL_ENV] = previous_env
