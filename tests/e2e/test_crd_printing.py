"""What a user sees with kubectl: printer columns, and `kubectl wait` on the standard conditions.

These tests write statuses by hand, so they must run before any test starts the session's
operator (which would admit the CRs and overwrite them): tests/conftest.py runs this module
first (BEFORE_THE_OPERATOR).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from kubernetes import client

from aidetect.core import crd
from tests.utils.factories import detection_task
from tests.utils.kubectl import kubectl


def _patch_status(
    api: client.CustomObjectsApi, namespace: str, name: str, status: dict[str, Any]
) -> None:
    api.patch_namespaced_custom_object_status(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name, {"status": status}
    )


def _condition(type_: str, status: str, reason: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": f"{type_} is {status}",
        "lastTransitionTime": "2026-11-23T12:00:00Z",
    }


def test_kubectl_get_shows_the_printer_columns(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    # Given a task with a result written through /status
    name = "printed"
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task(name, texts=["a", "b"])
    )
    _patch_status(
        custom_api,
        namespace,
        name,
        {
            "phase": "Succeeded",
            "detector": "roberta-openai",
            "attempts": 2,
            "worker": "worker-7",
            "progress": {"total": 2, "done": 2, "failed": 0, "summary": "2/2"},
            "result": {
                "score": 0.875,
                "label": "ai",
                "detector": "roberta-openai",
                "modelVersion": "m@1",
            },
            "conditions": [_condition("Succeeded", "True", "Completed")],
        },
    )
    # When the user lists tasks with the short name
    out = kubectl("get", "dt", "-n", namespace).stdout.splitlines()
    # Then the header and row carry the printer columns
    assert out[0].split() == ["NAME", "PHASE", "DETECTOR", "SCORE", "LABEL", "PROGRESS", "AGE"]
    assert out[1].split()[:6] == ["printed", "Succeeded", "roberta-openai", "0.875", "ai", "2/2"]
    wide = kubectl("get", "dt", name, "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["REASON", "ATTEMPTS", "WORKER"]
    assert wide[1].split()[-2:] == ["2", "worker-7"]


def test_wide_output_shows_the_failure_reason(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    name = "failed"
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task(name)
    )
    _patch_status(
        custom_api,
        namespace,
        name,
        {
            "phase": "Failed",
            "conditions": [_condition("Failed", "True", "DeadlineExceeded")],
        },
    )
    row = kubectl("get", "dt", name, "-n", namespace, "-o", "wide").stdout.splitlines()[1]
    assert "Failed" in row.split()
    assert "DeadlineExceeded" in row.split()


def test_kubectl_get_all_aidetect_category_lists_tasks(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task("in-category")
    )
    out = kubectl("get", "aidetect", "-n", namespace, "-o", "name").stdout
    assert "detectiontask.aidetect.io/in-category" in out


def test_kubectl_wait_returns_once_succeeded_is_patched(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    # Given a task with no conditions and a user waiting on Succeeded
    name = "waited"
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task(name)
    )
    waiter = subprocess.Popen(
        [
            "kubectl",
            "wait",
            "--for=condition=Succeeded",
            f"dt/{name}",
            "-n",
            namespace,
            "--timeout=60s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # When Queued is True, the wait goes on
        _patch_status(
            custom_api,
            namespace,
            name,
            {"phase": "Queued", "conditions": [_condition("Queued", "True", "Published")]},
        )
        time.sleep(2)
        assert waiter.poll() is None, "kubectl wait returned before Succeeded was True"
        # When Succeeded becomes True through /status, the wait returns 0
        _patch_status(
            custom_api,
            namespace,
            name,
            {
                "phase": "Succeeded",
                "conditions": [
                    _condition("Queued", "False", "Published"),
                    _condition("Succeeded", "True", "Completed"),
                ],
            },
        )
        out, err = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    assert f"detectiontask.aidetect.io/{name} condition met" in out
