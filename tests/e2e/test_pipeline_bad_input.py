"""Inputs that must end their own task, cleanly, and stop nothing else (issue 10's regressions).

Real kube-apiserver, Postgres, RabbitMQ and operator: a ConfigMap that holds a NUL or nothing
visible, and spec values that once overflowed the resync's SQL.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import psycopg2
import pytest
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from aidetect.core.errors import DatabaseRefused
from aidetect.core.models import (
    MAX_ACTIVE_DEADLINE_SECONDS,
    MAX_TTL_SECONDS_AFTER_FINISHED,
    TaskSpec,
)
from tests.utils.factories import detection_task
from tests.utils.waiting import wait_for_phase


def _config_map(core: client.CoreV1Api, namespace: str, name: str, value: str) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"text": value})
    core.create_namespaced_config_map(namespace, body)


def _failed_reason(cr: dict[str, Any]) -> tuple[str, str]:
    failed = next(c for c in cr["status"]["conditions"] if c["type"] == "Failed")
    return failed["reason"], failed["message"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("before\x00after", "contains a NUL character (U+0000) at offset 6"),
        ("\u200b\u200b\n\ufeff", "holds no text"),
    ],
    ids=["nul", "zero-width-only"],
)
@pytest.mark.usefixtures("operator")
def test_text_from_that_postgres_cannot_hold_fails_as_invalid_input(
    namespace: str,
    custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
    db: Database,
    value: str,
    why: str,
) -> None:
    # Given a ConfigMap whose value the apiserver accepts but Postgres cannot store (or is blank)
    _config_map(core_api, namespace, "bad-text", value)
    ref = {"configMapKeyRef": {"name": "bad-text", "key": "text"}}
    custom_api.create_namespaced_custom_object(
        crd.GROUP, crd.VERSION, namespace, crd.PLURAL, detection_task("bad", textFrom=ref)
    )
    # When the operator admits it, then the task fails for good with reason InvalidInput
    cr = wait_for_phase(custom_api, namespace, "bad", {"Failed"}, timeout=30)
    reason, message = _failed_reason(cr)
    assert reason == "InvalidInput"
    assert why in message
    row = db.get_task(UUID(cr["metadata"]["uid"]))
    assert (row.phase, row.reason, row.progress.total) == ("Failed", "InvalidInput", 0)


HUGE = 10**13  # accepted by the CRD, the API and the database before the bounds

OVER_THE_BOUNDS = {
    # model_construct skips the model's own bounds: this is what an old CRD could let through
    "deadline": TaskSpec.model_construct(text="x", active_deadline_seconds=HUGE),
    "ttl": TaskSpec.model_construct(text="x", ttl_seconds_after_finished=HUGE),
}


@pytest.mark.parametrize("spec", OVER_THE_BOUNDS.values(), ids=OVER_THE_BOUNDS.keys())
def test_the_database_refuses_bounds_the_crd_refuses(db: Database, spec: TaskSpec) -> None:
    with pytest.raises(DatabaseRefused) as refused:
        db.insert_task(
            task_id=uuid4(),
            namespace="default",
            name="huge",
            spec=spec,
            detector="default",
            texts=["x"],
            created_at=db_now(db),
        )
    # A CHECK constraint refused it, and core says so in its own type
    assert refused.value.pgcode == "23514"
    assert isinstance(refused.value.__cause__, psycopg2.errors.CheckViolation)


def db_now(db: Database) -> Any:
    with db.transaction() as cur:
        cur.execute("SELECT now() AS now")
        return cur.fetchone()["now"]


def test_resync_queries_hold_the_largest_bounds(db: Database) -> None:
    # Given a task with the largest deadline and TTL the CRD allows
    task_id = uuid4()
    spec = TaskSpec(
        text="x",
        active_deadline_seconds=MAX_ACTIVE_DEADLINE_SECONDS,
        ttl_seconds_after_finished=MAX_TTL_SECONDS_AFTER_FINISHED,
    )
    db.insert_task(
        task_id=task_id,
        namespace="default",
        name="bounded",
        spec=spec,
        detector="default",
        texts=["x"],
        created_at=db_now(db),
    )
    # When the resync asks for deadlines and TTLs, then the queries answer without the task
    assert task_id not in {r.id for r in db.past_deadline()}
    assert task_id not in {r.id for r in db.past_ttl()}
