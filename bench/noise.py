"""How much CPU other processes took during a measurement (a 2-core machine has no spare core to hide it).

Busy time of all cores (user + nice + system, from /proc/stat) minus what the benchmark's own
processes used (the servers from /proc/<pid>/stat, wrk and this process from getrusage), in cores.
Interrupt time is left out on both sides: loopback traffic is accounted there.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuSnapshot", "other_load", "process_cpu_s", "snapshot", "wait_until_quiet"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    busy_s: float
    ours_s: float
    steal_s: float


def _proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    return _proc_cpu_s(pid)


def snapshot(pids: list[int]) -> CpuSnapshot:
    total = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, steal = int(total[0]), int(total[1]), int(total[2]), int(total[7])
    own = sum(_proc_cpu_s(pid) for pid in pids)
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):  # this process, and wrk once reaped
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    return CpuSnapshot(time.monotonic(), (user + nice + system) / _TICKS_PER_S, own, steal / _TICKS_PER_S)


def other_load(before: CpuSnapshot, after: CpuSnapshot) -> tuple[float, float]:
    """(cores used by other processes, cores stolen by the hypervisor) between two snapshots."""
    elapsed = max(after.at - before.at, 1e-6)
    others = (after.busy_s - before.busy_s) - (after.ours_s - before.ours_s)
    return max(others, 0.0) / elapsed, (after.steal_s - before.steal_s) / elapsed


def wait_until_quiet(pids: list[int], limit_s: float, threshold_cores: float, window_s: float = 2.0) -> float:
    """Wait (at most `limit_s`) for a `window_s` window in which other processes use < `threshold_cores`;
    returns the last window's load (still above the threshold when the limit ran out)."""
    deadline = time.monotonic() + limit_s
    while True:
        before = snapshot(pids)
        time.sleep(window_s)
        load, _ = other_load(before, snapshot(pids))
        if load < threshold_cores or time.monotonic() >= deadline:
            return load
