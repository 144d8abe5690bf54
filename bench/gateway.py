"""`python -m bench.gateway` (or `make bench-gateway`): the gateway benchmark (see docs/benchmarks.md).

What modelreg adds to a chat completion, against a fast fake upstream on loopback (bench/fast_upstream.py):

1. a fresh database (`modelreg migrate`, `modelreg org create`), then through the API an organization's
   custom provider pointing at the upstream (with its key) and two custom models on it;
2. the upstream (granian, one worker) and every client on one core, modelreg (granian, one worker) alone
   on the other; MODELREG_UPSTREAM_ALLOW=127.0.0.0/8, metering as configured by default (flush every 60 s);
3. functional checks: modelreg's answers are byte-identical to the upstream's, streamed events are relayed
   as they arrive;
4. latency, one connection, requests alternating between direct and through modelreg: p50/p99 of the
   whole answer (not streamed) and of the first chunk and the whole stream (streamed);
5. throughput: wrk, N connections, direct and through modelreg, not streamed and streamed;
6. the metering check (every call through modelreg is in usage_minutes after shutdown), the tables
   (stdout, docs/benchmarks.md, var/bench/gateway-last-run.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fast_upstream, noise, report, servers, wrk
from bench.latency import Connection, Sample, percentile, raw_request
from bench.servers import BenchError, Server
from bench.wrk import Request, WrkResult

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHAT_PATH = "/v1/chat/completions"
UPSTREAM_KEY = "sk-bench-upstream-3c9f1a7e5b2d"
SECRET = "modelreg-bench-gateway-secret-not-for-production-0123456789"  # noqa: S105 (benchmark only)
MODEL = "bench-chat"
SPACED_MODEL = "bench-chat-spaced"
PROVIDER_ID = "fast-upstream"
APP = "modelreg.app:create_app"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the benchmark."},
]
TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT_RATIO = 0.5
TARGET_CPU_US = {False: 120.0, True: 200.0}
"""modelreg's CPU per proxied call at the throughput runs' connections (issue 12): not streamed, streamed."""
NOISE_WARNING_CORES = 0.15
START_MARKER = "<!-- bench:gateway:start (written by `make bench-gateway`; edit outside the markers) -->"
END_MARKER = "<!-- bench:gateway:end -->"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, choices=range(1, 61), metavar="1..60", help="seconds")
    parser.add_argument("--warmup", type=int, default=2, choices=range(31), metavar="0..30", help="seconds")
    parser.add_argument(
        "--samples", type=int, default=3000, choices=range(100, 100_001), metavar="100..100000",
        help="latency: measured requests per mode and kind (plus a tenth as warm-up)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32, choices=range(1, 1025), metavar="1..1024")
    parser.add_argument(
        "--wait-quiet", type=int, default=0, choices=range(601), metavar="0..600",
        help="before the latency runs and each throughput run, wait up to this many seconds for the cores to be idle",
    )  # fmt: skip
    parser.add_argument("--server-cpu", type=int, default=0, help="modelreg's core")
    parser.add_argument("--client-cpu", type=int, default=1, help="the upstream's, wrk's and this process's core")
    parser.add_argument(
        "--profile", nargs="?", const="json", choices=("json", "stream"), default=None,
        help="after the runs, py-spy (if installed) samples the modelreg worker under the non-streamed load "
        "(`--profile stream`: the streamed one)",
    )  # fmt: skip
    parser.add_argument(
        "--compare-clients", action="store_true",
        help="only compare the upstream clients' CPU per call (aiohttp and gateway/http1.py) against the fake "
        "upstream, and print it (docs/benchmarks.md, 'The upstream client')",
    )  # fmt: skip
    parser.add_argument(
        "--app", default=APP, metavar="MODULE:FACTORY",
        help=f"the ASGI app factory served as modelreg (default {APP}; another one to size a change, with --no-docs)",
    )  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / "var" / "bench")
    parser.add_argument("--docs", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="do not update the docs file")
    return parser.parse_args(argv)


def _check_machine(server_cpu: int, client_cpu: int) -> None:
    if platform.system() != "Linux":
        raise BenchError("the benchmark needs Linux (taskset, /proc)")
    if shutil.which("taskset") is None:
        raise BenchError("taskset is missing (Debian: apt-get install util-linux)")
    allowed = os.sched_getaffinity(0)
    if server_cpu == client_cpu or not {server_cpu, client_cpu} <= allowed:
        raise BenchError(f"need two distinct usable cores for modelreg and the clients; usable: {sorted(allowed)}")


# ---- requests ----------------------------------------------------------------------------------------


def chat_body(model: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 32}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the same bytes direct and through (nothing dropped)
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Side:
    """Where a client sends its requests (the upstream itself, or modelreg) and with which key."""

    name: str
    server: Server
    key: str

    @property
    def port(self) -> int:
        return int(self.server.base_url.rsplit(":", 1)[1])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    def raw(self, model: str, *, stream: bool) -> bytes:
        return raw_request(self.port, CHAT_PATH, self.headers, chat_body(model, stream=stream))


def _api(base_url: str, method: str, path: str, key: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    outgoing = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(outgoing, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    if status != expect:
        raise BenchError(f"{method} {path} answered {status} (expected {expect}): {payload[:500]!r}")
    result: dict[str, Any] = json.loads(payload)
    return result


# ---- setup -------------------------------------------------------------------------------------------


def _cli(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-c", "from modelreg.cli import main; main()", *args]
    done = subprocess.run(
        command, env={**os.environ, **env}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"modelreg {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _create_organization(env: dict[str, str]) -> str:
    """A fresh database with one organization; returns its admin's API key."""
    _cli(env, "migrate")
    created = json.loads(_cli(env, "org", "create", "bench-gateway", "--admin-email", "admin@bench.example"))
    return str(created["api_key"])


def _configure(modelreg: Server, key: str, upstream: Server) -> None:
    """The provider (the upstream's URL and key) and the two models, through modelreg's own API."""
    provider = {
        "provider_id": PROVIDER_ID,
        "provider_name": "Fast fake upstream",
        "extra_kwargs": {"base_url": f"{upstream.base_url}/v1", "timeout": 30},
        "api_key": UPSTREAM_KEY,
    }
    _api(modelreg.base_url, "POST", "/api/providers/", key, provider, 201)
    for name in (MODEL, SPACED_MODEL):
        model = {
            "model_name": name,
            "custom_provider_id": PROVIDER_ID,
            "model_type": "chat",
            "input_cost": 2.5,
            "output_cost": 10.0,
            "streaming_support": 1,
        }
        _api(modelreg.base_url, "POST", "/api/models/", key, model, 201)


def _check(direct: Side, through: Side) -> list[str]:
    """The answers through modelreg are the upstream's, byte for byte; streams are relayed as they come."""
    with Connection(direct.port) as d, Connection(through.port) as t:
        for stream in (False, True):
            want, got = d.send(direct.raw(MODEL, stream=stream)).body, t.send(through.raw(MODEL, stream=stream)).body
            if got != want:
                kind = "streamed" if stream else "JSON"
                raise BenchError(f"the {kind} answer through modelreg differs from the upstream's:\n{got!r}\n{want!r}")
        expected = b"".join(fast_upstream.stream_events(MODEL, True))
        if want != expected:
            raise BenchError(f"the upstream streamed something unexpected: {want!r}")
        spaced = t.send(through.raw(SPACED_MODEL, stream=True))
    gaps = len(fast_upstream.stream_events(SPACED_MODEL, True)) - 1
    if not (spaced.first_s < 2 * fast_upstream.SPACED_S and spaced.total_s > 0.8 * gaps * fast_upstream.SPACED_S):
        raise BenchError(
            f"the spaced stream was not relayed event by event: first event after {spaced.first_s * 1000:.1f} ms, "
            f"end after {spaced.total_s * 1000:.1f} ms ({gaps} gaps of {fast_upstream.SPACED_S * 1000:.0f} ms)"
        )
    return [
        "Checks before the runs: the JSON answer and the streamed events through modelreg are byte-identical "
        "to the upstream's; a stream whose events are "
        f"{fast_upstream.SPACED_S * 1000:.0f} ms apart arrived through modelreg with its first event after "
        f"{spaced.first_s * 1000:.1f} ms and its end after {spaced.total_s * 1000:.0f} ms (relayed, not buffered)."
    ]


# ---- latency -----------------------------------------------------------------------------------------


@dataclass
class LatencyRow:
    title: str
    direct_ms: dict[str, float]
    through_ms: dict[str, float]

    def added(self, p: str) -> float:
        return self.through_ms[p] - self.direct_ms[p]


def _stats(values: list[float]) -> dict[str, float]:
    return {p: percentile(values, float(p)) * 1000 for p in ("50", "90", "99")}


def _pairs(d: Connection, t: Connection, raw_d: bytes, raw_t: bytes, count: int) -> tuple[list[Sample], list[Sample]]:
    """`count` pairs of requests, direct and through modelreg, the order alternating."""
    got_d: list[Sample] = []
    got_t: list[Sample] = []
    for i in range(count):
        if i % 2:
            got_d.append(d.send(raw_d))
            got_t.append(t.send(raw_t))
        else:
            got_t.append(t.send(raw_t))
            got_d.append(d.send(raw_d))
    return got_d, got_t


@dataclass(frozen=True)
class LatencyPhase:
    rows: list[LatencyRow]
    other_cores: float
    modelreg_cpu_us: dict[str, float]
    """modelreg's CPU per request at one connection: "not streamed" / "streamed" -> microseconds."""
    sent_through: int


def _latency(direct: Side, through: Side, samples: int) -> LatencyPhase:
    """Pairs of requests (direct, through; the order alternates), one kept-alive connection per side."""
    rows: list[LatencyRow] = []
    cpu_us: dict[str, float] = {}
    warmup = max(samples // 10, 50)
    worker = [through.server.worker_pid()]
    pids = [direct.server.pid, direct.server.worker_pid(), through.server.pid, *worker]
    before = noise.snapshot(pids)
    sent = 0
    with Connection(direct.port) as d, Connection(through.port) as t:
        for stream in (False, True):
            raw_d, raw_t = direct.raw(MODEL, stream=stream), through.raw(MODEL, stream=stream)
            _pairs(d, t, raw_d, raw_t, warmup)
            cpu_before = _cpu_s(worker)
            got_d, got_t = _pairs(d, t, raw_d, raw_t, samples)
            cpu_us["streamed" if stream else "not streamed"] = (_cpu_s(worker) - cpu_before) / samples * 1e6
            sent += warmup + samples
            if stream:
                first_d, first_t = [s.first_s for s in got_d], [s.first_s for s in got_t]
                rows.append(LatencyRow("streamed: first chunk", _stats(first_d), _stats(first_t)))
                title = "streamed: whole stream"
            else:
                title = "not streamed: whole answer"
            rows.append(LatencyRow(title, _stats([s.total_s for s in got_d]), _stats([s.total_s for s in got_t])))
    others, _ = noise.other_load(before, noise.snapshot(pids))
    return LatencyPhase(rows, others, cpu_us, sent)


# ---- throughput --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuUse:
    """Cores used during a run."""

    modelreg: float
    upstream: float
    others: float


@dataclass(frozen=True)
class ThroughputRun:
    key: str
    side: str
    stream: bool
    connections: int
    result: WrkResult
    cpu: CpuUse
    warmup_requests: int


def _cpu_s(pids: list[int]) -> float:
    return sum(noise.process_cpu_s(pid) for pid in pids)


class Load:
    def __init__(self, args: argparse.Namespace, wrk_binary: str, script_dir: Path, modelreg: Server, up: Server):
        self.args = args
        self.wrk_binary = wrk_binary
        self.script_dir = script_dir
        self.modelreg_pids = [modelreg.pid, modelreg.worker_pid()]
        self.upstream_pids = [up.pid, up.worker_pid()]
        self.history: list[ThroughputRun] = []

    def wait_quiet(self) -> None:
        if self.args.wait_quiet:
            pids = self.modelreg_pids + self.upstream_pids
            load = noise.wait_until_quiet(pids, self.args.wait_quiet, NOISE_WARNING_CORES)
            if load >= NOISE_WARNING_CORES:
                print(f"  (machine still busy after {self.args.wait_quiet} s: {load:.2f} cores used by others)")

    def run(self, key: str, side: Side, *, stream: bool, wait: bool = True) -> ThroughputRun:
        args = self.args
        body = chat_body(MODEL, stream=stream).decode()
        script = wrk.write_script(self.script_dir / f"{key}.lua", [Request("POST", CHAT_PATH, body)], side.headers)
        url = side.server.base_url + "/"
        pids = self.modelreg_pids + self.upstream_pids
        if wait:
            self.wait_quiet()
        warm = 0
        if args.warmup:
            warm = wrk.run(
                self.wrk_binary, url, script, connections=args.connections, duration_s=args.warmup, cpu=args.client_cpu
            ).requests
        kind = "streamed" if stream else "not streamed"
        print(f"  {key}: {side.name}, {kind} ({args.duration} s, {args.connections} connections) ...", flush=True)
        before = noise.snapshot(pids)
        m0, u0 = _cpu_s(self.modelreg_pids), _cpu_s(self.upstream_pids)
        result = wrk.run(
            self.wrk_binary, url, script, connections=args.connections, duration_s=args.duration, cpu=args.client_cpu
        )
        after = noise.snapshot(pids)
        elapsed = max(after.at - before.at, 1e-6)
        m1, u1 = _cpu_s(self.modelreg_pids), _cpu_s(self.upstream_pids)
        others, _ = noise.other_load(before, after)
        cpu = CpuUse((m1 - m0) / elapsed, (u1 - u0) / elapsed, others)
        run = ThroughputRun(key, side.name, stream, args.connections, result, cpu, warm)
        self.history.append(run)
        return run


# ---- profile (optional) ------------------------------------------------------------------------------


def _profile(load: Load, through: Side, log_dir: Path, *, stream: bool) -> list[str]:
    """py-spy on the modelreg worker under the non-streamed (or streamed) load; a summary of where its time goes."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return ["Profile: py-spy is not installed (`.venv/bin/pip install py-spy`); skipped."]
    out = log_dir / "gateway-profile.txt"
    out.unlink(missing_ok=True)
    seconds = load.args.warmup + load.args.duration
    command = [
        "taskset", "-c", str(load.args.client_cpu), py_spy, "record", "--pid", str(load.modelreg_pids[1]),
        "--duration", str(seconds), "--rate", "250", "--format", "raw", "--threads",
        "--output", str(out),
    ]  # fmt: skip
    load.wait_quiet()
    print(f"  profile: py-spy on the modelreg worker ({seconds} s) ...", flush=True)
    with (log_dir / "py-spy.log").open("wb") as spy_log:
        spy = subprocess.Popen(command, stdout=spy_log, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            run = load.run("profile", through, stream=stream, wait=False)
            spy.wait(timeout=seconds + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    if not out.exists():
        return ["Profile: py-spy produced nothing (is ptrace permitted?)."]
    rate = f"{run.result.requests_per_second:,.0f} req/s while sampled"
    return [f"Profile of the modelreg worker's main thread (py-spy, {rate}; stacks in {out}):", *summarize_profile(out)]


_CATEGORIES = (
    (
        "the upstream HTTP client (gateway/http1.py; aiohttp or httpx before)",
        ("(modelreg/gateway/http1.py", "(httptools/", "(aiohttp/", "(yarl/", "(multidict/", "(httpx/", "(httpcore/"),
    ),
    ("litestar (routing, request body, responses, middleware)", ("(litestar/",)),
    ("modelreg's own code (auth, routing, metering, SSE filter)", ("(modelreg/",)),
)
_CLIENT_PARTS = (
    ("httpcore's connection pool bookkeeping", "AsyncConnectionPool._assign_requests_to_connections"),
    ("logging (httpx logs every request at INFO)", "(logging/"),
)
_IDLE_LEAVES = ("EpollSelector.select", "select (selectors.py")


def _category(frames: list[str]) -> str:
    """The category of the innermost frame that belongs to one (library code called by it counts for it)."""
    for frame in reversed(frames):
        for name, needles in _CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "event loop, granian, other"


def summarize_profile(path: Path) -> list[str]:
    """Where the main thread's busy samples (not waiting in epoll) are, each counted once."""
    busy = idle = 0
    shares: dict[str, int] = {}
    parts = dict.fromkeys((name for name, _ in _CLIENT_PARTS), 0)
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or not frames[0].endswith("MainThread"):
            continue
        count = int(count_text)
        if frames[-1].startswith(_IDLE_LEAVES):
            idle += count
            continue
        busy += count
        category = _category(frames[1:])
        shares[category] = shares.get(category, 0) + count
        if category == _CATEGORIES[0][0]:
            for name, needle in _CLIENT_PARTS:
                parts[name] += count if needle in stack else 0
    if not busy:
        return ["- (no samples)"]
    lines = [f"- busy (not waiting in epoll) in {100 * busy / (busy + idle):.0f} % of the samples; of those:"]
    for name, count in sorted(shares.items(), key=lambda item: -item[1]):
        lines.append(f"  - {name}: {100 * count / busy:.0f} %")
        if name == _CATEGORIES[0][0]:
            lines += [f"    - of which {part}: {100 * n / busy:.0f} %" for part, n in parts.items() if n]
    return lines


# ---- metering check ----------------------------------------------------------------------------------


def _metered(db_path: Path) -> dict[str, int]:
    connection = sqlite3.connect(db_path)
    try:
        row = connection.execute(
            "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(latency_count), 0), COALESCE(SUM(prompt_tokens), 0), "
            "COALESCE(SUM(upstream_failures + gateway_failures), 0) FROM usage_minutes WHERE model_name = ?",
            (MODEL,),
        ).fetchone()
    finally:
        connection.close()
    return dict(zip(("requests", "ok", "prompt_tokens", "failures"), map(int, row), strict=True))


# ---- report ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    latency: LatencyPhase
    runs: list[ThroughputRun]
    notes: list[str] = field(default_factory=list)


def _ratio(runs: dict[str, ThroughputRun], stream: bool) -> float:
    suffix = "stream" if stream else "json"
    return runs[f"through-{suffix}"].result.requests_per_second / runs[f"direct-{suffix}"].result.requests_per_second


def cpu_per_call_us(run: ThroughputRun) -> float:
    return run.cpu.modelreg / max(run.result.requests_per_second, 1e-6) * 1e6


def _targets(outcome: Outcome) -> list[report.Target]:
    by_title = {row.title: row for row in outcome.latency.rows}
    runs = {run.key: run for run in outcome.runs}
    json_added = by_title["not streamed: whole answer"].added("50")
    first_added = by_title["streamed: first chunk"].added("50")
    limit = f"< {TARGET_ADDED_P50_MS:.0f} ms"
    json_ratio, stream_ratio = _ratio(runs, False), _ratio(runs, True)
    goal = f">= {TARGET_THROUGHPUT_RATIO:.1f}"
    return [
        report.Target(
            "1", f"added p50 latency {limit}, not streamed", report.ms(json_added), json_added < TARGET_ADDED_P50_MS
        ),
        report.Target(
            "2",
            f"added p50 time to first chunk {limit}, streamed",
            report.ms(first_added),
            first_added < TARGET_ADDED_P50_MS,
        ),
        report.Target(
            "3",
            f"req/s through modelreg / direct {goal}, not streamed",
            f"{json_ratio:.3f}",
            json_ratio >= TARGET_THROUGHPUT_RATIO,
        ),
        report.Target(
            "4",
            f"req/s through modelreg / direct {goal}, streamed",
            f"{stream_ratio:.3f}",
            stream_ratio >= TARGET_THROUGHPUT_RATIO,
        ),
        *(
            report.Target(
                str(5 + stream),
                f"modelreg CPU per call <= {TARGET_CPU_US[stream]:.0f} µs at {runs[key].connections} connections, "
                + ("streamed" if stream else "not streamed"),
                f"{cpu_per_call_us(runs[key]):.0f} µs",
                cpu_per_call_us(runs[key]) <= TARGET_CPU_US[stream],
            )
            for stream, key in ((False, "through-json"), (True, "through-stream"))
        ),
    ]


def render(outcome: Outcome, targets: list[report.Target], samples: int) -> str:
    ms = report.ms
    lines = [
        f"Latency: one connection per side, {samples:,} requests per side and kind, direct and through "
        f"modelreg alternating (other load {outcome.latency.other_cores:.2f} cores).",
        "",
        "| request | direct p50 | modelreg p50 | **added p50** | direct p99 | modelreg p99 | **added p99** |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in outcome.latency.rows:
        d, t = row.direct_ms, row.through_ms
        lines.append(
            f"| {row.title} | {ms(d['50'])} | {ms(t['50'])} | **{ms(row.added('50'))}** | {ms(d['99'])} | "
            f"{ms(t['99'])} | **{ms(row.added('99'))}** |"
        )
    lines += [
        "",
        f"Throughput: wrk, {outcome.runs[0].connections} connections; CPU is the cores each server used during the "
        "run (1.00 = its core saturated).",
        "",
        "| throughput run | connections | requests/s | ratio | p50 | p99 | modelreg CPU | modelreg CPU / request "
        "| upstream CPU | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {run.key: run for run in outcome.runs}
    for run in outcome.runs:
        r = run.result
        kind = "streamed" if run.stream else "not streamed"
        direct = by_key[f"direct-{'stream' if run.stream else 'json'}"].result.requests_per_second
        per_request = f"{cpu_per_call_us(run):.0f} µs" if run.side == "modelreg" else "-"
        lines.append(
            f"| {run.side}, {kind} | {run.connections} | {r.requests_per_second:,.0f} | "
            f"{r.requests_per_second / direct:.3f} | {ms(r.p50)} | {ms(r.p99)} | {run.cpu.modelreg:.2f} cores | "
            f"{per_request} | {run.cpu.upstream:.2f} cores | {run.cpu.others:.2f} cores |"
        )
    lines += ["", "| target | measured | result |", "|---|---:|---|"]
    for target in targets:
        verdict = "reported" if target.met is None else ("**met**" if target.met else "**missed**")
        lines.append(f"| {target.key}: {target.description} | {target.value} | {verdict} |")
    cpu = outcome.latency.modelreg_cpu_us
    lines += [
        "",
        f"modelreg's CPU per request at 1 connection (the latency runs): {cpu['not streamed']:.0f} µs not streamed, "
        f"{cpu['streamed']:.0f} µs streamed.",
    ]
    for note in outcome.notes:
        if not note.startswith(("-", " ")):  # a paragraph of its own; list items stay with their paragraph
            lines.append("")
        lines.append(note)
    return "\n".join(lines)


_SECTION = """
# Gateway benchmark

Run it with `make bench-gateway` (or `.venv/bin/python -m bench.gateway` from the project root).

{block}
"""


def update_docs(path: Path, table: str, machine: dict[str, str], settings: str) -> None:
    """Replace this benchmark's block in `path` (appended as a new section when missing); the rest is kept."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = "\n".join(f"- {name}: {value}" for name, value in machine.items())
    block = f"{START_MARKER}\nLast run: {when}, `make bench-gateway` ({settings}).\n\n{lines}\n\n{table}\n{END_MARKER}"
    report.replace_block(path, START_MARKER, END_MARKER, block, _SECTION.format(block=block))


# ---- the run -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _pinned(cpu: int) -> Iterator[None]:
    """This process (the latency client) on the clients' core for the duration."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def _measure(args: argparse.Namespace, wrk_binary: str, run_dir: Path, log_dir: Path) -> Outcome:
    db_path = run_dir / "gateway.db"
    env = {
        "MODELREG_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "MODELREG_SECRET_KEY": SECRET,
        "MODELREG_VAR_DIR": str(run_dir),
        "MODELREG_UPSTREAM_ALLOW": "127.0.0.0/8",
    }
    print("setup: fresh database, organization, API key", flush=True)
    key = _create_organization(env)
    up_env = {"BENCH_UPSTREAM_KEY": UPSTREAM_KEY}
    up_cpu, mr_cpu = args.client_cpu, args.server_cpu
    with (
        servers.running("fast-upstream", "bench.fast_upstream:app", cpu=up_cpu, log_dir=log_dir, env=up_env) as up,
        servers.running("modelreg-gateway", args.app, factory=True, cpu=mr_cpu, log_dir=log_dir, env=env) as modelreg,
    ):
        _configure(modelreg, key, up)
        direct, through = Side("direct", up, UPSTREAM_KEY), Side("modelreg", modelreg, key)
        notes = _check(direct, through)
        print(f"latency: {args.samples:,} requests per side and kind, alternating ...", flush=True)
        if args.wait_quiet:
            noise.wait_until_quiet([up.worker_pid(), modelreg.worker_pid()], args.wait_quiet, NOISE_WARNING_CORES)
        latency = _latency(direct, through, args.samples)
        print("throughput: wrk", flush=True)
        load = Load(args, wrk_binary, run_dir, modelreg, up)
        runs = [
            load.run("direct-json", direct, stream=False),
            load.run("through-json", through, stream=False),
            load.run("direct-stream", direct, stream=True),
            load.run("through-stream", through, stream=True),
        ]
        profile = _profile(load, through, log_dir, stream=args.profile == "stream") if args.profile else []
        rss = servers.rss_mb(modelreg.worker_pid())
    # modelreg has stopped (SIGINT): its lifespan shutdown flushed the meter.
    metered = _metered(db_path)
    through_sent = latency.sent_through + 2  # the checks (the spaced stream is another model)
    completed = through_sent + sum(r.result.requests + r.warmup_requests for r in load.history if r.side == "modelreg")
    notes.append(
        f"Metering: usage_minutes holds {metered['requests']:,} calls of {MODEL} after shutdown "
        f"({metered['ok']:,} ok, {metered['failures']} failed, {metered['prompt_tokens']:,} prompt tokens); "
        f"clients completed {completed:,} (wrk does not count the requests in flight when it stops)."
    )
    # Cancelled calls (in flight when wrk stops) count as requests, and a stream cut after its usage chunk has tokens.
    tokens = fast_upstream.PROMPT_TOKENS
    if (
        metered["requests"] < completed
        or metered["failures"]
        or not tokens * metered["ok"] <= metered["prompt_tokens"] <= tokens * metered["requests"]
    ):
        notes.append("**Warning: the metering does not add up** (see the line above).")
    notes.append(f"modelreg worker RSS after the runs: {rss:.0f} MB.")
    outcome = Outcome(latency, runs, notes)
    outcome.notes += profile
    busiest = max([latency.other_cores, *(r.cpu.others for r in runs)])
    if busiest > NOISE_WARNING_CORES:
        outcome.notes.append(
            f"**Warning:** other processes used up to {busiest:.2f} cores during the runs: the numbers are "
            "pessimistic; the ratios, measured in the same run, less so. Rerun on a quiet machine."
        )
    return outcome


def _machine(args: argparse.Namespace, wrk_binary: str) -> dict[str, str]:
    machine = report.machine_notes(args.server_cpu, args.client_cpu, wrk_binary)
    machine["pinning"] = (
        f"modelreg (granian, 1 worker) on core {args.server_cpu}; the fake upstream (granian, 1 worker), "
        f"wrk (1 thread) and the latency client on core {args.client_cpu} (taskset)"
    )
    return machine


def _run(args: argparse.Namespace) -> int:
    _check_machine(args.server_cpu, args.client_cpu)
    if args.compare_clients:
        from bench import upstream_clients  # aiohttp: a dev dependency, for this comparison only

        bodies = {stream: chat_body(MODEL, stream=stream) for stream in (False, True)}
        print("upstream clients: aiohttp and gateway/http1.py, alternating", flush=True)
        lines = upstream_clients.compare(
            bodies, UPSTREAM_KEY, seconds=max(args.duration // 2, 2), connections=args.connections,
            cpu=args.server_cpu, upstream_cpu=args.client_cpu, log_dir=args.cache_dir / "logs",
        )  # fmt: skip
        print("\n" + "\n".join(lines))
        return 0
    inherited = sorted(name for name in os.environ if name.startswith("MODELREG_"))
    if inherited:  # the servers run with the defaults (metering flushed every 60 s) plus what _measure sets
        print(f"note: ignoring {', '.join(inherited)} from the environment", flush=True)
        for name in inherited:
            del os.environ[name]
    wrk_binary = wrk.ensure_wrk()
    log_dir = args.cache_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-gateway-") as tmp, _pinned(args.client_cpu):
        outcome = _measure(args, wrk_binary, Path(tmp), log_dir)
    targets = _targets(outcome)
    table = render(outcome, targets, args.samples)
    print()
    print(table)
    machine = _machine(args, wrk_binary)
    settings = (
        f"{args.samples:,} latency samples per side and kind; wrk {args.duration} s per run after {args.warmup} s "
        f"warm-up, {args.connections} connections" + (f", --wait-quiet {args.wait_quiet}" if args.wait_quiet else "")
    )
    payload = {
        "latency": asdict(outcome.latency),
        "runs": [{**asdict(run), "result": asdict(run.result)} for run in outcome.runs],
        "targets": [asdict(t) for t in targets],
        "notes": outcome.notes,
        "machine": machine,
        "settings": settings,
    }
    name = "gateway-last-run.json" if args.app == APP else "gateway-experiment-last-run.json"
    (args.cache_dir / name).write_text(json.dumps({"app": args.app, **payload}, indent=1))
    if args.app != APP:
        print(f"\n(served {args.app} instead of {APP}: docs not updated)")
    elif not args.no_docs:
        update_docs(args.docs, table, machine, settings)
        print(f"\nupdated {args.docs}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return servers.main_of("bench.gateway", lambda: _run(_parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
