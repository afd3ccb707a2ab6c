"""The REST facade against the real kube-apiserver, Postgres and RabbitMQ.

No operator or worker runs here: the tests play the operator's part by writing rows with
`Database.insert_task`. Rows with no CR are marked CR-deleted (as after a TTL), so an operator
that some other test left running would not cancel them for having no CR.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from kubernetes import client
from pydantic import SecretStr

from aidetect.api.main import create_app
from aidetect.core import crd
from aidetect.core.config import AmqpSettings, ApiSettings, DatabaseSettings, KubeSettings, Settings
from aidetect.core.db import Database, upgrade_schema
from aidetect.core.k8s import FINALIZER
from aidetect.core.models import TaskSpec
from aidetect.core.states import Phase
from tests.utils.kubectl import kubectl
from tests.utils.namespaces import fresh_namespace
from tests.utils.namespaces import release_finalizers as drop_finalizers

TOKEN = "e2e-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOLD = "tests.aidetect.io/hold"  # keeps a deleted CR visible whatever else runs


@pytest.fixture(scope="module", autouse=True)
def schema(database_url: str) -> None:
    """The tables, as `aidetect db upgrade` makes them, before the first request."""
    upgrade_schema(database_url)


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url, pool_max=2)
    yield db
    db.close()


@pytest.fixture
def release_finalizers(namespace: str, custom_api: client.CustomObjectsApi) -> Iterator[None]:
    """At the end, drop every finalizer in the namespace so that it can be deleted."""
    yield
    drop_finalizers(custom_api, namespace)


@pytest.fixture
def settings(namespace: str, kubeconfig: str, database_url: str, amqp_url: str) -> Settings:
    """Production-like settings: not dev mode, auth on, the real services."""
    return Settings(
        dev_mode=False,
        db=DatabaseSettings(url=database_url),
        amqp=AmqpSettings(url=amqp_url),
        kube=KubeSettings(kubeconfig=kubeconfig),
        api=ApiSettings(token=SecretStr(TOKEN), namespace=namespace),
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def record_task(
    db: Database,
    namespace: str,
    *,
    task_id: uuid.UUID | None = None,
    name: str | None = None,
    created_at: datetime | None = None,
    has_cr: bool = False,
) -> uuid.UUID:
    """Insert a task row as the operator does on create."""
    task_id = task_id or uuid.uuid4()
    db.insert_task(
        task_id=task_id,
        namespace=namespace,
        name=name or f"row-{task_id.hex[:8]}",
        spec=TaskSpec(text="A recorded text."),
        detector="roberta-openai",
        texts=["A recorded text."],
        created_at=created_at or datetime.now(UTC),
    )
    if not has_cr:
        db.mark_cr_deleted(task_id)
    return task_id


def get_cr(custom_api: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom_api.get_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name
    )
    return obj


@pytest.mark.usefixtures("release_finalizers")
def test_predict_creates_a_real_cr_whose_uid_is_the_task_id(
    api: TestClient, namespace: str, custom_api: client.CustomObjectsApi
) -> None:
    request = {"texts": ["First text.", "Second text."], "priority": 6, "granularity": "sentence"}

    response = api.post("/predict", json=request, headers=AUTH)

    assert response.status_code == 202, response.text
    created = response.json()
    assert created["namespace"] == namespace
    cr = get_cr(custom_api, namespace, created["name"])
    assert cr["metadata"]["uid"] == created["taskId"]
    assert cr["metadata"]["finalizers"] == [FINALIZER]
    assert cr["metadata"]["labels"]["aidetect.io/source"] == "api"
    assert cr["spec"] == {**request, "backoffLimit": 3}
    # And a user sees it with kubectl
    listed = kubectl("get", "dt", "-n", namespace, "-o", "json").stdout
    assert [i["metadata"]["uid"] for i in json.loads(listed)["items"]] == [created["taskId"]]


def test_predict_into_a_missing_namespace_is_a_502_naming_it(settings: Settings) -> None:
    # Given an API configured with a namespace that does not exist
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    api_settings = settings.api.model_copy(update={"namespace": missing})

    with TestClient(create_app(settings.model_copy(update={"api": api_settings}))) as api:
        response = api.post("/predict", json={"text": "x"}, headers=AUTH)

    # Then the apiserver's refusal is reported as ours, not blamed on the client
    assert response.status_code == 502, response.text
    assert missing in response.json()["error"]["message"]


def test_status_returns_a_recorded_task_with_its_transitions(
    api: TestClient, namespace: str, database: Database
) -> None:
    task_id = record_task(database, namespace)
    database.transition(task_id, Phase.QUEUED, "Published", "sent to the queue")

    response = api.get(f"/status/{task_id}", headers=AUTH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["namespace"], body["phase"]) == (str(task_id), namespace, "Queued")
    assert body["progress"] == {"total": 1, "done": 0, "failed": 0}
    assert [(t["fromPhase"], t["toPhase"]) for t in body["transitions"]] == [
        (None, "Pending"),
        ("Pending", "Queued"),
    ]
    assert body["transitions"][1]["message"] == "sent to the queue"


def test_status_of_an_unknown_task_is_404(api: TestClient) -> None:
    response = api.get(f"/status/{uuid.uuid4()}", headers=AUTH)

    assert response.status_code == 404
    assert "within seconds" in response.json()["error"]["message"]


def test_task_list_pages_through_five_tasks_with_a_cursor(
    api: TestClient, namespace: str, database: Database
) -> None:
    start = datetime.now(UTC)
    ids = [
        str(record_task(database, namespace, created_at=start + timedelta(seconds=i)))
        for i in range(5)
    ]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"namespace": namespace, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/tasks", params=params, headers=AUTH).json()
        pages.append([t["id"] for t in body["items"]])
        cursor = body["nextCursor"]
        if cursor is None:
            break

    newest_first = ids[::-1]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


def test_task_list_rejects_a_forged_cursor(api: TestClient) -> None:
    response = api.get("/tasks", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.usefixtures("release_finalizers")
def test_cancel_deletes_the_cr_which_the_finalizer_holds(
    api: TestClient, namespace: str, custom_api: client.CustomObjectsApi, database: Database
) -> None:
    # Given a task created through the API, recorded, and held by a test finalizer as well
    created = api.post("/predict", json={"text": "Cancel me."}, headers=AUTH).json()
    task_id = uuid.UUID(created["taskId"])
    record_task(database, namespace, task_id=task_id, name=created["name"], has_cr=True)
    custom_api.patch_namespaced_custom_object(
        crd.GROUP,
        crd.VERSION,
        namespace,
        crd.PLURAL,
        created["name"],
        {"metadata": {"finalizers": [FINALIZER, HOLD]}},
    )

    response = api.delete(f"/tasks/{task_id}", headers=AUTH)

    assert response.status_code == 202, response.text
    assert response.json() == {"taskId": str(task_id), "status": "cancelling"}
    cr = get_cr(custom_api, namespace, created["name"])
    assert cr["metadata"]["deletionTimestamp"]
    assert FINALIZER in cr["metadata"]["finalizers"]


def test_cancel_of_a_finished_task_is_409(
    api: TestClient, namespace: str, database: Database
) -> None:
    task_id = record_task(database, namespace)
    database.transition(task_id, Phase.CANCELLED, "Cancelled")

    response = api.delete(f"/tasks/{task_id}", headers=AUTH)

    assert response.status_code == 409
    assert "Cancelled" in response.json()["error"]["message"]


def test_readyz_is_200_with_the_database_apiserver_and_broker_up(api: TestClient) -> None:
    response = api.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "kubernetes": "ok", "rabbitmq": "ok"}


def test_auth_is_enforced_with_the_real_app(api: TestClient) -> None:
    without = api.get("/tasks")
    wrong = api.get("/tasks", headers={"Authorization": "Bearer nope"})
    right = api.get("/tasks", headers=AUTH)

    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert without.headers["WWW-Authenticate"] == "Bearer"


def test_stats_and_metrics_read_the_real_database(api: TestClient) -> None:
    stats = api.get("/stats", headers=AUTH)
    metrics = api.get("/metrics")

    assert stats.status_code == 200
    assert set(stats.json()["phases"]) == {str(p) for p in Phase}
    assert "aidetect_api_database_up 1.0" in metrics.text.splitlines()


@pytest.mark.parametrize(
    "query", ["namespace=a%00b", "detector=%00", "namespace=%00&detector=x", "cursor=%00"]
)
def test_list_filters_with_a_nul_byte_are_422_on_the_real_database(
    api: TestClient, query: str
) -> None:
    # psycopg2 refuses NUL in a query parameter (ValueError): this was a 500
    response = api.get(f"/tasks?{query}", headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("validation_error", "invalid_cursor")


def test_readyz_without_a_token_hides_where_the_broker_is(settings: Settings) -> None:
    # Given a broker URL where nothing listens
    broken = settings.model_copy(update={"amqp": AmqpSettings(url="amqp://u:p@127.0.0.1:1/%2F")})

    with TestClient(create_app(broken)) as api:
        anonymous = api.get("/readyz")
        admin = api.get("/readyz", headers=AUTH)

    # Then the open answer names the check, and only an admin learns the reason
    assert anonymous.status_code == admin.status_code == 503
    assert anonymous.json()["error"]["details"] == [{"check": "rabbitmq", "message": "failed"}]
    assert "127.0.0.1" not in anonymous.text and "Unavailable" not in anonymous.text
    assert admin.json()["error"]["details"][0]["message"] != "failed"


@pytest.fixture
def other_namespace(core_api: client.CoreV1Api) -> Iterator[str]:
    with fresh_namespace(core_api, "t") as name:
        yield name


@pytest.fixture
def tenant_api(
    settings: Settings, namespace: str, other_namespace: str, tmp_path: Path
) -> Iterator[TestClient]:
    """The app with two tenants, one per namespace, and the admin token as well."""
    tenants = [
        {"name": "team-a", "token": "team-a-token", "namespaces": [namespace]},
        {"name": "team-b", "token": "team-b-token", "namespaces": [other_namespace]},
    ]
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": tenants}))
    api_settings = settings.api.model_copy(update={"tenants_file": str(path)})
    with TestClient(create_app(settings.model_copy(update={"api": api_settings}))) as client_:
        yield client_


TEAM_A = {"Authorization": "Bearer team-a-token"}
TEAM_B = {"Authorization": "Bearer team-b-token"}


@pytest.mark.usefixtures("release_finalizers")
def test_tenants_reach_only_their_own_namespace_on_the_real_services(
    tenant_api: TestClient, namespace: str, other_namespace: str, database: Database
) -> None:
    # Given a task team-a created through the API, recorded as the operator would
    created = tenant_api.post("/predict", json={"text": "Mine."}, headers=TEAM_A)
    assert created.status_code == 202, created.text
    task_id = uuid.UUID(created.json()["taskId"])
    assert created.json()["namespace"] == namespace
    record_task(database, namespace, task_id=task_id, name=created.json()["name"], has_cr=True)

    # Then team-b can neither see nor cancel it, nor create in team-a's namespace
    assert tenant_api.get(f"/status/{task_id}", headers=TEAM_B).status_code == 404
    assert tenant_api.delete(f"/tasks/{task_id}", headers=TEAM_B).status_code == 404
    listed = tenant_api.get("/tasks", headers=TEAM_B).json()["items"]
    assert str(task_id) not in [t["id"] for t in listed]
    intrude = {"text": "x", "namespace": namespace}
    assert tenant_api.post("/predict", json=intrude, headers=TEAM_B).status_code == 403
    filtered = tenant_api.get("/tasks", params={"namespace": namespace}, headers=TEAM_B)
    assert filtered.status_code == 403
    # And team-a and the admin see it
    assert tenant_api.get(f"/status/{task_id}", headers=TEAM_A).status_code == 200
    everywhere = tenant_api.get("/tasks", params={"namespace": namespace}, headers=AUTH).json()
    assert str(task_id) in [t["id"] for t in everywhere["items"]]
    assert other_namespace != namespace


def test_predict_into_a_named_namespace_that_does_not_exist_is_422(api: TestClient) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"

    response = api.post("/predict", json={"text": "x", "namespace": missing}, headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "namespace_not_found"
