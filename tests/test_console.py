"""The web console in a real headless Chromium (the machine's /usr/bin/chromium) against a live `modelreg serve`.

One server, one fake upstream and one browser for the whole module; each test opens its own browser
context (its own cookies). Every page visited is screenshotted at 1280 and 390 px wide; with
MODELREG_SCREENSHOTS=<dir> (`make screenshots`) they are written there, otherwise to a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api as playwright_sync

from fake_upstream import FakeUpstream, running_fake_upstream
from live_server import Server, running_server
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"
PROVIDER_SECRET = "sk-provider-SECRET-4f9a7c"


@dataclass
class User:
    user_id: str
    email: str
    key: str


@dataclass
class Site:
    server: Server
    upstream: FakeUpstream
    admin: User
    member: User
    browser: Any
    shots: Path

    @property
    def base(self) -> str:
        return self.server.base_url

    def api(self, user: User, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {user.key}"}
        return httpx.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=30)


async def _seed(url: str) -> tuple[User, User]:
    db = Database(url)
    try:
        async with db.write() as session:
            org = await identity.create_organization(session, "acme", "admin@acme.example", PASSWORD)
            member = await identity.create_user(session, org.organization_id, "member@acme.example", "member", PASSWORD)
            key = await identity.create_api_key(session, member.id, "member key")
    finally:
        await db.dispose()
    return (
        User(org.user_id, "admin@acme.example", org.api_key),
        User(member.id, "member@acme.example", key.api_key),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
    directory = tmp_path_factory.mktemp("console")
    url = f"sqlite+aiosqlite:///{directory}/console.db"
    upgrade_to_head(url)
    admin, member = asyncio.run(_seed(url))
    shots = Path(os.environ.get("MODELREG_SCREENSHOTS") or tempfile.mkdtemp(prefix="modelreg-shots-"))
    shots.mkdir(parents=True, exist_ok=True)
    with (
        running_fake_upstream() as upstream,
        running_server(
            url,
            directory,
            MODELREG_UPSTREAM_ALLOW="127.0.0.0/8",
            MODELREG_USAGE_FLUSH_SECONDS="0.3",
            MODELREG_SIGNIN_RATE_LIMIT="200/60",
        ) as server,
        playwright_sync.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield Site(server, upstream, admin, member, browser, shots)
        finally:
            browser.close()


def open_page(site: Site, width: int = 1280) -> Any:
    context = site.browser.new_context(viewport={"width": width, "height": 900}, base_url=site.base)
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_in(site: Site, user: User, *, with_key: bool = False, width: int = 1280) -> Any:
    page = open_page(site, width)
    page.goto("/ui/signin")
    if with_key:
        page.fill("#api_key", user.key)
        page.click("text=Sign in with key")
    else:
        page.fill("#email", user.email)
        page.fill("#password", PASSWORD)
        page.click("button:text-is('Sign in')")
    page.wait_for_url("**/ui/")
    return page


def shoot(site: Site, page: Any, name: str) -> None:
    """The page as it is, wide and narrow."""
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=False)
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(site.shots / f"{name}-390.png"), full_page=False)
    page.set_viewport_size({"width": width, "height": 900})


def table_names(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("#results tbody tr td:first-child a").all_inner_texts()]


def create_model_in_form(page: Any, name: str, base: str, **fields: str) -> None:
    page.goto("/ui/new")
    page.fill("#model_name", name)
    page.fill("#base_model_name", base)
    for field, value in fields.items():
        page.fill(f"#{field}", value)
    page.click("button:text-is('Save')")


# ---- sign-in -----------------------------------------------------------------------------------


def test_anonymous_visitors_see_the_public_catalog(site: Site) -> None:
    page = open_page(site)
    page.goto("/")
    assert page.url.endswith("/ui/")
    assert page.locator("a.button:text-is('Sign in')").count() == 1
    assert len(table_names(page)) == 50
    shoot(site, page, "catalog-anonymous")
    page.context.close()


def test_sign_in_with_a_password_and_sign_out_ends_the_session(site: Site) -> None:
    page = sign_in(site, site.admin)
    assert site.admin.email in page.inner_text("header")
    cookie = next(c for c in page.context.cookies() if c["name"] == "modelreg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("text=Sign out")
    page.wait_for_url("**/ui/?flash=*")
    assert "Sign in" in page.inner_text("header")
    # The old cookie no longer opens anything: the session ended on the server.
    replay = httpx.get(
        f"{site.base}/ui/keys", cookies={"modelreg_session": cookie["value"]}, follow_redirects=False, timeout=10
    )
    assert replay.status_code == 303 and "/ui/signin" in replay.headers["location"]
    page.context.close()


def test_sign_in_with_an_api_key_and_a_wrong_password(site: Site) -> None:
    page = sign_in(site, site.member, with_key=True)
    assert site.member.email in page.inner_text("header")
    assert page.locator("nav a:text-is('Users')").count() == 0  # a member is offered no admin page
    page.context.close()
    page = open_page(site)
    page.goto("/ui/signin")
    shoot(site, page, "signin")
    page.fill("#email", site.admin.email)
    page.fill("#password", "wrong password")
    page.click("button:text-is('Sign in')")
    assert "did not work" in page.inner_text("[role=alert]")
    assert page.input_value("#email") == site.admin.email  # what was typed is kept
    page.context.close()


def test_a_form_post_without_the_csrf_token_is_refused(site: Site) -> None:
    page = sign_in(site, site.admin)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    body = {"model_name": "csrf-probe", "base_model_name": "gpt-4o-mini", "is_active": "on"}
    refused = httpx.post(f"{site.base}/ui/new", data=body, cookies=cookies, timeout=10)
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = httpx.post(f"{site.base}/ui/new", data={**body, "_csrf_token": "0" * 128}, cookies=cookies, timeout=10)
    assert forged.status_code == 403
    assert site.api(site.admin, "GET", "/api/models/csrf-probe/").status_code == 404
    # The JSON API ignores the console's cookies: they authenticate nothing there.
    assert httpx.get(f"{site.base}/api/me", cookies=cookies, timeout=10).status_code == 401
    page.context.close()


# ---- catalog -----------------------------------------------------------------------------------


def test_catalog_filters_and_sort_agree_with_the_api(site: Site) -> None:
    page = sign_in(site, site.admin)
    page.select_option("#provider", "openai")
    page.wait_for_url(re.compile(r".*provider=openai.*"))
    assert "q=" not in page.url and "kind=" not in page.url  # the pushed link is canonical: no empty fields
    page.check("input[name=tools]")
    page.wait_for_url(re.compile(r".*tools=1.*"))
    page.fill("#min_context", "100000")
    page.click("button:text-is('Apply')")
    page.wait_for_url(re.compile(r".*min_context=100000.*"))
    page.click("th a:text-is('Input $/1M')")
    page.wait_for_url(re.compile(r".*sort=input_cost.*"))
    page.click("th a:has-text('Input $/1M')")  # again: descending
    page.wait_for_url(re.compile(r".*sort=-input_cost.*"))
    shown = table_names(page)
    assert shown, "the filter matched nothing"
    body = page.locator("#api-body").text_content()
    assert body is not None
    answer = httpx.post(
        f"{site.base}/api/models/list/?page=1&page_size=50&sort_by=-input_cost",
        content=body,
        headers={"Authorization": f"Bearer {site.admin.key}", "Content-Type": "application/json"},
        timeout=10,
    ).json()
    assert [m["model_name"] for m in answer["results"]] == shown
    assert str(answer["count"]) in page.inner_text(".summary")
    # A shared link reproduces the view.
    other = open_page(site)
    other.goto(page.url)
    assert table_names(other) == shown
    other.context.close()
    # Bad input is reported beside its field and kept as typed; nothing breaks.
    page.goto("/ui/?max_input=cheap")
    assert page.locator("#max_input-error").inner_text() == "Enter a number of at least 0."
    assert page.input_value("#max_input") == "cheap"
    page.goto("/ui/")
    shoot(site, page, "catalog")
    page.context.close()


# ---- models ------------------------------------------------------------------------------------


def test_create_a_model_inheriting_a_builtin_with_an_input_price_override(site: Site) -> None:
    page = sign_in(site, site.admin)
    page.goto("/ui/new")
    page.locator("#base_model_name").press_sequentially("gpt-4o-mi")
    page.locator("#base-options option").first.wait_for(state="attached")
    suggested = page.locator("#base-options option").evaluate_all("options => options.map(o => o.value)")
    assert suggested and all("gpt-4o-mi" in name for name in suggested)  # type-ahead over the catalog
    create_model_in_form(page, "acme-cheap-4o", "gpt-4o", input_cost="1.23")
    page.wait_for_url("**/ui/models/acme-cheap-4o?flash=*")
    base = site.api(site.admin, "GET", "/api/models/gpt-4o/").json()
    api_base = base["model_name"]  # the canonical name the bare catalog name stands for
    rows = {row.locator("th").inner_text(): row for row in page.locator("#fields tbody tr").all()}
    input_row = rows["Input price ($/1M tokens)"].inner_text()
    assert "$1.23" in input_row and "set on this model" in input_row
    output_row = rows["Output price ($/1M tokens)"].inner_text()
    assert f"${base['output_cost']:.2f}" in output_row and f"inherited from {api_base}" in output_row
    api = site.api(site.admin, "GET", "/api/models/acme-cheap-4o/").json()
    assert api["input_cost"] == 1.23 and api["output_cost"] == base["output_cost"]
    shoot(site, page, "model")
    # Field errors come back beside the field, in the API's words, with the input kept.
    page.goto("/ui/edit/acme-cheap-4o")
    shoot(site, page, "model-edit")
    page.fill("#output_cost", "-5")
    page.click("button:text-is('Save')")
    assert page.locator("#output_cost-error").inner_text().startswith("Expected `float` >= 0")
    assert page.input_value("#output_cost") == "-5"
    page.context.close()


def test_grants_change_what_a_member_sees_and_a_reader_cannot_edit(site: Site) -> None:
    admin = sign_in(site, site.admin)
    create_model_in_form(admin, "acme-private", "gpt-4o-mini")
    admin.wait_for_url("**/ui/models/acme-private?flash=*")
    admin.goto("/ui/edit/acme-private")
    admin.select_option("#grant_who_1", "")  # remove "everyone may read"
    admin.click("button:text-is('Save')")
    admin.wait_for_url("**/ui/models/acme-private?flash=*")

    member = sign_in(site, site.member)
    member.goto("/ui/?q=acme-private")
    assert table_names(member) == []
    member.goto("/ui/models/acme-private")
    assert "Not found" in member.inner_text("h1")

    admin.goto("/ui/edit/acme-private")
    admin.select_option("#grant_who_1", f"user:{site.member.user_id}")
    admin.select_option("#grant_permission_1", "read")
    admin.click("button:text-is('Save')")
    admin.wait_for_url("**/ui/models/acme-private?flash=*")

    member.goto("/ui/?q=acme-private")
    assert table_names(member) == ["acme-private"]
    # The member's catalog of custom models is exactly what the API lists for the member.
    member.goto("/ui/?kind=custom&per=100")
    body = member.locator("#api-body").text_content() or ""
    listed = httpx.post(
        f"{site.base}/api/models/list/?page_size=100",
        content=body,
        headers={"Authorization": f"Bearer {site.member.key}", "Content-Type": "application/json"},
        timeout=10,
    ).json()
    assert [m["model_name"] for m in listed["results"]] == table_names(member)
    member.goto("/ui/models/acme-private")
    assert member.locator("a:text-is('Edit')").count() == 0  # not offered to a reader...
    response = member.goto("/ui/edit/acme-private")
    assert response.status == 403  # ...and refused when forced
    cookies = {c["name"]: c["value"] for c in member.context.cookies()}
    forced = httpx.post(
        f"{site.base}/ui/delete/acme-private",
        data={"_csrf_token": cookies["modelreg_csrf"]},
        cookies=cookies,
        timeout=10,
    )
    assert forced.status_code == 403
    assert site.api(site.admin, "GET", "/api/models/acme-private/").status_code == 200
    admin.context.close()
    member.context.close()


def test_a_concurrent_edit_shows_the_conflict(site: Site) -> None:
    first = sign_in(site, site.admin)
    create_model_in_form(first, "acme-shared", "gpt-4o-mini", input_cost="0.5")
    first.wait_for_url("**/ui/models/acme-shared?flash=*")
    second = sign_in(site, site.admin)
    first.goto("/ui/edit/acme-shared")
    second.goto("/ui/edit/acme-shared")
    first.fill("#input_cost", "0.7")
    first.click("button:text-is('Save')")
    first.wait_for_url("**/ui/models/acme-shared?flash=*")
    second.fill("#input_cost", "0.9")
    second.click("button:text-is('Save')")
    conflict = second.inner_text(".conflict")
    assert "Someone else saved" in conflict and "0.7" in conflict and "0.9" in conflict
    assert site.api(site.admin, "GET", "/api/models/acme-shared/").json()["input_cost"] == 0.7
    shoot(site, second, "model-conflict")
    second.click("button:text-is('Save anyway')")
    second.wait_for_url("**/ui/models/acme-shared?flash=*")
    assert site.api(site.admin, "GET", "/api/models/acme-shared/").json()["input_cost"] == 0.9
    first.context.close()
    # The history lists the three revisions; restoring the first brings its price back (a fourth revision).
    second.click("text=History")
    second.wait_for_url("**/ui/history/acme-shared")
    assert second.locator("#revisions > tbody > tr").count() == 3
    shoot(site, second, "model-history")
    second.once("dialog", lambda dialog: dialog.accept())
    second.locator("#revision-1 button:text-is('Restore')").click()
    second.wait_for_url("**/ui/history/acme-shared?flash=Restored*")
    assert second.locator("#revisions > tbody > tr").count() == 4
    assert site.api(site.admin, "GET", "/api/models/acme-shared/").json()["input_cost"] == 0.5
    second.goto("/ui/admin/audit?object_type=model")
    assert "acme-shared" in second.inner_text("#audit")
    shoot(site, second, "audit-log")
    second.context.close()


def test_deactivate_and_the_inactive_filter(site: Site) -> None:
    page = sign_in(site, site.admin)
    create_model_in_form(page, "acme-retired", "gpt-4o-mini")
    page.wait_for_url("**/ui/models/acme-retired?flash=*")
    page.click("button:text-is('Deactivate')")
    page.wait_for_url("**/ui/models/acme-retired?flash=Deactivated.")
    assert page.locator(".badge.inactive").count() == 1
    page.goto("/ui/?state=inactive")
    assert table_names(page) == ["acme-retired"]
    body = page.locator("#api-body").text_content()
    answer = httpx.post(
        f"{site.base}/api/models/list/",
        content=body or "",
        headers={"Authorization": f"Bearer {site.admin.key}", "Content-Type": "application/json"},
        timeout=10,
    ).json()
    assert [m["model_name"] for m in answer["results"]] == ["acme-retired"]
    member = sign_in(site, site.member)
    member.goto("/ui/?q=acme-retired")
    assert table_names(member) == []  # a deactivated model is for its writers only
    page.goto("/ui/models/acme-retired")
    page.click("button:text-is('Activate')")
    page.wait_for_url("**/ui/models/acme-retired?flash=Activated.")
    member.goto("/ui/?q=acme-retired")
    assert table_names(member) == ["acme-retired"]
    page.context.close()
    member.context.close()


# ---- providers, gateway, usage -----------------------------------------------------------------


def test_provider_key_never_reaches_the_browser_and_gateway_calls_show_up(site: Site) -> None:
    page = sign_in(site, site.admin)
    bodies: list[str] = []
    page.on("response", lambda response: bodies.append(_text(response)))
    page.goto("/ui/providers/new")
    page.fill("#provider_id", "fake")
    page.fill("#provider_name", "Fake upstream")
    page.fill("#extra_kwargs", f'{{"base_url": "{site.upstream.base_url}"}}')
    page.fill("#api_key", PROVIDER_SECRET)
    page.click("button:text-is('Save')")
    page.wait_for_url("**/ui/providers/fake?flash=*")
    assert "one is set" in page.inner_text("label[for=api_key]")
    page.click("button:text-is('Test connection')")
    page.wait_for_selector("#check:has-text('Connected')")
    shoot(site, page, "provider")
    page.goto("/ui/providers")
    shoot(site, page, "providers")

    create_model_in_form(page, "acme-fake", "")
    page.wait_for_selector("[role=alert]")  # no base and no provider: the API's rule, beside the field
    assert page.locator("#provider_id-error").count() == 1
    page.select_option("#provider_id", "fake")
    page.fill("#input_cost", "2")
    page.fill("#output_cost", "4")
    page.click("button:text-is('Save')")
    page.wait_for_url("**/ui/models/acme-fake?flash=*")

    for _ in range(3):
        answer = site.api(
            site.admin,
            "POST",
            "/v1/chat/completions",
            {"model": "acme-fake", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 200, answer.text
    assert site.upstream.requests("/v1/chat/completions")[-1]["headers"]["authorization"] == f"Bearer {PROVIDER_SECRET}"

    deadline = time.monotonic() + 15
    while True:
        page.goto("/ui/models/acme-fake")
        if "3" in page.locator(".card:has-text('Requests') b").inner_text() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert page.locator(".card:has-text('Requests') b").inner_text() == "3"
    shoot(site, page, "model-with-traffic")
    page.goto("/ui/usage")
    assert "acme-fake" in page.inner_text("#per-model")
    shoot(site, page, "usage")
    csv = page.request.get("/ui/usage.csv?days=30")
    assert csv.status == 200 and "acme-fake" in csv.text()
    page.goto("/ui/providers/fake")
    assert all(PROVIDER_SECRET not in body for body in bodies)
    assert PROVIDER_SECRET not in page.content()
    # A member sees providers but is offered no change, and a forced one is refused.
    member = sign_in(site, site.member)
    member.goto("/ui/providers/fake")
    assert member.locator("button:text-is('Save')").count() == 0
    cookies = {c["name"]: c["value"] for c in member.context.cookies()}
    forced = httpx.post(
        f"{site.base}/ui/providers/fake/delete",
        data={"_csrf_token": cookies["modelreg_csrf"]},
        cookies=cookies,
        timeout=10,
    )
    assert forced.status_code == 403
    page.context.close()
    member.context.close()


def _text(response: Any) -> str:
    try:
        return str(response.text())
    except playwright_sync.Error:  # redirects and aborted requests have no body
        return ""


# ---- administration ----------------------------------------------------------------------------


def test_admin_pages_users_groups_and_keys(site: Site) -> None:
    page = sign_in(site, site.admin)
    page.goto("/ui/admin/users")
    page.fill("#email", "new@acme.example")
    page.fill("#password", "long enough pw")
    page.click("button:text-is('Add user')")
    page.wait_for_url("**/ui/admin/users?flash=*")
    assert "new@acme.example" in page.inner_text("table")
    shoot(site, page, "users")
    page.goto("/ui/admin/groups")
    page.fill("#name", "support")
    page.click("button:text-is('Create group')")
    page.wait_for_url("**/ui/admin/groups?flash=*")
    page.click("button:text-is('Add member')")
    page.wait_for_url("**/ui/admin/groups?flash=*")
    shoot(site, page, "groups")
    page.goto("/ui/keys")
    page.fill("#name", "ci")
    page.click("button:text-is('Create key')")
    key = page.inner_text("#new-key").strip()
    assert key.startswith("sk_live_")
    assert site.api(User("", "", key), "GET", "/api/me").json()["email"] == site.admin.email
    shoot(site, page, "keys")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[aria-label='Revoke key ci']")
    page.wait_for_url("**/ui/keys?flash=*")
    assert site.api(User("", "", key), "GET", "/api/me").status_code == 401
    page.context.close()
