"""`BatchRunner` over the in-memory seams: what it acks, retries, fails and writes, once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Self
from uuid import UUID

import pytest

from aidetect.core import conditions
from aidetect.core.errors import InvalidInput
from aidetect.core.memory import (
    MemoryDatabase,
    MemoryRabbit,
    StubBroker,
    StubChannel,
    StubPublisher,
)
from aidetect.core.models import ItemFailure, ItemResult, Score, TaskEvent, TaskMessage, TaskSpec
from aidetect.core.profiles import DetectorProfile
from aidetect.core.queue import Delivery, events_queue
from aidetect.core.states import Phase
from aidetect.worker.detectors.base import Detector, UnscorableItems
from aidetect.worker.runner import BatchRunner

PROFILE = DetectorProfile.model_validate(
    {"name": "roberta", "kind": "hf-classifier", "model": "/models/roberta"}
)


class KeywordDetector(Detector):
    """Scores 0.9 for texts with "robot" in them, else 0.1; raises on "poison" and "short";
    reports texts with "blank" in them as unscorable, alone (`UnscorableItems`)."""

    def __init__(self, demo: bool = False) -> None:
        self.profile, self.model_version, self.device, self.demo = PROFILE, "kw@1", "cpu", demo
        self.calls: list[list[str]] = []

    @classmethod
    def load(cls, profile: DetectorProfile, *, demo_root: Path | None = None) -> Self:
        return cls()

    def score(self, texts: Sequence[str], *, sentences: bool = False) -> list[Score]:
        self.calls.append(list(texts))
        if any("poison" in t for t in texts):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if any("short" in t for t in texts):
            raise InvalidInput("the text has fewer tokens than the model's window")
        scores = [
            Score(score=s, label="ai" if s >= 0.5 else "human", threshold=0.5)
            for s in (0.9 if "robot" in t else 0.1 for t in texts)
        ]
        blank = {i: "too short to score: no tokens" for i, t in enumerate(texts) if "blank" in t}
        if blank:
            raise UnscorableItems([None if i in blank else s for i, s in enumerate(scores)], blank)
        return scores


class World:
    def __init__(self, demo: bool = False) -> None:
        self.db = MemoryDatabase()
        self.rabbit = MemoryRabbit()
        self.events = StubBroker(self.rabbit).declare_events_queue()
        self.channel = StubChannel(self.rabbit, "aidetect.tasks.roberta.normal", prefetch=1000)
        self.detector = KeywordDetector(demo)
        self.runner = BatchRunner(
            db=self.db,
            publisher=StubPublisher(self.rabbit),
            detectors={"roberta": self.detector},
            worker="w1",
            retry_base=1.0,
            retry_cap=8.0,
        )

    def task(self, *texts: str, backoff_limit: int = 3) -> UUID:
        task_id = uuid.uuid4()
        spec = TaskSpec.model_validate({"texts": list(texts), "backoffLimit": backoff_limit})
        self.db.insert_task(
            task_id=task_id,
            namespace="ns",
            name="t",
            spec=spec,
            detector="roberta",
            texts=texts,
            created_at=datetime.now(UTC),
        )
        self.db.transition(task_id, Phase.QUEUED, conditions.REASON_PUBLISHED)
        return task_id

    def delivery(self, task_id: UUID, items: list[int], delivery_count: int = 0) -> Delivery:
        tag = self.channel.next_tag()
        body = TaskMessage(task_id=task_id, items=items).model_dump_json(by_alias=True).encode()
        return Delivery(
            queue=self.channel.queue,
            body=body,
            delivery_tag=tag,
            redelivered=delivery_count > 0,
            delivery_count=delivery_count,
            headers={"x-delivery-count": delivery_count},
            channel=self.channel,
            broker=StubBroker(self.rabbit),
        )

    def run(self, *deliveries: Delivery) -> list[tuple[Delivery, str]]:
        return [(d.delivery, d.action) for d in self.runner.process("roberta", deliveries)]

    def announced(self) -> list[tuple[str, UUID]]:
        return [
            (e.type, e.task_id)
            for e in map(TaskEvent.model_validate_json, self.rabbit.ready(events_queue()))
        ]


@pytest.fixture
def world() -> World:
    return World()


def test_a_batch_of_several_tasks_is_scored_in_one_call_and_acked(world: World) -> None:
    one, two = world.task("a robot wrote this"), world.task("a person wrote this", "robot")
    d1, d2 = world.delivery(one, [0]), world.delivery(two, [0, 1])
    assert world.run(d1, d2) == [(d1, "ack"), (d2, "ack")]
    assert world.detector.calls == [["a robot wrote this", "a person wrote this", "robot"]]
    first, second = world.db.get_task(one), world.db.get_task(two)
    assert (first.phase, first.result and first.result.label) == (Phase.SUCCEEDED, "ai")
    assert second.phase == Phase.SUCCEEDED and second.progress.done == 2
    assert world.announced() == [("finished", one), ("finished", two)]


def test_an_unscorable_text_fails_alone_and_the_rest_of_the_batch_is_scored(
    world: World,
) -> None:
    # Given one batch of two tasks, the first with an unscorable text among good ones
    mixed, other = world.task("robot", "blank", "person"), world.task("a robot wrote this")
    d1, d2 = world.delivery(mixed, [0, 1, 2]), world.delivery(other, [0])
    # When it runs, then it is scored in one call and both messages are acked
    assert world.run(d1, d2) == [(d1, "ack"), (d2, "ack")]
    assert len(world.detector.calls) == 1
    # and the text fails on its own, with its cause; its task succeeds on the scored items
    task = world.db.get_task(mixed)
    assert (task.phase, task.progress.done, task.progress.failed) == (Phase.SUCCEEDED, 2, 1)
    assert task.message == "1 of 3 item(s) could not be scored"
    items = world.db.items(mixed)
    assert [type(i) for i in items] == [ItemResult, ItemFailure, ItemResult]
    failed = items[1]
    assert isinstance(failed, ItemFailure) and failed.reason == conditions.REASON_INVALID_INPUT
    assert failed.message == "roberta cannot score this text: too short to score: no tokens"
    assert world.db.get_task(other).phase == Phase.SUCCEEDED
    assert world.announced() == [("finished", mixed), ("finished", other)]


def test_a_task_none_of_whose_texts_can_be_scored_fails_with_invalid_input(
    world: World,
) -> None:
    task_id, other = world.task("blank", "blank too"), world.task("robot")
    d1, d2 = world.delivery(task_id, [0, 1]), world.delivery(other, [0])
    assert world.run(d1, d2) == [(d1, "ack"), (d2, "ack")]
    task = world.db.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_INVALID_INPUT)
    assert task.message is not None and task.message.startswith(
        "none of the 2 item(s) could be scored; item 0: roberta cannot score this text"
    )
    assert world.db.get_task(other).phase == Phase.SUCCEEDED
    assert ("finished", task_id) in world.announced()


def test_a_redelivery_after_the_commit_writes_nothing_and_is_acked(world: World) -> None:
    task_id = world.task("robot")
    world.run(world.delivery(task_id, [0]))
    again = world.delivery(task_id, [0], delivery_count=1)  # the ack was lost with the worker
    assert world.run(again) == [(again, "ack")]
    assert len(world.detector.calls) == 1  # the ended task is skipped, not rescored
    assert [t.to_phase for t in world.db.transitions(task_id)].count(Phase.SUCCEEDED) == 1


def test_an_ended_task_is_skipped(world: World) -> None:
    task_id = world.task("robot")
    world.db.transition(task_id, Phase.CANCELLED, conditions.REASON_CANCELLED)
    d = world.delivery(task_id, [0])
    assert world.run(d) == [(d, "ack")]
    assert world.detector.calls == [] and world.db.items(task_id) == []


def test_a_detector_error_is_pinned_to_its_message(world: World) -> None:
    good, bad = world.task("robot"), world.task("poison")
    dg, db_ = world.delivery(good, [0]), world.delivery(bad, [0])
    decisions = world.runner.process("roberta", [dg, db_])
    assert [(d.delivery, d.action) for d in decisions] == [(db_, "retry"), (dg, "ack")]
    assert next(d.delay for d in decisions if d.action == "retry") > 0
    assert world.db.get_task(good).phase == Phase.SUCCEEDED
    bad_task = world.db.get_task(bad)
    assert bad_task.phase == Phase.RUNNING and bad_task.attempts == 1
    assert "CUDA error" in (bad_task.message or "")


def test_an_input_the_model_cannot_score_fails_at_once(world: World) -> None:
    task_id = world.task("short")
    d = world.delivery(task_id, [0])
    assert world.run(d) == [(d, "ack")]
    task = world.db.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_INVALID_INPUT)
    assert world.announced()[-1] == ("finished", task_id)


def test_the_last_allowed_attempt_fails_the_task(world: World) -> None:
    task_id = world.task("poison", backoff_limit=1)
    d = world.delivery(task_id, [0], delivery_count=1)  # attempt 2 of 1 + backoffLimit
    assert world.run(d) == [(d, "ack")]
    task = world.db.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_BACKOFF_LIMIT_EXCEEDED)


def test_deliveries_past_the_backoff_limit_fail_the_task_unscored(world: World) -> None:
    # x-delivery-count says earlier workers died on it (crash, OOM): those attempts count too
    task_id = world.task("robot", backoff_limit=2)
    d = world.delivery(task_id, [0], delivery_count=3)
    assert world.run(d) == [(d, "ack")]
    task = world.db.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_BACKOFF_LIMIT_EXCEEDED)
    assert "3 attempt(s)" in (task.message or "") and world.detector.calls == []


def test_an_unreadable_message_is_dead_lettered(world: World) -> None:
    d = world.delivery(uuid.uuid4(), [0])
    broken = Delivery(d.queue, b"{not json", d.delivery_tag, False, 0, {}, d.channel, d.broker)
    assert world.run(broken) == [(broken, "reject")]


def test_a_message_for_an_unknown_task_is_dropped(world: World) -> None:
    d = world.delivery(uuid.uuid4(), [0])
    assert world.run(d) == [(d, "ack")]


def test_scores_are_cached_and_reused_across_tasks(world: World) -> None:
    first, second = world.task("robot text"), world.task("robot text")
    world.run(world.delivery(first, [0]))
    world.run(world.delivery(second, [0]))
    assert world.detector.calls == [["robot text"]]
    (item,) = world.db.items(second)
    assert isinstance(item, ItemResult) and item.cached and item.score == 0.9


def test_a_demo_models_scores_are_never_cached() -> None:
    world = World(demo=True)
    first, second = world.task("robot"), world.task("robot")
    world.run(world.delivery(first, [0]))
    world.run(world.delivery(second, [0]))
    assert len(world.detector.calls) == 2


def test_an_outage_while_committing_hands_the_batch_back_unwritten(world: World) -> None:
    task_id = world.task("robot")
    d = world.delivery(task_id, [0])
    scored = world.runner.score(world.runner.prepare("roberta", [d]))
    world.db.up = False
    decisions = world.runner.commit(scored)
    world.db.up = True
    assert [(x.delivery, x.action) for x in decisions] == [(d, "retry")]
    assert world.db.items(task_id) == [] and world.db.get_task(task_id).phase == Phase.RUNNING
    assert world.run(world.delivery(task_id, [0], delivery_count=1))[0][1] == "ack"
    assert world.db.get_task(task_id).phase == Phase.SUCCEEDED
