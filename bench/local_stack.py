"""What the bench suites (chaos, bench) know of a `make up` stack: its state dir, pids and machine.

`hack/up.sh` writes everything a client needs into the state dir: `env.sh` (KUBECONFIG, the
database and broker URLs), `components.env` (the API's port), `api-token`, and one pid file per
process. These helpers read them, so that a suite drives the stack it was given and no other.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
HACK = REPO_ROOT / "hack"

# Each process of the stack: its pid file under the state dir (the first line holds the pid).
PID_FILES = {
    "etcd": "control-plane/etcd.pid",
    "kube-apiserver": "control-plane/apiserver.pid",
    "kube-controller-manager": "control-plane/controller-manager.pid",
    "postgres": "postgres/data/postmaster.pid",
    "epmd": "rabbitmq/epmd.pid",
    "rabbitmq": "rabbitmq/beam.pid",
    "s3": "s3/weed.pid",
    "operator": "operator.pid",
    "worker": "worker.pid",
    "api": "api.pid",
}


def read_env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value ...` lines that the hack/ scripts write."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            for word in line.removeprefix("export ").split():
                name, _, value = word.partition("=")
                values[name] = value
    return values


def stack_env(state: Path) -> dict[str, str]:
    """Everything the stack's components were started with: env.sh, then components.env."""
    return {**read_env_file(state / "env.sh"), **read_env_file(state / "components.env")}


def read_pid(state: Path, name: str) -> int | None:
    """The pid that process `name` (a key of PID_FILES) wrote, or None without a pid file."""
    try:
        first = (state / PID_FILES[name]).read_text().split()
    except FileNotFoundError:
        return None
    return int(first[0]) if first and first[0].isdigit() else None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (nobody may reap a killed detached process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def machine() -> dict[str, Any]:
    """Where and on what the run happened."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--", "aidetect", "crds", "helm"):
        commit += " + uncommitted changes"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20),
        "kernel": platform.release(),
        "commit": commit,
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
    ).stdout.strip()
