"""Test fixtures: the real app over real storage, on SQLite and on a PostgreSQL server started here.

Every API test runs twice (`backend` = sqlite, postgresql). The schema is built with the real
migrations once per backend; rows are deleted after each test because the app commits for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).parent))

from modelreg.app import create_app
from modelreg.catalog.load import Catalog, load_catalog
from modelreg.config import Settings
from modelreg.registry import build_registry
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head
from modelreg.store.rows import ApiKeyRow, CustomModelRow, OrganizationRow, ProviderRow, RowBase, UserRow
from pg_server import PgServer, running_postgres

SECRET = "test-secret-key-0123456789abcdef0123456789"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="modelreg-test-")
    url = f"sqlite+aiosqlite:///{directory}/test.db"
    upgrade_to_head(url)
    yield url


@pytest.fixture(scope="session")
def postgres_url(postgres: PgServer) -> str:
    postgres.create_database("modelreg_test")
    url = postgres.sqlalchemy_url("modelreg_test")
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param]))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "var_dir": tempfile.gettempdir(),
        "cache_poll_seconds": 0.2,
        "key_cache_seconds": 1.0,
        # The suite's 50-way write races on one row, on a shared 2-core machine, queue for longer than the
        # 5 s production default; fault tests (test_db_faults.py) set their own short timeouts.
        "db_statement_timeout": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


async def row_counts(database_url: str) -> dict[str, int]:
    """Rows of the identity and registry tables: live-server tests check they start from an empty database."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            return {
                row.__tablename__: int(await session.scalar(select(func.count()).select_from(row)) or 0)
                for row in (OrganizationRow, UserRow, ApiKeyRow, ProviderRow, CustomModelRow)
            }
    finally:
        await db.dispose()


async def _wipe(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as session:
            for table in reversed(RowBase.metadata.sorted_tables):
                await session.execute(delete(table))
    finally:
        await db.dispose()


@dataclass
class Org:
    organization_id: str
    admin_user_id: str
    admin_key: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


class Env:
    """What a test needs: the HTTP client, and a way to make organizations and users through the services."""

    def __init__(self, client: AsyncTestClient[Any], database_url: str) -> None:
        self.client = client
        self.database_url = database_url
        self._counter = 0
        self._names: set[str] = set()

    async def org(self, name: str = "acme", password: str | None = None) -> Org:
        self._counter += 1
        email = f"admin{self._counter}@{name}.example"
        db = Database(self.database_url)
        try:
            async with db.write() as session:
                # Organization names are unique: a second "acme" in one test gets a suffix.
                unique = name if name not in self._names else f"{name}-{self._counter}"
                self._names.add(unique)
                created = await identity.create_organization(session, unique, email, password)
        finally:
            await db.dispose()
        return Org(created.organization_id, created.user_id, created.api_key, email)

    async def member(self, org: Org, role: str = "member", password: str | None = None) -> tuple[str, str]:
        """A user in `org` with an API key: (user_id, key)."""
        self._counter += 1
        db = Database(self.database_url)
        try:
            async with db.write() as session:
                user = await identity.create_user(
                    session, org.organization_id, f"user{self._counter}@x.example", role, password
                )
                key = await identity.create_api_key(session, user.id)
        finally:
            await db.dispose()
        return user.id, key.api_key


_idle_apps: dict[Settings, Litestar] = {}


@contextlib.asynccontextmanager
async def app_client(
    database_url: str, catalog: Catalog, *, base_url: str = "http://testserver.local", **overrides: Any
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A test client of `create_app(make_settings(database_url, **overrides), catalog)`, started and stopped.

    Building the routes costs ~0.5-1 s, so an app is reused by later tests with the same settings (per worker);
    each use gets a fresh registry (database engine, caches, rate limiters, meter, sessions: everything a request
    or the lifespan touches) and an app state holding nothing else, so tests never see each other's state. An
    app in use is never handed out twice: a test running two apps with the same settings gets two.
    """
    settings = make_settings(database_url, **overrides)
    app = _idle_apps.pop(settings, None) or create_app(settings, catalog)
    app.state.clear()
    app.state.registry = build_registry(settings, catalog)
    try:
        async with AsyncTestClient(app=app, base_url=base_url) as client:
            yield client
    finally:
        _idle_apps[settings] = app


@pytest.fixture
async def env(database_url: str, catalog: Catalog) -> AsyncIterator[Env]:
    async with app_client(database_url, catalog) as client:
        yield Env(client, database_url)
    await _wipe(database_url)


# Modules that start processes (live servers, Chromium, the fuzzer) and take long for their few tests. `make test`
# runs `-n 2 --dist loadscope --no-loadscope-reorder`: a module is one unit of work, handed out in collection
# order, so these go first (longest first) and the many short modules fill in behind them. By test count alone
# (xdist's default) the fuzzer's two tests came last and one worker ran them alone at the end. Add a new module
# here when it starts a server or a browser.
SLOW_FIRST = (
    "test_schemathesis.py",
    "test_console.py",
    "test_gateway.py",
    "test_db_faults.py",
    "test_replicas.py",
    "test_respan_client.py",
    "test_gateway_matrix.py",
    "test_metering_durability.py",
    "test_cli.py",
    "test_metering_cases.py",
    "test_openai_surface.py",
    "test_pricing_tiers.py",
    "test_respan_client_lists.py",
    "test_groups_cli.py",
    "test_catalog_sync.py",
    "test_request_ids.py",
    "test_metering.py",
    "test_workers.py",
    "test_large_lists.py",
    "test_bulk_import.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each module's tests together (in their order), modules from SLOW_FIRST first, then the most tests first."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.path.name] = counts.get(item.path.name, 0) + 1

    def rank(item: pytest.Item) -> tuple[int, int, str]:
        name = item.path.name
        slow = SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
        return slow, -counts[name], name

    items.sort(key=rank)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MODELREG_SECRET_KEY", SECRET)
    del config


__all__ = ["Env", "Org", "app_client", "asyncio", "make_settings"]
