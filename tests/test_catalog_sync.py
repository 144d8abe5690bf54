"""`modelreg catalog sync`: validate everything first, install in one transaction, keep referenced models,
and running servers pick the new catalog up without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from conftest import SECRET, make_settings
from modelreg.app import create_app
from modelreg.catalog.load import SNAPSHOT_PATH
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import upgrade_to_head

MODELREG = str(Path(sys.executable).with_name("modelreg"))


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    upgrade_to_head(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    yield tmp_path


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/db.sqlite",
        "MODELREG_SECRET_KEY": SECRET,
        "MODELREG_VAR_DIR": str(workdir),
    }


def sync(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELREG, "catalog", "sync", *args],
        env=_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def edited_snapshot(workdir: Path) -> Path:
    """The shipped catalog with one model removed, one repriced and one added."""
    snapshot: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text())
    models = [m for m in snapshot["models"] if m["model_name"] not in ("openai/gpt-4o", "openai/gpt-4o-mini")]
    for model in models:
        if model["model_name"] == "anthropic/claude-sonnet-4-5":
            model["input_cost"] = 42.0
    models.append({**models[0], "model_name": "openai/brand-new", "native_name": "brand-new", "aliases": []})
    snapshot["models"] = sorted(models, key=lambda m: m["model_name"])
    path = workdir / "new.json"
    path.write_text(json.dumps(snapshot))
    return path


async def test_sync_end_to_end(workdir: Path) -> None:
    url = f"sqlite+aiosqlite:///{workdir}/db.sqlite"
    db = Database(url)
    async with db.write() as session:
        org = await identity.create_organization(session, "acme", "admin@acme.example")
    await db.dispose()
    headers = {"Authorization": f"Bearer {org.api_key}"}
    app = create_app(make_settings(url, cache_poll_seconds=0.1))
    async with AsyncTestClient(app=app) as client:
        r = await client.post("/api/models/", json={"model_name": "mine", "base_model_name": "gpt-4o"}, headers=headers)
        assert r.status_code == 201
        source = edited_snapshot(workdir)

        dry = sync(workdir, "--from", str(source), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        report = json.loads(dry.stdout)
        assert report["dry_run"] is True
        assert report["added_models"] == ["openai/brand-new"]
        assert report["changed_models"] == ["anthropic/claude-sonnet-4-5"]
        assert report["removed_models"] == ["openai/gpt-4o-mini"]
        assert report["kept_deprecated"] == ["openai/gpt-4o"]  # "mine" inherits from it
        await asyncio.sleep(0.5)
        r = await client.get("/api/models/openai/brand-new/", headers=headers)
        assert r.status_code == 404  # the dry run changed nothing

        real = sync(workdir, "--from", str(source))
        assert real.returncode == 0, real.stderr
        assert json.loads(real.stdout)["dry_run"] is False

        # The running app swaps its catalog within the poll interval, without a restart.
        for _ in range(100):
            r = await client.get("/api/models/openai/brand-new/", headers=headers)
            if r.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 200
        repriced = (await client.get("/api/models/anthropic/claude-sonnet-4-5/", headers=headers)).json()
        assert repriced["input_cost"] == 42.0
        kept = (await client.get("/api/models/openai/gpt-4o/", headers=headers)).json()
        assert kept["status"] == "deprecated"
        mine = (await client.get("/api/models/mine/", headers=headers)).json()
        assert mine["status"] == "deprecated" and mine["input_cost"] == kept["input_cost"]
        assert (await client.get("/api/models/openai/gpt-4o-mini/", headers=headers)).status_code in (400, 404)

    # A server started later serves the installed catalog, not the shipped one.
    async with AsyncTestClient(app=create_app(make_settings(url))) as client:
        assert (await client.get("/api/models/openai/brand-new/", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": "modelreg-catalog/1", "sources": {}, "providers": {}, "models": [{"model_name": ""}]}),
        json.dumps([1, 2, 3]),
    ],
)
def test_bad_input_changes_nothing(workdir: Path, content: str) -> None:
    bad = workdir / "bad.json"
    bad.write_text(content)
    result = sync(workdir, "--from", str(bad))
    assert result.returncode != 0 and result.stdout == ""
    assert "invalid catalog" in result.stderr
    check = sync(workdir, "--from", str(SNAPSHOT_PATH), "--dry-run", "--format", "modelreg")
    report = json.loads(check.stdout)
    assert (report["added"], report["changed"], report["removed"]) == (0, 0, 0)  # still the shipped catalog


def test_missing_source(workdir: Path) -> None:
    result = sync(workdir, "--from", str(workdir / "nope.json"))
    assert result.returncode != 0 and "no such file" in result.stderr


def test_a_format_1_catalog_is_accepted_and_installed_as_the_current_format(workdir: Path) -> None:
    """A catalog written before tiers and dated prices existed (format 1) still syncs: the same models, without
    tiers or dated prices."""
    snapshot: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text())
    tiered = sorted(m["model_name"] for m in snapshot["models"] if m["pricing_tiers"] or m["dated_prices"])
    assert tiered
    old = {**snapshot, "format": "modelreg-catalog/1"}
    old["models"] = [
        {k: v for k, v in m.items() if k not in ("pricing_tiers", "dated_prices")} for m in snapshot["models"]
    ]
    path = workdir / "old.json"
    path.write_text(json.dumps(old))
    dry = sync(workdir, "--from", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["changed_models"] == tiered  # only the tiers differ
    assert (report["added"], report["removed"]) == (0, 0)
    real = sync(workdir, "--from", str(path))
    assert real.returncode == 0, real.stderr
    # Back to the shipped (format 3) catalog: exactly the tiered and dated models change again.
    back = sync(workdir, "--from", str(SNAPSHOT_PATH), "--dry-run")
    assert json.loads(back.stdout)["changed_models"] == tiered
    # A format-1 file may not carry format-2 fields.
    old["models"][0]["pricing_tiers"] = []
    path.write_text(json.dumps(old))
    refused = sync(workdir, "--from", str(path))
    assert refused.returncode != 0 and "unknown field(s) 'pricing_tiers'" in refused.stderr


def catalog_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELREG, "catalog", *args], env=_env(workdir), capture_output=True, text=True, timeout=120, check=False
    )


def one_model_snapshot(workdir: Path) -> Path:
    snapshot: dict[str, Any] = json.loads(SNAPSHOT_PATH.read_text())
    snapshot["models"] = [m for m in snapshot["models"] if m["model_name"] == "openai/gpt-4o"]
    path = workdir / "one.json"
    path.write_text(json.dumps(snapshot))
    return path


def shipped_count() -> int:
    return len(json.loads(SNAPSHOT_PATH.read_text())["models"])


def assert_refused(result: subprocess.CompletedProcess[str], mentions: str) -> None:
    assert result.returncode == 1 and result.stdout == "", result
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and mentions in last, result.stderr


def test_a_sync_that_would_wipe_the_catalog_is_refused(workdir: Path) -> None:
    one = sync(workdir, "--from", str(one_model_snapshot(workdir)))
    assert_refused(one, f"would remove {shipped_count() - 1} of {shipped_count()} built-in models")
    assert "--allow-removals" in one.stderr
    assert "would remove:\n  ai21/" in one.stderr and "more (--dry-run lists them all)" in one.stderr

    empty = workdir / "empty.json"
    empty.write_text("{}")
    assert_refused(sync(workdir, "--from", str(empty)), "")
    check = sync(workdir, "--from", str(SNAPSHOT_PATH), "--dry-run", "--format", "modelreg")
    report = json.loads(check.stdout)
    assert (report["added"], report["changed"], report["removed"]) == (0, 0, 0)  # still the shipped catalog
    assert json.loads(catalog_cli(workdir, "history").stdout) == {"catalogs": []}


def test_history_and_rollback(workdir: Path) -> None:
    forced = sync(workdir, "--from", str(one_model_snapshot(workdir)), "--allow-removals")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["removed"] == shipped_count() - 1

    [entry] = json.loads(catalog_cli(workdir, "history").stdout)["catalogs"]
    assert entry["origin"] == str(workdir / "one.json") and entry["models"] == 1 and entry["current"] is True
    assert (entry["added"], entry["removed"]) == (0, shipped_count() - 1)

    back = catalog_cli(workdir, "rollback")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["added"] == shipped_count() - 1
    entries = json.loads(catalog_cli(workdir, "history").stdout)["catalogs"]
    assert [(e["id"], e["origin"], e["models"], e["current"]) for e in entries] == [
        (2, "rollback to the shipped catalog", shipped_count(), True),
        (1, str(workdir / "one.json"), 1, False),
    ]
    # Rolling back to #1 removes almost everything again: the same guard as a sync.
    assert_refused(catalog_cli(workdir, "rollback", "1"), "would remove")
    assert_refused(catalog_cli(workdir, "rollback", "99"), "no catalog #99")


def test_fetch_errors_are_one_line(workdir: Path) -> None:
    result = sync(workdir, "--from", "http://user:secret@127.0.0.1:1/catalog.json?token=abc")
    assert_refused(result, "cannot fetch http://127.0.0.1:1/catalog.json")
    assert "secret" not in result.stderr and "token" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
