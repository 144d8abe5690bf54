"""GET /metrics: Prometheus text for admins only; requests counted by route template (never by the raw
path or anything the caller sent); process state (meter, database, catalog) read at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conftest import Env, make_settings
from modelreg.app import create_app


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_metrics_for_admins_only(env: Env) -> None:
    org = await env.org()
    _, member_key = await env.member(org)
    assert (await env.client.get("/metrics")).status_code == 401
    assert (await env.client.get("/metrics", headers={"Authorization": f"Bearer {member_key}"})).status_code == 403

    created = await env.client.post(
        "/api/models/", json={"model_name": "counted", "base_model_name": "gpt-4o"}, headers=org.headers
    )
    assert created.status_code == 201
    for _ in range(3):
        assert (await env.client.get("/api/models/counted/", headers=org.headers)).status_code == 200
    assert (await env.client.get("/api/models/nothing-here/", headers=org.headers)).status_code == 404

    r = await env.client.get("/metrics", headers=org.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert org.admin_key not in r.text and member_key not in r.text  # nothing the caller sent
    found = samples(r.text)
    requests = {
        (labels["method"], labels["path"], labels["status_code"]): value
        for labels, value in found["modelreg_http_requests_total"]
    }
    assert requests.get(("GET", "/api/models/{model_name}", "200"), 0) >= 3, requests
    assert requests[("GET", "/api/models/{model_name}", "404")] >= 1
    assert not any("counted" in path for _, path, _ in requests), "raw paths would explode the label set"
    durations = {
        (labels["method"], labels["path"], labels["status_code"]): value
        for labels, value in found["modelreg_http_request_duration_seconds_count"]
    }
    assert durations[("GET", "/api/models/{model_name}", "200")] == requests[("GET", "/api/models/{model_name}", "200")]
    in_progress = {
        (labels["method"], labels["path"]): value for labels, value in found["modelreg_http_requests_in_progress"]
    }
    assert in_progress[("GET", "/api/models/{model_name}")] == 0  # every finished request left the gauge
    assert found["modelreg_database_up"] == [({}, 1.0)]
    assert found["modelreg_meter_pending_buckets"] == [({}, 0.0)]
    assert found["modelreg_meter_flush_age_seconds"][0][1] >= 0
    assert found["modelreg_catalog_models"][0][1] > 1000
    assert found["modelreg_catalog_version"] == [({}, 0.0)]


async def test_metrics_can_be_turned_off(env: Env, catalog) -> None:
    from litestar.testing import AsyncTestClient

    org = await env.org()
    app = create_app(make_settings(env.database_url, metrics="off"), catalog)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/metrics", headers=org.headers)).status_code == 404
