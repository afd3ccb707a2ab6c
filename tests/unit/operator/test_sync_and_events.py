"""Status sync, success/failure Events, and the events consumer, over the in-memory seams."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aidetect.core import conditions
from aidetect.core.memory import StubBroker
from aidetect.core.models import ItemResult, TaskEvent, TaskMessage
from aidetect.core.queue import DEAD_QUEUE
from aidetect.core.states import Phase
from aidetect.operator import events as events_module
from aidetect.operator.events import EventsConsumer
from aidetect.operator.sync import sync_task
from tests.unit.operator.conftest import NS, World, make_world
from tests.utils.waiting import eventually


def admitted(world: World, spec: dict[str, Any] | None = None, name: str = "t1") -> dict[str, Any]:
    cr = world.apply(spec or {"text": "some text"}, name=name, finalizers=True)
    world.event("ADDED", cr)
    return cr


def finish(world: World, cr: dict[str, Any], score: float = 0.9) -> None:
    """What a worker writes when it scores the task's one item."""
    task_id = world.uid(cr)
    world.db.transition(task_id, Phase.RUNNING, conditions.REASON_SCORING)
    label = "ai" if score >= 0.5 else "human"
    item = ItemResult(index=0, score=score, label=label, threshold=0.5, model_version="m@1")
    assert world.db.record_results(task_id, [item], "w1").finished


def patches(world: World) -> int:
    return sum(1 for m, p in world.apiserver.requests if m == "PATCH" and p.endswith("/status"))


def test_a_sync_patches_only_a_row_that_changed(world: World) -> None:
    cr = admitted(world)
    before = patches(world)
    sync_task(world.deps, world.uid(cr))
    assert patches(world) == before  # already shown
    finish(world, cr)
    record = sync_task(world.deps, world.uid(cr))
    assert record is not None and patches(world) == before + 1
    status = world.status(cr)
    assert (status["phase"], status["result"]["label"]) == ("Succeeded", "ai")
    assert world.db.get_task(world.uid(cr)).cr_version == record.version


def test_a_sync_of_a_cr_that_is_gone_marks_the_row(world: World) -> None:
    cr = admitted(world)
    del world.apiserver.objects[(NS, "t1")]
    world.db.transition(world.uid(cr), Phase.CANCELLED, conditions.REASON_CANCELLED)
    sync_task(world.deps, world.uid(cr))
    assert world.db.get_task(world.uid(cr)).cr_deleted_at is not None


# --- the events consumer ---------------------------------------------------------------------


@pytest.fixture
def consumer(world: World) -> Iterator[Callable[[], EventsConsumer]]:
    started: list[EventsConsumer] = []

    def start() -> EventsConsumer:
        events = EventsConsumer(world.deps, connect=lambda: StubBroker(world.rabbit))
        events.start()
        started.append(events)
        wait_for(lambda: events.connected)
        return events

    yield start
    for events in started:
        events.stop()
        events.join(timeout=5)


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """`eventually`, polling as often as these in-memory seams can change."""
    eventually(condition, timeout=seconds, what="the condition", every=0.005)


def test_a_finished_event_shows_the_result_and_is_acked(
    world: World, consumer: Callable[[], EventsConsumer]
) -> None:
    cr = admitted(world)
    events = consumer()
    finish(world, cr)
    world.rabbit.publish_event(
        TaskEvent(type="finished", task_id=world.uid(cr), worker="w1", namespace=NS)
    )
    wait_for(lambda: world.status(cr).get("phase") == "Succeeded")
    wait_for(lambda: world.rabbit.ready("aidetect.events") == [] and not events._pending)
    assert world.apiserver.events == []  # success Events are off by default


def test_a_dead_letter_fails_its_task(world: World, consumer: Callable[[], EventsConsumer]) -> None:
    cr = admitted(world)
    consumer()
    world.rabbit.put(
        DEAD_QUEUE,
        _message(TaskMessage(task_id=world.uid(cr), items=[0])),
    )
    wait_for(lambda: world.status(cr).get("phase") == "Failed")
    task = world.db.get_task(world.uid(cr))
    assert task.reason == conditions.REASON_DELIVERY_LIMIT_EXCEEDED
    wait_for(lambda: len(world.apiserver.events) == 1)
    assert world.apiserver.events[0]["reason"] == conditions.REASON_DELIVERY_LIMIT_EXCEEDED


def test_events_wait_while_the_apiserver_is_away(
    world: World, consumer: Callable[[], EventsConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "RETRY_SECONDS", 0.05)
    cr = admitted(world)
    events = consumer()
    finish(world, cr)
    world.apiserver.down = True
    world.rabbit.publish_event(TaskEvent(type="finished", task_id=world.uid(cr), worker="w1"))
    wait_for(lambda: len(events._pending) == 1)
    time.sleep(0.1)
    assert world.status(cr)["phase"] == "Queued" and events._pending  # kept, not acked
    world.apiserver.down = False
    wait_for(lambda: world.status(cr).get("phase") == "Succeeded", seconds=5)


def test_an_operator_skips_the_events_of_another_shards_namespace() -> None:
    world = make_world(namespaces=[NS], shard="a")
    cr = admitted(world)
    finish(world, cr)
    events = EventsConsumer(world.deps, connect=lambda: StubBroker(world.rabbit))
    events.start()
    try:
        wait_for(lambda: events.connected)
        world.rabbit.publish_event(
            TaskEvent(type="finished", task_id=world.uid(cr), worker="w1", namespace="team-b")
        )
        wait_for(lambda: world.rabbit.ready("aidetect.events.a") == [] and not events._pending)
        assert world.status(cr)["phase"] == "Queued"  # not this operator's task
    finally:
        events.stop()
        events.join(timeout=5)


def _message(message: TaskMessage) -> Any:
    from aidetect.core.memory.broker import Message

    return Message(message.model_dump_json(by_alias=True).encode(), "dead")
