"""Bulk writes in the Respan dialect (`POST /api/models/import/`): all or nothing per request, the same checks
as single writes, a revision and an audit entry per model. (Open WebUI's `/api/v1/models/import` has the
same guarantees: tests/test_dialect_roundtrip.py and the permission matrix.)"""

from __future__ import annotations

import json
from typing import Any

from conftest import Env, Org

IMPORT = "/api/models/import/"


async def _audit(env: Env, org: Org, name: str) -> list[str]:
    r = await env.client.get(f"/api/audit-log/?object_type=model&object_id={name}", headers=org.headers)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["results"]]


async def _status(env: Env, headers: dict[str, str], name: str) -> int:
    return (await env.client.get(f"/api/models/{name}/", headers=headers)).status_code


def _model(name: str, **fields: Any) -> dict[str, Any]:
    return {"model_name": name, "base_model_name": "gpt-4o", **fields}


async def test_import_creates_and_updates_with_a_revision_and_audit_entry_each(env: Env) -> None:
    org = await env.org()
    r = await env.client.post("/api/models/", json=_model("existing", input_cost=1.0), headers=org.headers)
    assert r.status_code == 201, r.text
    models = [
        _model("b-one", input_cost=2.0),
        {"model_name": "b-two", "base_model_name": "b-one", "display_name": "Two"},
        _model("existing", input_cost=3.0),
    ]
    r = await env.client.post(IMPORT, json={"models": models}, headers=org.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "results": [
            {"model_name": "b-one", "status": "created"},
            {"model_name": "b-two", "status": "created"},
            {"model_name": "existing", "status": "updated"},
        ],
        "imported": 3,
    }
    two = (await env.client.get("/api/models/b-two/", headers=org.headers)).json()
    assert (two["input_cost"], two["display_name"], two["user_id"]) == (2.0, "Two", org.admin_user_id)
    assert (await env.client.get("/api/models/existing/", headers=org.headers)).json()["input_cost"] == 3.0
    assert await _audit(env, org, "b-one") == ["create"]
    assert await _audit(env, org, "existing") == ["update", "create"]
    revisions = await env.client.get("/api/models/existing/revisions/", headers=org.headers)
    assert [x["action"] for x in revisions.json()["results"]] == ["update", "create"], revisions.text
    listed = await env.client.get("/api/models/", headers=org.headers)
    assert {"b-one", "b-two", "existing"} <= {m["model_name"] for m in listed.json()}


async def test_one_refused_model_refuses_the_request_naming_it_and_writes_nothing(env: Env) -> None:
    org = await env.org()
    r = await env.client.post("/api/models/", json=_model("kept", input_cost=1.0), headers=org.headers)
    assert r.status_code == 201, r.text
    good = [_model("new-one"), _model("kept", input_cost=9.0)]
    refusals = {
        "unknown base": ({"model_name": "bad", "base_model_name": "no-such-model"}, "models[2] (bad): "),
        "built-in name": (_model("gpt-4o"), "models[2] (gpt-4o): A built-in model already has this name"),
        "no route": ({"model_name": "bad"}, "models[2] (bad): custom_provider_id"),
        "no name": ({"base_model_name": "gpt-4o"}, "models[2]: This field is required."),
    }
    for what, (model, start) in refusals.items():
        r = await env.client.post(IMPORT, json={"models": [*good, model]}, headers=org.headers)
        assert r.status_code == 400, (what, r.text)
        assert r.json()["detail"].startswith(start) and r.json()["detail"].endswith("nothing was imported."), what
    r = await env.client.post(IMPORT, json={"models": [*good, {"model_name": 5}]}, headers=org.headers)
    assert r.status_code == 400 and "models" in r.json()["detail"], r.text  # a malformed body: the decoder's 400
    assert await _status(env, org.headers, "new-one") == 404
    assert (await env.client.get("/api/models/kept/", headers=org.headers)).json()["input_cost"] == 1.0
    assert await _audit(env, org, "kept") == ["create"]
    assert await _audit(env, org, "new-one") == []


async def test_import_checks_permissions_like_single_writes(env: Env) -> None:
    org, other = await env.org(), await env.org("other")
    _, member_key = await env.member(org)
    member = {"Authorization": f"Bearer {member_key}"}
    for body in (_model("readable"), {**_model("private"), "access_grants": []}):
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    theirs = _model("theirs", input_cost=4.0)
    assert (await env.client.post("/api/models/", json=theirs, headers=other.headers)).status_code == 201

    r = await env.client.post(IMPORT, json={"models": [_model("m-new"), _model("readable")]}, headers=member)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("models[1] (readable): You do not have permission"), r.text
    r = await env.client.post(IMPORT, json={"models": [_model("m-new"), _model("private")]}, headers=member)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "models[1] (private): Not found.; nothing was imported.", r.text  # like missing
    assert await _status(env, member, "m-new") == 404

    # Another organization's model of the same name is untouched: the caller gets its own.
    r = await env.client.post(IMPORT, json={"models": [_model("theirs", input_cost=1.0)]}, headers=member)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "created", r.text
    assert (await env.client.get("/api/models/theirs/", headers=other.headers)).json()["input_cost"] == 4.0
    assert (await env.client.get("/api/models/theirs/", headers=member)).json()["input_cost"] == 1.0
    assert (await env.client.post(IMPORT, json={"models": []})).status_code == 401


async def test_a_hundred_models_in_one_request(env: Env) -> None:
    org = await env.org()
    models = [_model(f"many-{i:03d}", input_cost=float(i)) for i in range(100)]
    r = await env.client.post(IMPORT, json={"models": models}, headers=org.headers)
    assert r.status_code == 200 and r.json()["imported"] == 100, r.text
    page = await env.client.post(
        "/api/models/list/?page_size=10",
        json={"filters": {"affiliation_category": {"operator": "", "value": ["custom"]}}},
        headers=org.headers,
    )
    assert page.json()["count"] == 100, page.text
    assert (await env.client.get("/api/models/many-099/", headers=org.headers)).json()["input_cost"] == 99.0


_VOLATILE = {"at", "id", "request_id", "created_at", "updated_at", "effective_from", "model_pk", "pk", "etag"}


def _stable(value: Any) -> Any:
    """The answer without what differs between two organizations doing the same writes: times and ids."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE and "organization" not in k}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def _trace(env: Env, org: Org, names: list[str]) -> dict[str, Any]:
    """Everything the writes left, per model: the model as read, its revisions, audit entries and prices."""
    found: dict[str, Any] = {}
    for name in names:
        parts = []
        for path in (f"/api/models/{name}/", f"/api/models/{name}/revisions/", f"/api/models/{name}/prices/"):
            r = await env.client.get(path, headers=org.headers)
            assert r.status_code == 200, (path, r.text)
            parts.append(r.json())
        r = await env.client.get(f"/api/audit-log/?object_type=model&object_id={name}", headers=org.headers)
        parts.append([(e["action"], e["before"], e["after"]) for e in r.json()["results"]])
        # The same writes by each organization's admin: the actor is "the admin" on both sides.
        found[name] = _stable(json.loads(json.dumps(parts).replace(org.admin_user_id, "<admin>")))
    listed = await env.client.get("/api/models/?affiliation=custom", headers=org.headers)
    found["list"] = sorted(_stable(m)["model_name"] for m in listed.json())
    return found


async def test_an_import_leaves_what_the_same_single_writes_leave(env: Env) -> None:
    """The import shares the single writes' rules (services/model_import.py): bases earlier in the request,
    a name given twice, an update that changes what a stored model inherits, grants, prices."""
    single, bulk = await env.org("single"), await env.org("bulk")
    before = [_model("base", input_cost=1.0), {"model_name": "child", "base_model_name": "base"}, _model("bare")]
    writes = [
        _model("base", input_cost=5.0, output_cost=6.0),  # updates a stored base: child's view follows
        {"model_name": "n1", "base_model_name": "child", "display_name": "N1"},  # base stored, two links down
        {"model_name": "n2", "base_model_name": "n1", "access_grants": []},  # base created just before
        _model("n1", display_name="N1 again", max_context_window=4096),  # created above, updated here
        _model("bare", input_cost=2.5),  # had no prices: a baseline entry, then the new one
        {"model_name": "n2", "base_model_name": "base", "is_active": False},
    ]
    for org in (single, bulk):
        for body in before:
            r = await env.client.post("/api/models/", json=body, headers=org.headers)
            assert r.status_code == 201, r.text
    for body in writes:
        r = await env.client.post("/api/models/", json=body, headers=single.headers)
        assert r.status_code in (200, 201), r.text
    r = await env.client.post(IMPORT, json={"models": writes}, headers=bulk.headers)
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == ["updated", "created", "created", "updated", "updated", "updated"]
    names = ["base", "child", "bare", "n1", "n2"]
    assert await _trace(env, bulk, names) == await _trace(env, single, names)
    child = (await env.client.get("/api/models/child/", headers=bulk.headers)).json()
    assert (child["input_cost"], child["output_cost"]) == (5.0, 6.0)


async def test_a_base_later_in_the_request_is_not_there_yet(env: Env) -> None:
    """Models are applied in request order, as if written one after the other."""
    org = await env.org()
    models = [{"model_name": "kid", "base_model_name": "parent"}, _model("parent")]
    r = await env.client.post(IMPORT, json={"models": models}, headers=org.headers)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("models[0] (kid): "), r.text
    assert await _status(env, org.headers, "parent") == 404
