"""The console's history pages in-process (no browser): a model's revisions and restore for its writers only
(readers 403, members without a grant and other organizations 404), If-Match on restore, pricing tiers on the
model page, and the audit log for admins only (filters, pages, no secret)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from conftest import _wipe, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.services import identity
from modelreg.store.database import Database

PASSWORD = "a long password"
SECRET = "sk-console-history-secret-0123456789"
TIERS = [{"above_input_tokens": 200000, "input_cost": 6.0, "output_cost": 22.5}]


class World:
    def __init__(self, admin_key: str, other_key: str, users: dict[str, str]) -> None:
        self.admin = {"Authorization": f"Bearer {admin_key}"}
        self.admin_key, self.other_key, self.users = admin_key, other_key, users


async def _world(client: Any, database_url: str) -> World:
    """Organization A: an admin, a writer and a reader of model `m`, a member without a grant; organization B."""
    db = Database(database_url)
    users: dict[str, str] = {}
    try:
        async with db.write() as session:
            org = await identity.create_organization(session, "acme-history", "admin@history.example", PASSWORD)
            for role in ("writer", "reader", "member"):
                user = await identity.create_user(
                    session, org.organization_id, f"{role}@history.example", "member", PASSWORD
                )
                users[role] = user.id
            other = await identity.create_organization(session, "other-history", "admin@other.example", PASSWORD)
    finally:
        await db.dispose()
    world = World(org.api_key, other.api_key, users)
    provider = {"provider_id": "p1", "provider_name": "P1", "extra_kwargs": {"base_url": "https://api.example.com/v1"}}
    answer = await client.post("/api/providers/", json={**provider, "api_key": SECRET}, headers=world.admin)
    assert answer.status_code == 201, answer.text
    grants = [
        {"access_type": "user", "access_id": users["writer"], "permission": "write"},
        {"access_type": "user", "access_id": users["reader"], "permission": "read"},
    ]
    body = {"model_name": "m", "custom_provider_id": "p1", "input_cost": 1.0, "access_grants": grants}
    assert (
        await client.post("/api/models/", json={**body, "pricing_tiers": TIERS}, headers=world.admin)
    ).status_code == 201
    patched = await client.patch("/api/models/m/", json={"input_cost": 2.5}, headers=world.admin)
    assert patched.status_code == 200, patched.text
    return world


@pytest.fixture
async def console(database_url: str, catalog: Catalog) -> AsyncIterator[tuple[Any, World]]:
    app = create_app(make_settings(database_url, signin_rate_limit="100/60"), catalog)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client, await _world(client, database_url)
    await _wipe(database_url)


async def _sign_in(client: Any, **fields: str) -> str:
    """Signs in (a fresh session) and returns the CSRF token for forms."""
    client.cookies.clear()
    form = await client.get("/ui/signin")
    match = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    answer = await client.post("/ui/signin", data={"_csrf_token": match.group(1), **fields}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    token = client.cookies.get("modelreg_csrf")
    assert token
    return str(token)


def _etag(text: str) -> str:
    match = re.search(r'name="etag" value="([^"]+)"', text)
    assert match is not None
    return html.unescape(match.group(1))


async def _input_cost(client: Any, world: World) -> Any:
    return (await client.get("/api/models/m/", headers=world.admin)).json()["input_cost"]


async def test_writers_see_history_and_restore_through_the_service(console: tuple[Any, World]) -> None:
    client, world = console
    token = await _sign_in(client, email="writer@history.example", password=PASSWORD)
    model = await client.get("/ui/models/m")
    assert 'href="/ui/history/m"' in model.text
    assert 'id="tiers"' in model.text and "200,000" in model.text  # the pricing tiers are shown
    history = await client.get("/ui/history/m")
    assert history.status_code == 200
    assert 'id="revision-2"' in history.text and 'id="revision-1"' in history.text
    assert "<code>input_cost</code>" in history.text and "<code>2.5</code>" in history.text
    assert SECRET not in history.text
    etag = _etag(history.text)
    # A stale entity tag is refused like the API's If-Match (nothing written), then the current one restores.
    stale = await client.post("/ui/restore/m", data={"_csrf_token": token, "revision": "1", "etag": etag + "x"})
    assert stale.status_code == 200 and "Someone changed this model" in stale.text
    assert await _input_cost(client, world) == 2.5
    done = await client.post("/ui/restore/m", data={"_csrf_token": token, "revision": "1", "etag": etag})
    assert done.status_code == 200 and "Restored revision 1." in done.text
    assert await _input_cost(client, world) == 1.0
    api = (await client.get("/api/models/m/revisions/", headers=world.admin)).json()["results"][0]
    assert api["revision"] == 3 and api["action"] == "restore"
    assert api["via"] == "console" and api["actor_user_id"] == world.users["writer"]
    # People, not ids: each revision names its author by email.
    shown = (await client.get("/ui/history/m")).text
    assert "<td>writer@history.example</td>" in shown and "<td>admin@history.example</td>" in shown
    assert f"<td>{world.users['writer']}</td>" not in shown
    # No CSRF token: refused, nothing written.
    forged = await client.post("/ui/restore/m", data={"revision": "2", "etag": _etag(done.text)})
    assert forged.status_code == 403
    assert (await client.get("/api/models/m/revisions/", headers=world.admin)).json()["count"] == 3
    missing = await client.post("/ui/restore/m", data={"_csrf_token": token, "revision": "99"})
    assert missing.status_code == 404


async def test_readers_members_and_other_organizations_cannot(console: tuple[Any, World]) -> None:
    client, world = console
    token = await _sign_in(client, email="reader@history.example", password=PASSWORD)
    model = await client.get("/ui/models/m")
    assert model.status_code == 200 and "/ui/history/m" not in model.text
    assert (await client.get("/ui/history/m")).status_code == 403
    assert (await client.post("/ui/restore/m", data={"_csrf_token": token, "revision": "1"})).status_code == 403
    for who in ({"email": "member@history.example", "password": PASSWORD}, {"api_key": world.other_key}):
        token = await _sign_in(client, **who)
        assert (await client.get("/ui/history/m")).status_code == 404
        refused = await client.post("/ui/restore/m", data={"_csrf_token": token, "revision": "1"})
        assert refused.status_code == 404
    anonymous = client.cookies.clear() or await client.get("/ui/history/m", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/signin")
    assert await _input_cost(client, world) == 2.5  # nothing was restored
    assert (await client.get("/api/models/m/revisions/", headers=world.admin)).json()["count"] == 2


async def test_audit_log_page_for_admins(console: tuple[Any, World]) -> None:
    client, world = console
    for n in range(50):  # 52 model entries in all: two pages of 50
        answer = await client.patch("/api/models/m/", json={"display_name": f"M {n}"}, headers=world.admin)
        assert answer.status_code == 200
    total = (await client.get("/api/audit-log/", headers=world.admin)).json()["count"]
    await _sign_in(client, api_key=world.admin_key)
    everything = await client.get("/ui/admin/audit")
    assert everything.status_code == 200 and 'href="/ui/admin/audit"' in everything.text
    assert f"{total} entries" in everything.text
    first = await client.get("/ui/admin/audit?object_type=model")
    assert "52 entries" in first.text and first.text.count("<code>m</code>") == 50
    assert "M 49" in first.text and "object_type=model&amp;page=2" in first.text
    second = await client.get("/ui/admin/audit?object_type=model&page=2")
    assert second.text.count("<code>m</code>") == 2 and ">Next<" not in second.text and ">Previous<" in second.text
    assert SECRET not in everything.text + first.text + second.text
    providers = await client.get("/ui/admin/audit?object_type=provider")
    assert "1 entries" in providers.text and "<code>p1</code>" in providers.text
    by_writer = await client.get(f"/ui/admin/audit?actor={world.users['writer']}")
    assert "0 entries" in by_writer.text
    future = await client.get("/ui/admin/audit?start_time=2999-01-01T00:00:00Z")
    assert "0 entries" in future.text
    bad = await client.get("/ui/admin/audit?start_time=yesterday")
    assert bad.status_code == 400 and "start_time" in bad.text
    assert "admin@history.example</td>" in first.text  # the email, the id on hover
    # The model's history is paged the same way (52 revisions: 50 newest, then 2), each older one restorable.
    newest = await client.get("/ui/history/m")
    assert "52 revisions, page 1" in newest.text and newest.text.count('id="revision-') == 50
    assert 'id="revision-52"' in newest.text and 'id="revision-3"' in newest.text and ">Older<" in newest.text
    assert newest.text.count(">Restore</button>") == 49  # not the current one
    oldest = await client.get("/ui/history/m?page=2")
    assert oldest.text.count('id="revision-') == 2 and 'id="revision-1"' in oldest.text
    assert oldest.text.count(">Restore</button>") == 2 and ">Newer<" in oldest.text and ">Older<" not in oldest.text
    # Members are refused; another organization's admin sees none of these entries.
    await _sign_in(client, email="member@history.example", password=PASSWORD)
    assert (await client.get("/ui/admin/audit")).status_code == 403
    assert 'href="/ui/admin/audit"' not in (await client.get("/ui/")).text
    await _sign_in(client, api_key=world.other_key)
    other = await client.get("/ui/admin/audit?object_type=model")
    assert other.status_code == 200 and "0 entries" in other.text
