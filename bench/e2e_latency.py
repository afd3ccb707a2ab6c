"""End-to-end latency and kube-apiserver writes per task, on a running stack (`make up`).

Creates N single-text DetectionTasks one after another (as kubectl would: no finalizer preset)
and N through the same path as the REST facade (finalizer preset), waits for each to reach
Succeeded on the CR, and reports the create -> Succeeded latency. With --audit-log (the
apiserver's audit log, e.g. /tmp/aidetect-local/control-plane/audit.log) it also counts every
write the apiserver recorded for each task, by verb, resource and user agent.

    python bench/e2e_latency.py --tasks 20 --audit-log /tmp/aidetect-local/control-plane/audit.log
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from aidetect.core import crd, k8s
from aidetect.core.models import TaskSpec


def wait_succeeded(
    api: client.CustomObjectsApi, namespace: str, name: str, timeout: float
) -> float:
    """Seconds until the CR shows Succeeded (watch, not poll)."""
    deadline = time.monotonic() + timeout
    w = watch.Watch()
    for event in w.stream(
        api.list_namespaced_custom_object,
        crd.GROUP,
        crd.VERSION,
        namespace,
        crd.PLURAL,
        field_selector=f"metadata.name={name}",
        timeout_seconds=int(timeout),
    ):
        if event["object"].get("status", {}).get("phase") in ("Succeeded", "Failed"):
            w.stop()
            return time.monotonic()
        if time.monotonic() > deadline:
            break
    raise TimeoutError(f"{name} did not finish in {timeout}s")


def run(
    api: client.ApiClient, namespace: str, n: int, *, preset_finalizer: bool
) -> list[tuple[str, float]]:
    custom = client.CustomObjectsApi(api)
    out = []
    for i in range(n):
        name = f"bench-{'api' if preset_finalizer else 'kubectl'}-{uuid.uuid4().hex[:6]}-{i}"
        spec = TaskSpec(text=f"Benchmark text number {i}: the committee met on Tuesday.")
        manifest = k8s.task_manifest(spec, generate_name="", source="bench")
        manifest["metadata"] = {
            "name": name,
            **({"finalizers": [k8s.FINALIZER]} if preset_finalizer else {}),
        }
        started = time.monotonic()
        custom.create_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, manifest
        )
        out.append((name, wait_succeeded(custom, namespace, name, 60) - started))
    return out


def writes_per_task(audit_log: Path, names: set[str]) -> dict[str, Counter[str]]:
    """Audit-logged writes that touched each task: the CR itself, its status, and its Events."""
    per: dict[str, Counter[str]] = {n: Counter() for n in names}
    for line in audit_log.read_text().splitlines():
        e = json.loads(line)
        if e.get("stage") != "ResponseComplete":
            continue
        ref = e.get("objectRef", {})
        name = ref.get("name", "")
        agent = (e.get("userAgent") or "").split("/")[0]
        if ref.get("resource") == "detectiontasks" and name in per:
            what = f"{e['verb']} {ref.get('subresource') or 'object'}"
        elif ref.get("resource") == "events":
            body_name = name.rsplit(".", 1)[0]
            if body_name not in per:
                continue
            name, what = body_name, f"{e['verb']} event"
        else:
            continue
        per[name][f"{what} ({agent})"] += 1
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--audit-log", type=Path)
    args = parser.parse_args()
    api = config.new_client_from_config()
    report: dict[str, Any] = {}
    for preset in (False, True):
        label = "rest-path (finalizer preset)" if preset else "kubectl-path"
        results = run(api, args.namespace, args.tasks, preset_finalizer=preset)
        latencies = sorted(t for _, t in results)
        report[label] = {
            "tasks": len(latencies),
            "latency_median_s": round(statistics.median(latencies), 3),
            "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "latency_min_s": round(latencies[0], 3),
        }
        if args.audit_log:
            time.sleep(3)  # the audit log is written in batches
            per = writes_per_task(args.audit_log, {n for n, _ in results})
            totals = [sum(c.values()) for c in per.values()]
            breakdown: Counter[str] = Counter()
            for c in per.values():
                breakdown.update(c)
            report[label]["writes_per_task_median"] = statistics.median(totals)
            report[label]["writes_per_task_max"] = max(totals)
            report[label]["writes_breakdown_mean"] = {
                k: round(v / len(per), 2) for k, v in sorted(breakdown.items())
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
