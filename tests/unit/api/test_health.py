"""/healthz needs nothing; /readyz names the dependency that does not answer, within a bound."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aidetect.api.main import create_app
from aidetect.api.readiness import ReadinessChecker, with_probe_timeouts
from aidetect.core.config import DatabaseSettings, KubeSettings
from aidetect.core.errors import QueueUnavailable
from aidetect.core.memory import MemoryDatabase
from tests.unit.api.conftest import AUTH, AmqpSwitch, make_settings
from tests.unit.api.fakes import FakeApiServer

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_healthz_is_ok_while_every_dependency_is_down(
    api: TestClient, fake_db: MemoryDatabase, apiserver: FakeApiServer, amqp: AmqpSwitch
) -> None:
    fake_db.up, apiserver.down = False, True
    amqp.error = QueueUnavailable("refused")

    response = api.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_all_three_answer(api: TestClient) -> None:
    response = api.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "kubernetes": "ok", "rabbitmq": "ok"}


def test_readyz_without_a_token_names_the_failed_checks_and_no_internals(
    api: TestClient, fake_db: MemoryDatabase, amqp: AmqpSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_db.up = False
    amqp.error = QueueUnavailable("cannot connect to RabbitMQ at rabbit.internal:5672: refused")

    response = api.get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == "not ready: database, rabbitmq"
    assert error["details"] == [
        {"check": "database", "message": "failed"},
        {"check": "rabbitmq", "message": "failed"},
    ]
    for internal in ("rabbit.internal", "5672", "refused", "Unavailable"):
        assert internal not in response.text
    # The reasons are in the log instead
    assert "rabbit.internal:5672: refused" in caplog.text


def test_readyz_with_a_wrong_token_shows_no_internals_either(
    api: TestClient, amqp: AmqpSwitch
) -> None:
    amqp.error = QueueUnavailable("cannot connect to RabbitMQ at rabbit.internal:5672")

    response = api.get("/readyz", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 503
    assert "rabbit.internal" not in response.text


def test_readyz_with_an_admin_token_gives_the_reasons(
    api: TestClient, apiserver: FakeApiServer
) -> None:
    apiserver.down = True

    response = api.get("/readyz", headers=AUTH)

    assert response.status_code == 503
    (detail,) = response.json()["error"]["details"]
    assert detail == {
        "check": "kubernetes",
        "message": "KubeUnavailable: GET /version answered 503 Service Unavailable",
    }


def test_a_hung_probe_fails_the_check_within_the_timeout() -> None:
    checker = ReadinessChecker()
    release = threading.Event()
    started = time.monotonic()

    def stuck() -> None:
        release.wait(5)

    results = checker.check({"ok": lambda: None, "stuck": stuck}, timeout=0.2)

    release.set()
    checker.close()
    assert time.monotonic() - started < 2
    assert [(r.name, r.ok) for r in results] == [("ok", True), ("stuck", False)]
    assert "no answer within 0.2 s" in results[1].message


def test_broker_probe_url_gets_short_timeouts_unless_set() -> None:
    url = with_probe_timeouts("amqp://u:p@h:5672/%2F?socket_timeout=9")

    assert "socket_timeout=9" in url
    assert "connection_attempts=1" in url
    assert url.startswith("amqp://u:p@h:5672/%2F?")


def test_app_starts_and_healthz_answers_while_postgres_is_down(tmp_path: Path) -> None:
    # Given a kubeconfig and a database URL where nothing listens
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    settings = make_settings().model_copy(
        update={
            "db": DatabaseSettings(url="postgresql://nobody@127.0.0.1:1/none"),
            "kube": KubeSettings(kubeconfig=str(kubeconfig)),
        }
    )

    # When the real app starts (its lifespan runs)
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz")
        status = client.get(f"/status/{uuid.uuid4()}", headers=AUTH)

    # Then it is alive, and what needs the database is a 503, not a crash
    assert health.status_code == 200
    assert status.status_code == 503
    assert status.json()["error"]["code"] == "database_unavailable"
