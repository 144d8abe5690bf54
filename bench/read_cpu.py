"""`python -m bench.read_cpu`: CPU per `GET /api/models/{name}/` in process, through the app's lean read path
(api/respan/lean.py) and through Litestar's handler behind it (see docs/benchmarks.md, "Lean reads").

No server and no load generator: one Python thread calls the app's ASGI callable in a loop over the models
of the read-side benchmark's seeded organization (a private copy of ./var/bench's database), and
`time.process_time()` gives the CPU per read. Unlike the wrk runs, the figure barely moves when the machine
is busy, so it is the one to compare while others work. A diagnostic: no target, not part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import seed
from modelreg.catalog.load import load_catalog

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _scope(path: str, key: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {key}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _measure(seeded: seed.Seeded, reads: int, names: int) -> dict[str, float]:
    from modelreg.api.respan.lean import LeanReads
    from modelreg.app import create_app

    app = create_app(catalog=load_catalog())
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    life_scope: Any = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(life_scope, startup.get, answers.put))  # type: ignore[arg-type]
    started = await answers.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    whole: Any = app.asgi_handler
    lean = whole
    while not isinstance(lean, LeanReads):
        lean = lean.litestar
    paths = [f"/api/models/{name}/" for name in seeded.model_names[:names]]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    results: dict[str, float] = {}
    try:
        for label, handler in (("lean path", whole), ("Litestar's handler", lean.litestar)) * 2:
            app.asgi_handler = handler
            for path in paths:  # warm: snapshots loaded, JSON memoized, routing cached
                await app(_scope(path, seeded.api_key), receive, send)  # type: ignore[arg-type]
            statuses.clear()
            cpu = time.process_time()
            for i in range(reads):
                await app(_scope(paths[i % len(paths)], seeded.api_key), receive, send)  # type: ignore[arg-type]
            per_read = (time.process_time() - cpu) / reads * 1e6
            if set(statuses) != {200}:
                raise RuntimeError(f"{label}: statuses {sorted(set(statuses))}")
            results[label] = min(results.get(label, per_read), per_read)
    finally:
        app.asgi_handler = whole
        await startup.put({"type": "lifespan.shutdown"})
        await lifespan
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_cpu", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reads", type=int, default=20_000, help="reads per measurement (default 20,000)")
    parser.add_argument("--names", type=int, default=500, help="models read in turn (default 500)")
    parser.add_argument("--cache-dir", type=Path, default=PROJECT_ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    seeded = seed.ensure_seeded(args.cache_dir, load_catalog())
    with tempfile.TemporaryDirectory(prefix="modelreg-read-cpu-") as tmp:
        os.environ.update(
            MODELREG_DATABASE_URL=f"sqlite+aiosqlite:///{seed.copy_for_run(seeded, Path(tmp))}",
            MODELREG_SECRET_KEY=seed.BENCH_SECRET,
            MODELREG_VAR_DIR=tmp,
            MODELREG_LOG_FORMAT="text",
        )
        results = asyncio.run(_measure(seeded, args.reads, args.names))
    print(f"GET /api/models/{{name}}/ in process, {args.reads:,} reads over {args.names} models (best of two):")
    for label, per_read in results.items():
        print(f"  {label:<20} {per_read:6.1f} µs CPU per read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
