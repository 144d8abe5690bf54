"""How many statements a single model write runs (docs/benchmarks.md, "Third pass"): a write's CPU is mostly
per statement, so a change that adds one to every create, PATCH or delete shows here first. Counted on
SQLite's writer connection, which runs nothing but write transactions (PostgreSQL runs the same statements
plus the NOTIFY, on connections shared with reads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from conftest import Env


@pytest.fixture(scope="session")
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # this module only: SQLite's writer (module docstring)


@contextmanager
def _statements(env: Env) -> Iterator[list[str]]:
    """The statements of the one write transaction that touched custom_models while the block ran. The
    writer runs one transaction at a time, each opened by a BEGIN; a background flush that happens to run in
    the block (the keys' last use, the meter) is a transaction of its own, left out."""
    engine = env.client.app.state.registry.db.write_engine.sync_engine
    transactions: list[list[str]] = []
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("BEGIN") or not transactions:
            transactions.append([])
        transactions[-1].append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
    writes = [t for t in transactions if any("custom_models" in statement for statement in t)]
    assert len(writes) == 1, transactions
    seen.extend(" ".join(statement.split()[:3]) for statement in writes[0])


async def test_single_writes_run_a_fixed_few_statements(env: Env) -> None:
    org = await env.org()
    body = {"model_name": "parent", "base_model_name": "gpt-4o", "input_cost": 1.0}
    assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201

    with _statements(env) as seen:
        body = {"model_name": "leaf", "base_model_name": "gpt-4o", "input_cost": 1.0}
        assert (await env.client.post("/api/models/", json=body, headers=org.headers)).status_code == 201
    # BEGIN, the row, its grants, its fields, revision, audit entry, price entry, view row, counter.
    assert len(seen) == 9, seen

    with _statements(env) as seen:
        r = await env.client.patch("/api/models/leaf/", json={"input_cost": 2.0}, headers=org.headers)
        assert r.status_code == 200, r.text
    # BEGIN, the row (with whether it has prices and dependents), its grants, its fields, revision, audit
    # entry, price entry, the view row replaced in one upsert, counter.
    assert len(seen) == 9, seen
    assert not any(s.startswith("DELETE") for s in seen), seen

    assert (await env.client.post("/api/models/", json={"model_name": "child", "base_model_name": "parent"},
                                  headers=org.headers)).status_code == 201  # fmt: skip
    with _statements(env) as seen:
        r = await env.client.patch("/api/models/parent/", json={"input_cost": 3.0}, headers=org.headers)
        assert r.status_code == 200, r.text
    # A model with a dependent also looks its dependents up and rewrites their view rows.
    assert len(seen) > 9, seen
    assert (await env.client.get("/api/models/child/", headers=org.headers)).json()["input_cost"] == 3.0

    with _statements(env) as seen:
        assert (await env.client.delete("/api/models/leaf/", headers=org.headers)).status_code == 204
    # BEGIN, the row (no dependents: no list of them), grants, revision, audit entry, the delete, counter.
    assert len(seen) == 7, seen
    r = await env.client.delete("/api/models/parent/", headers=org.headers)
    assert r.status_code == 400 and "child" in r.json()["detail"]
