"""Fuzzing the published contract with schemathesis (issue 10), against a live `modelreg serve`.

Every operation of the served /openapi.json, as an organization admin and as a member, over a seeded
organization (a provider pointing at a closed local port, and custom models). Per operation: schema-valid
cases and schema-invalid ones (negative mode), then schema-valid cases addressed at the seeded objects (path
parameters fixed; gateway calls of the seeded model, which reach the 502 path). Bounded and reproducible:
derandomized Hypothesis (a fixed seed), EXAMPLES examples per operation and mode, no shrinking. Checks: no
5xx (except the gateway's documented 502 for the closed upstream port); status code, content type, headers
and body conform to the document. Failures are collected (the first per operation and mode) and reported
together, each with a curl command that reproduces it.

Marker `schemathesis`: `pytest -m schemathesis` runs only this; `-m "not schemathesis"` skips it.
MODELREG_FUZZ_EXAMPLES changes the number of examples (default 15: about 1,400 cases per role, 2-3 minutes in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import live_server
from live_server import Server, free_port
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head

pytestmark = pytest.mark.schemathesis

EXAMPLES = int(os.environ.get("MODELREG_FUZZ_EXAMPLES", "15"))


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the gateway's documented answers to an unreachable upstream (502/504, OpenAI-shaped
    `upstream_error`): the seeded provider's port is closed on purpose."""
    del ctx, case
    if response.status_code < 500:
        return None
    if response.status_code in (502, 504):
        content_type = next((v[0] for k, v in response.headers.items() if k.lower() == "content-type"), "")
        body = response.json() if content_type.startswith("application/json") else None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("type") == "upstream_error":
            return None
    raise AssertionError(f"Server error {response.status_code}: {response.text[:300]}")


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SEEDED = {"model_name": "team-gpt", "provider_id": "fuzz-provider", "model": "team-gpt"}
# Gateway calls of the seeded model: routed to the closed port, so they reach the 502 path.
SEEDED_BODIES = {
    "/v1/chat/completions": {"model": "team-gpt", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"model": "team-gpt", "prompt": "hi"},
    "/v1/responses": {"model": "team-gpt", "input": "hi", "stream": True},
    "/v1/embeddings": {"model": "team-gpt", "input": "hi"},
}


@dataclass
class Keys:
    admin: str
    member: str


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


async def _organization(database_url: str) -> Keys:
    db = Database(database_url)
    try:
        async with db.write() as session:
            created = await identity.create_organization(session, "fuzz", "fuzz-admin@example.com")
            user = await identity.create_user(session, created.organization_id, "fuzz-member@example.com", "member")
            member = await identity.create_api_key(session, user.id)
    finally:
        await db.dispose()
    return Keys(created.api_key, member.api_key)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Keys]]:
    """A server over its own SQLite database (fuzzed writes never reach other tests' databases)."""
    directory = tmp_path_factory.mktemp("modelreg-fuzz")
    url = f"sqlite+aiosqlite:///{directory}/fuzz.db"
    upgrade_to_head(url)
    keys = asyncio.run(_organization(url))
    env = {"MODELREG_ANONYMOUS_RATE_LIMIT": "1000000/60", "MODELREG_UPSTREAM_ALLOW": "127.0.0.1/32"}
    with live_server.running_server(url, directory, **env) as server:
        yield server, keys


def _seed(server: Server, keys: Keys) -> None:
    """The seeded objects, (re)made before each role's run: the admin's run may change or delete them."""
    closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: gateway calls answer 502
    provider = {
        "provider_id": SEEDED["provider_id"],
        "provider_name": "Fuzz",
        "extra_kwargs": {"base_url": closed, "timeout": 2},
        "api_key": "sk-fuzz",
    }
    admin = {"Authorization": f"Bearer {keys.admin}"}
    with httpx.Client(base_url=server.base_url, headers=admin, timeout=30) as client:
        assert client.post("/api/providers/", json=provider).status_code in (200, 201)
        for name in (SEEDED["model_name"], "team/slash-model"):
            body = {"model_name": name, "base_model_name": "gpt-4o", "custom_provider_id": SEEDED["provider_id"]}
            assert client.post("/api/models/", json=body).status_code in (200, 201)


def _fuzz_operation(operation: Any, base_url: str, headers: dict[str, str], role: str, tally: Tally) -> None:
    plans: list[tuple[str, GenerationMode, dict[str, Any]]] = [
        ("positive", GenerationMode.POSITIVE, {}),
        ("negative", GenerationMode.NEGATIVE, {}),
    ]
    seeded = {p.name: SEEDED[p.name] for p in operation.iter_parameters() if p.location == "path" and p.name in SEEDED}
    if seeded:
        plans.append(("seeded", GenerationMode.POSITIVE, {"path_parameters": seeded}))
    if operation.path in SEEDED_BODIES:
        plans.append(("seeded", GenerationMode.POSITIVE, {"body": SEEDED_BODIES[operation.path]}))
    for label, mode, fixed in plans:
        strategy = operation.as_strategy(generation_mode=mode, **fixed)
        # Unsatisfiable: nothing to make invalid (no parameters, no body): the negative mode has no case.
        with contextlib.suppress(Unsatisfiable):
            _runner(f"{operation.label} [{label}]", strategy, base_url, headers, role, tally)()


def _runner(label: str, strategy: Any, base_url: str, headers: dict[str, str], role: str, tally: Tally) -> Any:
    """A bounded, derandomized Hypothesis run; failures are recorded (one per label), never raised, so nothing
    is shrunk and every operation gets its turn."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        if any(failure.startswith(label) for failure in tally.failures):
            return  # one reproducer per operation and mode is enough
        tally.cases += 1
        try:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        except (AssertionError, BaseExceptionGroup, OSError, ValueError) as exc:  # a check failed, or transport
            what = str(exc).split("Reproduce with:")[0].strip()[:1500]
            curl = case.as_curl_command(headers={"Authorization": "Bearer $MODELREG_KEY"}, base_url=base_url)
            tally.failures.append(f"{label}: {what}\n    reproduce (MODELREG_KEY: the {role} key): {curl}")

    return run


@pytest.mark.parametrize("role", ["admin", "member"])
def test_every_operation_survives_fuzzing_and_conforms(
    fuzz_server: tuple[Server, Keys], role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, keys = fuzz_server
    _seed(server, keys)
    document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.output.sanitization.enabled = False  # reproducers show the bodies sent (test data only)
    headers = {"Authorization": f"Bearer {keys.admin if role == 'admin' else keys.member}"}
    tally = Tally()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Gateway calls first (while the seeded model routes), deletes last.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", not op.path.startswith("/v1/")))
    for operation in operations:
        tally.operations += 1
        _fuzz_operation(operation, server.base_url, headers, role, tally)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nschemathesis ({role}): {tally.operations} operations, {tally.cases} cases, "
            f"{len(tally.failures)} failures, {elapsed:.0f} s; statuses {dict(sorted(tally.statuses.items()))}"
        )
    assert server.process.poll() is None, server.log_text()[-3000:]
    assert "Traceback" not in server.log_text(), server.log_text()[-5000:]
    assert not tally.failures, "\n\n".join(tally.failures)
