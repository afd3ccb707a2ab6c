"""The kopf floor step: the aidetect operator paused, bench/kopf_floor.py serving its own tiny CRD.

The aidetect operator is stopped with SIGSTOP (and continued afterwards, whatever happens), so
the floor operator has the machine that aidetect's operator would have; the worker and the API
idle. The floor operator runs as `kopf run --standalone` in a process of its own, logging to the
stack's logs dir, and is stopped at the end; its CRs are deleted before aidetect resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from bench_load import Runner, RunResult
from bench_paths import FLOOR_TASKS, KubeCreate, Planned, kube_client
from kubernetes import client
from kubernetes.client.rest import ApiException

BENCH = Path(__file__).resolve().parent
CRD_FILE = BENCH / "kopf-floor-crd.yaml"
FLOOR_OPERATOR = BENCH / "kopf_floor.py"
WARM_UP = 3  # CRs handled one by one before timing: kopf is up and its clients are warm


@contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """SIGSTOP the process for the block; SIGCONT it afterwards, also on errors."""
    if pid is None:
        raise RuntimeError("no operator pid file: is the stack up?")
    os.kill(pid, signal.SIGSTOP)
    print(f"[bench] floor: aidetect operator (pid {pid}) paused", flush=True)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
        print(f"[bench] floor: aidetect operator (pid {pid}) resumed", flush=True)


def install_crd(kubeconfig: str, timeout: float = 60.0) -> None:
    """Create the floor's CRD unless it exists, and wait until it is Established."""
    ext = client.ApiextensionsV1Api(kube_client(kubeconfig))
    body: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    try:
        ext.create_custom_resource_definition(body)
    except ApiException as e:
        if e.status != 409:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition(body["metadata"]["name"])
        conditions = (crd.status.conditions or []) if crd.status else []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the CRD {body['metadata']['name']} was not Established in {timeout}s")


@contextmanager
def floor_operator(kubeconfig: str, namespace: str, log: Path) -> Iterator[None]:
    """`kopf run --standalone bench/kopf_floor.py` for the block, then SIGTERM (SIGKILL at 15 s)."""
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    command = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, str(FLOOR_OPERATOR)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    print(f"[bench] floor: kopf floor operator started (pid {proc.pid}, log {log})", flush=True)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def delete_floor_tasks(kubeconfig: str, namespace: str) -> None:
    r = FLOOR_TASKS
    client.CustomObjectsApi(kube_client(kubeconfig)).delete_collection_namespaced_custom_object(
        r.group, r.version, namespace, r.plural
    )


def check_warm_up(warm: RunResult) -> None:
    if warm.wall_s is None:
        raise RuntimeError("the kopf floor operator did not handle its warm-up CRs")


def plan_floor(path: KubeCreate, run: str, n: int, first: int) -> list[Planned]:
    return [
        Planned(path, f"{run}-f{i}", (f"[bench {run}-f{i}] floor",))
        for i in range(first, first + n)
    ]


def run_floor(runner: Runner, path: KubeCreate, run: str, n: int, label: str) -> RunResult:
    """Warm the floor operator up with a few CRs one by one, then time n CRs from the threads."""
    check_warm_up(runner.one_by_one(f"{label} warm-up", plan_floor(path, run, WARM_UP, 0)))
    return runner.run(label, plan_floor(path, run, n, WARM_UP))
