"""An app wired to in-memory fakes of the database and the apiserver, and a client for it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from aidetect.api import deps
from aidetect.api.main import create_app
from aidetect.api.readiness import ReadinessChecker
from aidetect.core.config import AmqpSettings, ApiSettings, Settings
from aidetect.core.memory import MemoryDatabase
from tests.unit.api.fakes import FakeApiServer, FakeLazyDatabase

TOKEN = "unit-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Tenants of the tests that scope tokens: one by token, one by its sha256, one admin.
TEAM_A = {"Authorization": "Bearer team-a-token"}
TEAM_B = {"Authorization": "Bearer team-b-token"}
OPS = {"Authorization": "Bearer ops-token"}
TENANTS: list[dict[str, Any]] = [
    {"name": "team-a", "token": "team-a-token", "namespaces": ["team-a", "shared"]},
    {
        "name": "team-b",
        "sha256": hashlib.sha256(b"team-b-token").hexdigest(),
        "namespaces": ["team-b"],
    },
    {"name": "ops", "token": "ops-token", "namespaces": ["*"]},
]


def write_tenants(path: Path, tenants: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"tenants": tenants}))
    return path


def make_settings(**api: object) -> Settings:
    """Production-like settings: not dev mode, auth on, a real token, a loopback broker."""
    fields: dict[str, object] = {"token": SecretStr(TOKEN), "namespace": "tasks-ns", **api}
    return Settings(
        dev_mode=False,
        api=ApiSettings.model_validate(fields),
        amqp=AmqpSettings(url="amqp://guest:guest@127.0.0.1:5672/%2F"),
    )


@pytest.fixture
def fake_db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def apiserver() -> FakeApiServer:
    return FakeApiServer()


class AmqpSwitch:
    """The RabbitMQ readiness probe, switched by the test."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def probe(self) -> None:
        if self.error is not None:
            raise self.error


@pytest.fixture
def amqp() -> AmqpSwitch:
    return AmqpSwitch()


@pytest.fixture
def build_app(
    fake_db: MemoryDatabase, apiserver: FakeApiServer, amqp: AmqpSwitch
) -> Iterator[Callable[..., FastAPI]]:
    """create_app(settings) with the fakes in place of the database, apiserver and broker.

    The lifespan is not run (TestClient is not entered), so every app.state client is overridden.
    """
    checker = ReadinessChecker()

    def build(settings: Settings | None = None) -> FastAPI:
        app = create_app(settings or make_settings())
        kube = apiserver.api_client()
        app.dependency_overrides[deps.get_database] = lambda: FakeLazyDatabase(fake_db)
        app.dependency_overrides[deps.get_kube] = lambda: kube
        app.dependency_overrides[deps.get_amqp_probe] = lambda: amqp.probe
        app.dependency_overrides[deps.get_readiness] = lambda: checker
        return app

    yield build
    checker.close()


@pytest.fixture
def api(build_app: Callable[..., FastAPI]) -> TestClient:
    """A client of the default app; `raise_server_exceptions=False` so a 500 is observable."""
    return TestClient(build_app(), raise_server_exceptions=False)


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    return write_tenants(tmp_path / "tenants.yaml", TENANTS)


@pytest.fixture
def tenant_api(build_app: Callable[..., FastAPI], tenants_file: Path) -> TestClient:
    """A client of an app with the TENANTS file and the admin token (AUTH) as well."""
    app = build_app(make_settings(tenants_file=str(tenants_file)))
    return TestClient(app, raise_server_exceptions=False)
