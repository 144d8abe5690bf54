"""`python -m bench`: the read-side benchmark (see docs/benchmarks.md).

1. the seeded database (100 organizations x 1,000 custom models; built once, cached in ./var/bench);
2. the reference: a bare ASGI app on granian, loaded with the same requests as (a);
3. modelreg on granian (one worker on one core, wrk on the other), after functional checks:
   a) GET /api/models/{name}/ rotating over the 1,000 custom models of one organization (requests/s),
   b) POST /api/models/list/?page_size=50 with two filters, the same body and rotating bodies (p50/p99),
   c) GET /api/models/ of an organization with 1,000 custom models (p50, 4 connections),
   d) the server worker's RSS after the runs,
   e) the console's catalog page GET /ui/, signed in (built-ins + 1,000 custom models; p50, 1 connection);
4. the table (stdout, docs/benchmarks.md, var/bench/last-run.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from bench import checks, noise, report, seed, servers, wrk
from bench.report import Measurement, Target
from bench.servers import BenchError, Server
from bench.wrk import Request, WrkResult
from modelreg.catalog.load import load_catalog

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 50
CACHED_THRESHOLD = 5.0
ROTATING_BODIES = 2_000
"""Distinct list bodies; far more than a snapshot's list memo holds, so none of them is served from it."""
THROUGHPUT_CONNECTIONS = 32
LIST_CONNECTIONS = 32
ALL_MODELS_CONNECTIONS = 4
TARGET_RETRIEVE_RATIO = 0.30
TARGET_LIST_P99_MS = 20.0
TARGET_ALL_P50_MS = 10.0
TARGET_CONSOLE_P50_MS = 30.0
NOISE_WARNING_CORES = 0.15


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--duration", type=int, default=10, choices=range(1, 61), metavar="1..60", help="seconds")
    parser.add_argument("--warmup", type=int, default=3, choices=range(31), metavar="0..30", help="seconds")
    parser.add_argument(
        "--wait-quiet",
        type=int,
        default=0,
        choices=range(601),
        metavar="0..600",
        help="before each run, wait up to this many seconds for other processes to leave the cores idle",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--wrk-cpu", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / "var" / "bench")
    parser.add_argument("--docs", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not update the docs file")
    return parser.parse_args(argv)


def _check_machine(server_cpu: int, wrk_cpu: int) -> None:
    if platform.system() != "Linux":
        raise BenchError("the benchmark needs Linux (taskset, /proc)")
    if shutil.which("taskset") is None:
        raise BenchError("taskset is missing (Debian: apt-get install util-linux)")
    allowed = os.sched_getaffinity(0)
    if server_cpu == wrk_cpu or not {server_cpu, wrk_cpu} <= allowed:
        raise BenchError(f"need two distinct usable cores for server and wrk; usable: {sorted(allowed)}")


def _model_path(name: str) -> str:
    return f"/api/models/{quote(name, safe='/')}/"


def _list_body(threshold: float) -> str:
    filters = {
        "model_type": {"operator": "", "value": ["chat"]},
        "input_cost": {"operator": "lt", "value": [threshold]},
    }
    return json.dumps({"filters": filters}, separators=(",", ":"))


def _rotating_thresholds() -> list[float]:
    return [round(0.5 + i * 0.0025, 4) for i in range(ROTATING_BODIES)]  # 0.5 .. 5.4975, all distinct


class Runner:
    """Warm-up then measurement of one script, wrk pinned to its core."""

    def __init__(self, wrk_binary: str, args: argparse.Namespace, script_dir: Path, log_dir: Path) -> None:
        self.wrk_binary = wrk_binary
        self.args = args
        self.script_dir = script_dir
        self.log_dir = log_dir

    def script(self, name: str, requests: list[Request], headers: dict[str, str]) -> Path:
        return wrk.write_script(self.script_dir / f"{name}.lua", requests, headers)

    def measure(self, key: str, title: str, server: Server, script: Path, connections: int, size: int) -> Measurement:
        url = server.base_url + "/"
        cpu, wrk_binary = self.args.wrk_cpu, self.wrk_binary
        pids = [server.pid, server.worker_pid()]
        if self.args.wait_quiet:
            load = noise.wait_until_quiet(pids, self.args.wait_quiet, NOISE_WARNING_CORES)
            if load >= NOISE_WARNING_CORES:
                print(f"  (machine still busy after {self.args.wait_quiet} s: {load:.2f} cores used by others)")
        if self.args.warmup:
            wrk.run(wrk_binary, url, script, connections=connections, duration_s=self.args.warmup, cpu=cpu)
        print(f"  {key}: {title} ({self.args.duration} s, {connections} connections) ...", flush=True)
        before = noise.snapshot(pids)
        result = wrk.run(wrk_binary, url, script, connections=connections, duration_s=self.args.duration, cpu=cpu)
        others, steal = noise.other_load(before, noise.snapshot(pids))
        return Measurement(key, title, connections, result, size, others, steal)


def _targets(results: dict[str, WrkResult], rss_after: float) -> list[Target]:
    ratio = results["a"].requests_per_second / results["ref"].requests_per_second
    b1, b2, c = results["b1"].p99, results["b2"].p99, results["c"].p50
    limit = f"{TARGET_LIST_P99_MS:.0f} ms"
    return [
        Target(
            "a",
            f"retrieve req/s / bare ASGI req/s >= {TARGET_RETRIEVE_RATIO:.2f}",
            f"{ratio:.3f}",
            ratio >= TARGET_RETRIEVE_RATIO,
        ),
        Target("b1", f"list p99 < {limit}, same body", report.ms(b1), b1 < TARGET_LIST_P99_MS),
        Target("b2", f"list p99 < {limit}, rotating bodies", report.ms(b2), b2 < TARGET_LIST_P99_MS),
        Target("c", f"all models p50 < {TARGET_ALL_P50_MS:.0f} ms", report.ms(c), c < TARGET_ALL_P50_MS),
        Target("d", "worker RSS after the runs (no target)", f"{rss_after:.0f} MB", None),
        Target(
            "e",
            f"console catalog page p50 < {TARGET_CONSOLE_P50_MS:.0f} ms",
            report.ms(results["e"].p50),
            results["e"].p50 < TARGET_CONSOLE_P50_MS,
        ),
    ]


def _console_session(base_url: str, api_key: str) -> str:
    """Sign in to the console with the organization's key (CSRF token from the sign-in page)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/ui/signin")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        if token is None:
            raise BenchError("the sign-in page has no CSRF token")
        client.post("/ui/signin", data={"_csrf_token": token.group(1), "api_key": api_key, "next": "/ui/"})
        session = client.cookies.get("modelreg_session")
    if not session:
        raise BenchError("console sign-in with the seeded key failed")
    return session


class Workload:
    """Every request the benchmark sends, built once from the seeded organization."""

    def __init__(self, seeded: seed.Seeded) -> None:
        self.auth = {"Authorization": f"Bearer {seeded.api_key}"}
        self.json_auth = {**self.auth, "Content-Type": "application/json"}
        self.path_of = {name: _model_path(name) for name in seeded.model_names}
        self.retrieve = [Request("GET", path) for path in self.path_of.values()]
        list_path = f"/api/models/list/?page_size={PAGE_SIZE}"
        self.cached_list = [Request("POST", list_path, _list_body(CACHED_THRESHOLD))]
        self.rotating_list = [Request("POST", list_path, _list_body(t)) for t in _rotating_thresholds()]
        self.all_models = [Request("GET", "/api/models/")]


def _reference(runner: Runner, work: Workload, script: Path, log_dir: Path) -> tuple[Measurement, float]:
    """The bare ASGI app under the requests of (a); returns the measurement and its worker's RSS."""
    print("reference: bare ASGI app on granian", flush=True)
    with servers.running("bare-asgi", "bench.bare_app:app", cpu=runner.args.server_cpu, log_dir=log_dir) as bare:
        size = len(checks.fetch(bare.base_url, work.retrieve[0], work.auth))
        title = "bare ASGI app, the requests of a"
        measured = runner.measure("ref", title, bare, script, THROUGHPUT_CONNECTIONS, size)
        return measured, servers.rss_mb(bare.worker_pid())


def _check(server: Server, work: Workload, seeded: seed.Seeded, visible: int) -> tuple[int, int]:
    """Functional checks before load; returns (models matching the list filter, GET /api/models/ bytes)."""
    checks.verify_probes(server.base_url, work.auth, seeded.probes, work.path_of)
    matching = checks.verify_filtered_list(
        server.base_url, work.json_auth, work.cached_list[0], CACHED_THRESHOLD, PAGE_SIZE
    )
    first_rotating = _rotating_thresholds()[0]
    checks.verify_filtered_list(server.base_url, work.json_auth, work.rotating_list[0], first_rotating, PAGE_SIZE)
    return matching, checks.verify_all_models(server.base_url, work.auth, work.all_models[0], visible)


def _modelreg(
    runner: Runner, work: Workload, seeded: seed.Seeded, retrieve_script: Path, env: dict[str, str], visible: int
) -> tuple[list[Measurement], list[str], float]:
    """The four modelreg runs on one server; returns the measurements, notes, and the worker's final RSS."""
    print("modelreg on granian", flush=True)
    found: list[Measurement] = []
    args = runner.args
    with servers.running(
        "modelreg", "modelreg.app:create_app", factory=True, cpu=args.server_cpu, log_dir=runner.log_dir, env=env
    ) as server:
        matching, all_size = _check(server, work, seeded, visible)
        rss_checked = servers.rss_mb(server.worker_pid())

        size = len(checks.fetch(server.base_url, work.retrieve[3], work.auth))
        title = f"GET /api/models/{{name}}/, {len(work.retrieve):,} names"
        found.append(runner.measure("a", title, server, retrieve_script, THROUGHPUT_CONNECTIONS, size))

        size = len(checks.fetch(server.base_url, work.cached_list[0], work.json_auth))
        script = runner.script("b-list-cached", work.cached_list, work.json_auth)
        title = f"POST list/?page_size={PAGE_SIZE}, 2 filters, same body"
        found.append(runner.measure("b1", title, server, script, LIST_CONNECTIONS, size))

        script = runner.script("b-list-rotating", work.rotating_list, work.json_auth)
        title = f"POST list/?page_size={PAGE_SIZE}, 2 filters, {ROTATING_BODIES:,} bodies"
        found.append(runner.measure("b2", title, server, script, LIST_CONNECTIONS, size))

        script = runner.script("c-all-models", work.all_models, work.auth)
        title = f"GET /api/models/ ({visible:,} models)"
        found.append(runner.measure("c", title, server, script, ALL_MODELS_CONNECTIONS, all_size))

        cookie = {"Cookie": f"modelreg_session={_console_session(server.base_url, seeded.api_key)}"}
        page = Request("GET", "/ui/")
        size = len(checks.fetch(server.base_url, page, cookie))
        script = runner.script("e-console-catalog", [page], cookie)
        title = f"GET /ui/ catalog page, signed in ({visible:,} models, 50 rows)"
        found.append(runner.measure("e", title, server, script, 1, size))

        rss_after, rss_main = servers.rss_mb(server.worker_pid()), servers.rss_mb(server.pid)
    notes = [
        f"d: RSS (VmRSS) of the modelreg worker: {rss_checked:.0f} MB after the functional checks, "
        f"{rss_after:.0f} MB after the runs (granian main process: {rss_main:.0f} MB).",
        f"The list filter (model_type = chat AND input_cost < {CACHED_THRESHOLD:g}) matches {matching:,} models; "
        f"the database holds {seeded.total_models:,} custom models in {seed.ORGANIZATIONS} organizations.",
    ]
    return found, notes, rss_after


def _run(args: argparse.Namespace) -> int:
    _check_machine(args.server_cpu, args.wrk_cpu)
    wrk_binary = wrk.ensure_wrk()
    catalog = load_catalog()
    seeded = seed.ensure_seeded(args.cache_dir, catalog)
    work = Workload(seeded)
    visible = len(catalog) + len(seeded.model_names)
    log_dir = args.cache_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="modelreg-bench-") as tmp:
        run_dir = Path(tmp)
        runner = Runner(wrk_binary, args, run_dir, log_dir)
        retrieve_script = runner.script("a-retrieve", work.retrieve, work.auth)
        reference, bare_rss = _reference(runner, work, retrieve_script, log_dir)
        env = {
            "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{seed.copy_for_run(seeded, run_dir)}",
            "MODELREG_SECRET_KEY": seed.BENCH_SECRET,
            "MODELREG_VAR_DIR": str(run_dir),
        }
        measured, notes, rss_after = _modelreg(runner, work, seeded, retrieve_script, env, visible)

    measurements = [reference, *measured]
    targets = _targets({m.key: m.result for m in measurements}, rss_after)
    notes.insert(1, f"The bare ASGI worker's RSS: {bare_rss:.0f} MB.")
    busiest = max(m.other_cores for m in measurements)
    if busiest > NOISE_WARNING_CORES:
        notes.append(
            f"**Warning:** other processes used up to {busiest:.2f} cores during the runs (column 'other load'): "
            "the numbers are pessimistic, rerun on a quiet machine."
        )
    table = report.render(measurements, targets, notes)
    print()
    print(table)
    machine = report.machine_notes(args.server_cpu, args.wrk_cpu, wrk_binary)
    settings = f"{args.duration} s per run after {args.warmup} s warm-up"
    report.write_json(args.cache_dir / "last-run.json", measurements, targets, {"machine": machine, "notes": notes})
    if not args.no_docs:
        report.update_docs(args.docs, table, machine, "make bench", settings)
        print(f"\nupdated {args.docs}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return servers.main_of("bench", lambda: _run(_parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
