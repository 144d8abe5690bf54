"""The results table (printed, and written into docs/benchmarks.md between markers) and machine notes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.wrk import WrkResult

__all__ = ["Measurement", "Target", "machine_notes", "ms", "render", "update_docs", "write_json"]

START_MARKER = "<!-- bench:results:start (written by `make bench`; edit outside the markers) -->"
END_MARKER = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Measurement:
    key: str
    title: str
    connections: int
    result: WrkResult
    response_bytes: int
    other_cores: float
    """CPU other processes used during the run, in cores (see noise.py)."""
    steal_cores: float


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    value: str
    met: bool | None
    """None: reported only, no target."""


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def _size(value: int) -> str:
    return f"{value / 1_000_000:.2f} MB" if value >= 100_000 else f"{value / 1000:.1f} kB"


def machine_notes(server_cpu: int, wrk_cpu: int, wrk_binary: str) -> dict[str, str]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk_version = subprocess.run([wrk_binary, "--version"], capture_output=True, text=True, check=False, timeout=10)
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("granian", "litestar", "msgspec", "sqlalchemy")
    )
    return {
        "cpu": f"{cpu_model}, {os.cpu_count()} logical cores",
        "pinning": f"server worker on core {server_cpu} (taskset), wrk on core {wrk_cpu} (1 thread)",
        "system": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "software": f"{versions}; asyncio event loop; SQLite (WAL)",
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0].strip(),
    }


def render(measurements: list[Measurement], targets: list[Target], rss_lines: list[str]) -> str:
    """Markdown: the measurements table, then the targets table, then memory."""
    lines = [
        "| run | connections | requests/s | p50 | p90 | p99 | response | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        r = m.result
        lines.append(
            f"| {m.key}: {m.title} | {m.connections} | {r.requests_per_second:,.0f} | {ms(r.p50)} | "
            f"{ms(r.latency_ms.get('90', float('nan')))} | {ms(r.p99)} | {_size(m.response_bytes)} | "
            f"{m.other_cores:.2f} cores |"
        )
    lines += ["", "| target | measured | result |", "|---|---:|---|"]
    for t in targets:
        verdict = "reported" if t.met is None else ("**met**" if t.met else "**missed**")
        lines.append(f"| {t.key}: {t.description} | {t.value} | {verdict} |")
    lines += ["", *rss_lines]
    return "\n".join(lines)


def _block(table: str, notes: dict[str, str], command: str, settings: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = "\n".join(f"- {name}: {value}" for name, value in notes.items())
    return f"{START_MARKER}\nLast run: {when}, `{command}` ({settings}).\n\n{machine}\n\n{table}\n{END_MARKER}"


_SKELETON = """# Read-side benchmark

Run it with `make bench` (or `.venv/bin/python -m bench` from the project root).

{block}
"""


def update_docs(path: Path, table: str, notes: dict[str, str], command: str, settings: str) -> None:
    """Replace the generated block of `path` (created when missing); text outside the markers is kept."""
    block = _block(table, notes, command, settings)
    if not path.exists():
        path.write_text(_SKELETON.format(block=block))
        return
    text = path.read_text()
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start == -1 or end == -1 or end < start:
        path.write_text(text.rstrip() + "\n\n" + block + "\n")
        return
    path.write_text(text[:start] + block + text[end + len(END_MARKER) :])


def replace_block(path: Path, start_marker: str, end_marker: str, block: str, section: str) -> None:
    """Put `block` (markers included) between `start_marker` and `end_marker` in `path`, or append `section`
    (which holds the block) when the markers are missing; text outside them is kept."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(start_marker), text.find(end_marker)
    if start == -1 or end == -1 or end < start:
        path.write_text(text.rstrip() + "\n" + section)
        return
    path.write_text(text[:start] + block + text[end + len(end_marker) :])


def write_json(path: Path, measurements: list[Measurement], targets: list[Target], extra: dict[str, Any]) -> None:
    payload = {
        "measurements": [{**asdict(m), "result": asdict(m.result)} for m in measurements],
        "targets": [asdict(t) for t in targets],
        **extra,
    }
    path.write_text(json.dumps(payload, indent=1))
