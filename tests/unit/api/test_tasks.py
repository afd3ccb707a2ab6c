"""POST /predict, GET /status, GET /tasks and DELETE /tasks, against in-memory fakes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aidetect.api.schemas import TaskCreate
from aidetect.core.k8s import FINALIZER, LABEL_SOURCE
from aidetect.core.memory import MemoryDatabase
from aidetect.core.models import ItemFailure, Progress, TaskOptions, TaskSpec
from aidetect.core.states import Phase
from tests.unit.api.conftest import AUTH
from tests.unit.api.fakes import FakeApiServer, scored, task_record


def test_predict_creates_a_cr_whose_uid_is_the_task_id(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    response = api.post("/predict", json={"text": "Hello there.", "priority": 7}, headers=AUTH)

    assert response.status_code == 202
    body = response.json()
    (ns, name), cr = next(iter(apiserver.objects.items()))
    assert (body["namespace"], body["name"]) == (ns, name) == ("tasks-ns", cr["metadata"]["name"])
    assert body["taskId"] == cr["metadata"]["uid"]
    assert name.startswith("api-")
    assert cr["metadata"]["labels"] == {LABEL_SOURCE: "api"}
    assert cr["metadata"]["finalizers"] == [FINALIZER]
    assert cr["spec"] == {
        "text": "Hello there.",
        "granularity": "document",
        "priority": 7,
        "backoffLimit": 3,
    }


def test_predict_batch_passes_every_field_in_camel_case(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    request = {
        "texts": ["one", "two"],
        "detector": "binoculars",
        "granularity": "sentence",
        "backoffLimit": 0,
        "activeDeadlineSeconds": 60,
        "ttlSecondsAfterFinished": 0,
    }
    response = api.post("/predict", json=request, headers=AUTH)

    assert response.status_code == 202
    cr = next(iter(apiserver.objects.values()))
    assert cr["spec"] == {**request, "priority": 0}


def test_predict_never_touches_the_database(api: TestClient, fake_db: MemoryDatabase) -> None:
    fake_db.up = False  # any database call would now answer 503

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 202
    fake_db.up = True
    assert fake_db.phase_counts() == {}


BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("empty text", {"text": ""}, "text is empty or blank"),
    ("whitespace text", {"text": " \n\t "}, "text is empty or blank"),
    ("100001 chars", {"text": "a" * 100_001}, "text has 100001 characters; the limit is 100000"),
    ("1001 texts", {"texts": ["a"] * 1001}, "texts has 1001 items; a batch holds 1 to 1000"),
    ("zero-width text", {"text": "\u200b\u200c\u200d\u2060\ufeff"}, "text is empty or blank"),
    ("hangul filler text", {"text": " \u3164 "}, "text is empty or blank"),
    ("control-only text", {"text": "\x01\x02"}, "text is empty or blank"),
    ("NUL in text", {"text": "abc\u0000def"}, "text contains a NUL character"),
    ("NUL in item", {"texts": ["ok", "a\u0000"]}, "texts[1] contains a NUL character"),
    (
        "huge ttl",
        {"text": "a", "ttlSecondsAfterFinished": 10**13},
        "ttlSecondsAfterFinished: Input should be less than or equal to 31536000",
    ),
    (
        "huge deadline",
        {"text": "a", "activeDeadlineSeconds": 10**13},
        "activeDeadlineSeconds: Input should be less than or equal to 2592000",
    ),
    (
        "false ttl",
        {"text": "a", "ttlSecondsAfterFinished": False},
        "ttlSecondsAfterFinished: Input should be a valid integer",
    ),
    (
        "string priority",
        {"text": "a", "priority": "5"},
        "priority: Input should be a valid integer",
    ),
    ("empty batch", {"texts": []}, "texts has 0 items; a batch holds 1 to 1000"),
    ("blank item", {"texts": ["ok", "  "]}, "texts[1] is empty or blank"),
    ("long item", {"texts": ["ok", "b" * 100_001]}, "texts[1] has 100001 characters"),
    (
        "600000 in all",
        {"texts": ["c" * 100_000] * 6},
        "600000 characters in all; the limit is 500000",
    ),
    ("both", {"text": "a", "texts": ["b"]}, "exactly one of text or texts"),
    ("neither", {"priority": 1}, "exactly one of text or texts"),
    (
        "priority 10",
        {"text": "a", "priority": 10},
        "priority: Input should be less than or equal to 9",
    ),
    (
        "priority word",
        {"text": "a", "priority": "high"},
        "priority: Input should be a valid integer",
    ),
    ("bad detector", {"text": "a", "detector": "Not_A_Name"}, "detector: String should match"),
    ("unknown field", {"text": "a", "textFrom": {}}, "textFrom: Extra inputs are not permitted"),
    ("not an object", ["a"], "body: Input should be a valid dictionary"),
]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [pytest.param(body, message, id=case) for case, body, message in BAD_REQUESTS],
)
def test_bad_predict_input_gets_422_naming_the_field_and_limit(
    api: TestClient, apiserver: FakeApiServer, request_body: Any, message: str
) -> None:
    response = api.post("/predict", json=request_body, headers=AUTH)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert message in error["message"]
    assert error["details"] and all("input" not in d for d in error["details"])
    assert apiserver.objects == {}


@pytest.mark.parametrize("name", sorted(set(TaskOptions.model_fields) - {"detector"}))
def test_the_request_and_the_spec_share_each_default_and_limit(name: str) -> None:
    request, spec = TaskCreate.model_fields[name], TaskSpec.model_fields[name]
    assert (request.default, request.metadata) == (spec.default, spec.metadata)


def test_lone_surrogate_in_text_gets_422_not_500(api: TestClient, apiserver: FakeApiServer) -> None:
    # JSON may escape half a surrogate pair; Python's json accepts it, Postgres cannot store it.
    body = b'{"text": "ab\\ud800cd"}'
    headers = {**AUTH, "Content-Type": "application/json"}
    response = api.post("/predict", content=body, headers=headers)

    assert response.status_code == 422
    assert "text contains a lone surrogate (U+D800)" in response.json()["error"]["message"]
    assert apiserver.objects == {}


def test_text_of_exactly_the_limit_is_accepted(api: TestClient) -> None:
    response = api.post("/predict", json={"text": "a" * 100_000}, headers=AUTH)

    assert response.status_code == 202


def test_apiserver_rejection_becomes_422_with_its_message(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.reject_create = (422, 'DetectionTask.aidetect.io "api-x" is invalid: CEL says no')

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "rejected_by_apiserver",
        "message": 'DetectionTask.aidetect.io "api-x" is invalid: CEL says no',
    }


def test_apiserver_field_causes_become_the_422s_details(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.reject_create = (422, 'DetectionTask.aidetect.io "api-x" is invalid: spec.texts')
    apiserver.reject_details = {
        "kind": "DetectionTask",
        "causes": [{"reason": "FieldValueInvalid", "field": "spec.texts", "message": "too many"}],
    }

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "rejected_by_apiserver"
    assert response.json()["error"]["details"] == [{"field": "spec.texts", "message": "too many"}]


def test_apiserver_conflict_is_a_409(api: TestClient, apiserver: FakeApiServer) -> None:
    apiserver.reject_create = (409, 'detectiontasks.aidetect.io "api-x" already exists')

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": 'detectiontasks.aidetect.io "api-x" already exists',
    }


def test_apiserver_unreachable_gives_503_not_500(api: TestClient, apiserver: FakeApiServer) -> None:
    apiserver.unreachable = True

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kube_unavailable"


def test_apiserver_forbidden_is_a_502_not_blamed_on_the_client(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.reject_create = (403, "serviceaccount cannot create detectiontasks")

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 502
    assert "cannot create detectiontasks" in response.json()["error"]["message"]


def test_apiserver_down_gives_503_with_retry_after(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.down = True

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kube_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_status_returns_the_task_with_items_and_transitions(
    api: TestClient, fake_db: MemoryDatabase
) -> None:
    record, items = scored(task_record())
    fake_db.restore(record, items)

    response = api.get(f"/status/{record.id}", headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(record.id)
    assert body["phase"] == "Succeeded"
    assert body["result"]["label"] == "ai"
    assert body["progress"] == {"total": 1, "done": 1, "failed": 0}
    assert [i["modelVersion"] for i in body["items"]] == ["m@1"]
    assert body["transitions"][0]["toPhase"] == "Pending"
    assert "createdAt" in body and "created_at" not in body


def test_status_lists_a_failed_item_with_its_reason_and_message(
    api: TestClient, fake_db: MemoryDatabase
) -> None:
    record, items = scored(task_record())
    record = record.model_copy(update={"progress": Progress(total=2, done=1, failed=1)})
    failure = ItemFailure(
        index=1, reason="InvalidInput", message="too short to score", model_version="m@1"
    )
    fake_db.restore(record, [*items, failure], texts=["a text", "x"])

    body = api.get(f"/status/{record.id}", headers=AUTH).json()

    assert body["progress"] == {"total": 2, "done": 1, "failed": 1}
    assert body["items"][0]["score"] == items[0].score
    assert body["items"][1] == {
        "index": 1,
        "reason": "InvalidInput",
        "message": "too short to score",
        "modelVersion": "m@1",
    }


def test_status_of_unknown_task_is_404_saying_new_tasks_appear_soon(api: TestClient) -> None:
    task_id = uuid.uuid4()

    response = api.get(f"/status/{task_id}", headers=AUTH)

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "task_not_found"
    assert str(task_id) in error["message"] and "within seconds" in error["message"]


def test_status_with_malformed_uuid_is_422(api: TestClient) -> None:
    response = api.get("/status/not-a-uuid", headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "path.task_id"


def test_status_while_database_is_down_is_503(api: TestClient, fake_db: MemoryDatabase) -> None:
    fake_db.up = False

    response = api.get(f"/status/{uuid.uuid4()}", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_task_list_pages_newest_first_with_a_cursor(
    api: TestClient, fake_db: MemoryDatabase
) -> None:
    ids = [str(fake_db.restore(task_record(n=n)).id) for n in range(5)]

    first = api.get("/tasks", params={"limit": 3}, headers=AUTH).json()
    second = api.get("/tasks", params={"limit": 3, "cursor": first["nextCursor"]}, headers=AUTH)

    assert [t["id"] for t in first["items"]] == ids[::-1][:3]
    assert [t["id"] for t in second.json()["items"]] == ids[::-1][3:]
    assert second.json()["nextCursor"] is None
    assert "items" not in first["items"][0]  # the list leaves out per-item results


def test_task_list_filters_by_phase(api: TestClient, fake_db: MemoryDatabase) -> None:
    fake_db.restore(task_record(Phase.QUEUED, n=1))
    failed = fake_db.restore(task_record(Phase.FAILED, n=2))

    response = api.get("/tasks", params={"phase": "Failed"}, headers=AUTH)

    assert [t["id"] for t in response.json()["items"]] == [str(failed.id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"phase": "Sleeping"}, "query.phase"),
    ],
)
def test_bad_list_query_is_422(api: TestClient, params: dict[str, Any], field: str) -> None:
    response = api.get("/tasks", params=params, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


def test_cancel_deletes_the_cr_of_exactly_that_uid(
    api: TestClient, apiserver: FakeApiServer, fake_db: MemoryDatabase
) -> None:
    created = api.post("/predict", json={"text": "x"}, headers=AUTH).json()
    task_id = uuid.UUID(created["taskId"])
    fake_db.restore(task_record(id=task_id, namespace=created["namespace"], name=created["name"]))

    response = api.delete(f"/tasks/{task_id}", headers=AUTH)

    assert response.status_code == 202
    assert response.json() == {"taskId": str(task_id), "status": "cancelling"}
    cr = apiserver.objects[(created["namespace"], created["name"])]
    assert "deletionTimestamp" in cr["metadata"]


def test_cancel_of_a_cr_already_gone_still_answers_202(
    api: TestClient, apiserver: FakeApiServer, fake_db: MemoryDatabase
) -> None:
    record = fake_db.restore(task_record(Phase.RUNNING))

    response = api.delete(f"/tasks/{record.id}", headers=AUTH)

    assert response.status_code == 202
    path = f"/apis/aidetect.io/v1alpha1/namespaces/default/detectiontasks/{record.name}"
    assert ("DELETE", path) in apiserver.requests


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED])
def test_cancel_of_a_finished_task_is_409_and_deletes_nothing(
    api: TestClient, apiserver: FakeApiServer, fake_db: MemoryDatabase, phase: Phase
) -> None:
    record = fake_db.restore(task_record(phase))

    response = api.delete(f"/tasks/{record.id}", headers=AUTH)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "task_finished"
    assert str(phase) in response.json()["error"]["message"]
    assert apiserver.requests == []


def test_cancel_of_unknown_task_is_404(api: TestClient, apiserver: FakeApiServer) -> None:
    response = api.delete(f"/tasks/{uuid.uuid4()}", headers=AUTH)

    assert response.status_code == 404
    assert apiserver.requests == []
