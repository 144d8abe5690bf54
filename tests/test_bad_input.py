"""Bad input: every malformed or invalid write answers a clear 4xx JSON error (never 5xx) and loses nothing.

"Loses nothing" is checked by re-reading: the organization's stored rows (every column, straight from the
database, secrets ciphertext included) and the API view of the seeded model and provider (body and ETag)
must be exactly as before the failed request.

Targets: POST /api/models/ (on an existing name and on a new one), PATCH/PUT /api/models/m1/,
POST /api/providers/ (existing and new), PATCH/PUT /api/providers/p1/.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import inspect, select

from conftest import Env, Org, make_settings
from modelreg.app import MAX_BODY_BYTES, create_app
from modelreg.store.database import Database
from modelreg.store.rows import CustomModelRow, ProviderRow

SEED_PROVIDER = {
    "provider_id": "p1",
    "provider_name": "Provider One",
    "extra_kwargs": {"base_url": "http://vllm:8000/v1", "api_key": "sk-seed-secret"},
}
SEED_MODEL = {
    "model_name": "m1",
    "base_model_name": "gpt-4o",
    "custom_provider_id": "p1",
    "display_name": "Model One",
    "input_cost": 1.5,
    "max_context_window": 4096,
    "streaming_support": 1,
    "supported_params_override": {"top_p": False},
}

# (method, path, a valid body): the bad-field cases below replace one field of that body.
MODEL_TARGETS = [
    ("POST", "/api/models/", {"model_name": "m1"}),
    ("POST", "/api/models/", {"model_name": "fresh", "base_model_name": "gpt-4o"}),
    ("PATCH", "/api/models/m1/", {}),
    ("PUT", "/api/models/m1/", {"base_model_name": "gpt-4o"}),
]
PROVIDER_TARGETS = [
    ("POST", "/api/providers/", {"provider_id": "p1", "provider_name": "Provider One"}),
    ("POST", "/api/providers/", {"provider_id": "fresh", "provider_name": "Fresh"}),
    ("PATCH", "/api/providers/p1/", {}),
    ("PUT", "/api/providers/p1/", {"provider_name": "Provider One"}),
]
# Whole-body cases go to each route once.
ROUTES = [
    ("POST", "/api/models/"),
    ("PATCH", "/api/models/m1/"),
    ("PUT", "/api/models/m1/"),
    ("POST", "/api/providers/"),
    ("PATCH", "/api/providers/p1/"),
    ("PUT", "/api/providers/p1/"),
]

COST_FIELDS = ("input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost")
FLAG_FIELDS = ("streaming_support", "function_call", "image_support")


@dataclass
class Seeded:
    """An organization with provider p1 (with a secret) and model m1 (on p1, based on gpt-4o)."""

    env: Env
    org: Org
    db: Database

    async def send(
        self, method: str, path: str, body: bytes | dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        all_headers = {**self.org.headers, "Content-Type": "application/json", **(headers or {})}
        return await self.env.client.request(method, path, content=content, headers=all_headers)

    async def state(self) -> dict[str, Any]:
        """Everything a failed write could have touched: the org's rows (all columns) and the API view."""
        oid = self.org.organization_id
        async with self.db.read() as session:
            models = await session.scalars(
                select(CustomModelRow).where(CustomModelRow.organization_id == oid).order_by(CustomModelRow.pk)
            )
            model_rows = [_columns(row) for row in models]
            providers = await session.scalars(
                select(ProviderRow).where(ProviderRow.organization_id == oid).order_by(ProviderRow.pk)
            )
            provider_rows = [_columns(row) for row in providers]
        model = await self.env.client.get("/api/models/m1/", headers=self.org.headers)
        provider = await self.env.client.get("/api/providers/p1/", headers=self.org.headers)
        assert model.status_code == provider.status_code == 200
        return {
            "model_rows": model_rows,
            "provider_rows": provider_rows,
            "model": (model.json(), model.headers["etag"]),
            "provider": (provider.json(), provider.headers["etag"]),
        }


def _columns(row: Any) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


@pytest.fixture
async def seeded(env: Env) -> AsyncIterator[Seeded]:
    org = await env.org()
    r = await env.client.post("/api/providers/", json=SEED_PROVIDER, headers=org.headers)
    assert r.status_code == 201, r.text
    r = await env.client.post("/api/models/", json=SEED_MODEL, headers=org.headers)
    assert r.status_code == 201, r.text
    db = Database(env.database_url)
    try:
        yield Seeded(env, org, db)
    finally:
        await db.dispose()


def with_field(base: dict[str, Any], field: str, raw: str) -> bytes:
    """`base` with `field` set to the raw JSON text `raw` (so 1e999 or NaN can be sent as written)."""
    inner = json.dumps({k: v for k, v in base.items() if k != field})[1:-1]
    return ("{" + (inner + ", " if inner else "") + json.dumps(field) + ": " + raw + "}").encode()


def assert_client_error(r: httpx.Response, status: int | tuple[int, ...] = 400, field: str | None = None) -> dict:
    """A 4xx with a JSON object body carrying a non-empty `detail`; `field`, when given, is named in the body."""
    where = f"{r.request.method} {r.request.url.path[:80]} -> {r.status_code} {r.text[:300]}"
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, where
    assert r.headers.get("content-type", "").startswith("application/json"), where
    body = r.json()
    assert isinstance(body, dict), where
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), where
    if field is not None:
        assert field in body, f"error does not name the field {field!r}: {where}"
        assert isinstance(body[field], list) and body[field], where
        assert all(isinstance(m, str) and m for m in body[field]), where
    return body


@contextlib.contextmanager
def case(problems: list[str], label: str) -> Iterator[None]:
    """Record a failed assertion under `label` and go on with the next case."""
    try:
        yield
    except AssertionError as exc:
        problems.append(f"[{label}] {exc}")


def no_problems(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} case(s) failed:\n" + "\n".join(problems)


class Refusals:
    """Sends requests that must be refused, and collects every case that was not (so one run shows them all):
    a wrong status or body, or any change to the stored state."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        self.problems: list[str] = []
        self.before: dict[str, Any] | None = None

    async def __aenter__(self) -> Refusals:
        self.before = await self.seeded.state()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            no_problems(self.problems)

    async def expect(
        self,
        label: str,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None,
        status: int | tuple[int, ...] = 400,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        check: Any = None,
    ) -> None:
        r = await self.seeded.send(method, path, body, headers)
        try:
            error = assert_client_error(r, status, field)
            if check is not None:
                check(error)
        except AssertionError as exc:
            self.problems.append(f"[{label}] {exc}")
        after = await self.seeded.state()
        if after != self.before:
            self.problems.append(f"[{label}] {method} {path[:60]}: the stored state changed")
            self.before = after


# ---- the harness is sound: it notices an accepted write, even one that only re-seals a secret -----------------


async def test_refusals_notice_a_write_that_went_through(seeded: Seeded) -> None:
    refusals = await Refusals(seeded).__aenter__()
    await refusals.expect("model", "PATCH", "/api/models/m1/", {"input_cost": 9})
    await refusals.expect("secret", "PATCH", "/api/providers/p1/", {"api_key": "sk-replaced"})
    assert len(refusals.problems) == 4, refusals.problems
    assert [p.endswith("the stored state changed") for p in refusals.problems] == [False, True, False, True]


# ---- the tables are sound: every base body alone is accepted ------------------------------------------------


async def test_base_bodies_are_valid(seeded: Seeded) -> None:
    """Without this, a bad-field case could pass because its base body was already wrong."""
    for method, path, base in [*MODEL_TARGETS, *PROVIDER_TARGETS]:
        r = await seeded.send(method, path, base)
        assert r.status_code in (200, 201), (method, path, base, r.text)


# ---- whole-body problems -------------------------------------------------------------------------------------

MALFORMED = [
    b"{",
    b'{"model_name": ',
    b"{'model_name': 'm1'}",
    b"model_name=m1",
    b"\xff\xfe{}",
    b'{"a": 1,}',
    b'{"a": 1} trailing',
    b'{"a": 1}{"b": 2}',
    b'{"input_cost": NaN}',
    b'{"input_cost": Infinity}',
    b'{"model_name": "a\nb"}',
    b'{"model_name": "\\ud800"}',
]
NOT_AN_OBJECT = [b"[]", b'[{"model_name": "m1"}]', b'"m1"', b"1", b"-1.5", b"null", b"true", b"false"]


def _mentions(word: str) -> Any:
    def check(error: dict[str, Any]) -> None:
        assert word in error["detail"].lower(), f"detail does not say {word!r}: {error['detail']!r}"

    return check


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_malformed_or_non_object_body(seeded: Seeded, method: str, path: str) -> None:
    async with Refusals(seeded) as refusals:
        for body in MALFORMED:
            await refusals.expect(f"malformed {body[:24]!r}", method, path, body, check=_mentions("json"))
        for body in NOT_AN_OBJECT:
            await refusals.expect(f"not an object {body!r}", method, path, body, check=_mentions("object"))


async def test_body_over_1_mib_is_413_json(seeded: Seeded) -> None:
    before = await seeded.state()
    big = json.dumps({"model_name": "m1", "provider_id": "p1", "padding": "x" * MAX_BODY_BYTES}).encode()
    for method, path in ROUTES:
        assert_client_error(await seeded.send(method, path, big), 413)
        assert await seeded.state() == before, (method, path)


async def test_body_size_boundary(seeded: Seeded) -> None:
    """Exactly 1 MiB is read (an unknown padding field is ignored); one byte more is 413."""

    def padded(size: int) -> bytes:
        head = b'{"padding": "'
        return head + b"x" * (size - len(head) - 2) + b'"}'

    assert len(padded(MAX_BODY_BYTES)) == MAX_BODY_BYTES
    assert (await seeded.send("PATCH", "/api/models/m1/", padded(MAX_BODY_BYTES))).status_code == 200
    before = await seeded.state()
    assert_client_error(await seeded.send("PATCH", "/api/models/m1/", padded(MAX_BODY_BYTES + 1)), 413)
    assert await seeded.state() == before


async def test_chunked_body_over_1_mib_is_413_json(seeded: Seeded, catalog) -> None:
    """Without Content-Length the limit still holds. (Litestar's test client cannot stream a request body,
    so this one goes through httpx's ASGI transport to a second instance of the app.)"""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model_name": "m1", "padding": "'
        for _ in range(11):
            yield b"x" * 100_000
        yield b'"}'

    before = await seeded.state()
    app = create_app(make_settings(seeded.env.database_url), catalog)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://modelreg.test") as client:
        for method, path in ROUTES:
            r = await client.request(
                method, path, content=chunks(), headers={**seeded.org.headers, "Content-Type": "application/json"}
            )
            assert r.request.headers.get("transfer-encoding") == "chunked"
            assert_client_error(r, 413)
            assert await seeded.state() == before, (method, path)


# ---- wrong types and out-of-range values, field by field ---------------------------------------------------

MODEL_FIELD_CASES = [
    *[("model_name", raw) for raw in ("5", "1.5", '{"name": "m1"}', '["m1"]', "true", "null")],
    *[("display_name", raw) for raw in ("5", "[]", "{}", "false")],
    *[("base_model_name", raw) for raw in ("5", "{}", '["gpt-4o"]')],
    *[("custom_provider_id", raw) for raw in ("1.5", "true", "[]", '{"provider_id": "p1"}')],
    *[("provider_id", raw) for raw in ("1.5", "false", '["p1"]')],
    *[("model_type", raw) for raw in ("5", '["chat"]')],
    *[
        (field, raw)
        for field in COST_FIELDS
        for raw in ('"1"', '"cheap"', "true", "[]", "-1", "-0.0001", "1e308", "1e999", "-1e999")
    ],
    *[
        ("max_context_window", raw)
        for raw in ("1.5", "4096.0", '"4096"', "true", "0", "-1", "1e308", "1e999", str(10**30), "[]")
    ],
    *[(field, raw) for field in FLAG_FIELDS for raw in ("true", "false", "2", "-1", "0.5", "1.0", '"1"', "[]")],
    *[("supported_params_override", raw) for raw in ("[]", '"top_p"', "5", "true", '[{"top_p": true}]')],
]
PROVIDER_FIELD_CASES = [
    *[("provider_id", raw) for raw in ("5", "1.5", "{}", '["p1"]', "null", "true")],
    *[("provider_name", raw) for raw in ("5", "null", "[]", "{}", "true")],
    *[("api_key", raw) for raw in ("5", "[]", '{"key": "sk"}', "true", json.dumps("k" * 20_001))],
    *[("extra_kwargs", raw) for raw in ("[]", '"base_url=x"', "5", "true", '[{"base_url": "x"}]')],
]


def _by_field(cases: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for field, raw in cases:
        grouped.setdefault(field, []).append(raw)
    return grouped


MODEL_FIELDS = _by_field(MODEL_FIELD_CASES)
PROVIDER_FIELDS = _by_field(PROVIDER_FIELD_CASES)


@pytest.mark.parametrize("field", list(MODEL_FIELDS))
async def test_model_field_with_wrong_type_or_range(seeded: Seeded, field: str) -> None:
    async with Refusals(seeded) as refusals:
        for raw in MODEL_FIELDS[field]:
            for method, path, base in MODEL_TARGETS:
                label = f"{method} {path} {base.get('model_name', '')} {field}={raw[:30]}"
                await refusals.expect(label, method, path, with_field(base, field, raw), 400, field)
    assert (await seeded.env.client.get("/api/models/fresh/", headers=seeded.org.headers)).status_code == 404


@pytest.mark.parametrize("field", list(PROVIDER_FIELDS))
async def test_provider_field_with_wrong_type_or_range(seeded: Seeded, field: str) -> None:
    async with Refusals(seeded) as refusals:
        for raw in PROVIDER_FIELDS[field]:
            for method, path, base in PROVIDER_TARGETS:
                label = f"{method} {path} {base.get('provider_id', '')} {field}={raw[:30]}"
                await refusals.expect(label, method, path, with_field(base, field, raw), 400, field)
    assert (await seeded.env.client.get("/api/providers/fresh/", headers=seeded.org.headers)).status_code == 404


@pytest.mark.parametrize("field", ["supported_params_override", "extra_kwargs"])
async def test_deeply_nested_object_is_a_client_error(seeded: Seeded, field: str) -> None:
    """5000 nested objects are ~30 KB, far under the body limit: the answer must still be a 4xx, not a crash."""
    deep = '{"x": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    targets = PROVIDER_TARGETS if field == "extra_kwargs" else MODEL_TARGETS
    async with Refusals(seeded) as refusals:
        for method, path, base in targets:
            await refusals.expect(f"{method} {path}", method, path, with_field(base, field, deep), (400, 413, 422))


# ---- names ---------------------------------------------------------------------------------------------------

INVALID_NAMES = [
    ("", "empty"),
    ("x" * 257, "257 chars"),
    ("x" * 10_240, "10 KB"),
    (" lead", "leading space"),
    ("trail ", "trailing space"),
    (" ", "only a space"),
    ("\u00a0nbsp", "leading no-break space"),
    ("\tx", "leading tab"),
    ("a\x00b", "NUL"),
    ("a\nb", "newline"),
    ("a\rb", "carriage return"),
    ("a\x7fb", "DEL"),
    ("a\u202eb", "right-to-left override"),
    ("a\u200bb", "zero-width space"),
    ("\ufeffname", "byte order mark"),
    ("a\u2028b", "line separator"),
]
# Valid names elsewhere, but a custom model with one could never be addressed next to /api/models/.
UNADDRESSABLE_MODEL_NAMES = [
    "list", "summary", "public", "status", "x/status", "team/v1/status",
    "a//b", "//", "/a", "a/", "a/../b", "../a", "..", ".", "a/./b",
]  # fmt: skip
# Provider ids whose URL /api/providers/{id}/ cannot be spelled: refused, or else they must round-trip.
AWKWARD_PROVIDER_IDS = ["/a", "a/", "a//b", "//", "..", ".", "a/./b", "a/../b"]
UNICODE_NAMES = [
    "café-模型", "日本語/モデル", "модель-v2", "emoji-🚀-model", "עברית", "Ωμέγα", "a b c", "x" * 256, "ñ" * 256,
]  # fmt: skip


def name_fields(name: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """Every place a name goes, as (method, path, body, field)."""
    return [
        ("POST", "/api/models/", {"model_name": name, "base_model_name": "gpt-4o"}, "model_name"),
        ("POST", "/api/models/", {"model_name": "fresh", "base_model_name": "gpt-4o", "display_name": name},
         "display_name"),
        ("POST", "/api/models/", {"model_name": "m1", "display_name": name}, "display_name"),
        ("PATCH", "/api/models/m1/", {"display_name": name}, "display_name"),
        ("PATCH", "/api/models/m1/", {"base_model_name": name}, "base_model_name"),
        ("PUT", "/api/models/m1/", {"base_model_name": name}, "base_model_name"),
        ("POST", "/api/providers/", {"provider_id": name, "provider_name": "P"}, "provider_id"),
        ("POST", "/api/providers/", {"provider_id": "fresh", "provider_name": name}, "provider_name"),
        ("POST", "/api/providers/", {"provider_id": "p1", "provider_name": name}, "provider_name"),
        ("PATCH", "/api/providers/p1/", {"provider_name": name}, "provider_name"),
        ("PUT", "/api/providers/p1/", {"provider_name": name}, "provider_name"),
    ]  # fmt: skip


async def test_invalid_name_is_refused_in_every_name_field(seeded: Seeded) -> None:
    async with Refusals(seeded) as refusals:
        for name, what in INVALID_NAMES:
            for method, path, body, field in name_fields(name):
                await refusals.expect(f"{what}: {method} {path} {field}", method, path, body, 400, field)


async def test_reserved_or_unaddressable_model_name(seeded: Seeded) -> None:
    async with Refusals(seeded) as refusals:
        for name in UNADDRESSABLE_MODEL_NAMES:
            body = {"model_name": name, "base_model_name": "gpt-4o"}
            await refusals.expect(f"model_name={name!r}", "POST", "/api/models/", body, 400, "model_name")
            for method in ("PATCH", "PUT"):
                label = f"{method} base_model_name={name!r}"
                await refusals.expect(
                    label, method, "/api/models/m1/", {"base_model_name": name}, 400, "base_model_name"
                )


async def test_provider_id_is_refused_or_addressable(seeded: Seeded) -> None:
    """A provider that is stored must be reachable at /api/providers/{id}/, or it can never be changed or deleted."""
    client, headers, problems = seeded.env.client, seeded.org.headers, []
    for provider_id in AWKWARD_PROVIDER_IDS:
        with case(problems, f"provider_id={provider_id!r}"):
            before = await seeded.state()
            r = await seeded.send("POST", "/api/providers/", {"provider_id": provider_id, "provider_name": "Awkward"})
            if r.status_code == 400:
                assert_client_error(r, 400, "provider_id")
                assert await seeded.state() == before
                continue
            assert r.status_code == 201, r.text
            spellings = {
                quote(provider_id, safe=""),
                quote(provider_id, safe="/"),
                quote(provider_id, safe="").replace(".", "%2E"),
            }
            found = None
            for spelling in sorted(spellings):
                got = await client.get(f"/api/providers/{spelling}/", headers=headers)
                if got.status_code == 200 and got.json().get("provider_id") == provider_id:
                    found = spelling
                    break
            assert found is not None, f"stored (201) but no URL reaches it; tried {sorted(spellings)}"
            patched = await seeded.send("PATCH", f"/api/providers/{found}/", {"provider_name": "Renamed"})
            assert patched.status_code == 200 and patched.json()["provider_name"] == "Renamed"
            assert (await client.delete(f"/api/providers/{found}/", headers=headers)).status_code == 204
            assert await seeded.state() == before
    no_problems(problems)


async def test_unicode_names_work(seeded: Seeded) -> None:
    client, headers, problems = seeded.env.client, seeded.org.headers, []
    for name in UNICODE_NAMES:
        with case(problems, f"{name[:20]!r}"):
            r = await seeded.send("POST", "/api/providers/", {"provider_id": name, "provider_name": name})
            assert r.status_code == 201, r.text
            assert (r.json()["provider_id"], r.json()["provider_name"]) == (name, name)
            provider_path = f"/api/providers/{quote(name, safe='')}/"
            got = await client.get(provider_path, headers=headers)
            assert got.status_code == 200 and got.json()["provider_id"] == name

            body = {"model_name": name, "custom_provider_id": name, "base_model_name": "gpt-4o", "display_name": name}
            r = await seeded.send("POST", "/api/models/", body)
            assert r.status_code == 201, r.text
            assert (r.json()["model_name"], r.json()["display_name"]) == (name, name)
            assert r.json()["provider"]["provider_id"] == name
            model_path = f"/api/models/{quote(name, safe='/')}/"
            got = await client.get(model_path, headers=headers)
            assert got.status_code == 200 and got.json()["model_name"] == name
            patched = await seeded.send("PATCH", model_path, {"input_cost": 2})
            assert patched.status_code == 200 and patched.json()["input_cost"] == 2
            assert (await client.delete(model_path, headers=headers)).status_code == 204
            assert (await client.delete(provider_path, headers=headers)).status_code == 204
    no_problems(problems)


PATH_NAMES = ["a%00b", "%00", "a%0Ab", "%E2%80%AE", "%FF%FE", "x" * 10_240, "..%2F..%2Fetc"]


def addressed(name: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/api/models/{name}/", None),
        ("PATCH", f"/api/models/{name}/", {"input_cost": 9}),
        ("PUT", f"/api/models/{name}/", {"base_model_name": "gpt-4o"}),
        ("DELETE", f"/api/models/{name}/", None),
        ("GET", f"/api/providers/{name}/", None),
        ("PATCH", f"/api/providers/{name}/", {"provider_name": "X"}),
        ("PUT", f"/api/providers/{name}/", {"provider_name": "X"}),
        ("DELETE", f"/api/providers/{name}/", None),
    ]


async def test_bad_name_in_the_path_is_a_client_error(seeded: Seeded) -> None:
    async with Refusals(seeded) as refusals:
        for name in PATH_NAMES:
            for method, url, body in addressed(name):
                await refusals.expect(f"{method} {url[:40]}", method, url, body, (400, 404))


# ---- valid types, invalid meaning: the whole write is refused, nothing half-applied ----------------------------

STALE = {"If-Match": '"m0.0"'}
REFUSED_WRITES = [
    # (method, path, body, status, field, extra headers)
    ("POST", "/api/models/", {"model_name": "fresh", "custom_provider_id": "nope"}, 404, None, None),
    ("POST", "/api/models/", {"model_name": "fresh", "custom_provider_id": "a\x00b"}, (400, 404), None, None),
    ("POST", "/api/models/", {"model_name": "fresh", "custom_provider_id": "p" * 10_240}, (400, 404), None, None),
    ("POST", "/api/models/", {"model_name": "fresh", "provider_id": 10**30}, (400, 404), None, None),
    ("POST", "/api/models/", {"model_name": "fresh", "base_model_name": "nope"}, 400, None, None),
    ("POST", "/api/models/", {"model_name": "fresh", "input_cost": 9}, 400, "custom_provider_id", None),
    ("POST", "/api/models/", {"model_name": "fresh", "base_model_name": "gpt-4o", "model_type": "bogus"}, 400,
     "model_type", None),
    ("POST", "/api/models/", {"model_name": "gpt-4o", "base_model_name": "gpt-4o"}, 400, "model_name", None),
    ("POST", "/api/models/", {"model_name": "openai/gpt-4o", "base_model_name": "gpt-4o"}, 400, "model_name", None),
    ("POST", "/api/models/", {"base_model_name": "gpt-4o"}, 400, "model_name", None),
    ("POST", "/api/models/", {"model_name": "m1", "input_cost": 9, "display_name": "x" * 257}, 400, "display_name",
     None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "display_name": ""}, 400, "display_name", None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "base_model_name": "nope"}, 400, None, None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "custom_provider_id": "nope"}, 404, None, None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "custom_provider_id": "a\x00b"}, (400, 404), None, None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "model_type": "bogus"}, 400, "model_type", None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9, "base_model_name": "m1"}, 400, "base_model_name", None),
    ("PATCH", "/api/models/m1/", {"input_cost": 9}, 412, None, STALE),
    ("PUT", "/api/models/m1/", {"input_cost": 9}, 400, "custom_provider_id", None),
    ("PUT", "/api/models/m1/", {"base_model_name": "gpt-4o", "input_cost": 9}, 412, None, STALE),
    ("PATCH", "/api/models/openai/gpt-4o/", {"input_cost": 9}, 403, None, None),
    ("POST", "/api/providers/", {"provider_id": "fresh", "extra_kwargs": {"api_key": "sk-x"}}, 400, "provider_name",
     None),
    ("POST", "/api/providers/", {"provider_name": "No Id"}, 400, "provider_id", None),
    ("POST", "/api/providers/", {"provider_id": "p1", "provider_name": "x" * 257, "api_key": "sk-new"}, 400,
     "provider_name", None),
    ("PATCH", "/api/providers/p1/", {"provider_name": "", "extra_kwargs": {"base_url": "http://new", "api_key": "k"}},
     400, "provider_name", None),
    ("PUT", "/api/providers/p1/", {"extra_kwargs": {"base_url": "http://new"}, "api_key": "sk-new"}, 400,
     "provider_name", None),
    ("PATCH", "/api/providers/p1/", {"provider_name": "New"}, 412, None, {"If-Match": '"p0.0"'}),
]  # fmt: skip


async def test_refused_write_changes_nothing(seeded: Seeded) -> None:
    async with Refusals(seeded) as refusals:
        for method, path, body, status, field, headers in REFUSED_WRITES:
            label = f"{method} {path} {json.dumps(body)[:60]}"
            await refusals.expect(label, method, path, body, status, field, headers)
    assert (await seeded.env.client.get("/api/models/fresh/", headers=seeded.org.headers)).status_code == 404
    assert (await seeded.env.client.get("/api/providers/fresh/", headers=seeded.org.headers)).status_code == 404


# ---- unknown fields are ignored ------------------------------------------------------------------------------

UNKNOWN = {"unknown_field": 1, "nested_unknown": {"a": [1, 2]}, "organization_id": "org_someone_else"}
ACCEPTED_WITH_UNKNOWN = [
    # (method, path, body, status, where to read back, key, value): every value differs from the previous case's
    ("POST", "/api/models/", {"model_name": "m1", "output_cost": 4}, 200, "/api/models/m1/", "output_cost", 4),
    ("POST", "/api/models/", {"model_name": "fresh", "base_model_name": "gpt-4o", "output_cost": 5}, 201,
     "/api/models/fresh/", "output_cost", 5),
    ("PATCH", "/api/models/m1/", {"output_cost": 6}, 200, "/api/models/m1/", "output_cost", 6),
    ("PUT", "/api/models/m1/", {"base_model_name": "gpt-4o", "output_cost": 7}, 200, "/api/models/m1/",
     "output_cost", 7),
    ("POST", "/api/providers/", {"provider_id": "p1", "provider_name": "Renamed 1"}, 200, "/api/providers/p1/",
     "provider_name", "Renamed 1"),
    ("POST", "/api/providers/", {"provider_id": "fresh", "provider_name": "Renamed 2"}, 201,
     "/api/providers/fresh/", "provider_name", "Renamed 2"),
    ("PATCH", "/api/providers/p1/", {"provider_name": "Renamed 3"}, 200, "/api/providers/p1/", "provider_name",
     "Renamed 3"),
    ("PUT", "/api/providers/p1/", {"provider_name": "Renamed 4"}, 200, "/api/providers/p1/", "provider_name",
     "Renamed 4"),
]  # fmt: skip


async def test_unknown_fields_are_ignored(seeded: Seeded) -> None:
    problems: list[str] = []
    for method, path, body, status, read_path, key, value in ACCEPTED_WITH_UNKNOWN:
        with case(problems, f"{method} {path} {json.dumps(body)}"):
            r = await seeded.send(method, path, {**body, **UNKNOWN})
            assert r.status_code == status, r.text
            got = await seeded.env.client.get(read_path, headers=seeded.org.headers)
            assert got.status_code == 200
            for data in (r.json(), got.json()):
                assert data[key] == value
                assert not set(UNKNOWN) & set(data)
    no_problems(problems)
    async with seeded.db.read() as session:
        orgs = set(await session.scalars(select(CustomModelRow.organization_id)))
        orgs |= set(await session.scalars(select(ProviderRow.organization_id)))
    assert orgs == {seeded.org.organization_id}  # the organization_id in the body was not applied


# ---- pagination of GET /api/providers/ -----------------------------------------------------------------------

BAD_PAGES = [
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=abc", "page"),
    ("page=1.5", "page"),
    ("page=", "page"),
    ("page_size=0", "page_size"),
    ("page_size=-5", "page_size"),
    ("page_size=1001", "page_size"),
    ("page_size=abc", "page_size"),
    ("page_size=" + str(10**30), "page_size"),
]


HUGE_PAGES = [2**31, 2**53, 2**62, 2**63 - 1, 10**20]


async def test_bad_page_parameters_are_400(seeded: Seeded) -> None:
    problems: list[str] = []
    for query, field in BAD_PAGES:
        with case(problems, query):
            r = await seeded.env.client.get(f"/api/providers/?{query}", headers=seeded.org.headers)
            body = assert_client_error(r, 400)
            errors = body.get("errors", [])
            named = field in body or any(isinstance(e, dict) and e.get("key") == field for e in errors)
            assert named, f"the error does not name {field!r}: {body}"
    no_problems(problems)


async def test_huge_page_number_is_not_a_server_error(seeded: Seeded) -> None:
    """Far past the end: 200 with nothing (like any page past the end), or a 400 naming `page`; never 5xx."""
    problems: list[str] = []
    for page in HUGE_PAGES:
        with case(problems, f"page={page}"):
            r = await seeded.env.client.get(f"/api/providers/?page={page}", headers=seeded.org.headers)
            if r.status_code == 200:
                assert r.json()["results"] == [] and r.json()["next"] is None, r.text
            else:
                assert_client_error(r, 400, "page")
    no_problems(problems)


async def test_past_the_end_page_is_empty(seeded: Seeded) -> None:
    for pid in ("p2", "p3"):
        assert (
            await seeded.send("POST", "/api/providers/", {"provider_id": pid, "provider_name": pid})
        ).status_code == 201
    get = seeded.env.client.get
    last = (await get("/api/providers/?page=2&page_size=2", headers=seeded.org.headers)).json()
    # `count` is the total number of providers (docs/decisions.md), not the size of this page.
    assert [p["provider_id"] for p in last["results"]] == ["p3"] and last["count"] == 3 and last["next"] is None
    for query in ("page=3&page_size=2", "page=2&page_size=3", "page=99", "page=1000&page_size=1000"):
        r = await get(f"/api/providers/?{query}", headers=seeded.org.headers)
        assert r.status_code == 200, (query, r.text)
        data = r.json()
        assert data["results"] == [] and data["count"] == 3 and data["next"] is None, (query, data)
