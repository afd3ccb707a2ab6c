"""/stats (workers and phase counts) and /metrics (Prometheus text written by hand)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from aidetect.core.memory import MemoryDatabase
from aidetect.core.states import Phase
from tests.unit.api.conftest import AUTH
from tests.unit.api.fakes import task_record

HEARTBEAT: dict[str, Any] = {
    "worker": "worker-0",
    "node": "gpu-1",
    "detectors": ["roberta-openai"],
    "model_version": "m@1",
    "device": "cuda",
    "last_batch_seconds": 0.25,
    "last_batch_size": 8,
}


def test_stats_lists_workers_and_every_phase(api: TestClient, fake_db: MemoryDatabase) -> None:
    fake_db.heartbeat(**HEARTBEAT)
    fake_db.restore(task_record(Phase.RUNNING))

    response = api.get("/stats", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert body["workers"][0]["modelVersion"] == "m@1"
    assert body["workers"][0]["lastBatchSeconds"] == 0.25
    assert body["phases"] == {str(p): int(p == Phase.RUNNING) for p in Phase}


def test_metrics_expose_task_gauge_and_request_counter(
    api: TestClient, fake_db: MemoryDatabase
) -> None:
    fake_db.restore(task_record(Phase.QUEUED, n=1))
    fake_db.restore(task_record(Phase.QUEUED, n=2))
    api.get("/healthz")
    api.get("/healthz")

    response = api.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    lines = response.text.splitlines()
    assert "# TYPE aidetect_tasks gauge" in lines
    assert 'aidetect_tasks{phase="Queued"} 2.0' in lines
    assert 'aidetect_tasks{phase="Running"} 0.0' in lines
    assert 'aidetect_api_requests_total{route="/healthz",status="200"} 2.0' in lines
    assert "aidetect_api_database_up 1.0" in lines


def test_metrics_still_answer_while_the_database_is_down(
    api: TestClient, fake_db: MemoryDatabase
) -> None:
    fake_db.up = False

    response = api.get("/metrics")

    assert response.status_code == 200
    assert "aidetect_api_database_up 0.0" in response.text.splitlines()
    assert "aidetect_tasks{" not in response.text


def test_unmatched_paths_share_one_label(api: TestClient) -> None:
    api.get("/a-random-path-1")
    api.get("/a-random-path-2")

    text = api.get("/metrics").text

    assert 'aidetect_api_requests_total{route="unmatched",status="404"} 2.0' in text
    assert "a-random-path" not in text


def test_metrics_have_a_request_duration_histogram_by_route(api: TestClient) -> None:
    api.get("/healthz")
    text = api.get("/metrics").text
    assert 'aidetect_api_request_duration_seconds_bucket{le="0.005",route="/healthz"}' in text
    assert 'aidetect_api_request_duration_seconds_count{route="/healthz"} 1.0' in text
