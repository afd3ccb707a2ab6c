"""An outage in any stage hands the batch back: nothing is acked that was not committed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.models import TaskMessage
from aidetect.core.queue import Delivery
from aidetect.worker.runner import BatchRunner
from aidetect.worker.work import Decision, ScoredBatch, ScoredMessage, Work


class AwayDatabase:
    """Every call fails as when Postgres restarts."""

    def __getattr__(self, name: str) -> Any:
        def away(*_args: object, **_kwargs: object) -> None:
            raise DatabaseUnavailable("Postgres is restarting")

        return away


def _delivery(tag: int) -> Delivery:
    body = TaskMessage(task_id=uuid4(), items=[0]).model_dump_json(by_alias=True).encode()
    unused: Any = None
    return Delivery("q", body, tag, False, 0, {}, unused, unused)


def _runner() -> BatchRunner:
    unused: Any = None
    db: Any = AwayDatabase()
    return BatchRunner(db=db, publisher=unused, detectors={}, worker="w", retry_base=1, retry_cap=1)


def test_an_outage_while_reading_hands_every_delivery_back() -> None:
    deliveries = [_delivery(1), _delivery(2)]
    prepared = _runner().prepare("p", deliveries)
    assert prepared.work == []
    assert [(d.delivery, d.action, d.delay) for d in prepared.decided] == [
        (deliveries[0], "retry", 2.0),
        (deliveries[1], "retry", 2.0),
    ]


def test_an_outage_while_committing_keeps_earlier_decisions_and_acks_nothing_else() -> None:
    skipped, scored = _delivery(1), _delivery(2)
    task: Any = SimpleNamespace(id=uuid4())
    detector: Any = SimpleNamespace(model_version="v")
    batch = ScoredBatch(
        decided=[Decision(skipped, "ack")],
        parts=[ScoredMessage(Work(scored, task, []), [])],
        detector=detector,
    )
    decisions = _runner().commit(batch)
    assert [(d.delivery, d.action) for d in decisions] == [(skipped, "ack"), (scored, "retry")]
