"""Each component's /metrics over HTTP (prometheus_client), after real tasks went through.

`curl`-equivalent reads of the API's port, the operator's readiness port and a worker's health
port; the histograms the issue names must show `_bucket` lines, and no label is a task id.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.conftest import free_port
from tests.utils.factories import detection_task
from tests.utils.processes import ManagedProcess
from tests.utils.waiting import wait_for_phase

pytestmark = pytest.mark.slow
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return str(response.read().decode())


@pytest.fixture(scope="module")
def metrics_worker(
    system_env: dict[str, str], logs_dir: Path, operator: ManagedProcess
) -> Iterator[int]:
    """A worker of its own for the "priority" profile, with its health port on."""
    port = free_port()
    proc = ManagedProcess(
        "metrics-worker",
        ["-m", "aidetect.cli", "worker", "--detector", "priority"],
        {**system_env, "AIDETECT_WORKER_HEALTH_PORT": str(port)},
        logs_dir,
    ).start()
    assert operator.running
    proc.wait_for_log("serving ['priority']")
    yield port
    proc.stop()


def test_every_component_serves_its_histograms(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    api_url: str,
    operator_port: int,
    metrics_worker: int,
) -> None:
    # Given two tasks scored by the metrics worker, and a request to the API
    for n in range(2):
        texts = [f"Metrics text {n}.{i} {uuid.uuid4().hex}" for i in range(3)]
        manifest = detection_task(f"metrics-{n}", texts=texts, detector="priority")
        custom_api.create_namespaced_custom_object(
            "aidetect.io", "v1alpha1", namespace, "detectiontasks", manifest
        )
    for n in range(2):
        wait_for_phase(custom_api, namespace, f"metrics-{n}", {"Succeeded"}, timeout=60)
    urllib.request.urlopen(f"{api_url}/healthz", timeout=5).close()
    # When each component's metrics are read
    api = _scrape(f"{api_url}/metrics")
    operator = _scrape(f"http://127.0.0.1:{operator_port}/metrics")
    worker = _scrape(f"http://127.0.0.1:{metrics_worker}/metrics")
    # Then the histograms are there, with buckets
    assert 'aidetect_api_request_duration_seconds_bucket{le="0.005",route="/healthz"}' in api
    assert "aidetect_api_requests_total{" in api
    assert 'aidetect_tasks{phase="Succeeded"}' in api
    assert 'aidetect_task_duration_seconds_bucket{le="0.5",phase="Succeeded"}' in operator
    assert 'aidetect_tasks_ended_total{phase="Succeeded",reason="Completed"}' in operator
    assert "aidetect_status_patches_total" in operator
    assert 'aidetect_worker_batch_seconds_bucket{le="0.05",profile="priority"}' in worker
    assert 'aidetect_worker_batch_texts_bucket{le="8.0",profile="priority"}' in worker
    assert "aidetect_worker_queue_wait_seconds_bucket" in worker
    assert 'aidetect_worker_cache_lookups_total{outcome="miss",profile="priority"}' in worker
    assert 'aidetect_worker_messages_total{action="ack"}' in worker
    # And no label carries a task id
    for text in (api, operator, worker):
        labelled = [line for line in text.splitlines() if "{" in line]
        assert not [line for line in labelled if UUID_PATTERN.search(line)]
