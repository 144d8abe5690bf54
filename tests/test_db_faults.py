"""Database faults against a real `modelreg serve`: a frozen PostgreSQL (SIGSTOP, connections left open)
and a stopped one. Reads the memory can answer keep answering, marked stale; everything else is a quick
503 with Retry-After in the dialect's shape; /readyz says not ready while /healthz stays 200; one log line
per kind of fault per interval, no tracebacks; and everything works again once the database is back.

The module starts its own PostgreSQL server: freezing the session's one would stall every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import live_server
from conftest import SECRET
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head
from pg_control import PgControl
from pg_server import PgServer, running_postgres

HANG_GUARD = 20.0
"""Client timeout: an answer is expected far sooner; only a hang reaches it (the finding was 40 s and more)."""
STALE = "x-modelreg-stale"
FAULT_ENV = {"MODELREG_DB_CONNECT_TIMEOUT": "1", "MODELREG_DB_POOL_TIMEOUT": "1", "MODELREG_DB_STATEMENT_TIMEOUT": "1"}


@dataclass
class Setup:
    pg: PgControl
    url: str
    server: live_server.Server
    http: httpx.Client
    key: str
    spare_keys: list[str]
    """Valid keys, each never used before one fault: not in the server's memory."""

    def get(self, path: str, key: str | None = None) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = self.http.get(path, headers={"Authorization": f"Bearer {key or self.key}"})
        return response, time.perf_counter() - started


async def _org(url: str) -> tuple[str, list[str]]:
    db = Database(url)
    try:
        async with db.write() as session:
            created = await identity.create_organization(session, "faults", "admin@faults.example")
            spares = [await identity.create_api_key(session, created.user_id) for _ in range(2)]
    finally:
        await db.dispose()
    return created.api_key, [spare.api_key for spare in spares]


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PgServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def setup(own_postgres: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    own_postgres.create_database("faults")
    url = own_postgres.sqlalchemy_url("faults")
    upgrade_to_head(url)
    key, spare = asyncio.run(_org(url))
    var_dir = tmp_path_factory.mktemp("faults")
    with (
        live_server.running_server(url, var_dir, **FAULT_ENV) as server,
        httpx.Client(base_url=server.base_url, timeout=HANG_GUARD) as http,
    ):
        created = http.post(
            "/api/models/",
            json={"model_name": "my-alias", "base_model_name": "gpt-4o"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        yield Setup(PgControl.of(own_postgres), url, server, http, key, spare)


WARM_READS = ["/api/models/my-alias/", "/api/models/?page_size=5", "/v1/models", "/api/v1/models/model?id=my-alias"]


def warm_up(s: Setup) -> None:
    for path in WARM_READS:
        response, _ = s.get(path)
        assert response.status_code == 200, (path, response.text)
        assert STALE not in response.headers


def wait_ready(s: Setup) -> None:
    deadline = time.monotonic() + 30
    while s.http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, f"never ready again:\n{s.server.log_text()[-3000:]}"
        time.sleep(0.1)


def check_while_down(s: Setup, label: str, unknown: str) -> list[float]:
    """Everything a client sees while the database is away; returns the answer times."""
    # First the readiness check, which notices (so does the change watcher within its poll and timeout).
    assert s.http.get("/healthz").status_code == 200
    ready = s.http.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["database"].startswith("failed: not answering")
    assert ready.json()["detail"].startswith("not ready: database")
    assert ready.headers["retry-after"]
    times = []
    for path in WARM_READS:
        response, took = s.get(path)
        times.append(took)
        assert response.status_code == 200, (label, path, response.status_code, response.text)
        assert response.headers.get(STALE) == "true", (label, path)

    write = s.http.patch("/api/models/my-alias/", json={"input_cost": 9}, headers={"Authorization": f"Bearer {s.key}"})
    assert write.status_code == 503, (label, write.text)
    assert int(write.headers["retry-after"]) > 0
    assert "database" in write.json()["detail"]

    needs_db, took = s.get("/api/providers/")
    times.append(took)
    assert needs_db.status_code == 503 and set(needs_db.json()) == {"detail"}, (label, needs_db.text)

    unknown_key, took = s.get("/v1/models", key=unknown)  # OpenAI's error shape on /v1
    times.append(took)
    assert unknown_key.status_code == 503, (label, unknown_key.text)
    assert unknown_key.headers["retry-after"]
    assert unknown_key.json()["error"]["type"] == "service_unavailable"

    webui, took = s.get("/api/v1/models/model?id=other", key=unknown)
    assert webui.status_code == 503 and "detail" in webui.json(), (label, webui.text)
    return times


def check_recovered(s: Setup, label: str, unknown: str) -> None:
    wait_ready(s)
    write = s.http.patch("/api/models/my-alias/", json={"input_cost": 9}, headers={"Authorization": f"Bearer {s.key}"})
    assert write.status_code == 200, (label, write.text)
    response, _ = s.get("/api/models/my-alias/")
    assert response.json()["input_cost"] == 9 and STALE not in response.headers
    assert s.get("/v1/models", key=unknown)[0].status_code == 200


def fault_lines(s: Setup) -> list[str]:
    return [line for line in s.server.log_text().splitlines() if "database not available" in line]


def test_ready_when_the_database_answers(setup: Setup) -> None:
    ready = setup.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["status"], body["detail"]) == ("ready", "ready")
    assert [body[check].split(":")[0] for check in ("database", "migrations", "catalog")] == ["ok", "ok", "ok"]


def test_frozen_database(setup: Setup) -> None:
    warm_up(setup)
    unknown = setup.spare_keys.pop()
    before = len(fault_lines(setup))
    setup.pg.freeze()
    try:
        # The first request that needs the database finds out: bounded by the timeouts (1 s here), a 503.
        first, first_took = setup.get("/api/providers/")
        assert first.status_code == 503, first.text
        started = time.monotonic()
        times = [t for _ in range(3) for t in check_while_down(setup, "frozen", unknown)]
        down_for = time.monotonic() - started
    finally:
        setup.pg.thaw()
    print(
        f"\nfrozen database: first request needing it {first_took:.2f} s (503); then answers in max "
        f"{max(times):.2f} s, median {sorted(times)[len(times) // 2]:.3f} s"
    )
    check_recovered(setup, "frozen", unknown)
    log = setup.server.log_text()
    assert "Traceback" not in log, log[-3000:]
    # One line per kind of fault per 10 s (timeouts, pool timeouts, dropped connections), not one per request.
    assert len(fault_lines(setup)) - before <= 3 * (down_for // 10 + 1) + 1, fault_lines(setup)


def test_stopped_database_and_a_server_that_waits_for_it(setup: Setup, tmp_path: Path) -> None:
    warm_up(setup)
    unknown = setup.spare_keys.pop()
    before = len(fault_lines(setup))
    setup.pg.stop()
    waiting = None
    try:
        started = time.monotonic()
        times = [t for _ in range(3) for t in check_while_down(setup, "stopped", unknown)]
        down_for = time.monotonic() - started
        # A second server started now waits for the database instead of failing.
        port = live_server.free_port()
        env = {**_server_env(setup.url, tmp_path), "MODELREG_DB_WAIT_SECONDS": "60"}
        waiting_log = tmp_path / "waiting.log"
        with waiting_log.open("w") as out:
            waiting = subprocess.Popen(
                live_server._serve_command(port), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while "waiting for the database" not in waiting_log.read_text():
            assert waiting.poll() is None and time.monotonic() < deadline, waiting_log.read_text()
            time.sleep(0.1)
    finally:
        setup.pg.start()
    print(f"\nstopped database: answers in max {max(times):.2f} s")
    check_recovered(setup, "stopped", unknown)
    assert "Traceback" not in setup.server.log_text()
    assert len(fault_lines(setup)) - before <= 3 * (down_for // 10 + 1) + 1, fault_lines(setup)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            assert waiting.poll() is None and time.monotonic() < deadline, "the waiting server never came up"
            time.sleep(0.2)
    finally:
        live_server._stop(waiting)
    output = waiting_log.read_text()
    assert "waiting for the database (connection refused), attempt 1" in output, output
    assert "Traceback" not in output


def _server_env(url: str, var_dir: Path) -> dict[str, str]:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    return {
        **environ,
        "MODELREG_DATABASE_URL": url,
        "MODELREG_SECRET_KEY": SECRET,
        "MODELREG_VAR_DIR": str(var_dir),
        **FAULT_ENV,
    }


def test_serve_gives_up_on_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{live_server.free_port()}/nothing"
    env = {**_server_env(url, tmp_path), "MODELREG_DB_WAIT_SECONDS": "2"}
    result = subprocess.run(
        live_server._serve_command(live_server.free_port()),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 2 and all(line.startswith("waiting for the database") for line in lines[:-1]), lines
    assert lines[-1].startswith("error: database not reachable (connection refused)"), lines
    assert "Traceback" not in result.stderr
