"""The chart on a real node: pods Ready, `helm test`, examples, REST, pod kills, upgrade, uninstall.

They run in file order against `make cluster-up`'s cluster, and the last one uninstalls the
release (`make cluster-up` installs it again). Postgres and RabbitMQ are the Debian-built
stand-ins of hack/images/, not the chart's default official images.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from aidetect.core.states import Phase
from tests.cluster.conftest import NAMESPACE, NODE, RELEASE
from tests.utils.factories import detection_task
from tests.utils.helm import CHART, helm
from tests.utils.kubectl import apply_file, kubectl
from tests.utils.services import REPO_ROOT
from tests.utils.waiting import eventually, wait_for_phase

pytestmark = pytest.mark.timeout(600)

# A corpus job's example reads the local S3 server on the host's loopback, which the node's pods
# cannot reach: tests/e2e/test_corpus_jobs.py runs it against the tests' own object server.
EXAMPLES = [
    p for p in sorted((REPO_ROOT / "examples").glob("*.yaml")) if "source:" not in p.read_text()
]
COMPONENTS = {"operator", "api", "worker-default", "postgresql", "rabbitmq"}
WORKER_SELECTOR = "app.kubernetes.io/component=worker-default"
VALUES = CHART / "ci" / "local-node-values.yaml"
HELM_TIMEOUT = 600  # each call passes --timeout 5m to helm, plus its own start-up


def release_pods(core: client.CoreV1Api, selector: str = "") -> list[client.V1Pod]:
    """The release's live pods, without `helm test` pods (hooks, not part of the release)."""
    labels = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component!=test"
    pods = core.list_namespaced_pod(
        NAMESPACE, label_selector=labels + (f",{selector}" if selector else "")
    ).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def is_ready(pod: client.V1Pod) -> bool:
    conditions = pod.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return pod.status.phase == "Running" and ready


def create(custom: client.CustomObjectsApi, namespace: str, body: dict[str, Any]) -> UUID:
    created = custom.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, body
    )
    return UUID(created["metadata"]["uid"])


def helm_upgrade(cluster_env: dict[str, str], *sets: str) -> None:
    models = Path(cluster_env["AIDETECT_CLUSTER_DIR"]) / "models"
    helm(
        "upgrade", RELEASE, str(CHART), "-n", NAMESPACE,
        "-f", str(VALUES), "--set", f"workers[0].modelCache.hostPath={models}",
        *[arg for s in sets for arg in ("--set", s)], "--wait", "--timeout", "5m",
        timeout=HELM_TIMEOUT,
    )  # fmt: skip


def all_phases(db: Database, ids: list[UUID]) -> dict[UUID, str]:
    return {i: str(db.get_task(i).phase) for i in ids}


def test_every_release_pod_is_running_and_ready_on_the_node(core_api: client.CoreV1Api) -> None:
    pods = release_pods(core_api)
    components = {p.metadata.labels["app.kubernetes.io/component"] for p in pods}
    assert COMPONENTS <= components, components
    for pod in pods:
        assert is_ready(pod), (pod.metadata.name, pod.status.phase, pod.status.conditions)
        assert pod.spec.node_name == NODE


def test_worker_pod_is_granted_a_gpu_on_the_tainted_gpu_node(core_api: client.CoreV1Api) -> None:
    node = core_api.read_node(NODE)
    assert node.metadata.labels["nvidia.com/gpu.present"] == "true"
    assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in node.spec.taints)
    assert int(node.status.allocatable["nvidia.com/gpu"]) >= 1
    (worker,) = release_pods(core_api, WORKER_SELECTOR)
    assert worker.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert worker.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert is_ready(worker)


def test_a_pod_that_does_not_tolerate_the_gpu_taint_is_not_scheduled(
    core_api: client.CoreV1Api, namespace: str
) -> None:
    # The taint is real: only pods that tolerate it (the chart's, here) land on the node.
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="intolerant"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c", image="localhost/aidetect:local", image_pull_policy="Never"
                )
            ]
        ),
    )
    core_api.create_namespaced_pod(namespace, pod)

    def unschedulable() -> str | None:
        conditions = core_api.read_namespaced_pod("intolerant", namespace).status.conditions or []
        return next((c.message for c in conditions if c.reason == "Unschedulable"), None)

    message = eventually(unschedulable, timeout=60, what="the scheduler to refuse the pod")
    assert "untolerated taint" in message


def test_helm_test_passes() -> None:
    # No --logs: the pod is deleted once it succeeds (hook-succeeded), before helm reads logs.
    proc = helm("test", RELEASE, "-n", NAMESPACE, "--timeout", "5m", timeout=HELM_TIMEOUT)
    assert re.search(r"^Phase:\s+Succeeded$", proc.stdout, re.MULTILINE), proc.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_succeeds_on_a_worker_pod_of_the_node(
    example: Path,
    namespace: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
) -> None:
    apply_file(example, namespace)
    workers = {p.metadata.name: p for p in release_pods(core_api, WORKER_SELECTOR)}
    for doc in yaml.safe_load_all(example.read_text()):
        if not doc or doc["kind"] != crd.KIND:
            continue
        cr = wait_for_phase(
            custom_api, namespace, doc["metadata"]["name"], {"Succeeded", "Failed"}, timeout=180
        )
        status = cr["status"]
        assert status["phase"] == "Succeeded", status
        # status.worker names the worker pod (the downward API), which runs on the GPU node
        pod = workers.get(status["worker"]) or core_api.read_namespaced_pod(
            status["worker"], NAMESPACE
        )
        assert pod.spec.node_name == NODE
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"


def test_rest_task_through_the_api_service(cluster_env: dict[str, str], api_token: str) -> None:
    base = cluster_env["AIDETECT_CLUSTER_API"]
    headers = {"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            result: dict[str, Any] = json.load(resp)
            return result

    task = call("POST", "/predict", {"text": f"Sent through the Service ({uuid.uuid4().hex})."})

    def succeeded() -> dict[str, Any] | None:
        try:
            status = call("GET", f"/status/{task['taskId']}")
        except urllib.error.HTTPError as e:
            if e.code == 404:  # the operator has not recorded it yet
                return None
            raise
        return status if status["phase"] in {"Succeeded", "Failed"} else None

    status = eventually(succeeded, timeout=120, what="the REST task to finish", every=0.5)
    assert status["phase"] == "Succeeded", status
    assert status["result"]["label"] in {"ai", "human"}


def test_worker_pod_force_deleted_midbatch_finishes_exactly_once(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
    db: Database,
) -> None:
    # Given a batch long enough to take the worker several seconds
    run = uuid.uuid4().hex[:8]
    filler = " ".join(f"word{i}" for i in range(60))
    texts = [
        f"Item {i} of a batch that outlives its worker pod ({run}). {filler}" for i in range(1000)
    ]
    task_id = create(custom_api, namespace, detection_task("survivor", texts=texts))
    (victim,) = release_pods(core_api, WORKER_SELECTOR)

    def some_results() -> bool:
        row = db.find_task(task_id)
        return row is not None and row.progress.done > 0

    eventually(some_results, timeout=120, what="the first results", every=0.05)
    # When the worker pod is deleted at once, as a node failure or `--force` would
    kubectl("delete", "pod", "-n", NAMESPACE, victim.metadata.name, "--grace-period=0", "--force")
    done_at_kill = db.get_task(task_id).progress.done
    assert 0 < done_at_kill < len(texts), done_at_kill
    # Then the Deployment's new pod finishes it
    cr = wait_for_phase(custom_api, namespace, "survivor", {"Succeeded", "Failed"}, timeout=300)
    assert cr["status"]["phase"] == "Succeeded", cr["status"]
    # With exactly one result per item, and one Succeeded transition
    assert [i.index for i in db.items(task_id)] == list(range(len(texts)))
    assert [t.to_phase for t in db.transitions(task_id)].count(Phase.SUCCEEDED) == 1
    assert cr["status"]["worker"] != victim.metadata.name


def test_helm_upgrade_to_two_workers_while_tasks_run_fails_none(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
    db: Database,
    cluster_env: dict[str, str],
) -> None:
    # Given 60 tasks in flight
    run = uuid.uuid4().hex[:8]
    ids = [
        create(custom_api, namespace, detection_task(f"up-{i}", text=f"Upgrade {i} ({run})."))
        for i in range(60)
    ]
    # When the release is upgraded to two worker replicas
    helm_upgrade(cluster_env, "workers[0].replicas=2")
    workers = release_pods(core_api, WORKER_SELECTOR)
    assert len(workers) == 2 and all(is_ready(p) for p in workers)
    # Then every task succeeds, none fails
    eventually(
        lambda: all(p in {"Succeeded", "Failed"} for p in all_phases(db, ids).values()),
        timeout=300, what="all tasks to finish", every=1,
    )  # fmt: skip
    phases = all_phases(db, ids)
    assert set(phases.values()) == {"Succeeded"}, phases
    # And back to one worker, for the tests after this one
    helm_upgrade(cluster_env)
    eventually(
        lambda: len(release_pods(core_api, WORKER_SELECTOR)) == 1, timeout=120, what="1 worker"
    )


def test_operator_pod_deleted_while_tasks_are_queued_all_finish(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
) -> None:
    # Given 30 tasks just created
    run = uuid.uuid4().hex[:8]
    names = [f"queued-{i}" for i in range(30)]
    for name in names:
        create(custom_api, namespace, detection_task(name, text=f"Queued {name} ({run})."))
    # When the operator pod is deleted
    (operator,) = release_pods(core_api, "app.kubernetes.io/component=operator")
    kubectl("delete", "pod", "-n", NAMESPACE, operator.metadata.name, "--wait=false")
    # Then a new operator pod comes up and every task succeeds
    for name in names:
        cr = wait_for_phase(custom_api, namespace, name, {"Succeeded", "Failed"}, timeout=300)
        assert cr["status"]["phase"] == "Succeeded", (name, cr["status"])
    (new,) = release_pods(core_api, "app.kubernetes.io/component=operator")
    assert new.metadata.name != operator.metadata.name


def test_helm_uninstall_leaves_nothing_labelled_with_the_release() -> None:
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m", timeout=HELM_TIMEOUT)
    selector = f"app.kubernetes.io/instance={RELEASE}"
    kinds = kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    # Events carry no labels; the CRD is kept on purpose (helm never deletes crds/).
    kinds = [k for k in kinds if k not in {"events", "events.events.k8s.io"}]

    def leftovers() -> str:
        proc = kubectl("get", ",".join(kinds), "-A", "-l", selector, "-o", "name", check=False)
        return proc.stdout.strip()

    left = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = leftovers()
        if not left:
            break
        time.sleep(2)
    assert left == ""
