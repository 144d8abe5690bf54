"""Authentication: missing and bad credentials, API key revocation and expiry, JWTs, last_used_at batching."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import types
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from conftest import SECRET, Env, Org, _wipe, make_settings
from modelreg.app import create_app
from modelreg.auth import authenticator as authenticator_module
from modelreg.auth.keys import lookup_prefix
from modelreg.catalog.load import Catalog
from modelreg.crypto import derive_key
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.rows import ApiKeyRow

NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
INVALID = {"detail": "Invalid or expired credentials."}
SIGNING_KEY = derive_key(SECRET, "jwt-signing")
ISSUER, AUDIENCE = "modelreg", "modelreg-api"
PASSWORD = "correct horse battery staple"
REVOCATION_DEADLINE = 3.0
"""Seconds a running app may take to reject a revoked key (the cache poll interval is 0.2 s in tests)."""

# Every authenticated route, with a body that would be valid: only the missing credential may cause the 401.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/models/", None),
    ("POST", "/api/models/", {"model_name": "m", "base_model_name": "gpt-4o"}),
    ("POST", "/api/models/import/", {"models": [{"model_name": "m", "base_model_name": "gpt-4o"}]}),
    ("GET", "/api/models/gpt-4o/", None),
    ("GET", "/api/models/m/", None),
    ("PATCH", "/api/models/m/", {"input_cost": 1}),
    ("PUT", "/api/models/m/", {"base_model_name": "gpt-4o"}),
    ("DELETE", "/api/models/m/", None),
    ("GET", "/api/providers/", None),
    ("POST", "/api/providers/", {"provider_id": "p", "provider_name": "P"}),
    ("GET", "/api/providers/p/", None),
    ("PATCH", "/api/providers/p/", {"provider_name": "Q"}),
    ("PUT", "/api/providers/p/", {"provider_name": "Q"}),
    ("DELETE", "/api/providers/p/", None),
    ("POST", "/api/request-logs/", {"model": "gpt-4o", "latency": 1.0}),
    ("GET", "/api/usage/", None),
]
# Listing routes that also serve anonymous callers (built-ins only); a credential sent there is still checked.
ANONYMOUS_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/models/list/", None),
    ("POST", "/api/models/list/", {}),
    ("GET", "/api/models/summary/", None),
    ("POST", "/api/models/summary/", {}),
]
# Never authenticated (a credential, even a bad one, is ignored).
OPEN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/api/models/public/", None),
    ("GET", "/static/favicon.png", None),
]
# The status series: authentication optional (anonymous callers see built-ins without volume fields).
STATUS_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/models/gpt-4o/status/?start_time=0&end_time=3600", None),
    ("POST", "/api/models/gpt-4o/status/", {"start_time": 0, "end_time": 3600}),
]
OTHER_ROUTES = {("POST", "/api/auth/token")}  # see TestJWT


# ---- helpers ------------------------------------------------------------------------------------------------


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def answer(r: Any) -> tuple[int, Any, str | None]:
    return r.status_code, r.json(), r.headers.get("www-authenticate")


async def in_db(database_url: str, work: Callable[[Any], Any], *, write: bool = False) -> Any:
    """Run `work(session)` in its own transaction on its own engine, as another process (the CLI) would."""
    db = Database(database_url)
    try:
        async with db.write() if write else db.read() as session:
            return await work(session)
    finally:
        await db.dispose()


async def key_row(database_url: str, key: str) -> ApiKeyRow:
    async def work(session: Any) -> ApiKeyRow:
        row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.lookup_prefix == lookup_prefix(key)))
        assert row is not None
        return row

    row: ApiKeyRow = await in_db(database_url, work)
    return row


async def revoke(database_url: str, key: str) -> None:
    key_id = (await key_row(database_url, key)).id

    async def work(session: Any) -> None:
        await identity.revoke_api_key(session, key_id)

    await in_db(database_url, work, write=True)


async def set_expires_at(database_url: str, key: str, when: datetime) -> None:
    key_id = (await key_row(database_url, key)).id

    async def work(session: Any) -> None:
        await session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(expires_at=when))

    await in_db(database_url, work, write=True)


async def new_key(database_url: str, org: Org, expires_in_days: int | None = None) -> str:
    async def work(session: Any) -> str:
        created = await identity.create_api_key(session, org.admin_user_id, "test", expires_in_days)
        return created.api_key

    key: str = await in_db(database_url, work, write=True)
    return key


async def new_org(database_url: str, name: str = "solo", password: str | None = None) -> Org:
    tag = secrets.token_hex(4)
    email = f"admin-{tag}@{name}.example"

    async def work(session: Any) -> Org:
        created = await identity.create_organization(session, f"{name}-{tag}", email, password)
        return Org(created.organization_id, created.user_id, created.api_key, email)

    org: Org = await in_db(database_url, work, write=True)
    return org


async def poll_until_rejected(client: Any, key: str, deadline: float) -> float | None:
    """Seconds until the key answers 401, or None if it still works after `deadline` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        r = await client.get("/api/models/", headers=bearer(key))
        if r.status_code == 401:
            assert r.json() == INVALID
            return time.monotonic() - start
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.05)
    return None


@contextlib.asynccontextmanager
async def running_app(database_url: str, catalog: Catalog, **settings: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(database_url, **settings), catalog)
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def own_db(database_url: str) -> AsyncIterator[str]:
    """For tests that build their own app (instead of `env`): the database URL, wiped afterwards."""
    yield database_url
    await _wipe(database_url)


# ---- missing and bad credentials ----------------------------------------------------------------------------


class TestMissingCredentials:
    async def test_route_table_covers_every_respan_route(self, env: Env) -> None:
        # The Respan dialect and the app's own routes (other dialects render their own errors: not covered here).
        app_routes = {
            (method, route.path)
            for route in env.client.app.routes
            for handler in getattr(route, "route_handlers", ())
            if getattr(handler.fn, "__module__", "").startswith(
                ("modelreg.api.respan", "modelreg.api.usage_routes", "modelreg.app", "modelreg.api.health")
            )
            for method in handler.http_methods
            if method not in ("OPTIONS", "HEAD")
        }
        paths = {path for _, path in app_routes}
        covered = set(OTHER_ROUTES)
        for method, path, _ in [*ROUTES, *ANONYMOUS_ROUTES, *OPEN_ROUTES, *STATUS_ROUTES]:
            path = path.partition("?")[0].rstrip("/")
            if path not in paths:  # not a literal route: the greedy {name:path} one under the same prefix
                path = next(p for p in paths if "{" in p and path.startswith(p.partition("/{")[0] + "/"))
            covered.add((method, path))
        assert app_routes - covered == set(), "add the new route to ROUTES, ANONYMOUS_ROUTES or OPEN_ROUTES"

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": ""}, {"Authorization": "   "}],
        ids=["no-header", "empty-value", "blank-value"],
    )
    async def test_every_route_answers_401_not_provided(self, env: Env, headers: dict[str, str]) -> None:
        org = await env.org()
        for method, path, body in ROUTES:
            r = await env.client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json() == NOT_PROVIDED, (method, path)
            assert r.headers.get("www-authenticate") == "Bearer", (method, path)
        # Nothing was written by the refused requests.
        assert (await env.client.get("/api/models/m/", headers=org.headers)).status_code == 404
        assert (await env.client.get("/api/providers/", headers=org.headers)).json()["results"] == []

    async def test_listing_without_credentials_shows_builtins_only(self, env: Env, catalog: Catalog) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/", json={"model_name": "private-model", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        for headers in ({}, {"Authorization": ""}):
            for method, path, body in ANONYMOUS_ROUTES:
                r = await env.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 200, (method, path, r.text)
                assert "private-model" not in r.text
                data = r.json()
                if "summary" in data:
                    assert data["summary"]["custom_count"] == 0
                    assert data["summary"]["total_count"] == len(catalog.models)
                else:
                    assert data["count"] == len(catalog.models)
            for method, path, body in OPEN_ROUTES:
                r = await env.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 200 and "private-model" not in r.text, (method, path)
            for method, path, body in STATUS_ROUTES:
                r = await env.client.request(method, path, json=body, headers=headers)
                assert r.status_code == 200 and r.json()["model"] == "openai/gpt-4o", (method, path, r.text)
                assert "number_of_requests" not in r.json()["status"]
            private = await env.client.get(
                "/api/models/private-model/status/?start_time=0&end_time=60", headers=headers
            )
            assert private.status_code == 200 and private.json()["data"] == [], private.text
        # The control: with the key, the organization's model is listed.
        mine = await env.client.get("/api/models/summary/", headers=org.headers)
        assert mine.json()["summary"]["custom_count"] == 1


class TestBadCredentials:
    async def test_bad_credential_on_anonymous_routes_is_401_not_anonymous(self, env: Env) -> None:
        """A bad, unknown or revoked key on list/summary must not silently fall back to the anonymous view."""
        org = await env.org()
        revoked = await new_key(env.database_url, org)
        await revoke(env.database_url, revoked)
        for credential in ("garbage", "sk_live_" + secrets.token_urlsafe(32), revoked):
            for method, path, body in ANONYMOUS_ROUTES:
                r = await env.client.request(method, path, json=body, headers=bearer(credential))
                assert answer(r) == (401, INVALID, "Bearer"), (method, path, credential[:12], r.text)
            for method, path, body in OPEN_ROUTES:
                r = await env.client.request(method, path, json=body, headers=bearer(credential))
                assert r.status_code == 200, (method, path)

    async def test_bad_credentials_answer_one_generic_401(self, env: Env) -> None:
        org = await env.org()
        known_prefix = org.admin_key[: len("sk_live_") + 12]
        credentials = {
            "garbage": "Bearer garbage",
            "garbage-no-scheme": "garbage",
            "scheme-only": "Bearer",
            "scheme-and-spaces": "Bearer    ",
            "wrong-prefix": "Bearer sk_test_" + secrets.token_urlsafe(32),
            "wrong-prefix-real-body": "Bearer sk_test_" + org.admin_key.removeprefix("sk_live_"),
            "prefix-only": "Bearer sk_live_",
            "too-short": "Bearer sk_live_abc",
            "too-long": "Bearer sk_live_" + "a" * 300,
            "unknown-well-formed": "Bearer sk_live_" + secrets.token_urlsafe(32),
            "unknown-well-formed-no-scheme": "sk_live_" + secrets.token_urlsafe(32),
            "known-prefix-wrong-secret": "Bearer " + known_prefix + secrets.token_urlsafe(32)[: 43 - 12],
            "real-key-plus-char": "Bearer " + org.admin_key + "x",
            "real-key-truncated": "Bearer " + org.admin_key[:-1],
            "basic-auth": "Basic dXNlcjpwYXNzd29yZA==",
            "jwt-shaped": "Bearer aaa.bbb.ccc",
            "two-keys": f"Bearer {org.admin_key} {org.admin_key}",
        }
        answers = {}
        for label, value in credentials.items():
            r = await env.client.get("/api/models/", headers={"Authorization": value})
            answers[label] = answer(r)
            assert answers[label] == (401, INVALID, "Bearer"), label
        # The same key, well presented, works: the rejections above are about the credential only.
        for value in (
            f"Bearer {org.admin_key}",
            f"bearer {org.admin_key}",
            org.admin_key,
            f"  Bearer  {org.admin_key} ",
        ):
            r = await env.client.get("/api/models/", headers={"Authorization": value})
            assert r.status_code == 200, (value, r.text)

    async def test_unknown_revoked_and_expired_keys_are_indistinguishable(self, env: Env) -> None:
        org = await env.org()
        revoked = await new_key(env.database_url, org)
        await revoke(env.database_url, revoked)
        expired = await new_key(env.database_url, org, expires_in_days=1)
        await set_expires_at(env.database_url, expired, datetime.now(UTC) - timedelta(minutes=1))
        unknown = "sk_live_" + secrets.token_urlsafe(32)
        answers = {}
        for label, key in (("unknown", unknown), ("revoked", revoked), ("expired", expired)):
            r = await env.client.get("/api/models/", headers=bearer(key))
            answers[label] = (*answer(r), sorted(r.headers.keys()))
        assert answers["unknown"][:3] == (401, INVALID, "Bearer")
        assert answers["revoked"] == answers["unknown"] == answers["expired"], answers
        assert (await env.client.get("/api/models/", headers=org.headers)).status_code == 200


# ---- revocation and expiry ----------------------------------------------------------------------------------


class TestRevocation:
    async def test_revoked_key_is_rejected_by_the_running_app(self, env: Env) -> None:
        org = await env.org()
        _, key = await env.member(org)
        assert (await env.client.get("/api/models/", headers=bearer(key))).status_code == 200  # now cached
        # Some polls pass first, so that this test is about polling, not the start-up baseline (next test).
        await asyncio.sleep(0.6)
        assert (await env.client.get("/api/models/", headers=bearer(key))).status_code == 200

        await revoke(env.database_url, key)  # another process, like `modelreg key revoke`
        elapsed = await poll_until_rejected(env.client, key, REVOCATION_DEADLINE)
        assert elapsed is not None, f"a revoked key still works {REVOCATION_DEADLINE} s after revocation"
        for _ in range(3):
            r = await env.client.get("/api/models/", headers=bearer(key))
            assert answer(r) == (401, INVALID, "Bearer")
        assert (await env.client.get("/api/models/", headers=org.headers)).status_code == 200

    async def test_key_revoked_just_after_startup_is_rejected(self, own_db: str, catalog: Catalog) -> None:
        """A revocation committed before the change watcher's first poll must not be missed.

        With the production poll interval (1 s), the app caches the key on its first request, the key is revoked
        at once, and the watcher's first poll then reads the already-bumped counter as its baseline.
        """
        org = await new_org(own_db)
        async with running_app(own_db, catalog, cache_poll_seconds=1.0) as client:
            assert (await client.get("/api/models/", headers=org.headers)).status_code == 200
            await revoke(own_db, org.admin_key)
            elapsed = await poll_until_rejected(client, org.admin_key, deadline=4.0)
            assert elapsed is not None, "a key revoked within the first poll interval after startup still works"

    async def test_key_revoked_while_its_first_lookup_is_in_flight(self, env: Env) -> None:
        """A key row read before a revocation must not be cached after the cache was dropped for it.

        The first request of a key reads its row (not yet revoked); while that read is still in flight, the key
        is revoked and the watcher drops the cache. The request may still succeed (it started before the
        revocation), but the row it read is stale and must not be what the next requests are checked against.
        The app runs on the test client's own event loop and the client blocks while a request runs, so the
        revocation is done from inside the slowed-down lookup.
        """
        org = await env.org()
        key = await new_key(env.database_url, org)
        key_id = (await key_row(env.database_url, key)).id
        authenticator = env.client.app.state.registry.authenticator
        load_key = authenticator._load_key
        slowed: list[str] = []

        async def slow_load_key(prefix: str) -> Any:
            row = await load_key(prefix)
            if prefix == lookup_prefix(key) and not slowed:
                slowed.append(prefix)

                async def work(session: Any) -> None:
                    await identity.revoke_api_key(session, key_id)

                await in_db(env.database_url, work, write=True)  # another process revokes the key ...
                await asyncio.sleep(1.0)  # ... and the watcher (0.2 s polls) drops the cache
            return row

        authenticator._load_key = slow_load_key
        first = await env.client.get("/api/models/", headers=bearer(key))
        assert slowed and first.status_code in (200, 401)
        elapsed = await poll_until_rejected(env.client, key, REVOCATION_DEADLINE)
        assert elapsed is not None, "the row read before the revocation was cached after the invalidation"


class TestExpiry:
    async def test_expiry_is_checked_per_request_even_for_a_cached_key(
        self, env: Env, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        org = await env.org()
        key = await new_key(env.database_url, org, expires_in_days=1)
        assert (await env.client.get("/api/models/", headers=bearer(key))).status_code == 200  # cached now
        real_time = time.time
        monkeypatch.setattr(
            authenticator_module, "time", types.SimpleNamespace(time=lambda: real_time() + 2 * 86400)
        )  # two days later: the key's expiry has passed, and nothing told the app
        r = await env.client.get("/api/models/", headers=bearer(key))
        assert answer(r) == (401, INVALID, "Bearer")
        assert (await env.client.get("/api/models/", headers=org.headers)).status_code == 200  # no expiry: fine
        monkeypatch.undo()
        assert (await env.client.get("/api/models/", headers=bearer(key))).status_code == 200

    async def test_key_expired_in_the_database_before_first_use(self, env: Env) -> None:
        org = await env.org()
        key = await new_key(env.database_url, org, expires_in_days=30)
        await set_expires_at(env.database_url, key, datetime.now(UTC) - timedelta(seconds=5))
        assert answer(await env.client.get("/api/models/", headers=bearer(key))) == (401, INVALID, "Bearer")

    async def test_key_expired_in_the_database_after_it_was_cached(self, env: Env) -> None:
        """The app caches the key row, expires_at included; moving expires_at into the past directly in the
        database bumps no change counter. The key must still stop working within the revocation deadline."""
        org = await env.org()
        key = await new_key(env.database_url, org, expires_in_days=30)
        assert (await env.client.get("/api/models/", headers=bearer(key))).status_code == 200  # cached now
        await asyncio.sleep(0.6)
        await set_expires_at(env.database_url, key, datetime.now(UTC) - timedelta(seconds=5))
        assert (await key_row(env.database_url, key)).expires_at < datetime.now(UTC)
        elapsed = await poll_until_rejected(env.client, key, REVOCATION_DEADLINE)
        assert elapsed is not None, "an expired key keeps working while the app's cache holds its old expires_at"


# ---- JWT ----------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
    for name, value in overrides.items():
        if value is _DROP:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


_DROP = object()


def craft(user_id: str, *, key: bytes | None = SIGNING_KEY, alg: str = "HS256", **overrides: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about short HMAC keys for HS384/HS512
        return jwt.encode(claims_for(user_id, **overrides), key, algorithm=alg)


def manual(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)))


def tampered(user_id: str, other_user_id: str) -> str:
    head, _, sig = craft(user_id).split(".")
    return ".".join((head, _b64(json.dumps(claims_for(other_user_id)).encode()), sig))


BAD_TOKENS: dict[str, Callable[[str, str], str]] = {
    "alg-none": lambda u, o: craft(u, key=None, alg="none"),
    "alg-none-manual": lambda u, o: manual({"alg": "none", "typ": "JWT"}, claims_for(u)),
    "alg-None-manual": lambda u, o: manual({"alg": "None", "typ": "JWT"}, claims_for(u)),
    "hs256-empty-signature": lambda u, o: manual({"alg": "HS256", "typ": "JWT"}, claims_for(u)),
    "hs512-right-key": lambda u, o: craft(u, alg="HS512"),
    "hs384-right-key": lambda u, o: craft(u, alg="HS384"),
    "random-key": lambda u, o: craft(u, key=secrets.token_bytes(32)),
    "key-of-another-secret": lambda u, o: craft(u, key=derive_key("another-secret-0123456789abcdef", "jwt-signing")),
    "encryption-key": lambda u, o: craft(u, key=derive_key(SECRET, "provider-secrets")),
    "raw-secret-key": lambda u, o: craft(u, key=SECRET.encode()),
    "wrong-iss": lambda u, o: craft(u, iss="someone-else"),
    "wrong-aud": lambda u, o: craft(u, aud="another-api"),
    "aud-list-without-ours": lambda u, o: craft(u, aud=["another-api"]),
    "expired": lambda u, o: craft(u, exp=int(time.time()) - 120, iat=int(time.time()) - 720),
    "not-yet-valid": lambda u, o: craft(u, nbf=int(time.time()) + 600),
    "missing-exp": lambda u, o: craft(u, exp=_DROP),
    "missing-iat": lambda u, o: craft(u, iat=_DROP),
    "missing-iss": lambda u, o: craft(u, iss=_DROP),
    "missing-aud": lambda u, o: craft(u, aud=_DROP),
    "missing-sub": lambda u, o: craft(u, sub=_DROP),
    "empty-sub": lambda u, o: craft(""),
    "unknown-user": lambda u, o: craft("usr_" + "0" * 32),
    "tampered-sub": tampered,
    "truncated-signature": lambda u, o: craft(u)[:-4],
}


class TestJWT:
    async def test_password_login_issues_a_working_bearer_token(self, env: Env) -> None:
        org = await env.org("acme", password=PASSWORD)
        other = await env.org("beta")
        await env.client.post(
            "/api/models/", json={"model_name": "acme-model", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        await env.client.post(
            "/api/models/", json={"model_name": "beta-model", "base_model_name": "gpt-4o"}, headers=other.headers
        )
        r = await env.client.post("/api/auth/token", json={"email": org.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        data = r.json()
        assert set(data) == {"access_token", "token_type", "expires_in"}
        assert data["token_type"] == "bearer" and data["expires_in"] == 3600
        claims = jwt.decode(data["access_token"], SIGNING_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        assert claims["sub"] == org.admin_user_id and claims["exp"] - claims["iat"] == 3600
        assert jwt.get_unverified_header(data["access_token"])["alg"] == "HS256"

        listing = await env.client.get("/api/models/", headers=bearer(data["access_token"]))
        assert listing.status_code == 200, listing.text
        customs = {m["model_name"] for m in listing.json() if m["affiliation_category"] == "custom"}
        assert customs == {"acme-model"}  # the token's user's organization, and only it
        created = await env.client.post(
            "/api/providers/",
            json={"provider_id": "via-jwt", "provider_name": "J"},
            headers=bearer(data["access_token"]),
        )
        assert created.status_code == 201
        assert (await env.client.get("/api/providers/via-jwt/", headers=org.headers)).status_code == 200

        # The email is matched case-insensitively and trimmed.
        again = await env.client.post("/api/auth/token", json={"email": f" {org.email.upper()} ", "password": PASSWORD})
        assert again.status_code == 200

    async def test_wrong_password_and_unknown_email_look_the_same(self, env: Env) -> None:
        org = await env.org("acme", password=PASSWORD)
        attempts = {
            "wrong-password": {"email": org.email, "password": PASSWORD + "!"},
            "password-case": {"email": org.email, "password": PASSWORD.upper()},
            "empty-password": {"email": org.email, "password": ""},
            "unknown-email": {"email": "nobody@nowhere.example", "password": PASSWORD},
            "unknown-email-wrong-password": {"email": "nobody@nowhere.example", "password": "x"},
        }
        answers = {}
        for label, body in attempts.items():
            r = await env.client.post("/api/auth/token", json=body)
            answers[label] = (*answer(r), sorted(r.headers.keys()))
            assert "access_token" not in r.text, label
        assert answers["wrong-password"][:2] == (401, INVALID)
        assert all(a == answers["wrong-password"] for a in answers.values()), answers

    async def test_users_without_a_password_cannot_get_a_token(self, env: Env) -> None:
        org = await env.org("nopw")  # admin without a password
        member_id, _ = await env.member(org)
        member_email = f"user{env._counter}@x.example"
        for email in (org.email, member_email):
            for password in ("", "x", "modelreg-dummy-password", PASSWORD):
                r = await env.client.post("/api/auth/token", json={"email": email, "password": password})
                assert answer(r)[:2] == (401, INVALID), (email, password, r.text)
        assert member_id

    async def test_crafted_valid_token_is_accepted(self, env: Env) -> None:
        """The control for the next test: a token crafted here with the server's key and claims works."""
        org = await env.org()
        r = await env.client.get("/api/models/", headers=bearer(craft(org.admin_user_id)))
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize("case", list(BAD_TOKENS), ids=list(BAD_TOKENS))
    async def test_bad_tokens_are_rejected(self, env: Env, case: str) -> None:
        org = await env.org("acme")
        other = await env.org("beta")
        token = BAD_TOKENS[case](org.admin_user_id, other.admin_user_id)
        r = await env.client.get("/api/models/", headers=bearer(token))
        assert answer(r) == (401, INVALID, "Bearer"), f"{case}: {r.status_code} {r.text}"
        assert (await env.client.get("/api/models/", headers=bearer(craft(org.admin_user_id)))).status_code == 200


# ---- last_used_at -------------------------------------------------------------------------------------------


class TestLastUsed:
    async def test_last_used_is_written_at_shutdown_not_per_request(self, own_db: str, catalog: Catalog) -> None:
        org = await new_org(own_db)
        unused = await new_key(own_db, org)
        app = create_app(make_settings(own_db), catalog)  # last_used_flush_seconds: the default, 30 s
        registry = app.state.registry
        original_write = registry.db.write
        writes = 0

        def counting_write() -> Any:
            nonlocal writes
            writes += 1
            return original_write()

        before = datetime.now(UTC)
        async with AsyncTestClient(app=app) as client:
            registry.db.write = counting_write
            for _ in range(5):
                assert (await client.get("/api/models/", headers=org.headers)).status_code == 200
                assert (await client.get("/api/models/gpt-4o/", headers=org.headers)).status_code == 200
            assert writes == 0, "authenticated reads opened write transactions"
            await asyncio.sleep(0.6)  # several cache polls: still no flush before the 30 s interval
            assert (await key_row(own_db, org.admin_key)).last_used_at is None
        after = datetime.now(UTC)

        used_at = (await key_row(own_db, org.admin_key)).last_used_at
        assert used_at is not None, "last_used_at was not flushed when the app shut down"
        assert before - timedelta(seconds=1) <= used_at <= after + timedelta(seconds=1)
        assert (await key_row(own_db, unused)).last_used_at is None
        assert writes == 1  # the one batched flush at shutdown

    async def test_last_used_is_flushed_periodically(self, own_db: str, catalog: Catalog) -> None:
        org = await new_org(own_db)
        async with running_app(own_db, catalog, last_used_flush_seconds=0.3) as client:
            assert (await client.get("/api/models/", headers=org.headers)).status_code == 200
            deadline = time.monotonic() + 3.0
            while (await key_row(own_db, org.admin_key)).last_used_at is None:
                assert time.monotonic() < deadline, "last_used_at was never flushed while the app was running"
                await asyncio.sleep(0.1)


async def test_public_status_can_be_turned_off(own_db: str, catalog: Catalog) -> None:
    """MODELREG_PUBLIC_STATUS=false: anonymous status callers get empty series, as for an unknown model;
    authenticated callers are unaffected."""
    path = "/api/models/openai/gpt-4o/status/?start_time=0&end_time=3600&time_tick=hour"
    async with running_app(own_db, catalog) as client:
        assert len((await client.get(path)).json()["data"]) == 1
    async with running_app(own_db, catalog, public_status=False) as client:
        closed = (await client.get(path)).json()
        assert closed["data"] == [] and closed["metrics_series"] == [] and "status" not in closed
        org = await new_org(own_db)
        assert len((await client.get(path, headers=org.headers)).json()["data"]) == 1
