"""What one task costs the kube-apiserver, read from its audit log: REST ≤ 3 writes, kubectl ≤ 4.

Counted: every create, patch, update or delete of the task's DetectionTask (the object and its
status), the user's create included; Events are left out (a setting decides on success Events).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from kubernetes import client

from aidetect.core import crd, k8s
from aidetect.core.models import TaskSpec
from tests.utils.audit import audit_log as session_audit_log
from tests.utils.audit import task_writes
from tests.utils.processes import ManagedProcess
from tests.utils.services import LocalServices
from tests.utils.waiting import wait_for_phase

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("path", "most"), [("kubectl", 4), ("rest", 3)])
@pytest.mark.usefixtures("worker")
def test_a_task_costs_at_most_its_share_of_apiserver_writes(
    services: LocalServices,
    custom_api: client.CustomObjectsApi,
    namespace: str,
    operator: ManagedProcess,
    path: str,
    most: int,
) -> None:
    audit_log = session_audit_log(services)
    assert operator.running
    names = {f"{path}-{uuid.uuid4().hex[:8]}" for _ in range(3)}
    for name in names:
        # kubectl sends the object as written; the API presets the finalizer (k8s.task_manifest)
        manifest = k8s.task_manifest(TaskSpec(text=f"writes {name}"), generate_name="", source=path)
        manifest["metadata"]["name"] = name
        if path == "kubectl":
            del manifest["metadata"]["finalizers"]
        custom_api.create_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, manifest
        )
    for name in names:
        wait_for_phase(custom_api, namespace, name, {"Succeeded"}, timeout=60)
    time.sleep(2.5)  # the audit log is written in batches of up to 1 s
    for name, writes in task_writes(audit_log, names).items():
        assert "create object" in writes
        assert len(writes) <= most, f"{name}: {Counter(writes)}"
