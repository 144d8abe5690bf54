"""wrk: installing it, writing its lua scripts, running it on one core, and parsing `--latency` output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import BenchError

__all__ = ["Request", "WrkResult", "ensure_wrk", "parse_output", "run", "write_script"]

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None = None


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    duration_s: float
    latency_ms: dict[str, float]
    """Percentile ("50", "75", "90", "99") -> milliseconds."""
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def p50(self) -> float:
        return self.latency_ms["50"]

    @property
    def p99(self) -> float:
        return self.latency_ms["99"]


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian with apt-get when missing (root only), else a clear error."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise BenchError("wrk is not installed: install it (Debian/Ubuntu: `sudo apt-get install -y wrk`) and rerun")
    print("wrk is missing: installing it with apt-get ...", flush=True)
    if _apt(apt, "install", "-y", "-qq", "wrk") != 0:
        _apt(apt, "update", "-qq")
        _apt(apt, "install", "-y", "-qq", "wrk")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("could not install wrk with apt-get: install it by hand (`apt-get install -y wrk`)")
    return found


def _apt(apt: str, *args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([apt, *args], env=env, stdout=subprocess.DEVNULL, timeout=600, check=False).returncode


def _lua_string(text: str) -> str:
    """A double-quoted lua literal; everything outside printable ASCII is written as decimal byte escapes."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def write_script(path: Path, requests: list[Request], headers: dict[str, str]) -> Path:
    """A lua script that cycles through `requests` (pre-formatted once per wrk thread, in `init`)."""
    if not requests:
        raise ValueError("a wrk script needs at least one request")
    specs = ",\n".join(
        f"  {{{_lua_string(r.method)}, {_lua_string(r.path)}, {_lua_string(r.body) if r.body is not None else 'nil'}}}"
        for r in requests
    )
    header_items = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    path.write_text(
        f"local specs = {{\n{specs}\n}}\n"
        f"local requests = {{}}\n"
        f"local index = 0\n"
        f"function init(args)\n"
        f"  for i, spec in ipairs(specs) do\n"
        f"    local headers = {{{header_items}}}\n"
        f"    requests[i] = wrk.format(spec[1], spec[2], headers, spec[3])\n"
        f"  end\n"
        f"end\n"
        f"function request()\n"
        f"  index = index % #requests + 1\n"
        f"  return requests[index]\n"
        f"end\n"
    )
    return path


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_output(output: str) -> WrkResult:
    percentiles = {p: _ms(v, u) for p, v, u in _PERCENTILE.findall(output)}
    rps, total = _RPS.search(output), _TOTAL.search(output)
    if rps is None or total is None or not {"50", "99"} <= percentiles.keys():
        raise BenchError(f"could not parse wrk output (was --latency given?):\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET.search(output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2), total.group(3)) / 1000.0,
        latency_ms=percentiles,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"), map(int, socket_errors.groups()), strict=True)
            if socket_errors
            else {}
        ),
    )


def run(wrk: str, url: str, script: Path, *, connections: int, duration_s: int, cpu: int) -> WrkResult:
    """One wrk run (one thread, pinned to `cpu`); fails on any non-2xx response or socket error."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to load anything but 127.0.0.1: {url}")
    command = [
        "taskset", "-c", str(cpu), wrk,
        "-t", "1", "-c", str(connections), "-d", f"{duration_s}s",
        "--timeout", "5s", "--latency", "-s", str(script), url,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {duration_s + 30} s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed (code {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse_output(done.stdout)
    if result.non_2xx or any(result.socket_errors.values()):
        raise BenchError(
            f"wrk saw errors against {url}: {result.non_2xx} non-2xx responses, socket errors "
            f"{result.socket_errors}; the numbers would be meaningless\n{done.stdout}"
        )
    return result
