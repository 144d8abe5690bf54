"""Custom model CRUD through the Respan dialect: upsert, retrieve, PATCH, PUT, DELETE, inheritance."""

from __future__ import annotations

from conftest import Env, Org


async def make_provider(env: Env, org: Org, provider_id: str = "my-vllm") -> None:
    r = await env.client.post(
        "/api/providers/",
        json={
            "provider_id": provider_id,
            "provider_name": "My vLLM",
            "extra_kwargs": {"base_url": "http://vllm:8000/v1"},
        },
        headers=org.headers,
    )
    assert r.status_code == 201, r.text


class TestCreate:
    async def test_create_then_update_is_201_then_200(self, env: Env) -> None:
        org = await env.org()
        body = {"model_name": "my-gpt", "base_model_name": "gpt-4o", "input_cost": 3}
        first = await env.client.post("/api/models/", json=body, headers=org.headers)
        assert first.status_code == 201, first.text
        again = await env.client.post(
            "/api/models/", json={"model_name": "my-gpt", "output_cost": 7}, headers=org.headers
        )
        assert again.status_code == 200
        data = again.json()
        assert data["input_cost"] == 3 and data["output_cost"] == 7  # upsert keeps what it was not given

    async def test_inherits_resolved_values_from_builtin(self, env: Env, catalog) -> None:
        org = await env.org()
        r = await env.client.post(
            "/api/models/", json={"model_name": "alias", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        data = r.json()
        base = catalog.models["openai/gpt-4o"]
        assert data["base_model_name"] == "openai/gpt-4o"
        assert data["input_cost"] == base.input_cost and data["max_context_window"] == base.max_context_window
        assert data["affiliation_category"] == "custom" and data["source"] == "db" and data["is_managed"] is False
        assert data["is_called_by_custom_name"] is False
        assert data["provider"]["provider_id"] == "openai"
        assert set(data["supported_params"]) == set(base.supported_params)

    async def test_every_field_is_present(self, env: Env) -> None:
        org = await env.org()
        await make_provider(env, org)
        r = await env.client.post(
            "/api/models/", json={"model_name": "bare", "custom_provider_id": "my-vllm"}, headers=org.headers
        )
        data = r.json()
        expected = {
            "id", "model_name", "display_name", "base_model_name", "affiliation_category", "is_called_by_custom_name",
            "input_cost", "output_cost", "cache_hit_input_cost", "cache_creation_input_cost", "max_context_window",
            "streaming_support", "function_call", "image_support", "source", "model_type", "supported_params",
            "throughput", "provider", "created_at", "updated_at", "is_managed",
        }  # fmt: skip
        assert expected <= set(data)
        assert data["is_called_by_custom_name"] is True
        assert data["input_cost"] is None and data["supported_params"] == {}
        assert data["created_at"].endswith("Z")

    async def test_requires_provider_or_base(self, env: Env) -> None:
        org = await env.org()
        r = await env.client.post("/api/models/", json={"model_name": "orphan"}, headers=org.headers)
        assert r.status_code == 400
        assert "custom_provider_id" in r.json()
        listing = await env.client.get("/api/models/orphan/", headers=org.headers)
        assert listing.status_code == 404  # nothing was stored

    async def test_provider_id_alias_is_accepted(self, env: Env) -> None:
        org = await env.org()
        await make_provider(env, org)
        r = await env.client.post(
            "/api/models/", json={"model_name": "m", "provider_id": "my-vllm"}, headers=org.headers
        )
        assert r.status_code == 201 and r.json()["provider"]["provider_id"] == "my-vllm"

    async def test_unknown_base(self, env: Env) -> None:
        org = await env.org()
        r = await env.client.post(
            "/api/models/", json={"model_name": "m", "base_model_name": "nope"}, headers=org.headers
        )
        assert r.status_code == 400
        assert r.json() == {"detail": "Base model not found", "error": "Base model not found"}

    async def test_builtin_name_refused(self, env: Env) -> None:
        org = await env.org()
        for name in ("openai/gpt-4o", "gpt-4o"):
            r = await env.client.post(
                "/api/models/", json={"model_name": name, "base_model_name": "gpt-4o"}, headers=org.headers
            )
            assert r.status_code == 400, name

    async def test_readonly_fields_are_ignored(self, env: Env) -> None:
        org = await env.org()
        other = await env.org("other")
        body = {
            "model_name": "m", "base_model_name": "gpt-4o", "id": "evil", "affiliation_category": "keywordsai",
            "source": "hardcoded", "organization_id": other.organization_id, "user_id": other.admin_user_id,
            "throughput": {"average_tps": 1}, "provider": {"provider_id": "x"}, "is_called_by_custom_name": True,
        }  # fmt: skip
        r = await env.client.post("/api/models/", json=body, headers=org.headers)
        data = r.json()
        assert r.status_code == 201
        assert (data["id"], data["affiliation_category"], data["source"]) == ("m", "custom", "db")
        assert data["throughput"] is None and data["is_called_by_custom_name"] is False
        assert (await env.client.get("/api/models/m/", headers=other.headers)).status_code == 404


class TestRetrieve:
    async def test_builtin_by_prefixed_and_bare_name(self, env: Env) -> None:
        org = await env.org()
        prefixed = await env.client.get("/api/models/openai/gpt-4o/", headers=org.headers)
        bare = await env.client.get("/api/models/gpt-4o/", headers=org.headers)
        assert prefixed.status_code == bare.status_code == 200
        assert prefixed.json() == bare.json()
        data = prefixed.json()
        assert data["affiliation_category"] == "keywordsai" and data["source"] == "hardcoded" and data["is_managed"]

    async def test_percent_encoded_slash(self, env: Env) -> None:
        org = await env.org()
        r = await env.client.get("/api/models/openai%2Fgpt-4o/", headers=org.headers)
        assert r.status_code == 200 and r.json()["model_name"] == "openai/gpt-4o"

    async def test_without_trailing_slash(self, env: Env) -> None:
        org = await env.org()
        assert (await env.client.get("/api/models/openai/gpt-4o", headers=org.headers)).status_code == 200

    async def test_missing(self, env: Env) -> None:
        org = await env.org()
        r = await env.client.get("/api/models/does-not-exist/", headers=org.headers)
        assert r.status_code == 404 and r.json() == {"detail": "Not found."}

    async def test_base_change_shows_through(self, env: Env) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/",
            json={"model_name": "parent", "base_model_name": "gpt-4o", "input_cost": 1},
            headers=org.headers,
        )
        await env.client.post(
            "/api/models/", json={"model_name": "child", "base_model_name": "parent"}, headers=org.headers
        )
        await env.client.patch("/api/models/parent/", json={"input_cost": 9}, headers=org.headers)
        child = (await env.client.get("/api/models/child/", headers=org.headers)).json()
        assert child["input_cost"] == 9 and child["base_model_name"] == "parent"


class TestPatchPut:
    async def test_patch_null_clears_absent_keeps(self, env: Env, catalog) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/",
            json={"model_name": "m", "base_model_name": "gpt-4o", "input_cost": 1, "output_cost": 2},
            headers=org.headers,
        )
        r = await env.client.patch("/api/models/m/", json={"input_cost": None}, headers=org.headers)
        assert r.status_code == 200
        assert r.json()["input_cost"] == catalog.models["openai/gpt-4o"].input_cost
        assert r.json()["output_cost"] == 2

    async def test_put_resets_editable_fields(self, env: Env, catalog) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/",
            json={"model_name": "m", "base_model_name": "gpt-4o", "input_cost": 1, "output_cost": 2},
            headers=org.headers,
        )
        r = await env.client.put(
            "/api/models/m/", json={"base_model_name": "gpt-4o", "output_cost": 5}, headers=org.headers
        )
        assert r.status_code == 200
        data = r.json()
        assert data["model_name"] == "m" and data["output_cost"] == 5
        assert data["input_cost"] == catalog.models["openai/gpt-4o"].input_cost

    async def test_put_without_route_is_400(self, env: Env) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/", json={"model_name": "m", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        r = await env.client.put("/api/models/m/", json={}, headers=org.headers)
        assert r.status_code == 400

    async def test_builtin_is_read_only(self, env: Env) -> None:
        org = await env.org()
        r = await env.client.patch("/api/models/openai/gpt-4o/", json={"input_cost": 1}, headers=org.headers)
        assert r.status_code == 403 and r.json()["detail"].startswith("Cannot modify hardcoded models.")
        r = await env.client.put("/api/models/openai/gpt-4o/", json={}, headers=org.headers)
        assert r.status_code == 403
        r = await env.client.delete("/api/models/gpt-4o/", headers=org.headers)
        assert r.status_code == 403 and r.json()["detail"].startswith("Cannot delete hardcoded models.")

    async def test_override_replaces_and_null_removes(self, env: Env) -> None:
        org = await env.org()
        definition = {"name": "temperature", "type": "number", "default": 0.7, "range": {"min": 0, "max": 1.5}}
        r = await env.client.post(
            "/api/models/",
            json={
                "model_name": "m",
                "base_model_name": "gpt-4o",
                "supported_params_override": {"temperature": definition, "seed": None},
            },
            headers=org.headers,
        )
        params = r.json()["supported_params"]
        assert params["temperature"] == definition and "seed" not in params and params["top_p"] is True
        r = await env.client.patch(
            "/api/models/m/", json={"supported_params_override": {"top_p": False}}, headers=org.headers
        )
        params = r.json()["supported_params"]
        assert params["top_p"] is False and params["temperature"] is True and params["seed"] is True

    async def test_cycle_is_refused(self, env: Env) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/", json={"model_name": "a", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        await env.client.post("/api/models/", json={"model_name": "b", "base_model_name": "a"}, headers=org.headers)
        r = await env.client.patch("/api/models/a/", json={"base_model_name": "b"}, headers=org.headers)
        assert r.status_code == 400 and "cycle" in r.json()["detail"]
        assert (await env.client.get("/api/models/a/", headers=org.headers)).json()[
            "base_model_name"
        ] == "openai/gpt-4o"
        r = await env.client.patch("/api/models/a/", json={"base_model_name": "a"}, headers=org.headers)
        assert r.status_code == 400

    async def test_etag_and_if_match(self, env: Env) -> None:
        org = await env.org()
        created = await env.client.post(
            "/api/models/", json={"model_name": "m", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        etag = created.headers["etag"]
        stale = await env.client.patch(
            "/api/models/m/", json={"input_cost": 1}, headers={**org.headers, "If-Match": '"m0.0"'}
        )
        assert stale.status_code == 412
        ok = await env.client.patch("/api/models/m/", json={"input_cost": 1}, headers={**org.headers, "If-Match": etag})
        assert ok.status_code == 200 and ok.headers["etag"] != etag
        reused = await env.client.delete("/api/models/m/", headers={**org.headers, "If-Match": etag})
        assert reused.status_code == 412
        gone = await env.client.delete("/api/models/m/", headers={**org.headers, "If-Match": ok.headers["etag"]})
        assert gone.status_code == 204


class TestDelete:
    async def test_delete_then_404(self, env: Env) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/", json={"model_name": "m", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        r = await env.client.delete("/api/models/m/", headers=org.headers)
        assert r.status_code == 204 and r.content == b""
        assert (await env.client.get("/api/models/m/", headers=org.headers)).status_code == 404
        assert (await env.client.delete("/api/models/m/", headers=org.headers)).status_code == 404

    async def test_delete_base_with_dependents_is_400(self, env: Env) -> None:
        org = await env.org()
        await env.client.post(
            "/api/models/", json={"model_name": "base", "base_model_name": "gpt-4o"}, headers=org.headers
        )
        await env.client.post(
            "/api/models/", json={"model_name": "kid", "base_model_name": "base"}, headers=org.headers
        )
        r = await env.client.delete("/api/models/base/", headers=org.headers)
        assert r.status_code == 400 and "kid" in r.json()["detail"]
        assert (await env.client.get("/api/models/base/", headers=org.headers)).status_code == 200

    async def test_slashed_and_unicode_names(self, env: Env) -> None:
        org = await env.org()
        for name in ("team/fine-tune/v2", "café-模型", "a b"):
            r = await env.client.post(
                "/api/models/", json={"model_name": name, "base_model_name": "gpt-4o"}, headers=org.headers
            )
            assert r.status_code == 201, (name, r.text)
            got = await env.client.get(f"/api/models/{name}/", headers=org.headers)
            assert got.status_code == 200 and got.json()["model_name"] == name
            assert (await env.client.delete(f"/api/models/{name}/", headers=org.headers)).status_code == 204
