"""`python -m bench.writes`: writes, and reads of what was written (issue 12; see docs/benchmarks.md).

One `modelreg serve`-like granian worker pinned to one core over a fresh SQLite database; the clients on
the other core. Each scenario prints its targets as met or missed with the measured figure:

- s: single writes at one connection, an organization growing to 200 models: create p50, then PATCH p50;
- r: 2,000 models created with `POST /api/models/` just before, then `GET /api/models/{name}/` over 500 of
  them at 32 connections (wrk): requests/s as a share of the bare ASGI app's in the same run, and p99;
- m: mixed load, 8 clients, 80% reads (`GET /api/models/{name}/`) / 20% writes (creates, PATCHes and
  deletes in equal shares) over those 2,000 models: writes/s, read p99, write p99;
- b: `POST /api/v1/models/import` (b1, Open WebUI's form) and `POST /api/models/import/` (b2, Respan's) with
  10,000 models in one request each, into a fresh organization each: seconds;
- the worker's RSS after the runs (no target).

`--postgres` runs the same scenarios over a throwaway PostgreSQL server (tests/pg_server.py, started as the
`postgres` user when run as root) instead of SQLite: the targets are SQLite's, printed for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bench import servers, wrk
from bench.latency import percentile
from bench.servers import BenchError, Server
from bench.wrk import Request

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELREG = str(Path(sys.executable).with_name("modelreg"))
SECRET = "modelreg-bench-writes-secret-not-for-production-0123456789"  # noqa: S105 (benchmark only)
SINGLE_MODELS = 200
MIXED_MODELS = 2_000
READ_NAMES = 500
READ_CONNECTIONS = 32
CLIENTS = 8
WRITE_SHARE = 0.2
TARGET_SINGLE_P50_MS = 3.0
TARGET_WRITES_PER_S = 1_000.0
TARGET_READ_P99_MS = 15.0
TARGET_WRITE_P99_MS = 30.0
TARGET_BULK_S = 5.0
TARGET_READ_RATIO = 0.30
TARGET_CREATED_READ_P99_MS = 10.0


@dataclass(frozen=True)
class Verdict:
    key: str
    description: str
    value: str
    met: bool | None

    def line(self) -> str:
        verdict = "" if self.met is None else (" met" if self.met else " MISSED")
        return f"  {self.key:<3} {self.description:<58} {self.value:>14}{verdict}"


class Http:
    """One kept-alive HTTP/1.1 connection, blocking, pre-encoded requests: little client overhead."""

    def __init__(self, port: int, key: str, timeout_s: float = 60) -> None:
        self._sock = socket.create_connection((servers.HOST, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head = f"Host: {servers.HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
        self._pending = b""

    def close(self) -> None:
        self._sock.close()

    def send(self, method: str, path: str, body: object = None) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request."""
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        started = time.perf_counter()
        self._sock.sendall(head.encode() + b"\r\n" + data)
        buffer = self._pending
        while b"\r\n\r\n" not in buffer:
            buffer += self._recv()
        top, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = top.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buffer) < length:
            buffer += self._recv()
        answer, self._pending = buffer[:length], buffer[length:]
        return status, answer, time.perf_counter() - started

    def _recv(self) -> bytes:
        data = self._sock.recv(65536)
        if not data:
            raise BenchError("the server closed the connection mid-response")
        return data


def _path(name: str) -> str:
    return f"/api/models/{quote(name, safe='')}/"


def _expect(status: int, body: bytes, wanted: int, what: str) -> None:
    if status != wanted:
        raise BenchError(f"{what}: HTTP {status} (wanted {wanted}) {body[:300]!r}")


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [MODELREG, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"modelreg {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _org(env: dict[str, str], slug: str) -> str:
    created = json.loads(_cli(env, "org", "create", slug, "--admin-email", f"admin@{slug}.example"))
    return str(created["api_key"])


def _model_body(name: str, index: int) -> dict[str, object]:
    return {"model_name": name, "base_model_name": "gpt-4o", "input_cost": round(1.0 + index / 1000, 4)}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used: what a run cost the server whatever else the machine
    was doing (wall-clock figures on a shared machine also count the waits for a core)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def single_writes(port: int, key: str, pid: int) -> tuple[list[Verdict], str]:
    http = Http(port, key)
    creates, patches = [], []
    try:
        cpu_start = cpu_seconds(pid)
        for index in range(SINGLE_MODELS):
            name = f"single-{index:03d}"
            status, body, took = http.send("POST", "/api/models/", _model_body(name, index))
            _expect(status, body, 201, f"create {name}")
            creates.append(took)
        cpu_created = cpu_seconds(pid)
        for index in range(SINGLE_MODELS):
            name = f"single-{index:03d}"
            status, body, took = http.send("PATCH", _path(name), {"input_cost": 2.0 + index / 1000})
            _expect(status, body, 200, f"patch {name}")
            patches.append(took)
        cpu_patched = cpu_seconds(pid)
    finally:
        http.close()
    create_p50, patch_p50 = percentile(creates, 50), percentile(patches, 50)
    limit = f"p50 < {TARGET_SINGLE_P50_MS:g} ms"
    detail = (
        f"s: server CPU per create {_ms((cpu_created - cpu_start) / SINGLE_MODELS)}, "
        f"per PATCH {_ms((cpu_patched - cpu_created) / SINGLE_MODELS)} (clock ticks of 10 ms, averaged)"
    )
    return [
        Verdict(
            "s1", f"create, one connection, org of {SINGLE_MODELS}: {limit}", _ms(create_p50), create_p50 * 1000 < 3
        ),
        Verdict("s2", f"PATCH, one connection, org of {SINGLE_MODELS}: {limit}", _ms(patch_p50), patch_p50 * 1000 < 3),
    ], detail


def _parallel(count: int, work: object) -> None:
    """Run work(i) for i in range(count) on `count` threads; the first failure is raised."""
    failures: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 - re-raised below
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def create_many(port: int, key: str, names: list[str]) -> float:
    """Create `names` through `POST /api/models/` with CLIENTS connections; returns the seconds taken."""
    started = time.perf_counter()

    def work(client: int) -> None:
        http = Http(port, key)
        try:
            for index in range(client, len(names), CLIENTS):
                status, body, _ = http.send("POST", "/api/models/", _model_body(names[index], index))
                _expect(status, body, 201, f"create {names[index]}")
        finally:
            http.close()

    _parallel(CLIENTS, work)
    return time.perf_counter() - started


@dataclass
class Mixed:
    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    """Requests of the whole run, warm-up included (for the server's CPU per request)."""


def mixed_load(
    port: int, key: str, names: list[str], duration: float, warmup: float, pid: int
) -> tuple[list[Verdict], str]:
    tally = Mixed()
    lock = threading.Lock()
    cpu_start = cpu_seconds(pid)
    started = time.monotonic()
    measure_from, stop_at = started + warmup, started + warmup + duration

    def work(client: int) -> None:
        rng = random.Random(client)
        http = Http(port, key)
        mine: list[str] = []
        serial = sent = 0
        reads: list[float] = []
        writes: list[float] = []
        errors: dict[str, int] = {}
        try:
            while (now := time.monotonic()) < stop_at:
                if rng.random() < WRITE_SHARE:
                    kind = rng.choice(("create", "patch", "delete"))
                    if kind == "delete" and mine:
                        name = mine.pop(rng.randrange(len(mine)))
                        status, _, took = http.send("DELETE", _path(name))
                        ok = status == 204
                    elif kind == "patch" or kind == "delete":
                        name = rng.choice(names)
                        status, _, took = http.send("PATCH", _path(name), {"input_cost": round(rng.uniform(1, 9), 4)})
                        ok = status == 200
                    else:
                        serial += 1
                        name = f"mixed-{client}-{serial}"
                        status, _, took = http.send("POST", "/api/models/", _model_body(name, serial))
                        ok = status == 201
                        mine.append(name)
                    if now >= measure_from:
                        writes.append(took)
                else:
                    status, _, took = http.send("GET", _path(rng.choice(names)))
                    ok = status == 200
                    if now >= measure_from:
                        reads.append(took)
                if not ok:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                sent += 1
        finally:
            http.close()
        with lock:
            tally.sent += sent
            tally.reads.extend(reads)
            tally.writes.extend(writes)
            for what, count in errors.items():
                tally.errors[what] = tally.errors.get(what, 0) + count

    _parallel(CLIENTS, work)
    cpu = cpu_seconds(pid) - cpu_start
    if tally.errors:
        raise BenchError(f"mixed load: error responses {tally.errors}")
    per_s = len(tally.writes) / duration
    read_p99, write_p99 = percentile(tally.reads, 99), percentile(tally.writes, 99)
    detail = (
        f"m: {len(tally.reads)} reads and {len(tally.writes)} writes in {duration:g} s after {warmup:g} s warm-up; "
        f"read p50 {_ms(percentile(tally.reads, 50))}, write p50 {_ms(percentile(tally.writes, 50))}; "
        f"server CPU per request {_ms(cpu / max(tally.sent, 1))} (all {tally.sent} of the run, warm-up included)"
    )
    read_ok, write_ok = read_p99 * 1000 < TARGET_READ_P99_MS, write_p99 * 1000 < TARGET_WRITE_P99_MS
    return [
        Verdict("m1", f"mixed 80/20, {CLIENTS} clients: writes/s >= {TARGET_WRITES_PER_S:,.0f}", f"{per_s:,.0f}/s",
                per_s >= TARGET_WRITES_PER_S),
        Verdict("m2", f"mixed: read p99 < {TARGET_READ_P99_MS:g} ms", _ms(read_p99), read_ok),
        Verdict("m3", f"mixed: write p99 < {TARGET_WRITE_P99_MS:g} ms", _ms(write_p99), write_ok),
    ], detail  # fmt: skip


BULK_PATHS = {
    "b1": ("POST /api/v1/models/import", "/api/v1/models/import"),
    "b2": ("POST /api/models/import/", "/api/models/import/"),
}


def _bulk_models(key: str, size: int) -> list[dict[str, object]]:
    if key == "b1":  # Open WebUI's model form
        return [
            {"id": f"bulk-{i:05d}", "name": f"Bulk {i}", "base_model_id": "gpt-4o", "params": {}, "meta": {}}
            for i in range(size)
        ]
    return [_model_body(f"bulk-{i:05d}", i) for i in range(size)]  # Respan's POST /api/models/ body


def bulk_import(port: int, key: str, size: int, which: str, pid: int) -> tuple[Verdict, str]:
    what, path = BULK_PATHS[which]
    models = _bulk_models(which, size)
    http = Http(port, key, timeout_s=900)
    try:
        cpu_start = cpu_seconds(pid)
        status, body, took = http.send("POST", path, {"models": models})
        cpu = cpu_seconds(pid) - cpu_start
    finally:
        http.close()
    _expect(status, body, 200, f"bulk import ({what})")
    answer = json.loads(body)
    if answer.get("imported") != size:
        raise BenchError(f"bulk import ({what}): imported {answer.get('imported')} of {size}")
    # The target is for 10,000 models; a smaller --bulk run is scaled linearly (said in the output).
    scaled = took * 10_000 / size
    verdict = Verdict(which, f"{what}, 10,000 models: < {TARGET_BULK_S:g} s", f"{scaled:.2f} s", scaled < TARGET_BULK_S)
    detail = (
        f"{which}: {size:,} models imported in one request in {took:.2f} s ({size / took:,.0f} models/s), "
        f"server CPU {cpu:.2f} s"
    )
    return verdict, detail


def created_reads(
    runner: argparse.Namespace, wrk_binary: str, server: Server, key: str, names: list[str], run_dir: Path
) -> tuple[list[Verdict], str]:
    """wrk over `names` on modelreg, then the same requests on the bare ASGI app (same core, same run)."""
    auth = {"Authorization": f"Bearer {key}"}
    script = wrk.write_script(run_dir / "created-reads.lua", [Request("GET", _path(n)) for n in names], auth)
    cpu, duration = runner.client_cpu, runner.duration
    url = server.base_url + "/"
    wrk.run(wrk_binary, url, script, connections=READ_CONNECTIONS, duration_s=runner.warmup or 1, cpu=cpu)
    ours = wrk.run(wrk_binary, url, script, connections=READ_CONNECTIONS, duration_s=duration, cpu=cpu)
    with servers.running("bare-asgi", "bench.bare_app:app", cpu=runner.server_cpu, log_dir=run_dir) as bare:
        bare_url = bare.base_url + "/"
        wrk.run(wrk_binary, bare_url, script, connections=READ_CONNECTIONS, duration_s=runner.warmup or 1, cpu=cpu)
        reference = wrk.run(wrk_binary, bare_url, script, connections=READ_CONNECTIONS, duration_s=duration, cpu=cpu)
    if not ours.requests:
        raise BenchError(f"r: wrk completed no request against modelreg: {ours}")
    ratio = ours.requests_per_second / reference.requests_per_second
    detail = (
        f"r: modelreg {ours.requests_per_second:,.0f} req/s (p50 {ours.p50:.2f} ms), bare ASGI app "
        f"{reference.requests_per_second:,.0f} req/s, {READ_CONNECTIONS} connections, {len(names)} names"
    )
    return [
        Verdict("r1", f"GET API-created models: req/s / bare >= {TARGET_READ_RATIO:.2f}", f"{ratio:.3f}",
                ratio >= TARGET_READ_RATIO),
        Verdict("r2", f"GET API-created models: p99 < {TARGET_CREATED_READ_P99_MS:g} ms", f"{ours.p99:.2f} ms",
                ours.p99 < TARGET_CREATED_READ_P99_MS),
    ], detail  # fmt: skip


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each load run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each (default 3)")
    parser.add_argument("--bulk", type=int, default=10_000, help="models in the import request (default 10,000)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--only", default="srmb", help="scenarios to run, e.g. 'sm' (default all: srmb)")
    parser.add_argument("--models", type=int, default=MIXED_MODELS, help="models for r and m (default 2,000)")
    parser.add_argument("--postgres", action="store_true", help="over a throwaway PostgreSQL server instead of SQLite")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _database_url(postgres: bool, run_dir: Path) -> Iterator[str]:
    """A fresh SQLite file, or a database on a PostgreSQL server started for the run (the test suite's
    helper: it needs the dev extras, as the rest of bench/ does)."""
    if not postgres:
        yield f"sqlite+aiosqlite:///{run_dir / 'writes.db'}"
        return
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from pg_server import running_postgres  # only for --postgres: tests/ is on the path from here on

    with running_postgres() as server:
        server.create_database("bench_writes")
        yield server.sqlalchemy_url("bench_writes")


def _shown(verdicts: list[Verdict], detail: str = "") -> list[Verdict]:
    """Print as measured (a long run shows its progress), then once more in the summary."""
    for verdict in verdicts:
        print(verdict.line(), flush=True)
    if detail:
        print(f"      {detail}", flush=True)
    return verdicts


def run(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    wrk_binary = wrk.ensure_wrk() if "r" in args.only else ""
    with (
        tempfile.TemporaryDirectory(prefix="modelreg-writes-") as tmp,
        _database_url(args.postgres, Path(tmp)) as database_url,
    ):
        run_dir = Path(tmp)
        env = {
            "MODELREG_DATABASE_URL": database_url,
            "MODELREG_SECRET_KEY": SECRET,
            "MODELREG_VAR_DIR": str(run_dir),
        }
        _cli(env, "migrate")
        keys = {slug: _org(env, slug) for slug in ("bench-single", "bench-mixed", "bench-b1", "bench-b2")}
        verdicts: list[Verdict] = []
        notes: list[str] = []
        with servers.running(
            "modelreg-writes", "modelreg.app:create_app", factory=True, cpu=args.server_cpu, log_dir=run_dir, env=env
        ) as server:
            os.sched_setaffinity(0, {args.client_cpu})
            port = int(server.base_url.rsplit(":", 1)[1])
            pid = server.worker_pid()
            if "s" in args.only:
                print("s: single writes ...", flush=True)
                found, detail = single_writes(port, keys["bench-single"], pid)
                verdicts += _shown(found, detail)
                notes.append(detail)
            names = [f"created-{i:04d}" for i in range(args.models)]
            if "r" in args.only or "m" in args.only:
                took = create_many(port, keys["bench-mixed"], names)
                notes.append(
                    f"{args.models:,} models created with POST /api/models/ ({CLIENTS} clients) in {took:.1f} s"
                )
            if "r" in args.only:
                print("r: reads of API-created models ...", flush=True)
                found, detail = created_reads(
                    args, wrk_binary, server, keys["bench-mixed"], names[:READ_NAMES], run_dir
                )
                verdicts += _shown(found, detail)
                notes.append(detail)
            if "m" in args.only:
                print("m: mixed load ...", flush=True)
                found, detail = mixed_load(port, keys["bench-mixed"], names, args.duration, args.warmup, pid)
                verdicts += _shown(found, detail)
                notes.append(detail)
            if "b" in args.only:
                for which in BULK_PATHS:
                    print(f"{which}: bulk import ...", flush=True)
                    verdict, detail = bulk_import(port, keys[f"bench-{which}"], args.bulk, which, pid)
                    verdicts += _shown([verdict], detail)
                    notes.append(detail)
            rss = servers.rss_mb(pid)
        verdicts.append(Verdict("rss", "worker RSS after the runs (no target)", f"{rss:.0f} MB", None))
    print(f"\nwrites (bench/writes.py{', over PostgreSQL' if args.postgres else ''}):")
    for verdict in verdicts:
        print(verdict.line())
    for note in notes:
        print(f"  - {note}")
    return 0


if __name__ == "__main__":
    sys.exit(servers.main_of("bench.writes", run))
