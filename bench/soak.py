"""`python -m bench.soak` (or `make bench-soak`): the memory soak (see docs/benchmarks.md).

1. a fresh SQLite database, one organization, MODELS custom models (a fixed set: writes change them, never
   add any);
2. `modelreg serve` (one granian worker) pinned to one core, the clients on the other;
3. CLIENTS concurrent clients for --duration seconds: 80% reads (GET /api/models/{name}/ and
   POST /api/models/list/ with a filter, alternately), 20% writes (PATCH /api/models/{name}/ with a new
   input_cost, so every write invalidates the organization's snapshot);
4. the worker's RSS (VmRSS) after --warmup seconds and at the end, sampled every --sample seconds between;
   the ratio end / after warm-up (the issue's bound: within 1.2x); the table (stdout, docs/benchmarks.md,
   var/bench/soak-last-run.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import report, servers
from bench.servers import BenchError, Server

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELREG = str(Path(sys.executable).with_name("modelreg"))
SECRET = "modelreg-bench-soak-secret-not-for-production-0123456789"  # noqa: S105 (benchmark only)
CLIENTS = 8
MODELS = 50
WRITE_SHARE = 0.2
RATIO_BOUND = 1.2
START_MARKER = "<!-- bench:soak:start (written by `make bench-soak`; edit outside the markers) -->"
END_MARKER = "<!-- bench:soak:end -->"


@dataclass
class Tally:
    reads: int = 0
    writes: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class Outcome:
    duration_s: float
    warmup_s: float
    rss_after_warmup_mb: float
    rss_end_mb: float
    ratio: float
    samples: list[tuple[float, float]]
    reads: int
    writes: int
    errors: dict[str, int]
    load_average_start: str
    load_average_end: str


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--duration", type=int, default=300, help="seconds of load in all (default 300)")
    parser.add_argument("--warmup", type=int, default=60, help="seconds before the first RSS figure (default 60)")
    parser.add_argument("--sample", type=int, default=30, help="seconds between RSS samples (default 30)")
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.duration or args.sample < 1:
        parser.error("need 0 < --warmup < --duration and --sample >= 1")
    return args


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [MODELREG, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"modelreg {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


@contextlib.contextmanager
def _serve(env: dict[str, str], cpu: int, log_path: Path) -> Iterator[Server]:
    """`modelreg serve` (one worker) pinned to `cpu`; stopped with SIGINT (a clean shutdown)."""
    port = servers._free_port()
    command = ["taskset", "-c", str(cpu), MODELREG, "serve", "--host", servers.HOST, "--port", str(port)]
    with servers.spawned("modelreg", command, log_path=log_path, env=env, ready_path="/readyz", port=port) as server:
        yield server


async def _client(base_url: str, key: str, names: list[str], stop_at: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        flip = False
        while time.monotonic() < stop_at:
            name = rng.choice(names)
            try:
                if rng.random() < WRITE_SHARE:
                    body = {"input_cost": round(rng.uniform(0.1, 20.0), 4)}
                    r = await client.patch(f"/api/models/{name}/", json=body)
                    tally.writes += 1
                else:
                    flip = not flip
                    if flip:
                        r = await client.get(f"/api/models/{name}/")
                    else:
                        filters = {"filters": {"input_cost": {"operator": "lte", "value": rng.uniform(1, 20)}}}
                        r = await client.post("/api/models/list/?page_size=50", json=filters)
                    tally.reads += 1
                if r.status_code >= 400:
                    tally.error(str(r.status_code))
            except httpx.HTTPError as exc:
                tally.error(type(exc).__name__)


async def _load(
    server: Server, key: str, names: list[str], args: argparse.Namespace
) -> tuple[Tally, list[tuple[float, float]]]:
    worker = server.worker_pid()
    tally = Tally()
    started = time.monotonic()
    stop_at = started + args.duration
    clients = [
        asyncio.create_task(_client(server.base_url, key, names, stop_at, tally, seed)) for seed in range(CLIENTS)
    ]
    samples: list[tuple[float, float]] = []
    marks = sorted({args.warmup, *range(args.warmup + args.sample, args.duration, args.sample)})
    for mark in marks:
        await asyncio.sleep(max(0.0, started + mark - time.monotonic()))
        samples.append((float(mark), servers.rss_mb(worker)))
        print(f"  t={mark:>5} s  RSS {samples[-1][1]:.1f} MB  ({tally.reads} reads, {tally.writes} writes)", flush=True)
    await asyncio.gather(*clients)
    samples.append((round(time.monotonic() - started, 1), servers.rss_mb(worker)))
    print(f"  t={samples[-1][0]:>5} s  RSS {samples[-1][1]:.1f} MB (end)", flush=True)
    return tally, samples


def _setup(env: dict[str, str], server: Server) -> tuple[str, list[str]]:
    created = json.loads(_cli(env, "org", "create", "bench-soak", "--admin-email", "admin@bench.example"))
    key = str(created["api_key"])
    names = [f"soak-{index:03d}" for index in range(MODELS)]
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for index, name in enumerate(names):
            body = {"model_name": name, "base_model_name": "gpt-4o", "input_cost": 1.0 + index / 10}
            r = client.post("/api/models/", json=body)
            if r.status_code != 201:
                raise BenchError(f"creating {name}: HTTP {r.status_code} {r.text[:200]}")
    return key, names


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render(outcome: Outcome) -> str:
    verdict = "**met**" if outcome.ratio <= RATIO_BOUND else "**missed**"
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.errors.items())) or "none"
    lines = [
        "| measured | value |",
        "|---|---:|",
        f"| RSS after {outcome.warmup_s:.0f} s warm-up | {outcome.rss_after_warmup_mb:.1f} MB |",
        f"| RSS at the end ({outcome.duration_s:.0f} s) | {outcome.rss_end_mb:.1f} MB |",
        f"| end / after warm-up (bound {RATIO_BOUND}x) | {outcome.ratio:.3f}x ({verdict}) |",
        f"| requests | {outcome.reads} reads, {outcome.writes} writes "
        f"({outcome.writes / max(1, outcome.reads + outcome.writes):.0%} writes), errors: {errors} |",
        f"| load average (1/5/15 min) at start / end | {outcome.load_average_start} / {outcome.load_average_end} |",
        "",
        "RSS samples (s: MB): " + ", ".join(f"{t:.0f}: {mb:.1f}" for t, mb in outcome.samples),
    ]
    return "\n".join(lines)


_SECTION = """
# Memory soak

Run it with `make bench-soak` (or `.venv/bin/python -m bench.soak --duration SECONDS --warmup SECONDS`).

{block}
"""


def update_docs(path: Path, table: str, settings: str) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    block = f"{START_MARKER}\nLast run: {when}, `make bench-soak` ({settings}).\n\n{machine}\n\n{table}\n{END_MARKER}"
    report.replace_block(path, START_MARKER, END_MARKER, block, _SECTION.format(block=block))


def run(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if shutil.which("taskset") is None:
        raise BenchError("taskset is needed (util-linux)")
    run_dir = Path(tempfile.mkdtemp(prefix="modelreg-soak-"))
    env = {
        "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / 'soak.db'}",
        "MODELREG_SECRET_KEY": SECRET,
        "MODELREG_VAR_DIR": str(run_dir),
    }
    try:
        _cli(env, "migrate")
        load_start = _load_average()
        with _serve(env, args.server_cpu, run_dir / "modelreg.log") as server:
            os.sched_setaffinity(0, {args.client_cpu})
            key, names = _setup(env, server)
            print(f"soak: {CLIENTS} clients, {MODELS} models, {args.duration} s (warm-up {args.warmup} s)", flush=True)
            tally, samples = asyncio.run(_load(server, key, names, args))
        outcome = Outcome(
            duration_s=samples[-1][0],
            warmup_s=samples[0][0],
            rss_after_warmup_mb=samples[0][1],
            rss_end_mb=samples[-1][1],
            ratio=samples[-1][1] / samples[0][1],
            samples=samples,
            reads=tally.reads,
            writes=tally.writes,
            errors=tally.errors,
            load_average_start=load_start,
            load_average_end=_load_average(),
        )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    table = render(outcome)
    print(table)
    out = PROJECT_ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak-last-run.json").write_text(json.dumps(asdict(outcome), indent=2))
    if not args.no_docs:
        update_docs(
            PROJECT_ROOT / "docs" / "benchmarks.md", table, f"--duration {args.duration} --warmup {args.warmup}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(servers.main_of("bench.soak", run))
