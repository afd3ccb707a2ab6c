"""Fixtures for the cluster tests: the one-node cluster that `make cluster-up` left running.

They never start it: `make cluster-up` does (minutes, and it builds images), and these tests
fail loudly when it is not up. Every test here is marked `cluster`.
"""

from __future__ import annotations

import base64
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from aidetect.core.db import Database
from tests.utils.namespaces import fresh_namespace

RELEASE = "aidetect"
NAMESPACE = "aidetect"
NODE = "aidetect-node"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.cluster)


def _cluster_env() -> dict[str, str]:
    state = Path(os.environ.get("AIDETECT_CLUSTER_DIR", "/tmp/aidetect-cluster"))
    env_file = state / "env.sh"
    if not env_file.exists():
        pytest.fail(f"no cluster: {env_file} is missing. Run `make cluster-up` first.")
    env: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            for item in shlex.split(line[len("export ") :]):
                name, _, value = item.partition("=")
                env[name] = os.path.expandvars(value)
    return env


@pytest.fixture(scope="session", autouse=True)
def cluster_env() -> dict[str, str]:
    """KUBECONFIG, PATH and the API's address from cluster-up's env.sh, exported for kubectl."""
    env = _cluster_env()
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def api_client(cluster_env: dict[str, str]) -> client.ApiClient:
    return config.new_client_from_config(config_file=cluster_env["KUBECONFIG"])


@pytest.fixture(scope="session")
def core_api(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom_api(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def secret_value(core: client.CoreV1Api, name: str, key: str) -> str:
    data = core.read_namespaced_secret(name, NAMESPACE).data
    return base64.b64decode(data[key]).decode()


@pytest.fixture(scope="session")
def api_token(core_api: client.CoreV1Api) -> str:
    return secret_value(core_api, f"{RELEASE}-api-token", "token")


@pytest.fixture(scope="session")
def db(core_api: client.CoreV1Api) -> Iterator[Database]:
    """The bundled Postgres, at its pod's IP (its Service is headless): the pod bridge is local."""
    pod = core_api.read_namespaced_pod(f"{RELEASE}-postgresql-0", NAMESPACE)
    password = secret_value(core_api, f"{RELEASE}-postgresql", "password")
    url = f"postgresql://aidetect:{password}@{pod.status.pod_ip}:5432/aidetect"
    database = Database(url, pool_max=2)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def namespace(core_api: client.CoreV1Api) -> Iterator[str]:
    """A namespace per test for its tasks, deleted afterwards."""
    with fresh_namespace(core_api, "ct") as name:
        yield name
