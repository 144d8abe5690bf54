"""The SQL twin of the permission rule agrees with the rule.

1. store/access_sql.readable_sql against domain/access.can_read over a generated matrix: every subset of a
   universe of grants x several owners, rows inserted directly into custom_models, model_grants and
   model_views; principals admin/member, with and without groups, owners and non-owners. The readable sets
   must be equal (the domain side is computed both from the generated definitions and from the rows read
   back as the memory index reads them).
2. Lists served from SQL (an app built with memory_index_max_models=0) return exactly what the memory path
   returns, for every caller of the permissions matrix, in both dialects, and what ACCESS says they may read.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from access_helpers import build_world
from conftest import Env, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import Catalog
from modelreg.domain.access import can_read
from modelreg.domain.grants import Grant
from modelreg.domain.llm_model import CustomModel, LLMModel
from modelreg.domain.principal import Principal
from modelreg.services import identity
from modelreg.store.access_sql import readable_sql
from modelreg.store.database import Database
from modelreg.store.rows import CustomModelRow, ModelGrantRow, ModelViewRow
from modelreg.store.views import model_from_view, view_values
from test_permissions import ACCESS, CUSTOM_ONLY, GROUPS, KINDS, MEMBERS, PARAMS, R, W, make_targets

# ---- 1. readable_sql == can_read ------------------------------------------------------------------------------


Definition = tuple[str, str | None, tuple[Grant, ...], bool]
"""(model name, owner user id, grants, is_active)"""


async def _insert_models(session: Any, organization_id: str, definitions: list[Definition]) -> None:
    now = datetime.now(UTC)
    for name, owner, grants, active in definitions:
        row = CustomModelRow(
            organization_id=organization_id,
            user_id=owner,
            model_name=name,
            base_model_name=None,
            revision=1,
            is_active=active,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        for g in grants:
            session.add(
                ModelGrantRow(
                    model_pk=row.pk,
                    principal_type=g.principal_type,
                    principal_id=g.principal_id,
                    permission=g.permission,
                )
            )
        resolved = LLMModel(
            name=name,
            affiliation="custom",
            organization_id=organization_id,
            owner_user_id=owner,
            grants=grants,
            is_active=active,
            created_at=now,
            updated_at=now,
            revision=1,
            pk=row.pk,
        )
        session.add(ModelViewRow(**view_values(resolved)))
    await session.flush()


async def test_readable_sql_agrees_with_can_read(env: Env, catalog: Catalog) -> None:
    tag = uuid.uuid4().hex[:8]
    db = Database(env.database_url)
    try:
        async with db.write() as session:
            org_a = await identity.create_organization(session, f"a-{tag}", f"admin-{tag}@a.example")
            org_b = await identity.create_organization(session, f"b-{tag}", f"admin-{tag}@b.example")
            u1 = (await identity.create_user(session, org_a.organization_id, f"u1-{tag}@a.example")).id
            u2 = (await identity.create_user(session, org_a.organization_id, f"u2-{tag}@a.example")).id
            u3 = (await identity.create_user(session, org_a.organization_id, f"u3-{tag}@a.example")).id
            b1 = (await identity.create_user(session, org_b.organization_id, f"b1-{tag}@b.example")).id
            universe = [
                Grant("user", u1, "read"),
                Grant("user", u2, "write"),
                Grant("user", "*", "read"),
                Grant("user", "*", "write"),
                Grant("group", "g1", "read"),
                Grant("group", "g2", "write"),
                Grant("group", "g3", "read"),
            ]
            definitions: dict[str, list[Definition]] = {"a": [], "b": []}
            for size in range(len(universe) + 1):
                for subset in itertools.combinations(universe, size):
                    for owner in (u1, u2, None):
                        for active in (True, False):
                            number = len(definitions["a"])
                            definitions["a"].append((f"a{number:04d}", owner, tuple(sorted(subset)), active))
            # Organization B's models grant A's principals and "*": scoping must keep them out of A's lists.
            for number, subset in enumerate(itertools.combinations(universe, 2)):
                definitions["b"].append((f"b{number:04d}", b1, tuple(sorted(subset)), number % 2 == 0))
            await _insert_models(session, org_a.organization_id, definitions["a"])
            await _insert_models(session, org_b.organization_id, definitions["b"])

        org_of = {"a": org_a.organization_id, "b": org_b.organization_id}
        principals = [
            Principal(user_id=user, organization_id=org_of["a"], role=role, email="x@a.example", group_ids=groups)
            for user in (u1, u2, u3, org_a.user_id, "usr_without_models")
            for groups in (
                frozenset(),
                frozenset({"g1"}),
                frozenset({"g2"}),
                frozenset({"g1", "g2", "g3"}),
                frozenset({"g9"}),
            )
            for role in ("member", "admin")
        ]
        principals += [
            Principal(user_id=b1, organization_id=org_of["b"], role="member", email="b@b.example"),
            Principal(
                user_id=b1, organization_id=org_of["b"], role="member", email="b@b.example", group_ids=frozenset({"g1"})
            ),
            Principal(user_id=org_b.user_id, organization_id=org_of["b"], role="admin", email="a@b.example"),
        ]
        subjects = {
            org: [
                CustomModel(
                    pk=0,
                    organization_id=org_of[org],
                    owner_user_id=owner,
                    name=name,
                    base_model_name=None,
                    provider=None,
                    grants=grants,
                    is_active=active,
                )
                for name, owner, grants, active in definitions[org]
            ]
            for org in ("a", "b")
        }
        async with db.read() as session:
            views = list(await session.scalars(select(ModelViewRow)))
            from_views = [model_from_view(row, catalog) for row in views]
            problems = []
            checked = 0
            for principal in principals:
                scope = ModelViewRow.organization_id == principal.organization_id
                sql = set(await session.scalars(select(ModelViewRow.model_name).where(scope, readable_sql(principal))))
                generated = {m.name for org in ("a", "b") for m in subjects[org] if can_read(principal, m)}
                stored = {m.name for m in from_views if can_read(principal, m)}
                checked += len(views)
                if not sql == generated == stored:
                    problems.append(
                        f"{principal.role} {principal.user_id} groups={sorted(principal.group_ids)} "
                        f"org={'a' if principal.organization_id == org_of['a'] else 'b'}: "
                        f"sql-only {sorted(sql - generated)[:5]}, rule-only {sorted(generated - sql)[:5]}, "
                        f"views differ from definitions: {sorted(stored ^ generated)[:5]}"
                    )
    finally:
        await db.dispose()
    assert len(views) == len(definitions["a"]) + len(definitions["b"]) == 128 * 3 * 2 + 21
    assert checked == len(principals) * len(views)
    assert not problems, "\n".join(problems)
    # The matrix is not trivial: some principals read some models and not others.
    member = principals[0]
    readable = {m.name for m in subjects["a"] if can_read(member, m)}
    assert 0 < len(readable) < len(subjects["a"])


# ---- 2. the SQL path lists what the memory path lists ---------------------------------------------------------


def _webui_pages(client: AsyncTestClient[Any], headers: dict[str, str]) -> Any:
    async def gather() -> tuple[int, Any]:
        pages = []
        for page in itertools.count(1):
            r = await client.get("/api/v1/models/list", params={"page": page}, headers=headers)
            if r.status_code != 200:
                return r.status_code, r.json()
            pages.append(r.json())
            if not r.json()["items"]:
                return 200, pages

    return gather()


def _listed(answer: tuple[int, Any]) -> set[str]:
    """The model names in a list answer (envelope, bare array, Open WebUI pages), to show what differs."""
    _, body = answer
    if isinstance(body, dict) and "results" in body:
        body = body["results"]
    elif isinstance(body, dict) and "items" in body:
        body = body["items"]
    elif isinstance(body, list) and body and isinstance(body[0], dict) and "items" in body[0]:
        body = [item for page in body for item in page["items"]]
    if not isinstance(body, list):
        return set()
    return {m.get("model_name", m.get("id")) for m in body if isinstance(m, dict)}


async def _lists(client: AsyncTestClient[Any], headers: dict[str, str], *, everything: bool) -> dict[str, Any]:
    """Every list a caller can ask for, as (status, body); `everything`: also the bare array of every model
    (built-ins included: large, so asked for a few callers only)."""
    out: dict[str, Any] = {}
    for sort in ("model_name", "-created_at", "-display_name"):
        r = await client.post(
            "/api/models/list/", params={"all": "true", "sort_by": sort}, json={"filters": CUSTOM_ONLY}, headers=headers
        )
        out[f"respan custom sorted {sort}"] = (r.status_code, r.json())
    # Built-ins and custom models merged on one page (the SQL path merges two sources).
    r = await client.post(
        "/api/models/list/",
        params={"page": 2, "page_size": 7, "sort_by": "-model_name"},
        json={"filters": {"model_name": {"operator": "icontains", "value": ["m"]}}},
        headers=headers,
    )
    out["respan mixed page"] = (r.status_code, r.json())
    r = await client.get(
        "/api/models/list/", params={"affiliation_category": "custom", "page_size": 5}, headers=headers
    )
    out["respan GET list"] = (r.status_code, r.json())
    r = await client.post("/api/models/summary/", json={"filters": {}}, headers=headers)
    out["respan summary"] = (r.status_code, r.json())
    if everything:
        r = await client.get("/api/models/", headers=headers)
        out["respan array"] = (r.status_code, r.json())
    out["webui list"] = await _webui_pages(client, headers)
    r = await client.get(
        "/api/v1/models/list",
        params={"query": "shared", "order_by": "updated_at", "direction": "desc"},
        headers=headers,
    )
    out["webui search"] = (r.status_code, r.json())
    r = await client.get("/api/v1/models/export", headers=headers)
    out["webui export"] = (r.status_code, r.json())
    return out


async def test_sql_path_lists_equal_memory_path_lists(env: Env, catalog: Catalog) -> None:
    world = await build_world(env.database_url, MEMBERS, GROUPS)
    targets = await make_targets(env, world)
    sql_app = create_app(make_settings(env.database_url, memory_index_max_models=0), catalog)
    problems = []
    async with AsyncTestClient(app=sql_app) as sql_client:
        for label, levels in ACCESS.items():
            headers = world[label].headers
            everything = label in ("owner", "reader_group", "writer_direct", "stranger", "outsider", "anonymous")
            memory = await _lists(env.client, headers, everything=everything)
            sql = await _lists(sql_client, headers, everything=everything)
            for what in memory:
                if memory[what] != sql[what]:
                    only_sql, only_memory = (
                        _listed(sql[what]) - _listed(memory[what]),
                        _listed(memory[what]) - _listed(sql[what]),
                    )
                    problems.append(
                        f"{label}: {what} differs between the memory and the SQL path; "
                        f"only on SQL: {sorted(only_sql)}, only in memory: {sorted(only_memory)}"
                    )
            # ... and both list exactly what ACCESS says the caller may read, with params for writers only.
            status, body = memory["respan custom sorted model_name"]
            if label == "anonymous":
                assert status == 200 and body["results"] == [], body
                continue
            assert status == 200, body
            readable = {name: levels[KINDS.index(kind)] for (_, kind), (name, _) in targets.items()}
            expected = {name: level for name, level in readable.items() if level in (R, W)}
            listed = {m["model_name"]: m["params"] for m in body["results"]}
            assert set(listed) == set(expected), (label, sorted(set(listed) ^ set(expected)))
            for name, level in expected.items():
                assert listed[name] == (PARAMS if level == W else {}), (label, name, listed[name])
        # The two apps really took different paths.
        assert not (await sql_app.state.registry.index.org(world.org)).in_memory
        assert (await env.client.app.state.registry.index.org(world.org)).in_memory
    assert not problems, "\n".join(problems)
