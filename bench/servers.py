"""granian servers for the benchmark: one worker, pinned to one core with taskset, on 127.0.0.1 only.

`running()` is a context manager: the server is stopped when the block ends, however it ends (SIGINT,
then SIGKILL to the server's own process group if it does not exit in time).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["BenchError", "Server", "main_of", "process_status", "running"]

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A problem that makes the run meaningless; reported without a traceback."""


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    pid: int
    """granian's main process (it supervises the worker)."""
    log_path: Path

    def worker_pid(self) -> int:
        """The worker process serving requests (the only child of granian's main process)."""
        children = _children(self.pid)
        if len(children) != 1:
            raise BenchError(f"{self.name}: expected one granian worker process, found {children}")
        return children[0]


def process_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict (VmRSS, Cpus_allowed_list, ...)."""
    values: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        values[key] = value.strip()
    return values


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # The command name is in parentheses and may contain spaces: fields after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def rss_mb(pid: int) -> float:
    """The resident memory (VmRSS) of process `pid`, in MB."""
    return int(process_status(pid)["VmRSS"].split()[0]) / 1024


def _wait_ready(name: str, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited during startup (code {process.returncode}):\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own 127.0.0.1 server)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchError(f"{name} not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{_log_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # granian shuts its worker down gracefully (lifespan shutdown)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
    # Whatever is left of the group we created (the worker if the main process died first).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running(
    name: str,
    target: str,
    *,
    cpu: int,
    log_dir: Path,
    env: dict[str, str] | None = None,
    factory: bool = False,
    ready_path: str = "/healthz",
) -> Iterator[Server]:
    """Serve the ASGI `target` ("module:attribute") with granian, one worker pinned to `cpu`."""
    port = _free_port()
    command = [
        "taskset", "-c", str(cpu),
        sys.executable, "-m", "granian",
        "--interface", "asgi",
        "--host", HOST,
        "--port", str(port),
        "--workers", "1",
        "--no-access-log",
        "--log-level", "warning",
        "--working-dir", str(PROJECT_ROOT),
        *(["--factory"] if factory else []),
        target,
    ]  # fmt: skip
    with spawned(name, command, log_path=log_dir / f"{name}.log", env=env, ready_path=ready_path, port=port) as server:
        yield server


@contextlib.contextmanager
def spawned(
    name: str, command: list[str], *, log_path: Path, env: dict[str, str] | None, ready_path: str, port: int
) -> Iterator[Server]:
    """Run `command` (a server listening on `port`) until it answers `ready_path`; stopped on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
            start_new_session=True,  # its own process group: stopped as a whole, untouched by our Ctrl-C
        )
        try:
            base_url = f"http://{HOST}:{port}"
            _wait_ready(name, process, base_url + ready_path, log_path)
            yield Server(name=name, base_url=base_url, pid=process.pid, log_path=log_path)
        finally:
            _stop(process)


def _terminate(signum: int, frame: FrameType | None) -> None:
    del frame
    raise SystemExit(128 + signum)  # unwinds through the `running` blocks: the servers are stopped


def main_of(name: str, run: Callable[[], int]) -> int:
    """A benchmark's entry point: SIGTERM stops the servers it started; errors are one line on stderr."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run()
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
