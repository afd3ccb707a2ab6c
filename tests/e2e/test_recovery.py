"""Components recover in-process from a broker that dies (kill -9) and comes back.

Real RabbitMQ, killed with SIGKILL and restarted on its own ports; the session's operator and
worker are never restarted, and a second worker reports its readiness on /readyz meanwhile.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from tests.utils.factories import detection_task
from tests.utils.processes import ManagedProcess
from tests.utils.services import LocalServices
from tests.utils.waiting import eventually, wait_for_phase

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def probed_worker(
    system_env: dict[str, str], logs_dir: Path, worker: ManagedProcess
) -> Iterator[tuple[ManagedProcess, int]]:
    assert worker.running, "the session's worker runs beside this one"
    port = _free_port()
    proc = ManagedProcess(
        "worker-probed",
        ["-m", "aidetect.cli", "worker", "--detector", "tiny"],
        {
            **system_env,
            "AIDETECT_WORKER_NAME": "worker-probed",
            "AIDETECT_WORKER_HEALTH_PORT": str(port),
        },
        logs_dir,
    ).start()
    proc.wait_for_log("serving ['tiny']")
    yield proc, port
    proc.stop()


def test_broker_killed_and_restarted_nothing_restarts_and_tasks_finish(
    services: LocalServices,
    operator: ManagedProcess,
    worker: ManagedProcess,
    probed_worker: tuple[ManagedProcess, int],
    custom_api: client.CustomObjectsApi,
    namespace: str,
) -> None:
    probed, port = probed_worker
    pids = {p.name: p.proc.pid for p in (operator, worker, probed) if p.proc}
    assert _readyz(port) == (200, {"status": "ready"})

    # Given a broker killed with SIGKILL
    services.kill_broker()
    # Then the workers say they are not ready, naming only the failing check
    eventually(
        lambda: _readyz(port) == (503, {"status": "not_ready", "failing": ["rabbitmq"]}),
        timeout=20,
        what="/readyz to report the lost broker",
    )
    # When a task is created during the outage and the broker comes back on its ports
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task("during-outage")
    )
    services.restart_broker()
    # Then the task succeeds, the same processes serve it, and readiness is back
    wait_for_phase(custom_api, namespace, "during-outage", {"Succeeded"}, timeout=90)
    for proc in (operator, worker, probed):
        assert proc.running, f"{proc.name} exited:\n{proc.log_tail()}"
        assert proc.proc is not None and proc.proc.pid == pids[proc.name]
    eventually(lambda: _readyz(port)[0] == 200, timeout=20, what="/readyz to be ready again")
    assert "lost RabbitMQ" in worker.log_path.read_text()


@pytest.mark.parametrize(
    "args", [["worker", "--detector", "tiny"], ["operator"]], ids=["worker", "operator"]
)
def test_a_broker_away_longer_than_the_outage_limit_exits_non_zero(
    system_env: dict[str, str], logs_dir: Path, args: list[str]
) -> None:
    # Given a broker address where nothing listens, and an outage limit of 3 s
    env = {
        **system_env,
        "AIDETECT_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{_free_port()}/%2F",
        "AIDETECT_AMQP_OUTAGE_LIMIT_SECONDS": "3",
        "AIDETECT_WORKER_NAME": "worker-no-broker",
    }
    proc = ManagedProcess(f"{args[0]}-no-broker", ["-m", "aidetect.cli", *args], env, logs_dir)
    proc.start()
    assert proc.proc is not None
    try:
        # Then it retries for the limit, not less, and then exits 1 saying why
        code = proc.proc.wait(timeout=90)
    finally:
        proc.kill()
    log = proc.log_path.read_text()
    assert code == 1, log
    assert "retrying in" in log
    assert "unreachable for over 3s" in log


def test_after_a_postgres_restart_the_first_query_on_the_pool_succeeds(
    services: LocalServices, database_url: str
) -> None:
    # Given a pool whose connections were all opened before an immediate Postgres restart
    db = Database(database_url, pool_max=3)
    try:
        with db.transaction(), db.transaction(), db.transaction():
            pass  # three connections open at once, back in the pool now
        services.restart_database()
        # Then no query is handed a connection the server closed: each one succeeds at once
        for _ in range(5):
            db.ping()
    finally:
        db.close()
