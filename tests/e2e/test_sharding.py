"""Two operators share one cluster by namespace, at once, and neither handles the other's tasks.

The way past one operator: each replica gets its own `namespaces` and `shard` (its own events
queue). The session's cluster-wide operator is stopped meanwhile and started again after.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from tests.utils.factories import detection_task
from tests.utils.namespaces import fresh_namespace
from tests.utils.processes import ManagedProcess
from tests.utils.waiting import wait_for_phase

pytestmark = pytest.mark.slow
TASKS_PER_SHARD = 8


@pytest.fixture
def no_cluster_wide_operator(operator: ManagedProcess) -> Iterator[None]:
    operator.stop()
    yield
    operator.start()
    operator.wait_for_log("Activity 'startup' succeeded")


def _shard(system_env: dict[str, str], logs_dir: Path, name: str, ns: str) -> ManagedProcess:
    env = {
        **system_env,
        "AIDETECT_OPERATOR_NAMESPACES": f'["{ns}"]',
        "AIDETECT_OPERATOR_SHARD": name,
        "AIDETECT_LOG_LEVEL": "DEBUG",  # every status sync is logged with its task id
    }
    proc = ManagedProcess(f"operator-{name}", ["-m", "aidetect.cli", "operator"], env, logs_dir)
    proc.start().wait_for_log("Activity 'startup' succeeded")
    return proc


@pytest.mark.usefixtures("no_cluster_wide_operator", "worker")
def test_two_operators_with_their_own_namespaces_handle_only_their_own_tasks(
    system_env: dict[str, str],
    logs_dir: Path,
    core_api: client.CoreV1Api,
    custom_api: client.CustomObjectsApi,
    db: Database,
) -> None:
    with fresh_namespace(core_api, "shard-a") as ns_a, fresh_namespace(core_api, "shard-b") as ns_b:
        shards = {
            "a": _shard(system_env, logs_dir, "a", ns_a),
            "b": _shard(system_env, logs_dir, "b", ns_b),
        }
        try:
            # Given tasks in both namespaces, created while both operators run
            uids: dict[str, set[str]] = {"a": set(), "b": set()}
            for shard, ns in (("a", ns_a), ("b", ns_b)):
                for i in range(TASKS_PER_SHARD):
                    created = custom_api.create_namespaced_custom_object(
                        crd.GROUP, crd.VERSION, ns, crd.PLURAL, detection_task(f"t{i}")
                    )
                    uids[shard].add(created["metadata"]["uid"])
            # Then every task succeeds, exactly once
            for ns in (ns_a, ns_b):
                for i in range(TASKS_PER_SHARD):
                    wait_for_phase(custom_api, ns, f"t{i}", {"Succeeded"}, timeout=90)
            for shard in uids:
                for uid in uids[shard]:
                    succeeded = [t for t in db.transitions(UUID(uid)) if t.to_phase == "Succeeded"]
                    assert len(succeeded) == 1
            # And each operator touched only its own namespace's tasks
            for shard, proc in shards.items():
                assert proc.running, proc.log_tail()
                logged = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", proc.log_path.read_text()))
                other = "b" if shard == "a" else "a"
                assert uids[shard] <= logged, f"operator-{shard} did not admit all its tasks"
                assert not uids[other] & logged, f"operator-{shard} handled the other's tasks"
        finally:
            for proc in shards.values():
                proc.stop()
