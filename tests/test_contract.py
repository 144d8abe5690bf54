"""The published contract (issue 10): GET /openapi.json and the docs page GET /docs.

- every registered route is in the document (the console and the docs page excepted), every write operation
  declares its request body, every success response its schema, every operation its errors and security;
- the documented error shapes validate the bodies the app really sends, for every dialect and status;
- documented success schemas validate real answers;
- the docs page and its vendored assets are served by modelreg itself (no CDN).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar.testing import AsyncTestClient

from conftest import Env, make_settings
from modelreg.api.contract import EXCLUDED_PREFIXES, contract_document
from modelreg.app import create_app
from modelreg.catalog.load import Catalog

ASSETS = Path(__file__).resolve().parent.parent / "src" / "modelreg" / "static" / "docs"


def _doc_path(path: str) -> str:
    return re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", path).rstrip("/") or "/"


@pytest.fixture(scope="module")
def document(catalog: Catalog) -> dict[str, Any]:
    return contract_document(create_app(make_settings("sqlite+aiosqlite:///:memory:"), catalog))


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path.rstrip("/") or "/"): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_every_registered_route_is_documented(catalog: Catalog, document: dict[str, Any]) -> None:
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"), catalog)
    registered = {
        (method, _doc_path(route.path))
        for route in app.routes
        if hasattr(route, "route_handler_map") and not route.path.startswith(EXCLUDED_PREFIXES)
        for method, (handler, _) in route.route_handler_map.items()
        if method not in ("HEAD", "OPTIONS") and handler.resolve_include_in_schema()
    }
    documented = set(_operations(document))
    assert registered - documented == set()
    assert documented - registered == set()
    # The routes the issue names are there, and nothing of the console or the docs page.
    for must in [("GET", "/v1/models/{model}"), ("POST", "/v1/completions"), ("POST", "/v1/responses")]:
        assert must in documented
    assert not any(path.startswith(EXCLUDED_PREFIXES) for _, path in documented)


def test_every_operation_is_typed_described_and_secured(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"]["scheme"] == schemes["JWT"]["scheme"] == "bearer"
    problems = []
    no_body = {
        ("POST", "/api/v1/models/model/toggle"),  # the id is a query parameter (Open WebUI's form)
        ("POST", "/api/users/{user_id}/deactivate"),  # an action on the addressed user, without input
    }
    for (method, path), operation in _operations(document).items():
        where = f"{method} {path}"
        if method in ("POST", "PUT", "PATCH") and (method, path) not in no_body and "requestBody" not in operation:
            problems.append(f"{where}: no request body")
        successes = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        for code, response in successes.items():
            if code != "204" and not response.get("content"):
                problems.append(f"{where}: {code} without a schema")
        errors = {c for c in operation["responses"] if c[0] in "45"}
        if "security" not in operation:
            problems.append(f"{where}: no security")
        elif operation["security"] and "401" not in errors:
            problems.append(f"{where}: authenticated but 401 undocumented")
        if not operation.get("summary") or not operation.get("description"):
            problems.append(f"{where}: no summary or description")
        if "{" in path and "404" not in errors and not path.startswith("/api/v1"):
            problems.append(f"{where}: path parameters but no 404")
        if "requestBody" in operation and not {"400", "413", "415"} <= errors:
            problems.append(f"{where}: a body but not 400/413/415")
        if "requestBody" in operation and "example" not in operation["requestBody"]["content"]["application/json"]:
            problems.append(f"{where}: a body without an example")
        for code in errors:
            ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            expected = "OpenAIError" if path.startswith("/v1") else "DetailError"
            if not ref.endswith(expected):
                problems.append(f"{where}: {code} documented as {ref}")
    assert not problems, "docs/api-contract.md says how to declare these:\n" + "\n".join(problems)


def test_path_parameters_that_may_hold_a_slash_say_so(document: dict[str, Any]) -> None:
    for path in ("/api/models/{model_name}/", "/api/providers/{provider_id}/", "/v1/models/{model}"):
        parameter = document["paths"][path]["get"]["parameters"][0]
        assert parameter["in"] == "path" and "`/`" in parameter["description"], parameter


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": document["components"]})


def _check(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer validates against what the document says this operation answers with that status."""
    operation = document["paths"][path][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {path}: {response.status_code} undocumented ({response.text[:200]})"
    content = declared.get("content", {}).get("application/json")
    if content is None:
        return
    errors = sorted(_validator(document, content["schema"]).iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {response.status_code}: {errors[0].message} in {response.text[:300]}"


async def test_documented_error_shapes_validate_real_error_bodies(env: Env, document: dict[str, Any]) -> None:
    org = await env.org()
    _, member_key = await env.member(org)
    member = {"Authorization": f"Bearer {member_key}"}
    h = org.headers
    c = env.client
    await c.post("/api/providers/", json={"provider_id": "p", "provider_name": "P"}, headers=h)
    await c.post("/api/models/", json={"model_name": "m", "base_model_name": "gpt-4o"}, headers=h)
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/models/", await c.post("/api/models/", json={"model_name": "x", "input_cost": "a"}, headers=h)),
        ("POST", "/api/models/", await c.post("/api/models/", content=b"{nope", headers=h)),
        (
            "POST",
            "/api/models/",
            await c.post("/api/models/", json={"model_name": "x", "base_model_name": "zz"}, headers=h),
        ),
        ("POST", "/api/models/", await c.post("/api/models/", json={}, headers={"Authorization": "Bearer nope"})),
        (
            "POST",
            "/api/models/",
            await c.post("/api/models/", content=b"a=b", headers={**h, "Content-Type": "text/plain"}),
        ),
        ("POST", "/api/models/", await c.post("/api/models/", content=b" " * (1024 * 1024 + 10), headers=h)),
        ("GET", "/api/models/", await c.get("/api/models/?all=maybe", headers=h)),
        ("GET", "/api/models/", await c.get("/api/models/")),
        ("GET", "/api/models/{model_name}/", await c.get("/api/models/nope/", headers=h)),
        (
            "PATCH",
            "/api/models/{model_name}/",
            await c.patch("/api/models/m/", json={}, headers={**h, "If-Match": '"x"'}),
        ),
        ("PATCH", "/api/models/{model_name}/", await c.patch("/api/models/openai/gpt-4o/", json={}, headers=h)),
        ("POST", "/api/models/list/", await c.post("/api/models/list/", json={"filters": {"foo": {}}}, headers=h)),
        ("GET", "/api/providers/", await c.get("/api/providers/?page=0", headers=h)),
        ("PATCH", "/api/providers/{provider_id}/", await c.patch("/api/providers/p/", json={}, headers=member)),
        ("DELETE", "/api/providers/{provider_id}/", await c.delete("/api/providers/nope/", headers=h)),
        ("GET", "/api/usage/", await c.get("/api/usage/", headers=member)),
        ("POST", "/api/admin/users", await c.post("/api/admin/users", json={"email": "x@y.z"}, headers=member)),
        ("GET", "/api/v1/models/model", await c.get("/api/v1/models/model?id=nope", headers=h)),
        ("GET", "/api/v1/models/model", await c.get("/api/v1/models/model", headers=h)),
        ("POST", "/api/v1/models/create", await c.post("/api/v1/models/create", json={"id": 1}, headers=h)),
        ("POST", "/api/auth/token", await c.post("/api/auth/token", json={"email": "a@b.c", "password": "x"})),
        ("GET", "/api/models/public/", await c.get("/api/models/public/?unnest=2")),
        ("POST", "/v1/chat/completions", await c.post("/v1/chat/completions", json={"model": "m"}, headers=h)),
        (
            "POST",
            "/v1/chat/completions",
            await c.post("/v1/chat/completions", json={"model": 5, "messages": []}, headers=h),
        ),
        ("POST", "/v1/chat/completions", await c.post("/v1/chat/completions", json={"model": "x", "messages": [{}]})),
        (
            "POST",
            "/v1/chat/completions",
            await c.post("/v1/chat/completions", json={"model": "nope", "messages": [{}]}, headers=h),
        ),
        (
            "POST",
            "/v1/responses",
            await c.post("/v1/responses", content=b"x", headers={**h, "Content-Type": "text/plain"}),
        ),
        ("POST", "/v1/completions", await c.post("/v1/completions", json={"model": "m"}, headers=h)),
        ("GET", "/v1/models/{model}", await c.get("/v1/models/openai/nope", headers=h)),
    ]
    seen = set()
    for method, path, response in cases:
        assert response.status_code >= 400, (method, path, response.text)
        seen.add(response.status_code)
        _check(document, method, path, response)
    assert {400, 401, 403, 404, 412, 413, 415} <= seen


async def test_documented_success_schemas_validate_real_answers(env: Env, document: dict[str, Any]) -> None:
    org = await env.org()
    h = org.headers
    c = env.client
    provider = {"provider_id": "p", "provider_name": "P", "extra_kwargs": {"base_url": "https://api.example.com/v1"}}
    status_body = {"start_time": 0, "end_time": 7200, "time_tick": "hour"}
    window = "start_time=0&end_time=7200&time_tick=hour"
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/providers/", await c.post("/api/providers/", json=provider, headers=h)),
        (
            "POST",
            "/api/models/",
            await c.post("/api/models/", json={"model_name": "m", "custom_provider_id": "p"}, headers=h),
        ),
        ("GET", "/api/models/{model_name}/", await c.get("/api/models/m/", headers=h)),
        ("GET", "/api/models/{model_name}/", await c.get("/api/models/openai/gpt-4o/", headers=h)),
        ("GET", "/api/models/{model_name}/", await c.get(f"/api/models/m/status/?{window}", headers=h)),
        ("GET", "/api/models/{model_name}/", await c.get(f"/api/models/openai/gpt-4o/status/?{window}&provider_id=x")),
        (
            "POST",
            "/api/models/{model_name}/",
            await c.post("/api/models/m/status/", json=status_body, headers=h),
        ),
        ("GET", "/api/providers/", await c.get("/api/providers/", headers=h)),
        ("GET", "/api/providers/{provider_id}/", await c.get("/api/providers/p/", headers=h)),
        ("POST", "/api/models/list/", await c.post("/api/models/list/?page_size=3", json={}, headers=h)),
        ("GET", "/api/models/summary/", await c.get("/api/models/summary/", headers=h)),
        ("GET", "/api/models/public/", await c.get("/api/models/public/")),
        ("GET", "/api/models/public/", await c.get("/api/models/public/?unnest=true")),
        ("GET", "/api/v1/models/model", await c.get("/api/v1/models/model?id=m", headers=h)),
        ("GET", "/api/v1/models/list", await c.get("/api/v1/models/list", headers=h)),
        ("GET", "/v1/models", await c.get("/v1/models", headers=h)),
        ("GET", "/v1/models/{model}", await c.get("/v1/models/m", headers=h)),
        ("GET", "/api/admin/users", await c.get("/api/admin/users", headers=h)),
        ("GET", "/healthz", await c.get("/healthz")),
        ("GET", "/readyz", await c.get("/readyz")),
        ("GET", "/metrics", await c.get("/metrics", headers=h)),
    ]
    for method, path, response in cases:
        assert response.status_code < 300, (method, path, response.text)
        _check(document, method, path, response)


async def test_openapi_json_and_docs_page_are_served_without_a_cdn(env: Env) -> None:
    c = env.client
    served = await c.get("/openapi.json")
    assert served.status_code == 200 and served.json()["openapi"] == "3.1.0"
    assert (await c.get("/docs/openapi.json")).json() == served.json()
    page = await c.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'spec-url="/openapi.json"' in page.text and 'src="/docs/assets/redoc.standalone.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    script = await c.get("/docs/assets/redoc.standalone.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    vendored = (ASSETS / "VENDORED.txt").read_text()
    assert hashlib.sha256(script.content).hexdigest() in vendored
    assert b"https://cdn." not in script.content
    assert (await c.get("/docs/assets/nope.js")).status_code == 404


async def test_documented_429_shape_validates_the_rate_limited_answer(
    database_url: str, catalog: Catalog, document: dict[str, Any]
) -> None:
    app = create_app(make_settings(database_url, anonymous_rate_limit="1/60"), catalog)
    async with AsyncTestClient(app=app) as client:
        first = await client.post("/api/models/summary/", json={})
        second = await client.post("/api/models/summary/", json={})
    assert first.status_code == 200 and second.status_code == 429, second.text
    _check(document, "POST", "/api/models/summary/", second)
