"""Groups: the CLI (`modelreg group create --org ORG NAME`, `modelreg group add-member GROUP_ID --email E`, run as
a subprocess like tests/test_cli.py does) and the admin HTTP endpoints (api/admin.py).

CLI contract: success prints exactly one JSON object on stdout; errors go to stderr with a non-zero exit code and
nothing on stdout. Admin endpoints: admins of the caller's organization only (403 otherwise); another
organization's groups and users answer 404 like missing ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from access_helpers import Person, build_world, create_model, grant
from conftest import SECRET, Env, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head

ROOT = Path(__file__).resolve().parents[1]
VENV_SCRIPT = ROOT / ".venv" / "bin" / "modelreg"
MODELREG = str(VENV_SCRIPT) if VENV_SCRIPT.exists() else (shutil.which("modelreg") or "modelreg")
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
NO_AUTH = {"detail": "Authentication credentials were not provided."}


# ---- the CLI ---------------------------------------------------------------------------------------------------


@dataclass
class Cli:
    directory: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.directory / 'x.db'}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        environ |= {
            "MODELREG_DATABASE_URL": self.url,
            "MODELREG_SECRET_KEY": SECRET,
            "MODELREG_VAR_DIR": str(self.directory),
        }
        return subprocess.run(
            [MODELREG, *args], env=environ, cwd=self.directory, capture_output=True, text=True, timeout=60, check=False
        )

    def json(self, *args: str) -> dict[str, Any]:
        r = self.run(*args)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        assert len(r.stdout.splitlines()) == 1, f"expected one line of JSON on stdout, got {r.stdout!r}"
        value = json.loads(r.stdout)
        assert isinstance(value, dict), value
        return value

    def failure(self, args: list[str], mentions: str) -> list[str]:
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
        return [f"modelreg {' '.join(args)}: {p}; stderr: {r.stderr.strip()[-300:]!r}" for p in problems]

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.directory / "x.db")) as connection:
            return connection.execute(sql, params).fetchall()


@dataclass
class CliWorld:
    cli: Cli
    org_a: str
    org_b: str
    admin: Person
    member: Person
    other_member: Person
    b_member: Person


async def _seed(url: str) -> tuple[str, str, Person, Person, Person, Person]:
    """Organizations and users, made in-process (only the group commands are under test here)."""
    tag = uuid.uuid4().hex[:8]
    db = Database(url)
    try:
        async with db.write() as session:
            a = await identity.create_organization(session, f"cli-a-{tag}", f"admin-{tag}@a.example")
            b = await identity.create_organization(session, f"cli-b-{tag}", f"admin-{tag}@b.example")
            people = []
            for label, org in (("member", a), ("other", a), ("b_member", b)):
                email = f"{label}-{tag}@cli.example"
                user = await identity.create_user(session, org.organization_id, email)
                key = await identity.create_api_key(session, user.id)
                people.append(Person(label, user.id, key.api_key, org.organization_id, email))
    finally:
        await db.dispose()
    admin = Person("admin", a.user_id, a.api_key, a.organization_id, f"admin-{tag}@a.example")
    return a.organization_id, b.organization_id, admin, people[0], people[1], people[2]


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliWorld]:
    cli = Cli(tmp_path_factory.mktemp("groups-cli"))
    upgrade_to_head(cli.url)
    org_a, org_b, admin, member, other, b_member = asyncio.run(_seed(cli.url))
    yield CliWorld(cli, org_a, org_b, admin, member, other, b_member)


def test_group_create_and_add_member(cli_world: CliWorld) -> None:
    cli, w = cli_world.cli, cli_world
    out = cli.json("group", "create", "--org", w.org_a, "Platform Team")
    assert set(out) == {"group_id"} and out["group_id"].startswith("grp_")
    group = out["group_id"]
    assert cli.query("SELECT organization_id, name FROM groups WHERE id = ?", group) == [(w.org_a, "Platform Team")]
    # The same name in another organization is another group.
    other = cli.json("group", "create", "Platform Team", "--org", w.org_b)["group_id"]
    assert other != group

    assert w.member.email is not None
    added = cli.json("group", "add-member", group, "--email", w.member.email.upper())
    assert added == {"group_id": group, "email": w.member.email, "added": True}
    assert cli.query("SELECT user_id FROM group_members WHERE group_id = ?", group) == [(w.member.user_id,)]
    again = cli.json("group", "add-member", group, "--email", w.member.email)  # idempotent
    assert again["added"] is False  # already a member: nothing changed
    assert cli.query("SELECT count(*) FROM group_members WHERE group_id = ?", group) == [(1,)]


def test_group_cli_errors_change_nothing(cli_world: CliWorld) -> None:
    cli, w = cli_world.cli, cli_world
    group = cli.json("group", "create", "--org", w.org_a, "Errors Team")["group_id"]
    before = cli.query("SELECT count(*) FROM groups")[0][0], cli.query("SELECT count(*) FROM group_members")[0][0]
    assert w.b_member.email and w.member.email
    cases = [
        (["group", "create", "--org", w.org_a, "Errors Team"], "already exists"),
        (["group", "create", "--org", "org_does_not_exist", "Team"], "not found"),
        (["group", "create", "--org", w.org_a, ""], "blank"),
        # A user of another organization never joins the group (the group answers as missing).
        (["group", "add-member", group, "--email", w.b_member.email], "not found"),
        (["group", "add-member", "grp_does_not_exist", "--email", w.member.email], "not found"),
        (["group", "add-member", group, "--email", "nobody@nowhere.example"], "not found"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for found in pool.map(lambda case: cli.failure(*case), cases) for p in found]
    assert not problems, "\n".join(problems)
    after = cli.query("SELECT count(*) FROM groups")[0][0], cli.query("SELECT count(*) FROM group_members")[0][0]
    assert after == before


async def test_cli_groups_grant_access_in_a_running_server(cli_world: CliWorld, catalog: Catalog) -> None:
    """A group made and filled by the CLI works in grants, and a membership added by the CLI reaches a running
    server within the cache poll interval (another process: the identity change counter)."""
    cli, w = cli_world.cli, cli_world
    group = cli.json("group", "create", "--org", w.org_a, "Readers Via CLI")["group_id"]
    assert w.member.email and w.other_member.email
    cli.json("group", "add-member", group, "--email", w.member.email)
    app = create_app(make_settings(cli.url, cache_poll_seconds=0.1), catalog)
    async with AsyncTestClient(app=app) as client:
        await create_model(client, w.admin, "cli-granted", [grant("group", group, "read")], params={"p": 1})
        r = await client.get("/api/models/cli-granted/", headers=w.member.headers)
        assert r.status_code == 200 and r.json()["params"] == {}
        assert (await client.get("/api/models/cli-granted/", headers=w.other_member.headers)).status_code == 404
        # Another organization's group id cannot be granted.
        b_group = cli.json("group", "create", "--org", w.org_b, "B Readers")["group_id"]
        r = await client.patch(
            "/api/models/cli-granted/",
            json={"access_grants": [grant("group", b_group, "read")]},
            headers=w.admin.headers,
        )
        assert r.status_code == 400 and r.json()["detail"] == f"unknown group in access grant: {b_group}"

        done = await asyncio.to_thread(cli.run, "group", "add-member", group, "--email", w.other_member.email)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 5
        while True:
            r = await client.get("/api/models/cli-granted/", headers=w.other_member.headers)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 200, "a membership added by the CLI never reached the running server"


# ---- the admin HTTP endpoints ------------------------------------------------------------------------------


async def test_admin_endpoints_need_an_admin_of_the_organization(env: Env) -> None:
    world = await build_world(env.database_url, {"member": ("a", "member", ("team",))}, {"team": "a"})
    group = world.groups["team"]
    member = world["member"]
    calls = [
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users", {"email": "new@a.example"}),
        ("GET", "/api/admin/groups", None),
        ("POST", "/api/admin/groups", {"name": "mine"}),
        ("POST", f"/api/admin/groups/{group}/members", {"user_id": member.user_id}),
        ("DELETE", f"/api/admin/groups/{group}/members/{member.user_id}", None),
    ]
    problems = []
    for person, expected in ((member, (403, FORBIDDEN)), (Person("anonymous", None, None, None), (401, NO_AUTH))):
        for method, url, body in calls:
            r = await env.client.request(method, url, json=body, headers=person.headers)
            if (r.status_code, r.json()) != expected:
                problems.append(f"{person.label} {method} {url}: {r.status_code} {r.text[:200]}")
    assert not problems, "\n".join(problems)
    # Nothing happened: the member is still in the group, no group or user was created.
    r = await env.client.get("/api/admin/groups", headers=world["admin"].headers)
    assert [(g["name"], g["member_ids"]) for g in r.json()] == [("team", [member.user_id])]
    users = (await env.client.get("/api/admin/users", headers=world["admin"].headers)).json()
    assert sorted(u["id"] for u in users) == sorted([world["admin"].user_id, member.user_id])


async def test_admin_groups_lifecycle(env: Env) -> None:
    world = await build_world(env.database_url, {"m1": ("a", "member", ()), "m2": ("a", "admin", ())})
    admin, m1, m2 = world["admin"], world["m1"], world["m2"]
    r = await env.client.post("/api/admin/groups", json={"name": "Data Science"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "name", "organization_id", "member_ids"}
    assert created["name"] == "Data Science" and created["organization_id"] == world.org and created["member_ids"] == []
    assert created["id"].startswith("grp_")
    group = created["id"]
    r = await env.client.post("/api/admin/groups", json={"name": "Data Science"}, headers=admin.headers)
    assert r.status_code == 400 and "already exists" in r.json()["detail"]
    # The organization cannot come from the body.
    r = await env.client.post(
        "/api/admin/groups", json={"name": "Sneaky", "organization_id": world.orgs["b"]}, headers=admin.headers
    )
    assert r.status_code == 201 and r.json()["organization_id"] == world.org

    r = await env.client.post(f"/api/admin/groups/{group}/members", json={"user_id": m1.user_id}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["member_ids"] == [m1.user_id]
    r = await env.client.post(f"/api/admin/groups/{group}/members", json={"email": m2.email}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["member_ids"] == sorted([m1.user_id, m2.user_id])
    for body in ({}, {"user_id": m1.user_id, "email": m1.email}):
        r = await env.client.post(f"/api/admin/groups/{group}/members", json=body, headers=admin.headers)
        assert r.status_code == 400 and r.json()["detail"] == "give exactly one of user_id or email", body
    # Another admin of the same organization may manage it too.
    r = await env.client.delete(f"/api/admin/groups/{group}/members/{m1.user_id}", headers=m2.headers)
    assert r.status_code == 204 and r.content == b""
    r = await env.client.delete(f"/api/admin/groups/{group}/members/{m1.user_id}", headers=admin.headers)
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    listed = (await env.client.get("/api/admin/groups", headers=admin.headers)).json()
    assert {g["name"]: g["member_ids"] for g in listed} == {"Data Science": [m2.user_id], "Sneaky": []}

    r = await env.client.post(
        "/api/admin/users", json={"email": "Fresh@A.example", "role": "member"}, headers=admin.headers
    )
    assert r.status_code == 201 and r.json()["email"] == "fresh@a.example" and r.json()["organization_id"] == world.org
    r = await env.client.post(
        "/api/admin/users", json={"email": "boss@a.example", "role": "owner"}, headers=admin.headers
    )
    assert r.status_code == 400


async def test_admin_endpoints_never_reach_another_organization(env: Env) -> None:
    world = await build_world(
        env.database_url,
        {"member": ("a", "member", ()), "b_member": ("b", "member", ("b_team",))},
        {"a_team": "a", "b_team": "b"},
    )
    admin, b_admin, member, b_member = world["admin"], world["other_admin"], world["member"], world["b_member"]
    a_group, b_group = world.groups["a_team"], world.groups["b_team"]
    problems = []
    attempts = [
        # another organization's group
        (admin, "POST", f"/api/admin/groups/{b_group}/members", {"user_id": member.user_id}),
        (admin, "POST", f"/api/admin/groups/{b_group}/members", {"email": member.email}),
        (admin, "DELETE", f"/api/admin/groups/{b_group}/members/{b_member.user_id}", None),
        # a member of another organization
        (admin, "POST", f"/api/admin/groups/{a_group}/members", {"user_id": b_member.user_id}),
        (admin, "POST", f"/api/admin/groups/{a_group}/members", {"email": b_member.email}),
        (admin, "POST", f"/api/admin/groups/{a_group}/members", {"user_id": b_admin.user_id}),
        # missing ones answer the same
        (admin, "POST", "/api/admin/groups/grp_does_not_exist/members", {"user_id": member.user_id}),
        (admin, "POST", f"/api/admin/groups/{a_group}/members", {"user_id": "usr_does_not_exist"}),
        (admin, "POST", f"/api/admin/groups/{a_group}/members", {"email": "nobody@nowhere.example"}),
        (admin, "DELETE", f"/api/admin/groups/{a_group}/members/{b_member.user_id}", None),
        # and the other way round
        (b_admin, "POST", f"/api/admin/groups/{a_group}/members", {"user_id": b_member.user_id}),
        (b_admin, "DELETE", f"/api/admin/groups/{a_group}/members/{member.user_id}", None),
    ]
    await env.client.post(
        f"/api/admin/groups/{a_group}/members", json={"user_id": member.user_id}, headers=admin.headers
    )
    for person, method, url, body in attempts:
        r = await env.client.request(method, url, json=body, headers=person.headers)
        if (r.status_code, r.json()) != (404, NOT_FOUND):
            problems.append(f"{person.label} {method} {url} {body}: {r.status_code} {r.text[:200]}")
    assert not problems, "\n".join(problems)
    a_groups = (await env.client.get("/api/admin/groups", headers=admin.headers)).json()
    b_groups = (await env.client.get("/api/admin/groups", headers=b_admin.headers)).json()
    assert [(g["id"], g["member_ids"]) for g in a_groups] == [(a_group, [member.user_id])]
    assert [(g["id"], g["member_ids"]) for g in b_groups] == [(b_group, [b_member.user_id])]
    a_users = {u["id"] for u in (await env.client.get("/api/admin/users", headers=admin.headers)).json()}
    assert a_users == {admin.user_id, member.user_id}
