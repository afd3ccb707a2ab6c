"""Who used the CPU during a step: the stack and the bench, or something else on the machine.

On a shared machine a benchmark is only as good as its quiet. For each step the bench reads the
machine's busy time (/proc/stat) and the CPU time of its own process trees (the stack's
processes from their pid files, and the bench process with its children, such as the floor
operator); the rest was spent by other processes, and the hypervisor's steal is shown apart.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative seconds: the machine busy, our process trees, the hypervisor's steal."""

    busy: float
    ours: float
    steal: float


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, own CPU seconds, with that of its children already reaped)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        # After the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
        ticks = sum(int(v) for v in fields[11:15])
        out[int(entry.name)] = (int(fields[1]), ticks / TICKS)
    return out


def tree_seconds(processes: dict[int, tuple[int, float]], roots: Iterable[int]) -> float:
    """CPU seconds of the roots and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    seen: set[int] = set()
    todo = [r for r in roots if r in processes]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return sum(processes[pid][1] for pid in seen)


def machine_seconds(stat: str) -> tuple[float, float]:
    """(busy, steal) seconds from /proc/stat's first line (all CPUs).

    Busy is time in processes (user, nice, system): interrupt and softirq time belongs to no
    process, and here it is mostly the stack's own loopback traffic, so it is left out.
    """
    values = [int(v) for v in stat.splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system) / TICKS, steal / TICKS


def snapshot(roots: Iterable[int]) -> CpuSnapshot:
    busy, steal = machine_seconds(Path("/proc/stat").read_text())
    return CpuSnapshot(busy, tree_seconds(_processes(), roots), steal)


def others_share(before: CpuSnapshot, after: CpuSnapshot, wall: float) -> tuple[float, float]:
    """(other processes, steal) as fractions of the machine's CPU over `wall` seconds."""
    capacity = max(wall, 1e-9) * CORES
    others = max(0.0, (after.busy - before.busy) - (after.ours - before.ours))
    return others / capacity, (after.steal - before.steal) / capacity


def wait_quiet(limit: float, below: float = 0.15, window: float = 10.0) -> bool:
    """Until the machine is less than `below` busy over `window` s; False after `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        before = snapshot([])
        time.sleep(window)
        busy, _ = others_share(before, snapshot([]), window)
        print(f"[bench] the machine is {100 * busy:.0f} % busy", flush=True)
        if busy < below:
            return True
        if time.monotonic() >= deadline:
            return False


if __name__ == "__main__":
    # hack/bench.sh with BENCH_WAIT_QUIET=SECONDS: wait for other work to end before starting.
    sys.exit(0 if wait_quiet(float(sys.argv[1])) else 1)
