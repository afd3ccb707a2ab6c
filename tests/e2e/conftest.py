"""Fixtures for e2e tests: a real cluster with the CRD installed, real Postgres and RabbitMQ."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.utils.services import HACK, LocalServices


@pytest.fixture(scope="session")
def kubeconfig(services: LocalServices) -> str:
    """A real kube-apiserver with the DetectionTask CRD and the operator's RBAC applied."""
    path = services.kubeconfig()
    proc = subprocess.run(
        ["bash", str(HACK / "install-crds.sh")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"hack/install-crds.sh failed:\n{proc.stderr}"
    return path


@pytest.fixture(scope="session")
def api_client(kubeconfig: str) -> client.ApiClient:
    """A Kubernetes API client with the admin credentials of the test cluster."""
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def custom_api(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def core_api(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core_api: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (the namespace controller empties it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core_api.delete_namespace(name)


@pytest.fixture(scope="session")
def database_url(services: LocalServices) -> str:
    return services.database_url()


@pytest.fixture(scope="session")
def amqp_url(services: LocalServices) -> str:
    return services.amqp_url()
