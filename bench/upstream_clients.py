"""The upstream client alone: CPU per call of aiohttp's `ClientSession` (as the gateway used it before issue 12,
part G) and of gateway/http1.py (through `UpstreamClient`, the SSRF pinning included), against the fast fake
upstream. Run by `python -m bench.gateway --compare-clients` (docs/benchmarks.md, "The upstream client").

This process (the client, uvloop) on the server core, the upstream on the clients' core; N concurrent calls
for a few seconds each, the two clients alternating, twice; CPU from os.times() of this process only.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop
from yarl import URL

from bench import servers
from modelreg.gateway.ssrf import UpstreamPolicy
from modelreg.gateway.upstream import Timeout, UpstreamClient

__all__ = ["compare"]

Run = Callable[[str, str, bytes, bool, float, int], Awaitable[int]]


async def _calls(one: Callable[[], Awaitable[None]], seconds: float, connections: int) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await one()
            done += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done


async def _http1(base: str, key: str, body: bytes, stream: bool, seconds: float, connections: int) -> int:
    client = UpstreamClient(UpstreamPolicy(["127.0.0.0/8"]))
    timeout = Timeout(total=30.0, connect=10.0)

    async def one() -> None:
        response = await client.post(f"{base}/v1", "/chat/completions", key, body, timeout)
        if stream:
            while await response.read_chunk():
                pass
            response.close()
        else:
            await response.read()

    try:
        return await _calls(one, seconds, connections)
    finally:
        await client.close()


async def _aiohttp(base: str, key: str, body: bytes, stream: bool, seconds: float, connections: int) -> int:
    """The settings gateway/upstream.py used (pinned URL built once, headers and timeout cached)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512, limit_per_host=0, use_dns_cache=False),
        trust_env=False,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    url = URL(f"{base}/v1/chat/completions", encoded=True)
    headers = {
        "Host": base.split("//", 1)[1],
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Accept-Encoding": "identity",
        "Authorization": f"Bearer {key}",
    }
    timeout = aiohttp.ClientTimeout(total=30.0, connect=10.0)

    async def one() -> None:
        response = await session.request(
            "POST", url, data=body, headers=headers, allow_redirects=False, timeout=timeout
        )
        if stream:
            while await response.content.readany():
                pass
        else:
            await response.read()
        response.release()

    try:
        return await _calls(one, seconds, connections)
    finally:
        await session.close()


def _measure(run: Run, base: str, key: str, body: bytes, stream: bool, seconds: float, connections: int) -> float:
    uvloop.run(run(base, key, body, stream, 1.0, connections))  # warm-up: connections opened, code paths hot
    before = os.times()
    calls = uvloop.run(run(base, key, body, stream, seconds, connections))
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return cpu / max(calls, 1) * 1e6


def compare(
    bodies: dict[bool, bytes], key: str, *, seconds: float, connections: int, cpu: int, upstream_cpu: int, log_dir: Path
) -> list[str]:
    """Markdown lines: µs of client CPU per call, each client and kind, two rounds."""
    previous = os.sched_getaffinity(0)
    figures: dict[tuple[str, bool], list[float]] = {}
    env = {"BENCH_UPSTREAM_KEY": key}
    with servers.running("fast-upstream", "bench.fast_upstream:app", cpu=upstream_cpu, log_dir=log_dir, env=env) as up:
        os.sched_setaffinity(0, {cpu})
        try:
            for _ in range(2):
                for stream in (False, True):
                    for name, run in (("aiohttp", _aiohttp), ("http1", _http1)):
                        print(f"  {name}, {'streamed' if stream else 'not streamed'} ...", flush=True)
                        us = _measure(run, up.base_url, key, bodies[stream], stream, seconds, connections)
                        figures.setdefault((name, stream), []).append(us)
        finally:
            os.sched_setaffinity(0, previous)
    lines = [
        f"Upstream client alone, {connections} concurrent calls, {seconds:.0f} s per run, two rounds: "
        "the client process's CPU per call",
        "",
        "| client | not streamed | streamed |",
        "|---|---:|---:|",
    ]
    for name, title in (("aiohttp", "aiohttp `ClientSession` (before)"), ("http1", "gateway/http1.py (now)")):
        cells = [", ".join(f"{us:.0f} µs" for us in figures[name, stream]) for stream in (False, True)]
        lines.append(f"| {title} | {cells[0]} | {cells[1]} |")
    return lines
