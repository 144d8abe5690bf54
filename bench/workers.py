"""`python -m bench.workers`: do reads scale with worker processes? (see docs/benchmarks.md, "Workers").

1. the seeded database of `python -m bench` (cached in ./var/bench), a private copy per server;
2. `modelreg serve --workers 1`, then `modelreg serve --workers 2` (the real CLI; granian, every worker with
   its own in-memory index and caches), both allowed on both cores;
3. each loaded by wrk (one thread, pinned to core 1 as in every benchmark here) with GET /api/models/{name}/
   rotating over the 1,000 custom models of one organization, 32 connections;
4. requests/s of two workers over one (target >= 1.7), the cores modelreg used, and the memory each worker
   costs (RSS and PSS: forked workers share their unchanged pages, PSS counts each shared page fractionally);
5. where the CPU went: each worker's Python thread (the event loop: the app), granian's Rust runtime threads
   (HTTP parsing and socket I/O), the worker's other threads, wrk, other processes, and what stayed idle.

wrk needs a core too: with one worker, modelreg has core 0 to itself and wrk core 1; with two, the second
worker shares core 1 with wrk. The table therefore also gives requests per modelreg CPU-second, which shows
whether a worker does as much with the CPU it gets as a lone one does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from bench import noise, report, seed, servers, wrk
from bench.servers import BenchError
from bench.wrk import Request, WrkResult
from modelreg.catalog.load import load_catalog

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 32
TARGET_RATIO = 1.7
WRK_CPU = 1
START_MARKER = "<!-- bench:workers:start (written by `python -m bench.workers`; edit outside the markers) -->"
END_MARKER = "<!-- bench:workers:end -->"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, choices=range(1, 61), metavar="1..60", help="seconds")
    parser.add_argument("--warmup", type=int, default=3, choices=range(31), metavar="0..30", help="seconds")
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / "var" / "bench")
    parser.add_argument("--docs", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not update the docs file")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    pss_mb: float


def _memory(pid: int) -> Memory:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return Memory(values["Rss"] / 1024, values["Pss"] / 1024)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds by kind of thread of a granian worker: "python" (the main thread, which runs the event
    loop and the app), "granian" (its Rust runtime, tokio-rt-*), "other" (blocking pools, aiosqlite)."""
    kinds = {"python": 0.0, "granian": 0.0, "other": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        kind = "python" if task.name == str(pid) else "granian" if name.startswith("tokio") else "other"
        kinds[kind] += seconds
    return kinds


def _wrk_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk runs as a child and is reaped by wrk.run
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Run:
    workers: int
    result: WrkResult
    modelreg_cores: float
    other_cores: float
    worker_memory: list[Memory]
    main_memory: Memory
    threads: dict[str, float]
    """Cores by kind of worker thread (_thread_cpu_s), summed over the workers."""
    wrk_cores: float

    @property
    def per_cpu_second(self) -> float:
        return self.result.requests_per_second / max(self.modelreg_cores, 1e-6)


@contextlib.contextmanager
def _serving(workers: int, env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, int]]:
    """`modelreg serve --workers N` on both cores; yields (base URL, granian main pid)."""
    port = servers._free_port()
    command = [
        "taskset", "-c", "0,1", sys.executable, "-c", "from modelreg.cli import main; main()",
        "serve", "--host", servers.HOST, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    name = f"modelreg --workers {workers}"
    log_path = log_dir / f"modelreg-workers-{workers}.log"
    with servers.spawned(name, command, log_path=log_path, env=env, ready_path="/healthz", port=port) as server:
        deadline = time.monotonic() + 30
        while len(_children(server.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(_children(server.pid)) != workers:
            raise BenchError(f"expected {workers} granian workers, found {_children(server.pid)}")
        yield server.base_url, server.pid


def _warm(base_url: str, paths: list[str], key: str) -> None:
    """Every name once per worker (new connections spread over the workers), so each one's index is built."""
    for path in paths[:50] * 4:
        request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
                response.read()
        except urllib.error.HTTPError as exc:
            raise BenchError(f"GET {path} answered {exc.code}") from None


def _measure(args: argparse.Namespace, wrk_binary: str, seeded: seed.Seeded, workers: int, run_dir: Path) -> Run:
    log_dir = args.cache_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{seed.copy_for_run(seeded, run_dir)}",
        "MODELREG_SECRET_KEY": seed.BENCH_SECRET,
        "MODELREG_VAR_DIR": str(run_dir),
    }
    paths = [f"/api/models/{quote(name, safe='/')}/" for name in seeded.model_names]
    auth = {"Authorization": f"Bearer {seeded.api_key}"}
    script = wrk.write_script(run_dir / f"workers-{workers}.lua", [Request("GET", p) for p in paths], auth)
    with _serving(workers, env, log_dir) as (base_url, main_pid):
        _warm(base_url, paths, seeded.api_key)
        pids = [main_pid, *_children(main_pid)]
        if args.warmup:
            wrk.run(wrk_binary, base_url + "/", script, connections=CONNECTIONS, duration_s=args.warmup, cpu=WRK_CPU)
        print(f"  {workers} worker(s): {args.duration} s, {CONNECTIONS} connections ...", flush=True)
        before = noise.snapshot(pids)
        cpu0 = sum(noise.process_cpu_s(pid) for pid in pids)
        threads0 = [_thread_cpu_s(pid) for pid in pids[1:]]
        wrk0 = _wrk_cpu_s()
        result = wrk.run(
            wrk_binary, base_url + "/", script, connections=CONNECTIONS, duration_s=args.duration, cpu=WRK_CPU
        )
        after = noise.snapshot(pids)
        cpu1 = sum(noise.process_cpu_s(pid) for pid in pids)
        threads1 = [_thread_cpu_s(pid) for pid in pids[1:]]
        wrk1 = _wrk_cpu_s()
        others, _ = noise.other_load(before, after)
        elapsed = max(after.at - before.at, 1e-6)
        threads = {
            kind: sum(t1[kind] - t0[kind] for t0, t1 in zip(threads0, threads1, strict=True)) / elapsed
            for kind in ("python", "granian", "other")
        }
        memory = [_memory(pid) for pid in _children(main_pid)]
        return Run(
            workers,
            result,
            (cpu1 - cpu0) / elapsed,
            others,
            memory,
            _memory(main_pid),
            threads,
            (wrk1 - wrk0) / elapsed,
        )


def render(runs: list[Run]) -> tuple[str, list[report.Target]]:
    one, two = runs
    ratio = two.result.requests_per_second / one.result.requests_per_second
    efficiency = two.per_cpu_second / one.per_cpu_second
    lines = [
        f"wrk (1 thread on core {WRK_CPU}), {CONNECTIONS} connections, GET /api/models/{{name}}/ over 1,000 names; "
        "`modelreg serve` allowed on both cores.",
        "",
        "| workers | requests/s | p50 | p99 | modelreg CPU | requests per modelreg CPU-second | other load "
        "| RSS per worker | PSS per worker |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        r = run.result
        rss = " / ".join(f"{m.rss_mb:.0f} MB" for m in run.worker_memory)
        pss = " / ".join(f"{m.pss_mb:.0f} MB" for m in run.worker_memory)
        lines.append(
            f"| {run.workers} | {r.requests_per_second:,.0f} | {report.ms(r.p50)} | {report.ms(r.p99)} | "
            f"{run.modelreg_cores:.2f} cores | {run.per_cpu_second:,.0f} | {run.other_cores:.2f} cores | "
            f"{rss} | {pss} |"
        )
    targets = [
        report.Target(
            "w1", f"requests/s, 2 workers / 1 worker >= {TARGET_RATIO}", f"{ratio:.2f}", ratio >= TARGET_RATIO
        ),
        report.Target("w2", "requests per modelreg CPU-second, 2 workers / 1 worker", f"{efficiency:.2f}", None),
    ]
    lines += [
        "",
        "Where the two cores went (cores; per request: µs of CPU per request served):",
        "",
        "| workers | Python threads (the app) | granian's Rust threads | other worker threads | granian main "
        "| wrk | other processes | idle |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        rps = max(run.result.requests_per_second, 1e-6)
        main = max(run.modelreg_cores - sum(run.threads.values()), 0.0)
        idle = max(2.0 - run.modelreg_cores - run.wrk_cores - run.other_cores, 0.0)

        def cell(cores: float, rps: float = rps) -> str:
            return f"{cores:.2f} ({cores / rps * 1e6:.0f} µs)"

        lines.append(
            f"| {run.workers} | {cell(run.threads['python'])} | {cell(run.threads['granian'])} | "
            f"{cell(run.threads['other'])} | {main:.2f} | {cell(run.wrk_cores)} | {run.other_cores:.2f} | {idle:.2f} |"
        )
    lines += ["", "| target | measured | result |", "|---|---:|---|"]
    for target in targets:
        verdict = "reported" if target.met is None else ("**met**" if target.met else "**missed**")
        lines.append(f"| {target.key}: {target.description} | {target.value} | {verdict} |")
    lines += [
        "",
        f"granian's main process: {two.main_memory.rss_mb:.0f} MB RSS ({two.main_memory.pss_mb:.0f} MB PSS). "
        "Each worker holds its own index and caches; PSS is what a worker adds to the machine's memory use.",
    ]
    busiest = max(run.other_cores for run in runs)
    if busiest > 0.15:
        lines.append(
            f"\n**Warning:** other processes used up to {busiest:.2f} cores (wrk not included: it has its own "
            "column): rerun on a quiet machine."
        )
    return "\n".join(lines), targets


def update_docs(path: Path, table: str, settings: str) -> None:
    """Replace this benchmark's block in `path` (appended as a section when missing); the rest is kept."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{START_MARKER}\nLast run: {when}, `python -m bench.workers` ({settings}).\n\n{table}\n{END_MARKER}"
    report.replace_block(path, START_MARKER, END_MARKER, block, "\n# Workers\n\n" + block + "\n")


def _run(args: argparse.Namespace) -> int:
    if not {0, 1} <= os.sched_getaffinity(0):
        raise BenchError("the benchmark needs cores 0 and 1")
    for name in [n for n in os.environ if n.startswith("MODELREG_")]:
        del os.environ[name]  # the servers run with the defaults plus what _measure sets
    wrk_binary = wrk.ensure_wrk()
    seeded = seed.ensure_seeded(args.cache_dir, load_catalog())
    print("workers: GET /api/models/{name}/ with 1 and 2 workers", flush=True)
    runs = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="modelreg-bench-workers-") as tmp:
            runs.append(_measure(args, wrk_binary, seeded, workers, Path(tmp)))
    table, _ = render(runs)
    print()
    print(table)
    if not args.no_docs:
        update_docs(args.docs, table, f"{args.duration} s per run after {args.warmup} s warm-up")
        print(f"\nupdated {args.docs}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return servers.main_of("bench.workers", lambda: _run(_parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
