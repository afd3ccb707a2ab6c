"""Each token reaches only its tenant's namespaces: create, read, list and cancel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aidetect.core.memory import MemoryDatabase
from aidetect.core.states import Phase
from tests.unit.api.conftest import AUTH, OPS, TEAM_A, TEAM_B, make_settings
from tests.unit.api.fakes import FakeApiServer, task_record


def created_in(apiserver: FakeApiServer) -> list[str]:
    return [ns for ns, _ in apiserver.objects]


def test_predict_defaults_to_the_tenants_first_namespace(
    tenant_api: TestClient, apiserver: FakeApiServer
) -> None:
    response = tenant_api.post("/predict", json={"text": "x"}, headers=TEAM_A)

    assert response.status_code == 202, response.text
    assert response.json()["namespace"] == "team-a"
    assert created_in(apiserver) == ["team-a"]


def test_predict_into_another_of_the_tenants_namespaces(
    tenant_api: TestClient, apiserver: FakeApiServer
) -> None:
    response = tenant_api.post(
        "/predict", json={"text": "x", "namespace": "shared"}, headers=TEAM_A
    )

    assert response.status_code == 202
    assert created_in(apiserver) == ["shared"]


def test_predict_into_a_namespace_the_token_may_not_use_is_403(
    tenant_api: TestClient, apiserver: FakeApiServer
) -> None:
    response = tenant_api.post(
        "/predict", json={"text": "x", "namespace": "team-b"}, headers=TEAM_A
    )

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "namespace_forbidden"
    assert "team-b" in error["message"]
    assert apiserver.requests == []


@pytest.mark.parametrize("headers", [AUTH, OPS], ids=["legacy-token", "star-tenant"])
def test_an_admin_defaults_to_the_api_namespace_and_may_use_any(
    tenant_api: TestClient, apiserver: FakeApiServer, headers: dict[str, str]
) -> None:
    default = tenant_api.post("/predict", json={"text": "x"}, headers=headers)
    elsewhere = tenant_api.post(
        "/predict", json={"text": "x", "namespace": "team-b"}, headers=headers
    )

    assert (default.status_code, elsewhere.status_code) == (202, 202)
    assert created_in(apiserver) == ["tasks-ns", "team-b"]


def test_the_single_admin_token_alone_works_as_before(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    response = api.post("/predict", json={"text": "x", "namespace": "anywhere"}, headers=AUTH)

    assert response.status_code == 202
    assert created_in(apiserver) == ["anywhere"]


@pytest.mark.parametrize("namespace", ["Team-A", "a_b", "-a", "a" * 64, "a\x00b", ""])
def test_predict_with_a_malformed_namespace_is_422(api: TestClient, namespace: str) -> None:
    response = api.post("/predict", json={"text": "x", "namespace": namespace}, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "namespace"


def test_predict_into_a_named_namespace_that_does_not_exist_is_422(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.missing_namespaces.add("nowhere")

    response = api.post("/predict", json={"text": "x", "namespace": "nowhere"}, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "namespace_not_found"


def test_predict_into_a_missing_default_namespace_stays_our_502(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.missing_namespaces.add("tasks-ns")

    response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert response.status_code == 502


def record_in(fake_db: MemoryDatabase, namespace: str, n: int = 0, **changes: Any) -> uuid.UUID:
    return fake_db.restore(task_record(n=n, namespace=namespace, **changes)).id


@pytest.mark.parametrize(("method", "path"), [("GET", "/status/{}"), ("DELETE", "/tasks/{}")])
def test_a_task_in_another_tenants_namespace_is_404_like_an_unknown_one(
    tenant_api: TestClient,
    fake_db: MemoryDatabase,
    apiserver: FakeApiServer,
    method: str,
    path: str,
) -> None:
    theirs = record_in(fake_db, "team-b")

    response = tenant_api.request(method, path.format(theirs), headers=TEAM_A)
    unknown = tenant_api.request(method, path.format(uuid.uuid4()), headers=TEAM_A)

    assert response.status_code == unknown.status_code == 404
    assert response.json()["error"]["code"] == "task_not_found"
    assert apiserver.requests == []


def test_a_tenant_reads_and_cancels_its_own_tasks(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    mine = record_in(fake_db, "shared", phase=Phase.RUNNING)

    status = tenant_api.get(f"/status/{mine}", headers=TEAM_A)
    cancel = tenant_api.delete(f"/tasks/{mine}", headers=TEAM_A)

    assert (status.status_code, cancel.status_code) == (200, 202)


def test_the_list_shows_only_the_tokens_namespaces_across_pages(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    # Given tasks in both of team-a's namespaces, interleaved with team-b's and another's
    spread = ["team-a", "team-b", "shared", "other", "team-a", "shared", "team-b", "team-a"]
    ids = {n: record_in(fake_db, ns, n=n) for n, ns in enumerate(spread)}
    visible = [
        str(ids[n]) for n in reversed(range(len(spread))) if spread[n] in ("team-a", "shared")
    ]

    # When team-a pages through the list two at a time
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = tenant_api.get("/tasks", params=params, headers=TEAM_A).json()
        seen += [t["id"] for t in body["items"]]
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]

    # Then it sees its own five, newest first, once each
    assert seen == visible


def test_the_list_of_an_admin_shows_every_namespace(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    for n, ns in enumerate(["team-a", "team-b", "other"]):
        record_in(fake_db, ns, n=n)

    body = tenant_api.get("/tasks", headers=OPS).json()

    assert [t["namespace"] for t in body["items"]] == ["other", "team-b", "team-a"]


def test_the_list_filtered_to_a_namespace_of_the_token(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    record_in(fake_db, "team-a", n=1)
    shared = record_in(fake_db, "shared", n=2)

    body = tenant_api.get("/tasks", params={"namespace": "shared"}, headers=TEAM_A).json()

    assert [t["id"] for t in body["items"]] == [str(shared)]


def test_the_list_filtered_to_a_namespace_outside_the_token_is_403(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    record_in(fake_db, "team-b")

    response = tenant_api.get("/tasks", params={"namespace": "team-b"}, headers=TEAM_A)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "namespace_forbidden"


def test_stats_need_an_admin_token(tenant_api: TestClient) -> None:
    tenant = tenant_api.get("/stats", headers=TEAM_B)
    admin = tenant_api.get("/stats", headers=OPS)

    assert (tenant.status_code, admin.status_code) == (403, 200)
    assert tenant.json()["error"]["code"] == "admin_only"


def test_a_tenants_token_is_not_an_admin_on_readyz(
    tenant_api: TestClient, fake_db: MemoryDatabase
) -> None:
    fake_db.up = False

    tenant = tenant_api.get("/readyz", headers=TEAM_A).json()["error"]["details"]
    admin = tenant_api.get("/readyz", headers=OPS).json()["error"]["details"]

    assert tenant == [{"check": "database", "message": "failed"}]
    assert "connection refused" in admin[0]["message"]


def test_auth_disabled_reaches_every_namespace(
    build_app: Callable[..., FastAPI], apiserver: FakeApiServer
) -> None:
    client = TestClient(build_app(make_settings(auth_enabled=False)))

    response = client.post("/predict", json={"text": "x", "namespace": "team-b"})

    assert response.status_code == 202
    assert created_in(apiserver) == ["team-b"]


def test_a_named_namespace_the_apis_rbac_does_not_reach_is_403(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.reject_create = (403, "cannot create detectiontasks in the namespace elsewhere")

    named = api.post("/predict", json={"text": "x", "namespace": "elsewhere"}, headers=AUTH)
    default = api.post("/predict", json={"text": "x"}, headers=AUTH)

    assert named.status_code == 403
    assert named.json()["error"]["code"] == "namespace_forbidden"
    assert default.status_code == 502  # the configured namespace is the deployment's mistake
