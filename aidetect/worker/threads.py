"""How many threads torch may use for one forward pass: the CPUs this worker may really use.

torch starts one intra-op thread per core of the machine. In a pod with a CPU limit that is
far more threads than CPUs (a 4-CPU limit on a 64-core node gets 64), and they spend the CFS
quota spinning at each operator's barrier. So, unless `AIDETECT_WORKER_TORCH_THREADS` says
otherwise, the count comes from the cgroup's CPU quota (cgroup v2 `cpu.max`, or v1
`cpu.cfs_quota_us` / `cpu.cfs_period_us`), then from the CPUs the process may run on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(root: Path = CGROUP) -> float | None:
    """CPUs allowed by the cgroup quota (e.g. 2.5), or None when there is no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cpus(root: Path = CGROUP) -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup quota (rounded up)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    quota = cpu_quota(root)
    return max(1, min(cpus, math.ceil(quota))) if quota is not None else cpus


def torch_threads(setting: int, root: Path = CGROUP) -> int:
    """The intra-op thread count: `setting` when positive, else the usable CPUs."""
    return setting if setting > 0 else usable_cpus(root)
