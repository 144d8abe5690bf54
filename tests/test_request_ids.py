"""X-Request-ID on every response, and JSON log lines that carry it (MODELREG_LOG_FORMAT=json) without
anything secret the caller sent."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx

import live_server
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head


async def _key(url: str) -> str:
    db = Database(url)
    try:
        async with db.write() as session:
            return (await identity.create_organization(session, "logged", "admin@logged.example")).api_key
    finally:
        await db.dispose()


def test_request_ids_and_json_logs(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/logs.db"
    upgrade_to_head(url)
    key = asyncio.run(_key(url))
    with (
        live_server.running_server(url, tmp_path, MODELREG_LOG_FORMAT="json") as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        given = http.get("/api/models/gpt-4o/", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "abc-123"})
        assert given.status_code == 200 and given.headers["x-request-id"] == "abc-123"
        fresh = http.get("/api/models/?secret_query=hunter2", headers={"Authorization": f"Bearer {key}"})
        # a fresh id: a per-process prefix and a counter (services/audit.request_id_from), unique per request
        again = http.get("/healthz")
        assert re.fullmatch(r"[0-9a-f]{12,}", fresh.headers["x-request-id"])
        assert again.headers["x-request-id"] != fresh.headers["x-request-id"]
        bad = http.get("/healthz", headers={"X-Request-ID": "x" * 500})
        assert bad.headers["x-request-id"] != "x" * 500  # not a sane id: replaced
        assert http.post("/api/models/", json={"model_name": "x"}, headers={"Authorization": "Bearer sk_live_nope"})
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "modelreg.access"}
    assert access["abc-123"]["path"] == "/api/models/gpt-4o" and access["abc-123"]["status"] == 200
    assert access[fresh.headers["x-request-id"]]["path"] == "/api/models"
    log = server.log_text()
    assert key not in log and "sk_live_nope" not in log and "hunter2" not in log
