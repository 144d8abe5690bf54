"""`python -m bench.large_org`: one organization with 100,000 custom models (docs/benchmarks.md, "Large organizations").

1. the database: one organization, 100,000 custom models seeded directly with SQL (bench/seed.py's
   generator and resolution), built once and cached in ./var/bench keyed by LARGE_SEED_VERSION and the
   schema's migration head; every run works on a copy;
2. modelreg on granian (one worker pinned to one core), measured from this process at one connection:
   - start: seconds until /healthz answers, the worker's RSS then;
   - GET /api/models/ (every visible model): time, size, and the worker's peak RSS during it (sampled
     from /proc every few milliseconds) against its RSS just before; then three at once; then the same
     for /v1/models, Open WebUI's export (GET /api/v1/models/export) and GET /api/models/ sorted by
     -input_cost, reported;
   - pages of 100 (first, middle, last) of the unfiltered and of a filtered list, in the Respan dialect
     (POST /api/models/list/) and the Open WebUI one (GET /api/v1/models/list): p50 and p99;
   - the worker's RSS after the runs;
3. each target met or missed (stdout, and var/bench/large-org-last-run.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, select

from bench import seed, servers
from bench.servers import BenchError, Server
from modelreg.catalog.load import Catalog, load_catalog
from modelreg.domain.inheritance import resolve_chain
from modelreg.domain.llm_model import CustomModel
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import alembic_config, upgrade_to_head
from modelreg.store.rows import CustomModelRow, ModelViewRow, ProviderRow
from modelreg.store.views import view_values

LARGE_SEED_VERSION = 1
"""Bump when the generated data changes: the cached database is rebuilt."""
MODELS = 100_000
PAGE_SIZE = 100
RANDOM_SEED = 20261206
FILTER = {"model_type": {"operator": "", "value": ["chat"]}, "input_cost": {"operator": "lt", "value": [5]}}
TARGET_PEAK_RATIO = 1.2
TARGET_PAGE_P99_MS = 20.0
TARGET_RSS_AFTER_MB = 300.0
RSS_SAMPLE_S = 0.002
OTHER_STREAMS = (
    ("v1_models", "/v1/models"),
    ("export", "/api/v1/models/export"),
    ("by_cost", "/api/models/?sort_by=-input_cost"),
)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.large_org", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50, help="requests per page measured (after --warmup)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests per page first")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=servers.PROJECT_ROOT / "var" / "bench")
    return parser.parse_args(argv)


# ---- the database --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LargeOrg:
    db_path: Path
    api_key: str
    models: int


def _cache_path(cache_dir: Path) -> Path:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return cache_dir / f"large-org-v{LARGE_SEED_VERSION}-{'-'.join(sorted(heads))}.db"


def ensure_large_org(cache_dir: Path, catalog: Catalog) -> LargeOrg:
    db_path = _cache_path(cache_dir)
    manifest = db_path.with_suffix(".json")
    if db_path.exists() and manifest.exists():
        data = json.loads(manifest.read_text())
        return LargeOrg(db_path, data["api_key"], int(data["models"]))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for outdated in (*cache_dir.glob("large-org-v*.db"), *cache_dir.glob("large-org-v*.json")):
        outdated.unlink()
    building = db_path.with_suffix(".building")
    for stale in (building, *(building.with_name(building.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    print(f"seeding one organization with {MODELS:,} custom models into {db_path} ...", flush=True)
    started = time.monotonic()
    url = f"sqlite+aiosqlite:///{building}"
    upgrade_to_head(url)
    api_key = asyncio.run(_build(url, catalog))
    seed._checkpoint(building)
    building.rename(db_path)
    manifest.write_text(json.dumps({"version": LARGE_SEED_VERSION, "api_key": api_key, "models": MODELS}))
    print(f"seeded in {time.monotonic() - started:.1f} s", flush=True)
    return LargeOrg(db_path, api_key, MODELS)


async def _build(url: str, catalog: Catalog) -> str:
    rng = random.Random(RANDOM_SEED)
    bases = seed._base_pool(catalog, rng)
    now = datetime.now(UTC).replace(microsecond=0)
    db = Database(url)
    try:
        async with db.write() as session:
            created = await identity.create_organization(session, "bench-large-org", "admin@bench-large.example")
            providers = seed._providers(created.organization_id, 1, now)
            common = {"organization_id": created.organization_id, "owner_user_id": created.user_id}
            models: list[CustomModel] = []
            names: list[str] = []
            for index in range(MODELS):
                model = seed._random_model(rng, index + 1, index, common, providers, bases, names, now)
                models.append(model)
                names.append(model.name)
            by_name = {m.name: m for m in models}
            views = [view_values(resolve_chain(m, by_name.get, catalog.lookup_or_none, strict=True)) for m in models]
            await session.execute(insert(seed._table(ProviderRow)), [seed._provider_row(p) for p in providers])
            for start in range(0, MODELS, 10_000):
                await session.execute(
                    insert(seed._table(CustomModelRow)), [seed._model_row(m) for m in models[start : start + 10_000]]
                )
                await session.execute(insert(seed._table(ModelViewRow)), views[start : start + 10_000])
        async with db.read() as session:
            total = int(await session.scalar(select(func.count()).select_from(ModelViewRow)) or 0)
    finally:
        await db.dispose()
    if total != MODELS:
        raise BenchError(f"seeding produced {total} model views, expected {MODELS}")
    return created.api_key


# ---- measuring -----------------------------------------------------------------------------------


class PeakRss:
    """The highest RSS of `pid` while the block runs, sampled from /proc by a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, servers.rss_mb(self.pid))
            time.sleep(RSS_SAMPLE_S)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, servers.rss_mb(self.pid))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class PageRun:
    label: str
    first_ms: float
    p50: float
    p99: float


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise BenchError(f"{response.request.method} {response.request.url} answered {response.status_code}")
    return elapsed, response


def _pages(label: str, request: Callable[[int], httpx.Response], last: int, args: argparse.Namespace) -> list[PageRun]:
    runs = []
    for name, page in (("first", 1), ("middle", max(1, last // 2)), ("last", last)):
        first_ms, _ = _timed(lambda page=page: request(page))
        for _ in range(args.warmup):
            request(page)
        samples = [_timed(lambda page=page: request(page))[0] for _ in range(args.samples)]
        p50, p99 = statistics.median(samples), _percentile(samples, 0.99)
        run = PageRun(f"{label}, {name} page ({page})", first_ms, p50, p99)
        print(f"  {run.label}: first {run.first_ms:.1f} ms, p50 {run.p50:.2f} ms, p99 {run.p99:.2f} ms", flush=True)
        runs.append(run)
    return runs


def _count(client: httpx.Client, body: dict[str, Any]) -> int:
    response = client.post("/api/models/list/", params={"page_size": 1}, json=body)
    return int(response.json()["count"])


def _measure(server: Server, key: str, args: argparse.Namespace, start_s: float) -> dict[str, Any]:
    worker = server.worker_pid()
    figures: dict[str, Any] = {"start_s": start_s, "rss_start_mb": servers.rss_mb(worker)}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
        # The whole list, alone, then three at once.
        before = servers.rss_mb(worker)
        with PeakRss(worker) as peak:
            started = time.perf_counter()
            with client.stream("GET", "/api/models/") as response:
                size = sum(len(chunk) for chunk in response.iter_bytes())
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"GET /api/models/ answered {response.status_code}")
        figures.update(all_s=elapsed, all_bytes=size, all_rss_before_mb=before, all_rss_peak_mb=peak.peak)
        print(f"  GET /api/models/: {elapsed:.2f} s, {size / 1e6:.1f} MB, RSS {before:.0f} -> peak {peak.peak:.0f} MB")

        def fetch_all() -> None:
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as own:
                own.get("/api/models/").raise_for_status()

        before3 = servers.rss_mb(worker)
        with PeakRss(worker) as peak3:
            threads = [threading.Thread(target=fetch_all) for _ in range(3)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed3 = time.perf_counter() - started
        figures.update(all3_s=elapsed3, all3_rss_before_mb=before3, all3_rss_peak_mb=peak3.peak)
        print(f"  3 x GET /api/models/ at once: {elapsed3:.2f} s, RSS {before3:.0f} -> peak {peak3.peak:.0f} MB")

        # The other unbounded lists: the gateway's model list and Open WebUI's export, and the whole list in
        # another order than by name (no keyset: it walks the query's order of names), reported.
        for label, path in OTHER_STREAMS:
            before_other = servers.rss_mb(worker)
            with PeakRss(worker) as peak_other:
                started = time.perf_counter()
                with client.stream("GET", path) as response:
                    size = sum(len(chunk) for chunk in response.iter_bytes())
                elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise BenchError(f"GET {path} answered {response.status_code}")
            figures[label] = {
                "s": elapsed,
                "bytes": size,
                "rss_before_mb": before_other,
                "rss_peak_mb": peak_other.peak,
            }
            print(
                f"  GET {path}: {elapsed:.2f} s, {size / 1e6:.1f} MB, "
                f"RSS {before_other:.0f} -> peak {peak_other.peak:.0f} MB"
            )

        total = _count(client, {})
        matching = _count(client, {"filters": FILTER})
        figures.update(visible=total, matching=matching)
        print(f"  visible models: {total:,}; the filter matches {matching:,}", flush=True)
        runs: list[PageRun] = []

        def respan(body: dict[str, Any]) -> Callable[[int], httpx.Response]:
            path = "/api/models/list/"
            return lambda page: client.post(path, params={"page": page, "page_size": PAGE_SIZE}, json=body)

        runs += _pages("POST list/, unfiltered", respan({}), -(-total // PAGE_SIZE), args)
        runs += _pages("POST list/, filtered", respan({"filters": FILTER}), -(-matching // PAGE_SIZE), args)
        webui_total = int(client.get("/api/v1/models/list").json()["total"])
        webui_last = -(-webui_total // 30) if webui_total else 1

        def webui(query: str) -> Callable[[int], httpx.Response]:
            return lambda page: client.get("/api/v1/models/list", params={"page": page, "query": query})

        runs += _pages("GET /api/v1/models/list", webui(""), webui_last, args)
        figures["pages"] = [run.__dict__ for run in runs]
    figures["rss_after_mb"] = servers.rss_mb(worker)
    return figures


def _verdicts(figures: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    ratio = figures["all_rss_peak_mb"] / figures["all_rss_before_mb"]
    worst = max(figures["pages"], key=lambda run: run["p99"])
    return [
        ("start (reported)", f"{figures['start_s']:.1f} s, RSS {figures['rss_start_mb']:.0f} MB", None),
        (
            f"GET /api/models/ peak RSS < {TARGET_PEAK_RATIO}x before",
            f"{ratio:.2f}x ({figures['all_rss_before_mb']:.0f} -> {figures['all_rss_peak_mb']:.0f} MB; "
            f"{figures['all_s']:.2f} s, {figures['all_bytes'] / 1e6:.1f} MB)",
            ratio < TARGET_PEAK_RATIO,
        ),
        (
            "3 x GET /api/models/ at once (reported)",
            f"{figures['all3_rss_peak_mb'] / figures['all3_rss_before_mb']:.2f}x "
            f"({figures['all3_rss_before_mb']:.0f} -> {figures['all3_rss_peak_mb']:.0f} MB; {figures['all3_s']:.2f} s)",
            None,
        ),
        *(
            (
                f"GET {path} (reported)",
                f"{run['rss_peak_mb'] / run['rss_before_mb']:.2f}x ({run['rss_before_mb']:.0f} -> "
                f"{run['rss_peak_mb']:.0f} MB; {run['s']:.2f} s, {run['bytes'] / 1e6:.1f} MB)",
                None,
            )
            for label, path in OTHER_STREAMS
            for run in (figures[label],)
        ),
        (
            f"every list page p99 < {TARGET_PAGE_P99_MS:g} ms (1 connection)",
            f"worst {worst['p99']:.2f} ms ({worst['label']})",
            worst["p99"] < TARGET_PAGE_P99_MS,
        ),
        (
            f"worker RSS after the runs < {TARGET_RSS_AFTER_MB:g} MB",
            f"{figures['rss_after_mb']:.0f} MB",
            figures["rss_after_mb"] < TARGET_RSS_AFTER_MB,
        ),
    ]


def _run(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    large = ensure_large_org(args.cache_dir, catalog)
    log_dir = args.cache_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-large-") as tmp:
        run_dir = Path(tmp)
        copy = run_dir / "bench.db"
        copy.write_bytes(large.db_path.read_bytes())
        env = {
            "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{copy}",
            "MODELREG_SECRET_KEY": seed.BENCH_SECRET,
            "MODELREG_VAR_DIR": str(run_dir),
        }
        print(f"modelreg on granian, one organization with {large.models:,} custom models", flush=True)
        started = time.monotonic()
        with servers.running(
            "modelreg-large-org",
            "modelreg.app:create_app",
            factory=True,
            cpu=args.server_cpu,
            log_dir=log_dir,
            env=env,
        ) as server:
            figures = _measure(server, large.api_key, args, time.monotonic() - started)
    print()
    print("| large organization (100,000 custom models) | measured | result |")
    print("|---|---:|---|")
    verdicts = _verdicts(figures)
    for description, value, met in verdicts:
        verdict = "reported" if met is None else ("**met**" if met else "**missed**")
        print(f"| {description} | {value} | {verdict} |")
    print()
    print("| page (100 models; Open WebUI: 30) | first request | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for run in figures["pages"]:
        print(f"| {run['label']} | {run['first_ms']:.1f} ms | {run['p50']:.2f} ms | {run['p99']:.2f} ms |")
    out = args.cache_dir / "large-org-last-run.json"
    out.write_text(json.dumps({"figures": figures, "targets": verdicts}, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return servers.main_of("bench.large_org", lambda: _run(_parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
