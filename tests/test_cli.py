"""The real `modelreg` console script, run as a subprocess against throwaway SQLite databases.

Contract (README): `org`, `user` and `key` print exactly one JSON object on stdout; errors go to stderr
with a non-zero exit code and nothing on stdout. Most tests share one migrated database (each uses its own
names and emails); those about unmigrated or empty databases get their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from conftest import SECRET

ROOT = Path(__file__).resolve().parents[1]
VENV_SCRIPT = ROOT / ".venv" / "bin" / "modelreg"
MODELREG = str(VENV_SCRIPT) if VENV_SCRIPT.exists() else (shutil.which("modelreg") or "modelreg")
KEY_RE = re.compile(r"sk_live_[A-Za-z0-9_-]+")
MIN_KEY_LENGTH = len("sk_live_") + 43  # 32 random bytes, URL-safe base64 without padding
MIGRATE_HINT = "modelreg migrate"


@dataclass
class Cli:
    """One database (a fresh directory) and a way to run `modelreg` against it."""

    directory: Path

    @property
    def db_path(self) -> Path:
        return self.directory / "x.db"

    @property
    def environ(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        return {
            **base,
            "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}",
            "MODELREG_SECRET_KEY": SECRET,
            "MODELREG_VAR_DIR": str(self.directory),
        }

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MODELREG, *args],
            env=self.environ,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> dict[str, Any]:
        """Run a command that must succeed and print exactly one JSON object on stdout."""
        r = self.run(*args)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        lines = r.stdout.splitlines()
        assert len(lines) == 1, f"expected one line of JSON on stdout, got {r.stdout!r}"
        value = json.loads(r.stdout)
        assert isinstance(value, dict), value
        return value

    def failure_problems(self, args: list[str], mentions: str) -> list[str]:
        """Run a command that must fail: non-zero exit, nothing on stdout, and on stderr a message (not a
        traceback) that contains `mentions`. Returns what was wrong, if anything."""
        r = self.run(*args)
        problems = []
        if r.returncode == 0:
            problems.append("exit code 0")
        if r.stdout:
            problems.append(f"stdout not empty: {r.stdout[:200]!r}")
        if "Traceback" in r.stderr:
            problems.append("a traceback on stderr")
        if mentions.lower() not in r.stderr.lower():
            problems.append(f"stderr does not mention {mentions!r}")
        return [f"modelreg {' '.join(args)!r}: {p}; stderr: {r.stderr.strip()[-300:]!r}" for p in problems]

    def all_fail(self, cases: list[tuple[list[str], str]]) -> None:
        """Run failing commands side by side (each is a ~1 s process start) and report every bad one."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda case: self.failure_problems(*case), cases))
        problems = [p for found in results for p in found]
        assert not problems, "\n".join(problems)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db_path)) as connection:
            return connection.execute(sql, params).fetchall()

    def counts(self) -> list[int]:
        """[organizations, users, api keys], to show that a failed command wrote nothing."""
        return [self.query(f"SELECT count(*) FROM {t}")[0][0] for t in ("organizations", "users", "api_keys")]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    shared = Cli(tmp_path_factory.mktemp("cli-shared"))
    r = shared.run("migrate")
    assert r.returncode == 0, r.stderr
    return shared


@pytest.fixture
def fresh(tmp_path: Path) -> Cli:
    """An empty directory: no database yet."""
    return Cli(tmp_path)


@pytest.fixture(scope="module")
def known(cli: Cli) -> dict[str, str]:
    """An organization and its admin, for the error cases to collide with."""
    org = cli.json("org", "create", "Known", "--admin-email", "known@known.example")
    return {"org": org["organization_id"], "email": "known@known.example"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assert_api_key(key: Any) -> None:
    assert isinstance(key, str) and key.startswith("sk_live_"), key
    assert len(key) >= MIN_KEY_LENGTH, f"{len(key)} characters: fewer than 32 random bytes"
    assert KEY_RE.fullmatch(key), key


def parse_utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---- happy paths ---------------------------------------------------------------------------------------------


def test_migrate_again_is_harmless(cli: Cli) -> None:
    before = cli.query("SELECT version_num FROM alembic_version")
    r = cli.run("migrate")
    assert r.returncode == 0, r.stderr
    assert before and cli.query("SELECT version_num FROM alembic_version") == before


def test_org_create_prints_ids_and_a_working_key(cli: Cli) -> None:
    out = cli.json("org", "create", "Acme Corp", "--admin-email", "Admin@Acme.example")
    assert set(out) == {"organization_id", "user_id", "api_key"}
    assert_api_key(out["api_key"])
    assert cli.query("SELECT name FROM organizations WHERE id = ?", out["organization_id"]) == [("Acme Corp",)]
    assert cli.query("SELECT organization_id, email, role, password_hash FROM users WHERE id = ?", out["user_id"]) == [
        (out["organization_id"], "admin@acme.example", "admin", None)
    ]
    keys = cli.query("SELECT key_hash, revoked_at FROM api_keys WHERE user_id = ?", out["user_id"])
    assert keys == [(sha256(out["api_key"]), None)]  # stored as a hash, never in clear
    assert not cli.query("SELECT 1 FROM api_keys WHERE key_hash = ?", out["api_key"])

    again = cli.json("org", "create", "Acme Corp 2", "--admin-email", "second@acme.example")
    assert again["organization_id"] != out["organization_id"] and again["api_key"] != out["api_key"]
    taken = cli.failure_problems(["org", "create", "Acme Corp", "--admin-email", "third@acme.example"], "already")
    assert not taken, taken  # organization names are unique (the CLI's --org takes a name)


def test_org_create_with_admin_password(cli: Cli) -> None:
    out = cli.json("org", "create", "Pw Org", "--admin-email", "pw@pw.example", "--admin-password", "s3cret-Pass!")
    [(stored,)] = cli.query("SELECT password_hash FROM users WHERE id = ?", out["user_id"])
    assert stored and "s3cret-Pass!" not in stored
    assert PasswordHasher().verify(stored, "s3cret-Pass!")


def test_user_create(cli: Cli, known: dict[str, str]) -> None:
    for role in ("admin", "member", None):
        email = f"user-{role or 'default'}@known.example"
        args = ["user", "create", "--org", known["org"], "--email", email]
        out = cli.json(*args, *(["--role", role] if role else []))
        assert set(out) == {"user_id", "organization_id"}
        assert out["organization_id"] == known["org"]
        rows = cli.query("SELECT organization_id, email, role, password_hash FROM users WHERE id = ?", out["user_id"])
        assert rows == [(known["org"], email, role or "member", None)], role
    out = cli.json("user", "create", "--org", known["org"], "--email", "pw@known.example", "--password", "hunter2!")
    [(stored,)] = cli.query("SELECT password_hash FROM users WHERE id = ?", out["user_id"])
    assert PasswordHasher().verify(stored, "hunter2!")


def test_key_create_and_revoke(cli: Cli, known: dict[str, str]) -> None:
    plain = cli.json("key", "create", "--email", known["email"])
    assert set(plain) == {"key_id", "api_key"}
    assert_api_key(plain["api_key"])
    [(user_id,)] = cli.query("SELECT id FROM users WHERE email = ?", known["email"])
    rows = cli.query("SELECT user_id, key_hash, expires_at, revoked_at FROM api_keys WHERE id = ?", plain["key_id"])
    assert rows == [(user_id, sha256(plain["api_key"]), None, None)]

    named = cli.json("key", "create", "--email", known["email"].upper(), "--name", "ci", "--expires-in-days", "30")
    assert named["api_key"] != plain["api_key"]
    [(name, expires_at)] = cli.query("SELECT name, expires_at FROM api_keys WHERE id = ?", named["key_id"])
    assert name == "ci"
    assert abs(parse_utc(expires_at) - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)

    revoked = cli.json("key", "revoke", plain["key_id"])
    assert revoked.get("key_id") == plain["key_id"]
    [(revoked_at,)] = cli.query("SELECT revoked_at FROM api_keys WHERE id = ?", plain["key_id"])
    assert revoked_at is not None
    assert cli.query("SELECT revoked_at FROM api_keys WHERE id = ?", named["key_id"]) == [(None,)]


# ---- errors --------------------------------------------------------------------------------------------------

ERRORS = [
    ("unknown org", ["user", "create", "--org", "org_doesnotexist", "--email", "a@new.example"], "org_doesnotexist"),
    ("duplicate email", ["user", "create", "--org", "{org}", "--email", "{email}"], "already exists"),
    ("duplicate email, other case", ["user", "create", "--org", "{org}", "--email", "KNOWN@Known.Example"], "exists"),
    ("bad role", ["user", "create", "--org", "{org}", "--email", "b@new.example", "--role", "superuser"], "role"),
    ("bad email", ["user", "create", "--org", "{org}", "--email", "not-an-email"], "email"),
    ("org with taken admin email", ["org", "create", "Dup", "--admin-email", "{email}"], "already exists"),
    ("org with blank name", ["org", "create", "", "--admin-email", "d@new.example"], "blank"),
    ("unknown email", ["key", "create", "--email", "nobody@new.example"], "nobody@new.example"),
    ("unknown key id", ["key", "revoke", "key_doesnotexist"], "key_doesnotexist"),
    ("expires in 0 days", ["key", "create", "--email", "{email}", "--expires-in-days", "0"], "expires"),
    ("expires in 36501 days", ["key", "create", "--email", "{email}", "--expires-in-days", "36501"], "expires"),
    ("expires in abc days", ["key", "create", "--email", "{email}", "--expires-in-days", "abc"], "expires-in-days"),
]


def test_errors_go_to_stderr_and_change_nothing(cli: Cli, known: dict[str, str]) -> None:
    before = cli.counts()
    revoked_before = cli.query("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL")
    cli.all_fail([([a.format(**known) for a in args], mentions) for _, args, mentions in ERRORS])
    assert cli.counts() == before
    assert cli.query("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL") == revoked_before
    assert not cli.query("SELECT 1 FROM organizations WHERE name IN ('Dup', '')")  # no orphan organization


# ---- unmigrated and empty databases --------------------------------------------------------------------------


BEFORE_MIGRATE = [
    ["org", "create", "Acme", "--admin-email", "a@acme.example"],
    ["user", "create", "--org", "org_x", "--email", "u@acme.example"],
    ["key", "create", "--email", "a@acme.example"],
    ["key", "revoke", "key_x"],
    ["bootstrap"],
]


def test_commands_before_migrate_say_so(fresh: Cli) -> None:
    fresh.all_fail([(args, MIGRATE_HINT) for args in BEFORE_MIGRATE])
    if fresh.db_path.exists():  # nothing was created behind the user's back
        assert fresh.query("SELECT name FROM sqlite_master WHERE type = 'table'") == []


def test_bootstrap_prints_the_key_once(fresh: Cli) -> None:
    assert fresh.run("migrate").returncode == 0
    first = fresh.json("bootstrap")
    assert set(first) == {"organization_id", "user_id", "api_key"}
    assert_api_key(first["api_key"])
    assert fresh.counts() == [1, 1, 1]
    [(role, key_hash)] = fresh.query("SELECT u.role, k.key_hash FROM users u JOIN api_keys k ON k.user_id = u.id")
    assert (role, key_hash) == ("admin", sha256(first["api_key"]))

    again = fresh.run("bootstrap")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"already_bootstrapped": True}
    assert not KEY_RE.search(again.stdout + again.stderr), "the key (or a new one) was printed again"
    assert fresh.counts() == [1, 1, 1]


def test_operators_can_list_everything_and_name_organizations(cli: Cli) -> None:
    org = cli.json("org", "create", "Listed Org", "--admin-email", "boss@listed.example")
    member = cli.json("user", "create", "--org", "Listed Org", "--email", "m@listed.example")  # by name
    assert member["organization_id"] == org["organization_id"]
    key = cli.json("key", "create", "--email", "m@listed.example", "--name", "ci")

    orgs = {o["name"]: o for o in cli.json("org", "list")["organizations"]}
    assert orgs["Listed Org"]["id"] == org["organization_id"] and orgs["Listed Org"]["users"] == 2
    users = cli.json("user", "list", "--org", org["organization_id"])["users"]
    assert [(u["email"], u["role"]) for u in users] == [
        ("boss@listed.example", "admin"),
        ("m@listed.example", "member"),
    ]

    by_email = cli.json("key", "list", "--email", "m@listed.example")["keys"]
    assert [(k["id"], k["name"], k["owner_email"], k["revoked_at"]) for k in by_email] == [
        (key["key_id"], "ci", "m@listed.example", None)
    ]
    by_org = cli.json("key", "list", "--org", "Listed Org")
    assert {k["owner_email"] for k in by_org["keys"]} == {"boss@listed.example", "m@listed.example"}
    assert not KEY_RE.search(json.dumps(by_org)), "a key was printed"
    assert set(by_org["keys"][0]) == {
        "id", "name", "owner_email", "organization_id", "created_at", "last_used_at", "expires_at", "revoked_at"
    }  # fmt: skip
    cli.json("key", "revoke", key["key_id"])  # revocable by the id the listing shows
    assert cli.json("key", "list", "--email", "m@listed.example")["keys"][0]["revoked_at"]

    group = cli.json("group", "create", "ops", "--org", "Listed Org")
    first = cli.json("group", "add-member", group["group_id"], "--email", "m@listed.example")
    again = cli.json("group", "add-member", group["group_id"], "--email", "m@listed.example")
    assert (first["added"], again["added"]) == (True, False)
    listed = cli.json("group", "list", "--org", "Listed Org")["groups"]
    assert [(g["name"], g["members"]) for g in listed] == [("ops", ["m@listed.example"])]

    cli.all_fail(
        [
            (["user", "list", "--org", "No Such Org"], "not found"),
            (["key", "list", "--email", "nobody@listed.example"], "no user"),
            (["org", "create", "Listed Org", "--admin-email", "x@listed.example"], "already exists"),
        ]
    )


def test_serve_refuses_a_port_in_use_and_a_bad_port(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli.run("serve", "--host", "127.0.0.1", "--port", str(port), timeout=60)
    assert busy.returncode == 1 and "Traceback" not in busy.stderr, busy.stderr
    assert busy.stderr.strip() == f"error: 127.0.0.1:{port} is already in use", busy.stderr
    bad = cli.run("serve", "--port", "99999")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "65535" in bad.stderr, bad.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(cli: Cli, port: int, **env: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`modelreg serve` in its own process group, always torn down (with its workers) on exit."""
    log_path = cli.directory / f"serve-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [MODELREG, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**cli.environ, **env},
        cwd=cli.directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        log.close()


@contextlib.contextmanager
def live_server(cli: Cli, **env: str) -> Iterator[tuple[httpx.Client, Path]]:
    """A running server that answers /healthz, and a client for it."""
    port = free_port()
    with server(cli, port, **env) as (process, log_path), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"modelreg serve exited with {process.returncode}:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if http.get("/healthz").status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"modelreg serve did not answer /healthz within 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield http, log_path
        assert process.poll() is None, f"the server died:\n{log_path.read_text()}"


def test_serve_refuses_an_unmigrated_database(fresh: Cli) -> None:
    with server(fresh, free_port()) as (process, log_path):
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("modelreg serve kept running on an unmigrated database")
    output = log_path.read_text()
    assert code != 0
    assert MIGRATE_HINT in output, output
    assert "Traceback" not in output, output


MODEL = "/api/models/openai/gpt-4o/"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_until_rejected(http: httpx.Client, key: str, seconds: float, log_path: Path) -> httpx.Response:
    """Poll with the key until the server stops accepting it; fail after `seconds`."""
    start = time.monotonic()
    while (r := http.get(MODEL, headers=bearer(key))).status_code == 200:
        if time.monotonic() - start > seconds:
            pytest.fail(f"the running server still accepts the revoked key after {seconds} s:\n{log_path.read_text()}")
        time.sleep(0.1)
    return r


def new_org_with_spare_key(cli: Cli, name: str) -> tuple[str, str, str]:
    """(the key printed by `org create`, its key id, a second key of the same admin)."""
    email = f"admin@{name}.example"
    org = cli.json("org", "create", name, "--admin-email", email)
    spare = cli.json("key", "create", "--email", email)
    [(key_id,)] = cli.query("SELECT id FROM api_keys WHERE key_hash = ?", sha256(org["api_key"]))
    return org["api_key"], key_id, spare["api_key"]


def test_key_works_against_a_running_server_until_revoked(cli: Cli) -> None:
    key, key_id, spare = new_org_with_spare_key(cli, "live")
    with live_server(cli) as (http, log_path):  # the default poll interval (1 s)
        ok = http.get(MODEL, headers=bearer(key))
        assert ok.status_code == 200, ok.text
        assert ok.json()["model_name"] == "openai/gpt-4o"
        assert http.get(MODEL, headers=bearer(spare)).status_code == 200
        assert http.get(MODEL).status_code == 401
        time.sleep(1.5)  # past the server's first look at the change counters (see the next test)

        cli.json("key", "revoke", key_id)
        r = wait_until_rejected(http, key, 10, log_path)
        assert r.status_code == 401 and r.json() == {"detail": "Invalid or expired credentials."}, r.text
        assert http.get(MODEL, headers=bearer(spare)).status_code == 200  # only that key was revoked


def test_revocation_soon_after_server_start_is_not_missed(cli: Cli) -> None:
    """A key used (so cached) and revoked before the server first polls the change counters must still stop
    working within a few poll intervals. The poll interval is stretched to 3 s so that the revocation
    reliably lands before the first poll."""
    key, key_id, _ = new_org_with_spare_key(cli, "early")
    with live_server(cli, MODELREG_CACHE_POLL_SECONDS="3") as (http, log_path):
        assert http.get(MODEL, headers=bearer(key)).status_code == 200
        cli.json("key", "revoke", key_id)
        r = wait_until_rejected(http, key, 12, log_path)
        assert r.status_code == 401, r.text
