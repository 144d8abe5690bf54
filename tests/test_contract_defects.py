"""Regressions for the defects issue 10 lists (found by third-party clients and a body fuzzer).

Numbers refer to the issue's list; defect 4 (who may manage providers) is tests/test_provider_permissions.py.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest

from conftest import Env, Org

PROVIDERS = "/api/providers/"


async def _provider(env: Env, org: Org, provider_id: str = "p", **extra: Any) -> Any:
    body = {
        "provider_id": provider_id,
        "provider_name": "P",
        "extra_kwargs": {"base_url": "https://api.example.com/v1"},
    }
    body.update(extra)
    return await env.client.post(PROVIDERS, json=body, headers=org.headers)


def _field_error(r: Any, field: str, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body.get("detail"), str) and body.get(field), body
    return dict(body)


BAD_HOSTS = ["https://a..b/v1", "https://.example.com/v1", f"https://{'a' * 64}.example.com/v1", "https://x../v1"]
BAD_PATHS = [
    "https://api.example.com/v1 x",
    "https://api.example.com/vé1",
    "https://api.example.com/v1\t",
    "https://api.example.com/v1#frag",
]


@pytest.mark.parametrize("url", BAD_HOSTS + BAD_PATHS)
async def test_defects_1_2_bad_base_url_is_400_on_every_write(env: Env, url: str) -> None:
    """1: a host IDNA cannot encode answered 500; 2: a space or raw non-ASCII in the path was accepted and later
    corrupted the upstream request line. Both are 400 naming base_url, on POST, PATCH and PUT."""
    org = await env.org()
    assert (await _provider(env, org)).status_code == 201
    kwargs = {"base_url": url}
    attempts = [
        await env.client.post(
            PROVIDERS, json={"provider_id": "n", "provider_name": "N", "extra_kwargs": kwargs}, headers=org.headers
        ),
        await env.client.patch(f"{PROVIDERS}p/", json={"extra_kwargs": kwargs}, headers=org.headers),
        await env.client.put(
            f"{PROVIDERS}p/", json={"provider_name": "P", "extra_kwargs": kwargs}, headers=org.headers
        ),
    ]
    for r in attempts:
        _field_error(r, "base_url")
    stored = await env.client.get(f"{PROVIDERS}p/", headers=org.headers)
    assert stored.json()["extra_kwargs"]["base_url"] == "https://api.example.com/v1"


async def test_defect_2_percent_encoded_and_idn_urls_are_fine(env: Env) -> None:
    org = await env.org()
    for url in (
        "https://api.example.com/v1%20x/",
        "https://bücher.example/v1",
        "https://api.example.com/v1?api-version=1",
    ):
        r = await env.client.post(
            PROVIDERS,
            json={"provider_id": "ok", "provider_name": "OK", "extra_kwargs": {"base_url": url}},
            headers=org.headers,
        )
        assert r.status_code in (200, 201), (url, r.text)


@pytest.mark.parametrize("bad", ["sk-a\rb", "sk-a\nb", "sk-a\x00b", "sk-a\x7fb", "sk-é"])
async def test_defect_3_api_key_with_control_characters_is_400(env: Env, bad: str) -> None:
    org = await env.org()
    _field_error(await _provider(env, org, api_key=bad), "api_key")
    assert (await _provider(env, org, api_key="sk-good")).status_code == 201
    _field_error(await env.client.patch(f"{PROVIDERS}p/", json={"api_key": bad}, headers=org.headers), "api_key")
    body = {"extra_kwargs": {"base_url": "https://api.example.com/v1", "api_key": bad}}
    r = await env.client.patch(f"{PROVIDERS}p/", json=body, headers=org.headers)
    assert bad not in _field_error(r, "api_key")["detail"]


async def test_defect_5_query_errors_use_the_documented_shape_and_reflect_nothing(env: Env) -> None:
    org = await env.org()
    secret = "sk-SECRET-0123456789"
    cases = [
        ("/api/v1/models/model?api_key=" + secret, "id", None),
        ("/api/models/?all=maybe-" + secret, "all", "all_"),
        ("/api/models/list/?all=" + secret, "all", "everything"),
        ("/api/providers/?page=" + secret, "page", None),
        ("/api/v1/models/list?direction=" + secret, "direction", None),
    ]
    for headers in (org.headers, {}):
        for path, field, internal in cases:
            r = await env.client.get(path, headers=headers)
            if not headers and r.status_code == 401:
                continue
            body = _field_error(r, field)
            assert secret not in r.text, r.text
            assert body[field] and all(isinstance(m, str) for m in body[field])
            assert set(body) == {"detail", field}, body
            if internal:
                assert internal not in r.text, r.text
    # The anonymous Open WebUI case: authentication is checked after Litestar's parameters, and still no secret.
    r = await env.client.get("/api/v1/models/model?api_key=" + secret)
    assert secret not in r.text and r.status_code in (400, 401)


async def test_defect_6_wrong_typed_provider_reference_is_400_naming_the_field(env: Env) -> None:
    org = await env.org()
    assert (await _provider(env, org)).status_code == 201
    for field in ("custom_provider_id", "provider_id"):
        for value in (7, {"id": "p"}, ["p"], True):
            r = await env.client.post("/api/models/", json={"model_name": "m", field: value}, headers=org.headers)
            _field_error(r, field)
    r = await env.client.post(
        "/api/models/", json={"model_name": "m", "custom_provider_id": "nope"}, headers=org.headers
    )
    assert r.status_code == 404


async def test_defect_7_filter_errors_name_the_field_and_operator(env: Env) -> None:
    org = await env.org()

    async def error(filters: dict[str, Any]) -> str:
        r = await env.client.post("/api/models/list/", json={"filters": filters}, headers=org.headers)
        return str(_field_error(r, "filters")["detail"])

    assert "unknown filter field 'foo'" in await error({"foo": {"operator": "", "value": ["x"]}})
    assert "unknown operator 'bar' for field 'input_cost'" in await error(
        {"input_cost": {"operator": "bar", "value": [1]}}
    )
    value_error = await error({"input_cost": {"operator": "gt", "value": ["sk-VALUE-42"]}})
    assert "sk-VALUE-42" not in value_error and "input_cost" in value_error
    assert len(await error({"f" * 5000: {"operator": "", "value": ["x"]}})) < 300


async def test_defect_8_profile_image_defaults_in_both_views_and_is_served(env: Env) -> None:
    org = await env.org()
    form = {"id": "m", "name": "M", "base_model_id": "gpt-4o", "params": {}, "meta": {"description": "d"}}
    created = await env.client.post("/api/v1/models/create", json=form, headers=org.headers)
    assert created.json()["meta"]["profile_image_url"] == "/static/favicon.png"
    respan = await env.client.get("/api/models/m/", headers=org.headers)
    assert respan.json()["meta"]["profile_image_url"] == "/static/favicon.png"
    own = {**form, "meta": {"profile_image_url": "data:image/png;base64,AAAA"}}
    updated = await env.client.post("/api/models/model/update", json=own, headers=org.headers)
    assert updated.json()["meta"]["profile_image_url"] == "data:image/png;base64,AAAA"
    image = await env.client.get("/static/favicon.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", image.content[16:24]) == (32, 32)


async def test_defect_9_etags_are_opaque(env: Env) -> None:
    org = await env.org()
    tags = []
    for name in ("m1", "m2"):
        r = await env.client.post(
            "/api/models/", json={"model_name": name, "base_model_name": "gpt-4o"}, headers=org.headers
        )
        tags.append(r.headers["etag"])
    tags.append((await _provider(env, org)).headers["etag"])
    for tag in tags:
        assert re.fullmatch(r'"[A-Za-z0-9_-]{20,}"', tag), tag
        assert not re.search(r"[mp]\d+\.\d+", tag), tag
    assert len(set(tags)) == 3
    # Stable across reads, changed by a write, and usable for If-Match.
    got = await env.client.get("/api/models/m1/", headers=org.headers)
    assert got.headers["etag"] == tags[0]
    patched = await env.client.patch(
        "/api/models/m1/", json={"input_cost": 1}, headers={**org.headers, "If-Match": tags[0]}
    )
    assert patched.status_code == 200 and patched.headers["etag"] != tags[0]
    # A deleted and re-created model never repeats an old tag.
    await env.client.delete("/api/models/m2/", headers=org.headers)
    again = await env.client.post(
        "/api/models/", json={"model_name": "m2", "base_model_name": "gpt-4o"}, headers=org.headers
    )
    assert again.headers["etag"] != tags[1]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("text/plain", b'{"model_name": "m", "base_model_name": "gpt-4o"}'),
        ("application/x-www-form-urlencoded", b"model_name=m&base_model_name=gpt-4o"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="model_name"\r\n\r\nm\r\n--x--\r\n',
        ),
        ("application/xml", b"<model/>"),
    ],
)
async def test_defect_10_other_media_types_are_415(env: Env, content_type: str, payload: bytes) -> None:
    org = await env.org()
    headers = {**org.headers, "Content-Type": content_type}
    r = await env.client.post("/api/models/", content=payload, headers=headers)
    assert r.status_code == 415 and r.json() == {"detail": "Content-Type must be application/json."}, r.text
    webui = await env.client.post("/api/v1/models/create", content=payload, headers=headers)
    assert webui.status_code == 415 and webui.json()["detail"], webui.text
    gateway = await env.client.post("/v1/chat/completions", content=payload, headers=headers)
    assert gateway.status_code == 415 and gateway.json()["error"]["message"], gateway.text
    assert (await env.client.get("/api/models/m/", headers=org.headers)).status_code == 404


async def test_defect_10_json_with_charset_or_without_content_type_still_works(env: Env) -> None:
    org = await env.org()
    body = b'{"model_name": "m", "base_model_name": "gpt-4o"}'
    for index, content_type in enumerate(("application/json; charset=utf-8", "application/vnd.api+json", None)):
        headers = {**org.headers, **({"Content-Type": content_type} if content_type else {})}
        r = await env.client.post("/api/models/", content=body.replace(b'"m"', f'"m{index}"'.encode()), headers=headers)
        assert r.status_code == 201, (content_type, r.text)
