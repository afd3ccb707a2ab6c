"""Phase races between the operator and a worker, on the real Postgres and RabbitMQ.

The operator publishes a task's items before it records Queued, so a fast worker can start the
task first. No operator or worker process runs here: the test calls the operator's `publish` and
the worker's `begin_attempts` in the order the race takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aidetect.core.config import AmqpSettings, DatabaseSettings, Settings
from aidetect.core.db import AttemptStart, Database
from aidetect.core.models import TaskSpec
from aidetect.core.queue import SharedPublisher
from aidetect.core.states import Phase
from aidetect.operator.admission import publish
from aidetect.operator.deps import OperatorDeps


@pytest.fixture
def deps(
    database_url: str, amqp_url: str, profiles_file: Path, db: Database
) -> Iterator[OperatorDeps]:
    settings = Settings(
        db=DatabaseSettings(url=database_url),
        amqp=AmqpSettings(url=amqp_url),
        profiles_file=str(profiles_file),
    )
    profiles = settings.profiles()
    publisher = SharedPublisher(settings.amqp, profiles=profiles.profiles)
    yield OperatorDeps(
        settings=settings,
        db=db,
        kube=None,  # publish never calls the apiserver
        profiles=profiles,
        publisher=publisher,
    )
    publisher.close()


def test_a_worker_that_starts_the_task_before_the_operator_records_queued_keeps_it_running(
    deps: OperatorDeps, db: Database
) -> None:
    # Given a recorded task that a worker started before the operator marked it Queued
    task_id = uuid.uuid4()
    db.insert_task(
        task_id=task_id,
        namespace="phase-races",
        name=f"race-{task_id.hex[:8]}",
        spec=TaskSpec(text="A raced text."),
        detector="tiny",
        texts=["A raced text."],
        created_at=datetime.now(UTC),
    )
    db.mark_cr_deleted(task_id)  # no CR: an operator left running elsewhere leaves it alone
    assert db.begin_attempts([AttemptStart(task_id, 1)], "racing-worker") == {task_id}
    # When the operator's publish then records Queued
    publish(deps, db.get_task(task_id), [0])
    # Then the task stays Running, and its history shows each step once
    assert db.get_task(task_id).phase == Phase.RUNNING
    assert [(t.from_phase, t.to_phase) for t in db.transitions(task_id)] == [
        (None, Phase.PENDING),
        (Phase.PENDING, Phase.QUEUED),
        (Phase.QUEUED, Phase.RUNNING),
    ]
