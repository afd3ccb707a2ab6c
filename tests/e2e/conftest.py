"""Fixtures for e2e tests: a real cluster with the CRD installed, real Postgres, RabbitMQ and S3."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from aidetect.core.db import Database, upgrade_schema
from tests.utils.namespaces import fresh_namespace
from tests.utils.objects import (
    S3Client,
    S3Service,
    empty_and_delete_bucket,
    s3_client,
    unique_bucket_name,
)
from tests.utils.processes import ManagedProcess
from tests.utils.services import LocalServices
from tests.utils.tiny_models import tiny_causal_lm, tiny_classifier


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
    with fresh_namespace(core_api, "t") as name:
        yield name


@pytest.fixture(scope="session")
def database_url(services: LocalServices) -> str:
    return services.database_url()


@pytest.fixture(scope="session")
def amqp_url(services: LocalServices) -> str:
    return services.amqp_url()


@pytest.fixture(scope="session")
def object_store(services: LocalServices) -> S3Service:
    """A real S3-compatible server (hack/s3.sh: SeaweedFS, authentication on)."""
    return services.s3()


@pytest.fixture
def bucket(object_store: S3Service) -> Iterator[tuple[S3Client, str]]:
    """A fresh, uniquely named bucket and an admin client; emptied and deleted afterwards."""
    client = s3_client(object_store)
    name = unique_bucket_name()
    client.create_bucket(Bucket=name)
    yield client, name
    empty_and_delete_bucket(client, name)


# --- the running system: operator, worker and API as real processes --------------------------

SYSTEM_SETTINGS = {
    "AIDETECT_LOG_FORMAT": "text",
    "AIDETECT_LOG_LEVEL": "INFO",
    "AIDETECT_OPERATOR_LIVENESS_PORT": "0",
    "AIDETECT_OPERATOR_READINESS_PORT": "0",
    "AIDETECT_WORKER_HEALTH_PORT": "0",
    "AIDETECT_AMQP_RECONNECT_MAX_SECONDS": "2",
    "AIDETECT_OPERATOR_RESYNC_INTERVAL_SECONDS": "1",
    "AIDETECT_OPERATOR_DRIFT_CHECK_INTERVAL_SECONDS": "1",
    "AIDETECT_OPERATOR_STUCK_AFTER_SECONDS": "60",
    "AIDETECT_OPERATOR_ITEMS_PER_MESSAGE": "4",
    "AIDETECT_WORKER_MAX_BATCH": "8",
    "AIDETECT_WORKER_MAX_WAIT_MS": "20",
    "AIDETECT_WORKER_HEARTBEAT_SECONDS": "2",
    "AIDETECT_WORKER_RETRY_BASE_SECONDS": "0.2",
    "AIDETECT_WORKER_RETRY_MAX_SECONDS": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained classifier saved with save_pretrained, loaded by the real code path."""
    return tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-classifier")


@pytest.fixture(scope="session")
def tiny_lms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny causal LMs with one tokenizer (an observer and a performer, say)."""
    root = tmp_path_factory.mktemp("lms")
    return tiny_causal_lm(root / "lm-a", seed=0), tiny_causal_lm(root / "lm-b", seed=1)


# The zero-shot profiles of the e2e tests: one per kind, on the tiny causal LMs.
ZERO_SHOT_PROFILES = ("binoculars-tiny", "fast-detectgpt-tiny", "perplexity-tiny", "log-rank-tiny")


@pytest.fixture(scope="session")
def profiles_file(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_lms: tuple[Path, Path]
) -> Path:
    classifier = {
        "kind": "hf-classifier",
        "model": str(tiny_model),
        "aiLabel": "Fake",
        "threshold": 0.5,
    }
    lm_a, lm_b = (str(p) for p in tiny_lms)
    profiles = {
        "default": "tiny",
        "profiles": {
            **dict.fromkeys(("tiny", "poison", "slow", "priority"), classifier),
            "binoculars-tiny": {"kind": "binoculars", "model": lm_a, "referenceModel": lm_b},
            "fast-detectgpt-tiny": {"kind": "fast-detectgpt", "model": lm_a, "threshold": 0.0},
            "perplexity-tiny": {"kind": "perplexity", "model": lm_a, "threshold": 5.0},
            "log-rank-tiny": {
                "kind": "perplexity",
                "model": lm_a,
                "metric": "log-rank",
                "threshold": 3.0,
            },
        },
    }
    path = tmp_path_factory.mktemp("config") / "profiles.yaml"
    path.write_text(yaml.safe_dump(profiles))
    return path


@pytest.fixture(scope="session")
def system_env(
    kubeconfig: str, database_url: str, amqp_url: str, profiles_file: Path
) -> dict[str, str]:
    """The environment every aidetect process of the test session runs with."""
    upgrade_schema(database_url)
    return {
        **SYSTEM_SETTINGS,
        "KUBECONFIG": kubeconfig,
        "AIDETECT_DATABASE_URL": database_url,
        "AIDETECT_AMQP_URL": amqp_url,
        "AIDETECT_PROFILES_FILE": str(profiles_file),
    }


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def operator_port() -> int:
    """The session operator's readiness and /metrics port."""
    return free_port()


@pytest.fixture(scope="session")
def operator(
    system_env: dict[str, str], logs_dir: Path, operator_port: int
) -> Iterator[ManagedProcess]:
    proc = ManagedProcess(
        "operator",
        ["-m", "aidetect.cli", "operator"],
        {**system_env, "AIDETECT_OPERATOR_READINESS_PORT": str(operator_port)},
        logs_dir,
    ).start()
    proc.wait_for_log("Activity 'startup' succeeded")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def worker(
    system_env: dict[str, str], logs_dir: Path, operator: ManagedProcess
) -> Iterator[ManagedProcess]:
    proc = ManagedProcess(
        "worker",
        ["-m", "aidetect.cli", "worker", "--detector", "tiny"],
        {**system_env, "AIDETECT_WORKER_NAME": "worker-main"},
        logs_dir,
    ).start()
    assert operator.running, "the worker is started after the operator, which must be up"
    proc.wait_for_log("serving ['tiny']")
    yield proc
    proc.stop()


API_TOKEN = "e2e-process-token"


@pytest.fixture(scope="session")
def api_url(system_env: dict[str, str], logs_dir: Path, worker: ManagedProcess) -> Iterator[str]:
    """The API as its own process (uvicorn) on a port of its own; admin token API_TOKEN."""
    port = free_port()
    proc = ManagedProcess(
        "api-process",
        ["-m", "aidetect.cli", "api"],
        {
            **system_env,
            "AIDETECT_API_TOKEN": API_TOKEN,
            "AIDETECT_API_HOST": "127.0.0.1",
            "AIDETECT_API_PORT": str(port),
        },
        logs_dir,
    ).start()
    assert worker.running
    proc.wait_for_log("Uvicorn running")
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    upgrade_schema(database_url)
    database = Database(database_url, pool_max=4)
    yield database
    database.close()
