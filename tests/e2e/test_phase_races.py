"""Phase races between the operator and a worker, on the real Postgres and RabbitMQ.

Only the operator moves a task from Pending to Queued, in the transaction that publishes its
items, so a worker handed a message before Queued commits must wait for it, and one that finds
the task still Pending must leave it alone. No operator or worker process runs here: the tests
call the operator's `publish` and the worker's `begin_attempts` in the order the race takes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
import yaml

from aidetect.core.config import AmqpSettings, DatabaseSettings, Settings
from aidetect.core.db import AttemptStart, Begun, Database
from aidetect.core.models import TaskMessage, TaskSpec
from aidetect.core.queue import SharedPublisher
from aidetect.core.states import Phase
from aidetect.operator.admission import publish
from aidetect.operator.deps import OperatorDeps


class RacingPublisher(SharedPublisher):
    """Publishes, then lets a worker start the task before the operator's publish returns."""

    def __init__(self, settings: Settings, db: Database) -> None:
        super().__init__(settings.amqp, profiles=settings.profiles().profiles)
        self.db = db
        self.worker: threading.Thread | None = None
        self.begun: list[Begun] = []
        self.blocked = False

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        super().publish_task(profile, message, high=high)
        start = [AttemptStart(message.task_id, 1)]
        self.worker = threading.Thread(
            target=lambda: self.begun.append(self.db.begin_attempts(start, "racing-worker"))
        )
        self.worker.start()
        self.worker.join(timeout=1.0)
        self.blocked = self.worker.is_alive()


def _deps(settings: Settings, db: Database, publisher: SharedPublisher) -> OperatorDeps:
    return OperatorDeps(
        settings=settings,
        db=db,
        kube=None,  # publish never calls the apiserver
        profiles=settings.profiles(),
        publisher=publisher,
    )


# A profile no worker of the session serves: the session's worker, if it runs, would otherwise
# consume the raced message and start the task itself, and win the race the test stages.
RACE_PROFILE = "phase-race"


@pytest.fixture
def settings(database_url: str, amqp_url: str, profiles_file: Path, tmp_path: Path) -> Settings:
    profiles = yaml.safe_load(profiles_file.read_text())
    profiles["profiles"][RACE_PROFILE] = {"kind": "hf-classifier", "model": "/never/loaded"}
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(profiles))
    return Settings(
        db=DatabaseSettings(url=database_url),
        amqp=AmqpSettings(url=amqp_url),
        profiles_file=str(path),
    )


@pytest.fixture
def deps(settings: Settings, db: Database) -> Iterator[OperatorDeps]:
    publisher = SharedPublisher(settings.amqp, profiles=settings.profiles().profiles)
    yield _deps(settings, db, publisher)
    publisher.close()


def _recorded_task(db: Database) -> UUID:
    task_id = uuid.uuid4()
    db.insert_task(
        task_id=task_id,
        namespace="phase-races",
        name=f"race-{task_id.hex[:8]}",
        spec=TaskSpec(text="A raced text."),
        detector=RACE_PROFILE,
        texts=["A raced text."],
        created_at=datetime.now(UTC),
    )
    db.mark_cr_deleted(task_id)  # no CR: an operator left running elsewhere leaves it alone
    return task_id


def _history(db: Database, task_id: UUID) -> list[tuple[Phase | None, Phase]]:
    return [(t.from_phase, t.to_phase) for t in db.transitions(task_id)]


EACH_STEP_ONCE = [
    (None, Phase.PENDING),
    (Phase.PENDING, Phase.QUEUED),
    (Phase.QUEUED, Phase.RUNNING),
]


def test_a_worker_handed_the_message_before_queued_commits_waits_and_starts_the_task_once(
    settings: Settings, db: Database
) -> None:
    # Given a recorded task, and a worker that tries to start it as soon as its item is published
    task_id = _recorded_task(db)
    publisher = RacingPublisher(settings, db)
    try:
        # When the operator publishes it (and records Queued)
        publish(_deps(settings, db, publisher), db.get_task(task_id), [0])
        assert publisher.worker is not None
        publisher.worker.join(timeout=10)
    finally:
        publisher.close()
    # Then the worker waited for Queued to commit, then started the task, each step once
    assert publisher.blocked
    assert publisher.begun == [Begun(running=frozenset({task_id}))]
    assert db.get_task(task_id).phase == Phase.RUNNING
    assert _history(db, task_id) == EACH_STEP_ONCE


def test_a_worker_that_finds_the_task_pending_leaves_it_to_the_operator(
    deps: OperatorDeps, db: Database
) -> None:
    # Given a recorded task whose message a worker got while the operator's publish did not commit
    task_id = _recorded_task(db)
    # When the worker tries to start it
    begun = db.begin_attempts([AttemptStart(task_id, 1)], "racing-worker")
    # Then it stays Pending, with no attempt counted
    assert begun == Begun(unqueued=frozenset({task_id}))
    assert (db.get_task(task_id).phase, db.get_task(task_id).attempts) == (Phase.PENDING, 0)
    # And once the operator publishes it, the worker starts it, each step once
    publish(deps, db.get_task(task_id), [0])
    assert db.begin_attempts([AttemptStart(task_id, 1)], "racing-worker").running == {task_id}
    assert _history(db, task_id) == EACH_STEP_ONCE


def test_the_operators_publish_never_moves_a_running_task_back(
    deps: OperatorDeps, db: Database
) -> None:
    # Given a task that was queued and started
    task_id = _recorded_task(db)
    publish(deps, db.get_task(task_id), [0])
    db.begin_attempts([AttemptStart(task_id, 1)], "racing-worker")
    # When a late admission publishes it again (kopf retried the handler)
    publish(deps, db.get_task(task_id), [0])
    # Then the task stays Running, and its history shows each step once
    assert db.get_task(task_id).phase == Phase.RUNNING
    assert _history(db, task_id) == EACH_STEP_ONCE
