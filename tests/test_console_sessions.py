"""Console sessions in-process (no browser): cookie flags, expiry, rate-limited sign-in, sessions ending with
their user or key, no open redirect after sign-in, and the console's pages refusing members' admin actions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import _wipe, app_client
from modelreg.catalog.load import Catalog
from modelreg.services import identity
from modelreg.store.database import Database

PASSWORD = "a long password"


async def _org(database_url: str) -> tuple[str, str, str, str]:
    """(organization id, admin key, member email, member user id); both users have PASSWORD."""
    db = Database(database_url)
    try:
        async with db.write() as session:
            org = await identity.create_organization(session, "acme-sessions", "admin@sessions.example", PASSWORD)
            member = await identity.create_user(
                session, org.organization_id, "member@sessions.example", "member", PASSWORD
            )
    finally:
        await db.dispose()
    return org.organization_id, org.api_key, member.email, member.id


@pytest.fixture
async def console(database_url: str, catalog: Catalog) -> AsyncIterator[tuple[Any, str]]:
    settings = {"session_ttl_seconds": 2, "secure_cookies": True, "signin_rate_limit": "6/60"}
    async with app_client(database_url, catalog, base_url="https://testserver.local", **settings) as client:
        yield client, database_url
    await _wipe(database_url)


async def _csrf(client: Any) -> str:
    page = await client.get("/ui/signin")
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


async def _sign_in(client: Any, **fields: str) -> Any:
    token = await _csrf(client)
    return await client.post("/ui/signin", data={"_csrf_token": token, **fields}, follow_redirects=False)


async def test_cookie_flags_expiry_and_no_open_redirect(console: tuple[Any, str]) -> None:
    client, url = console
    _, _, email, _ = await _org(url)
    answer = await _sign_in(client, email=email, password=PASSWORD, next="https://evil.example/")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert "modelreg_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower() and "Path=/ui" in cookie
    assert (await client.get("/ui/keys")).status_code == 200
    await asyncio.sleep(2.2)  # the session's lifetime (2 s here) is over
    expired = await client.get("/ui/keys", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"].startswith("/ui/signin?next=")


async def test_sign_in_is_rate_limited(console: tuple[Any, str]) -> None:
    client, url = console
    _, _, email, _ = await _org(url)
    statuses = [(await _sign_in(client, email=email, password="wrong")).status_code for _ in range(7)]
    assert statuses[:6] == [400] * 6 and statuses[6] == 429


async def test_sessions_end_with_their_user_and_their_key(console: tuple[Any, str]) -> None:
    client, url = console
    _, admin_key, email, member_id = await _org(url)
    admin = {"Authorization": f"Bearer {admin_key}"}
    # The member signs in; the admin deactivates them over the API; the member's session ends at once.
    assert (await _sign_in(client, email=email, password=PASSWORD)).status_code == 303
    assert (await client.get("/ui/keys")).status_code == 200
    assert (await client.post(f"/api/users/{member_id}/deactivate", headers=admin)).status_code == 200
    assert (await client.get("/ui/keys", follow_redirects=False)).status_code == 303
    assert (await _sign_in(client, email=email, password=PASSWORD)).status_code == 400
    # A session opened with a key ends when the key is revoked.
    client.cookies.clear()
    assert (await _sign_in(client, api_key=admin_key)).status_code == 303
    assert (await client.get("/ui/admin/users")).status_code == 200
    keys = (await client.get("/api/keys", headers=admin)).json()
    assert (await client.delete(f"/api/keys/{keys[0]['id']}", headers=admin)).status_code == 200
    assert (await client.get("/ui/admin/users", follow_redirects=False)).status_code == 303


async def test_members_are_refused_admin_pages_and_actions(console: tuple[Any, str]) -> None:
    client, url = console
    _, _, email, member_id = await _org(url)
    assert (await _sign_in(client, email=email, password=PASSWORD)).status_code == 303
    token = client.cookies.get("modelreg_csrf")
    for path in ("/ui/admin/users", "/ui/admin/groups", "/ui/usage", "/ui/usage.csv", "/ui/providers/new"):
        assert (await client.get(path)).status_code == 403, path
    posts = {
        "/ui/admin/users": {"email": "x@sessions.example", "role": "admin"},
        f"/ui/admin/users/{member_id}/role": {"role": "admin"},
        "/ui/admin/groups": {"name": "g"},
        "/ui/providers/new": {"provider_id": "p", "provider_name": "P", "extra_kwargs": "{}"},
    }
    for path, body in posts.items():
        answer = await client.post(path, data={"_csrf_token": token, **body})
        assert answer.status_code == 403, path
        assert "Not allowed" in answer.text
    assert (await client.get("/ui/providers")).status_code == 200  # reading providers is fine


async def test_bad_input_in_admin_forms_is_explained_and_kept(console: tuple[Any, str]) -> None:
    client, url = console
    _, admin_key, email, _ = await _org(url)
    assert (await _sign_in(client, api_key=admin_key)).status_code == 303
    token = client.cookies.get("modelreg_csrf")
    short = await client.post(
        "/ui/admin/users", data={"_csrf_token": token, "email": "new@sessions.example", "password": "short"}
    )
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert 'value="new@sessions.example"' in short.text
    taken = await client.post("/ui/admin/users", data={"_csrf_token": token, "email": email, "role": "admin"})
    assert taken.status_code == 400 and "already exists" in taken.text
    days = await client.post("/ui/keys", data={"_csrf_token": token, "name": "nightly", "expires_in_days": "soon"})
    assert days.status_code == 400 and "whole number" in days.text and 'value="nightly"' in days.text
    assert 'id="new-key"' not in days.text  # no key was created or shown
