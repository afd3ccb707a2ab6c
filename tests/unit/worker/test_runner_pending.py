"""A task still Pending is the operator's to move on: the worker drops its message, unscored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aidetect.core.db import AttemptStart, BatchSnapshot, Begun, ItemsWanted, ItemToScore
from aidetect.core.models import TaskMessage
from aidetect.core.queue import Delivery
from aidetect.core.states import Phase
from aidetect.worker.runner import BatchRunner
from tests.unit.api.fakes import task_record


class PendingDatabase:
    """One task, which `begin_attempts` finds still Pending under its row lock."""

    def __init__(self) -> None:
        self.task = task_record(Phase.PENDING)
        self.started: list[Sequence[AttemptStart]] = []

    def read_batch(self, wanted: Sequence[ItemsWanted]) -> BatchSnapshot:
        item = ItemToScore(self.task.id, 0, "a text")
        return BatchSnapshot(tasks={self.task.id: self.task}, unscored={(self.task.id, 0): item})

    def begin_attempts(self, starts: Sequence[AttemptStart], worker: str) -> Begun:
        self.started.append(starts)
        return Begun(unqueued=frozenset({self.task.id}))


def test_a_message_whose_task_is_still_pending_is_acked_and_not_scored() -> None:
    db = PendingDatabase()
    body = TaskMessage(task_id=db.task.id, items=[0]).model_dump_json(by_alias=True).encode()
    unused: Any = None
    delivery = Delivery("q", body, 1, False, 0, {}, unused, unused)
    fake: Any = db
    runner = BatchRunner(
        db=fake, publisher=unused, detectors={}, worker="w", retry_base=1, retry_cap=1
    )

    prepared = runner.prepare("p", [delivery])

    assert db.started == [[AttemptStart(db.task.id, 1)]]
    assert prepared.work == []
    assert [(d.delivery, d.action) for d in prepared.decided] == [(delivery, "ack")]
