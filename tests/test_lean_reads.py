"""GET /api/models/{name}/ is served by the lean ASGI path (api/respan/lean.py); it must answer byte for byte as
the documented Litestar handler (routes.retrieve_model) does, for every kind of caller and model: status, body,
headers (ETag, Content-Type, WWW-Authenticate, Retry-After, X-Modelreg-Stale). The reference is Litestar's own
ASGI handler, the one the lean path hands everything else to, called in the same app with the same registry.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from access_helpers import Person, World, build_world, create_model, grant
from conftest import Env, app_client
from modelreg.api.respan.lean import LeanReads
from modelreg.catalog.load import Catalog
from modelreg.store.faults import DatabaseHealth

PASSWORD = "lean-reads-password-1"
MEMBERS = {
    "owner": ("a", "member", ()),
    "reader": ("a", "member", ("readers",)),
    "writer": ("a", "member", ()),
    "stranger": ("a", "member", ()),
    "outsider": ("b", "member", ()),
}
CALLERS = ("admin", "owner", "reader", "writer", "stranger", "outsider", "other_admin", "anonymous")
PARAMS = {"system": "only writers see this", "temperature": 0.2}


def _lean(app: Litestar) -> LeanReads:
    handler: Any = app.asgi_handler
    while not isinstance(handler, LeanReads):
        handler = handler.litestar  # the gateway's lean path wraps this one (app.py)
    return handler


class Both:
    """Each request sent through the whole app (the lean path first), then once more with the app's ASGI handler
    set to Litestar's own, the one behind the lean path (the same client: the app runs in the client's loop)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.app: Litestar = env.client.app
        self.lean = _lean(self.app)

    async def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> httpx.Response:
        lean = await self.env.client.request(method, path, headers=headers)
        whole = self.app.asgi_handler
        self.app.asgi_handler = self.lean.litestar
        try:
            documented = await self.env.client.request(method, path, headers=headers)
        finally:
            self.app.asgi_handler = whole
        assert lean.status_code == documented.status_code, (path, lean.text, documented.text)
        assert lean.content == documented.content, (path, lean.text, documented.text)
        assert _headers(lean) == _headers(documented), path
        return lean


def _headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """Every header as sent but the request id (fresh per request; Litestar's routing errors have none)."""
    return sorted((name.lower(), value) for name, value in response.headers.raw if name.lower() != b"x-request-id")


@pytest.fixture
def both(env: Env) -> Both:
    return Both(env)


async def _world(env: Env) -> World:
    world = await build_world(env.database_url, MEMBERS, {"readers": "a"})
    owner, client = world["owner"], env.client
    shared = [grant("group", world.groups["readers"], "read"), grant("user", world["writer"].user_id, "write")]
    await create_model(client, owner, "lean-shared", shared, params=PARAMS, display_name="Shared")
    await create_model(client, owner, "lean-public", params=PARAMS)  # every member may read it
    await create_model(client, owner, "lean-private", [], params=PARAMS)
    await create_model(client, owner, "lean-off", shared, is_active=False)
    await create_model(client, owner, "team/with-slash", None)
    await create_model(client, world["other_admin"], "lean-rival")
    return world


PATHS = (
    "/api/models/lean-shared/",
    "/api/models/lean-shared",
    "/api/models/lean-public/",
    "/api/models/lean-private/",
    "/api/models/lean-off/",
    "/api/models/team/with-slash/",
    "/api/models/team%2Fwith-slash/",
    "/api/models/lean-rival/",  # another organization's: answers as a missing one
    "/api/models/no-such-model/",
    "/api/models/gpt-4o/",  # a built-in by bare name
    "/api/models/openai/gpt-4o/",  # and by provider/name
    "/api/models/bad%01name/",  # a name no model can have
)


async def test_every_caller_and_model_answers_as_the_handler(env: Env, both: Both) -> None:
    world = await _world(env)
    statuses: dict[tuple[str, str], int] = {}
    for caller in CALLERS:
        for path in PATHS:
            answer = await both.get(path, world[caller].headers)
            statuses[caller, path] = answer.status_code
            if answer.status_code == 200 and "gpt-4o" not in path:
                assert answer.headers["etag"]
                name = path.split("/")[3]
                writes = caller in ("admin", "owner") or (caller == "writer" and name == "lean-shared")
                with_params = name in ("lean-shared", "lean-public", "lean-private")
                assert answer.json()["params"] == (PARAMS if writes and with_params else {}), (caller, path)
    # The permission rule's outcomes (domain/access.py), as the handler gives them.
    assert statuses["reader", "/api/models/lean-shared/"] == 200
    assert statuses["reader", "/api/models/lean-private/"] == 404
    assert statuses["stranger", "/api/models/lean-shared/"] == 404
    assert statuses["stranger", "/api/models/lean-public/"] == 200
    assert statuses["writer", "/api/models/lean-off/"] == 200
    assert statuses["reader", "/api/models/lean-off/"] == 404
    assert statuses["outsider", "/api/models/lean-public/"] == 404
    assert statuses["other_admin", "/api/models/lean-rival/"] == 200
    assert statuses["admin", "/api/models/lean-rival/"] == 404
    assert statuses["anonymous", "/api/models/gpt-4o/"] == 401


async def test_credentials_as_the_handler(env: Env, both: Both) -> None:
    org = await env.org("lean-jwt", password=PASSWORD)
    await create_model(env.client, _admin(org.admin_key), "lean-jwt-model")
    token = (await env.client.post("/api/auth/token", json={"email": org.email, "password": PASSWORD})).json()
    jwt = token["access_token"]
    path = "/api/models/lean-jwt-model/"
    for authorization in (f"Bearer {jwt}", f"bearer {jwt}", org.admin_key, f"Bearer {org.admin_key}"):
        assert (await both.get(path, {"Authorization": authorization})).status_code == 200
    for authorization in ("Bearer sk_live_not-a-real-key", f"Bearer {jwt}x", "Bearer ", "Basic abc", ""):
        answer = await both.get(path, {"Authorization": authorization})
        assert answer.status_code == 401, authorization
        assert answer.headers["www-authenticate"] == "Bearer"


def _admin(key: str) -> Person:
    return Person("admin", None, key, None)


async def test_database_down(env: Env, both: Both) -> None:
    """Served from memory while the database does not answer, marked stale; what memory cannot answer (a key
    not yet seen, a name not in the snapshot) is a quick 503 with Retry-After, as from the handler."""
    org = await env.org("lean-down")
    _, spare_key = await env.member(org)
    await create_model(env.client, _admin(org.admin_key), "lean-cached")
    path = "/api/models/lean-cached/"
    assert "x-modelreg-stale" not in (await both.get(path, org.headers)).headers
    health: DatabaseHealth = env.client.app.state.registry.db.health
    health.failed("timeout")  # what a statement timeout records: the breaker opens until a probe succeeds
    try:
        stale = await both.get(path, org.headers)
        assert stale.status_code == 200 and stale.headers["x-modelreg-stale"] == "true"
        assert (await both.get("/api/models/lean-missing/", org.headers)).status_code == 503
        refused = await both.get(path, {"Authorization": f"Bearer {spare_key}"})
        assert refused.status_code == 503 and refused.headers["retry-after"]
    finally:
        health.succeeded()


async def test_request_id_and_metrics(env: Env, both: Both) -> None:
    org = await env.org("lean-meta")
    await create_model(env.client, _admin(org.admin_key), "lean-meta-model")
    answer = await env.client.get("/api/models/lean-meta-model/", headers={**org.headers, "X-Request-ID": "lean-7"})
    assert answer.headers["x-request-id"] == "lean-7"
    wanted = ('path="/api/models/{model_name}"', 'method="GET"', 'status_code="200"')

    async def count() -> float:
        text = (await env.client.get("/metrics", headers=org.headers)).text
        lines = [
            line
            for line in text.splitlines()
            if line.startswith("modelreg_http_requests_total{") and all(w in line for w in wanted)
        ]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines)

    before = await count()
    await env.client.get("/api/models/lean-meta-model/", headers=org.headers)
    assert await count() == before + 1


def _scope(path: str, method: str = "GET", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers or []}


async def test_what_it_leaves_to_litestar(env: Env, both: Both) -> None:
    """Only retrieve_model's own answer is taken; its sub-resources, other routes, HEAD, query strings and a
    bad Host header go to Litestar (and still answer as documented)."""
    org = await env.org("lean-rest")
    await create_model(env.client, _admin(org.admin_key), "lean-rest-model")
    lean = both.lean
    template = "/api/models/{model_name}"
    taken = lean._takes(_scope("/api/models/lean-rest-model/"))
    assert taken == ("/lean-rest-model", template, "/api/models/lean-rest-model")
    assert lean._takes(_scope("/api/models//a//b//")) == ("/a/b", template, "/api/models/a/b")
    for scope in (
        _scope("/api/models/lean-rest-model/", query=b"x=1"),
        _scope("/api/models/lean-rest-model/status/"),
        _scope("/api/models/lean-rest-model/revisions/"),
        _scope("/api/models/lean-rest-model/prices/"),
        _scope("/api/models/list/"),
        _scope("/api/models/summary/"),
        _scope("/api/models/public/"),
        _scope("/api/models/import/"),  # POST only: Litestar's 405
        _scope("/api/models/lean-rest-model/", headers=[(b"host", b"bad host/")]),
    ):
        assert lean._takes(scope) is None, scope
    for path in ("/api/models/lean-rest-model/revisions/", "/api/models/import/", "/api/models/model/"):
        await both.get(path, org.headers)
    head = await both.get("/api/models/lean-rest-model/", org.headers, method="HEAD")
    assert head.status_code == 405  # Litestar's answer (a GET route does not take HEAD): unchanged


async def test_with_cors_and_json_logs(env: Env, catalog: Catalog) -> None:
    """With CORS on, a request carrying an Origin goes to Litestar (its CORS middleware adds the headers); one
    without is served lean and answers alike. JSON logs on: the access line is written either way."""
    org = await env.org("lean-cors")
    await create_model(env.client, _admin(org.admin_key), "lean-cors-model")
    origin = "https://ui.example"
    async with app_client(env.database_url, catalog, cors_origins=(origin,), log_format="json") as client:
        checker = Both(Env(client, env.database_url))
        plain = await checker.get("/api/models/lean-cors-model/", org.headers)
        assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
        cross = await checker.get("/api/models/lean-cors-model/", {**org.headers, "Origin": origin})
        assert cross.headers["access-control-allow-origin"] == origin
        assert checker.lean._takes(_scope("/api/models/x/", headers=[(b"origin", origin.encode())])) is None
