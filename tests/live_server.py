"""A real `modelreg serve` process for tests that talk HTTP over loopback (official clients, the gateway)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import SECRET

__all__ = ["Server", "free_port", "running_server"]


@dataclass
class Server:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_command(port: int, workers: int = 1) -> list[str]:
    script = Path(sys.executable).with_name("modelreg")
    prefix = [str(script)] if script.exists() else [sys.executable, "-c", "from modelreg.cli import main; main()"]
    return [*prefix, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The server runs in its own session (start_new_session): its group id is its pid, granian's workers included.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def running_server(database_url: str, var_dir: Path, workers: int = 1, **extra_env: str) -> Iterator[Server]:
    """`modelreg serve` on a free port against the test database; stopped (workers included) on exit."""
    log_path = var_dir / "server.log"
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_") and k != "RESPAN_API_KEY"}
    environ.update(
        MODELREG_DATABASE_URL=database_url,
        MODELREG_SECRET_KEY=SECRET,
        MODELREG_VAR_DIR=str(var_dir),
        MODELREG_CACHE_POLL_SECONDS="0.2",
    )
    environ.update(extra_env)  # may override the defaults above
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _serve_command(port, workers), env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"modelreg serve exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"modelreg serve did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Server(base_url, log_path, process)
    finally:
        _stop(process)
