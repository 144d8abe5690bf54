"""Scheduled catalog sync (MODELREG_CATALOG_SYNC_URL): two servers on one database install a new catalog
once, with its history row; a wiping catalog is refused, changes nothing and shows in /readyz and /metrics."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from conftest import make_settings
from modelreg.app import create_app
from modelreg.catalog.load import SNAPSHOT_PATH
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head
from modelreg.store.rows import AuditEntryRow, CatalogSnapshotRow
from pg_server import PgServer
from test_metrics import samples


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on a free port: (directory, URL of catalog.json)."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/catalog.json?token=secret"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of its own (the test counts installed catalogs from zero)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"
    else:
        postgres: PgServer = request.getfixturevalue("postgres")
        name = f"scheduled_{uuid.uuid4().hex[:12]}"
        postgres.create_database(name)
        url = postgres.sqlalchemy_url(name)
    upgrade_to_head(url)
    return url


def _snapshot(edit: str) -> str:
    snapshot: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text())
    if edit == "add":
        first = snapshot["models"][0]
        snapshot["models"].append({**first, "model_name": "openai/scheduled-new", "native_name": "sn", "aliases": []})
    else:  # a truncated download: one model left
        snapshot["models"] = snapshot["models"][:1]
    return json.dumps(snapshot)


async def _wait(predicate: Any, what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _publish(root: Path, content: str) -> None:
    """Swap the served file atomically: a sync fetching while it changes reads the old or the new one whole."""
    staged = root / "catalog.json.new"
    staged.write_text(content)
    os.replace(staged, root / "catalog.json")


async def test_scheduled_sync(fresh_url: str, served: tuple[Path, str]) -> None:
    """Two servers on one database (SQLite, and PostgreSQL where installs take an advisory lock)."""
    root, source = served
    _publish(root, _snapshot("add"))
    url = fresh_url
    db = Database(url)
    async with db.write() as session:
        org = await identity.create_organization(session, "acme", "admin@acme.example")
    headers = {"Authorization": f"Bearer {org.api_key}"}

    async def installs() -> int:
        async with db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(CatalogSnapshotRow)) or 0)

    settings = make_settings(url, cache_poll_seconds=0.1, catalog_sync_url=source, catalog_sync_seconds=0.3)
    async with AsyncTestClient(app=create_app(settings)) as a, AsyncTestClient(app=create_app(settings)) as b:

        async def both_serve_it() -> bool:
            for client in (a, b):
                if (await client.get("/api/models/openai/scheduled-new/", headers=headers)).status_code != 200:
                    return False
            return True

        await _wait(both_serve_it, "the synced catalog on both servers")
        await asyncio.sleep(1.0)  # several more rounds on each server, same source
        assert await installs() == 1  # one install in all: an unchanged catalog is not installed again
        async with db.read() as session:
            origin = await session.scalar(select(CatalogSnapshotRow.origin))
            audited = list(
                await session.scalars(select(AuditEntryRow.via).where(AuditEntryRow.object_type == "catalog"))
            )
        assert origin is not None and "scheduled sync from" in origin and "secret" not in origin
        assert audited == ["scheduled-sync"]
        ready = (await a.get("/readyz")).json()
        assert ready["catalog_sync"].startswith("ok: last success at"), ready
        scraped = samples((await a.get("/metrics", headers=headers)).text)
        assert scraped["modelreg_catalog_sync_last_success_timestamp_seconds"][0][1] > 0
        assert scraped["modelreg_catalog_sync_failures_total"][0][1] == 0

        _publish(root, _snapshot("wipe"))

        async def refused() -> bool:
            return bool((await a.get("/readyz")).json()["catalog_sync"].startswith("failed"))

        await _wait(refused, "the wiping catalog to be refused")
        r = await a.get("/readyz")
        assert r.status_code == 200  # the catalog in force keeps serving: still ready
        assert "would remove" in r.json()["catalog_sync"] and "secret" not in r.text
        scraped = samples((await a.get("/metrics", headers=headers)).text)
        assert scraped["modelreg_catalog_sync_failures_total"][0][1] >= 1
        assert await installs() == 1
        assert (await b.get("/api/models/openai/scheduled-new/", headers=headers)).status_code == 200
        assert (await b.get("/api/models/gpt-4o/", headers=headers)).status_code == 200
    await db.dispose()


async def test_off_by_default(sqlite_url: str) -> None:
    async with AsyncTestClient(app=create_app(make_settings(sqlite_url))) as client:
        assert (await client.get("/readyz")).json()["catalog_sync"] == "off"
