"""schemathesis against the real running API: no 5xx, and no status its OpenAPI does not list.

`aidetect api` runs as a process against the real kube-apiserver, Postgres and RabbitMQ, with a
tenants file. schemathesis reads /openapi.json and sends what it generates from it (examples,
boundary and negative cases, random data, and chains that follow POST /predict), with a tenant's
token limited to two fresh namespaces, so that what it creates stays in them. The examples per
operation are bounded, so the run takes about a minute on two cores.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from aidetect.core.db import upgrade_schema
from tests.utils.namespaces import fresh_namespace, release_finalizers
from tests.utils.processes import ManagedProcess

TOKEN = "schemathesis-tenant-token"
# The checks that must find nothing. Left out: positive_data_acceptance, which flags what the
# schema cannot say (an opaque cursor, a blank text), and negative_data_rejection, which flags
# pydantic's lax coercions (5.0 for 5); both are advice, not bugs of the contract.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
)
MAX_EXAMPLES = 100
SEED = 20260101


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(url: str, proc: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if not proc.running:
                raise AssertionError(f"the API exited:\n{proc.log_tail()}") from None
            time.sleep(0.3)
    raise AssertionError(f"the API never answered /healthz:\n{proc.log_tail()}")


@pytest.fixture
def tenant_namespaces(
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi
) -> Iterator[list[str]]:
    with fresh_namespace(core_api, "st") as first, fresh_namespace(core_api, "st") as second:
        yield [first, second]
        for namespace in (first, second):
            release_finalizers(custom_api, namespace)


@pytest.fixture
def api_url(
    kubeconfig: str,
    database_url: str,
    amqp_url: str,
    tenant_namespaces: list[str],
    tmp_path: Path,
) -> Iterator[str]:
    """`aidetect api` on a free port, with one tenant whose token reaches `tenant_namespaces`."""
    upgrade_schema(database_url)
    tenants = tmp_path / "tenants.yaml"
    tenant = {"name": "schemathesis", "token": TOKEN, "namespaces": tenant_namespaces}
    tenants.write_text(yaml.safe_dump({"tenants": [tenant]}))
    port = free_port()
    env = {
        "KUBECONFIG": kubeconfig,
        "AIDETECT_DATABASE_URL": database_url,
        "AIDETECT_AMQP_URL": amqp_url,
        "AIDETECT_API_HOST": "127.0.0.1",
        "AIDETECT_API_PORT": str(port),
        "AIDETECT_API_TENANTS_FILE": str(tenants),
        "AIDETECT_API_NAMESPACE": tenant_namespaces[0],
        "AIDETECT_LOG_FORMAT": "text",
        "AIDETECT_LOG_LEVEL": "WARNING",
    }
    proc = ManagedProcess("api-schemathesis", ["-m", "aidetect.cli", "api"], env, tmp_path).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        yield url
    finally:
        proc.stop()


def run_schemathesis(url: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: hypothesis parses sources with `ast` from every worker thread, and on
        # CPython 3.11 concurrent parses can fail ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=report.parent, check=False
    )


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    api_url: str, tmp_path: Path
) -> None:
    report = tmp_path / "schemathesis.json"

    proc = run_schemathesis(api_url, report)

    output = proc.stdout + proc.stderr
    assert report.exists(), output
    run: dict[str, Any] = json.loads(report.read_text())
    totals = {
        "operations": run["operations"]["tested"],
        "test_cases": run["test_cases"]["generated"],
        "failures": run["test_cases"]["with_failures"],
        "errors": len(run["errors"]),
        "seconds": round(run["running_time"], 1),
    }
    print(f"schemathesis totals: {json.dumps(totals)}")
    assert run["failures"] == [] and run["errors"] == [], output
    assert totals["operations"] == run["operations"]["total"] == 11, output
    assert totals["test_cases"] > 11 * 10, output
    assert proc.returncode == 0, output
