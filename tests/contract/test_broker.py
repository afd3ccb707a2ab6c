"""One contract for the broker, run against RabbitMQ (`Broker`) and `StubBroker`.

What the worker and the operator rely on: the topology's routing, confirmed publishes that fail
when unroutable, prefetch, settling by tag, redelivery with `x-delivery-count` after a nack or
a lost connection, dead-lettering, and callbacks run on the connection's thread.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest

from aidetect.core.errors import QueueUnavailable
from aidetect.core.models import TaskEvent, TaskMessage
from aidetect.core.queue import DEAD_QUEUE, Delivery, task_queue
from aidetect.core.seams import MessageBroker

Connect = Callable[[], MessageBroker]


def profile() -> str:
    """A profile of the test's own: fresh queues on a shared RabbitMQ."""
    return f"contract-{uuid.uuid4().hex[:10]}"


def message(n: int = 0) -> TaskMessage:
    return TaskMessage(task_id=uuid.uuid4(), items=[n])


def drain(broker: MessageBroker, got: list[Delivery], want: int, seconds: float = 5.0) -> None:
    """Run the connection's loop until `want` deliveries arrived (or `seconds` passed)."""
    for _ in range(int(seconds / 0.05)):
        if len(got) >= want:
            return
        broker.process_events(0.05)


def consumer(broker: MessageBroker, queue: str, prefetch: int = 10) -> list[Delivery]:
    got: list[Delivery] = []
    broker.consume(queue, got.append, prefetch=prefetch)
    return got


def dead_letters(broker: MessageBroker, body: bytes) -> bool:
    """Whether `body` is among the dead letters (others' are settled back untouched)."""
    dead: list[Delivery] = []
    broker.consume(DEAD_QUEUE, dead.append, prefetch=100)
    for _ in range(100):
        if any(d.body == body for d in dead):
            break
        broker.process_events(0.05)
    for d in dead:
        if d.body == body:
            broker.ack(d)
        else:
            broker.nack(d, requeue=True)
    return any(d.body == body for d in dead)


def test_a_task_goes_to_its_profile_and_band(connect: Connect) -> None:
    broker, name = connect(), profile()
    broker.declare_topology([name])
    high, normal = message(1), message(2)
    broker.publish_task(name, high, high=True)
    broker.publish_task(name, normal, high=False)
    assert broker.queue_depth(task_queue(name, high=True)) == 1
    got = consumer(broker, task_queue(name, high=False))
    drain(broker, got, 1)
    assert [TaskMessage.model_validate_json(d.body) for d in got] == [normal]
    first = got[0]
    assert (first.delivery_count, first.attempt, first.redelivered) == (0, 1, False)
    assert first.queue == task_queue(name, high=False)


def test_an_unroutable_task_is_an_error_not_a_silent_drop(connect: Connect) -> None:
    broker = connect()
    with pytest.raises(QueueUnavailable):
        broker.publish_task(profile(), message(), high=False)


def test_prefetch_bounds_the_unsettled_deliveries(connect: Connect) -> None:
    broker, name = connect(), profile()
    broker.declare_topology([name])
    queue = task_queue(name, high=False)
    for i in range(5):
        broker.publish_task(name, message(i), high=False)
    got: list[Delivery] = []
    broker.consume(queue, got.append, prefetch=2)
    drain(broker, got, 5, seconds=1.0)
    assert len(got) == 2
    broker.ack(got[1], multiple=True)  # settles both
    drain(broker, got, 4)
    assert [TaskMessage.model_validate_json(d.body).items for d in got] == [[0], [1], [2], [3]]


def test_a_nacked_delivery_comes_back_counted(connect: Connect) -> None:
    broker, name = connect(), profile()
    broker.declare_topology([name])
    sent = message()
    broker.publish_task(name, sent, high=True)
    got = consumer(broker, task_queue(name, high=True))
    drain(broker, got, 1)
    broker.nack(got[0], requeue=True)
    drain(broker, got, 2)
    again = got[1]
    assert TaskMessage.model_validate_json(again.body) == sent
    assert (again.delivery_count, again.redelivered) == (1, True)
    broker.ack(again)
    broker.process_events(0.2)
    assert len(got) == 2 and broker.queue_depth(task_queue(name, high=True)) == 0


def test_deliveries_of_a_lost_connection_come_back_on_another(connect: Connect) -> None:
    first, name = connect(), profile()
    first.declare_topology([name])
    sent = message()
    first.publish_task(name, sent, high=False)
    got = consumer(first, task_queue(name, high=False))
    drain(first, got, 1)
    first.close()  # as when the worker is killed before its ack
    second = connect()
    again = consumer(second, task_queue(name, high=False))
    drain(second, again, 1)
    assert [TaskMessage.model_validate_json(d.body) for d in again] == [sent]
    assert again[0].delivery_count == 1 and again[0].attempt == 2


def test_a_message_nacked_without_requeue_is_dead_lettered(connect: Connect) -> None:
    broker, name = connect(), profile()
    broker.declare_topology([name])
    sent = message()
    broker.publish_task(name, sent, high=False)
    got = consumer(broker, task_queue(name, high=False))
    drain(broker, got, 1)
    broker.nack(got[0], requeue=False)
    assert dead_letters(broker, sent.model_dump_json(by_alias=True).encode())


def test_a_message_past_the_delivery_limit_is_dead_lettered(connect: Connect) -> None:
    broker, name = connect(), profile()  # the fixtures' delivery limit is 3
    broker.declare_topology([name])
    sent = message()
    broker.publish_task(name, sent, high=False)
    got = consumer(broker, task_queue(name, high=False))
    for n in range(1, 10):
        drain(broker, got, n, seconds=1.0)
        if len(got) < n:
            break
        broker.nack(got[-1], requeue=True)
    assert [d.delivery_count for d in got] == [0, 1, 2, 3]
    assert dead_letters(broker, sent.model_dump_json(by_alias=True).encode())


def test_events_fan_out_to_every_events_queue(connect: Connect) -> None:
    broker = connect()
    broker.declare_topology([])
    a, b = (broker.declare_events_queue(f"contract-{uuid.uuid4().hex[:8]}") for _ in range(2))
    event = TaskEvent(type="finished", task_id=uuid.uuid4(), worker="w", namespace="ns")
    broker.publish_event(event)
    for queue in (a, b):
        got = consumer(broker, queue)
        drain(broker, got, 1)
        assert [TaskEvent.model_validate_json(d.body) for d in got] == [event]
        broker.ack(got[0])


def test_a_callback_from_another_thread_runs_on_the_connections_loop(connect: Connect) -> None:
    broker = connect()
    ran_on: list[str] = []
    thread = threading.Thread(
        target=lambda: broker.add_callback_threadsafe(
            lambda: ran_on.append(threading.current_thread().name)
        )
    )
    thread.start()
    thread.join()
    for _ in range(40):
        if ran_on:
            break
        broker.process_events(0.05)
    assert ran_on == [threading.current_thread().name]


def test_call_later_runs_inside_process_events(connect: Connect) -> None:
    broker = connect()
    ran: list[int] = []
    broker.call_later(0.05, lambda: ran.append(1))
    assert ran == []
    for _ in range(40):
        if ran:
            break
        broker.process_events(0.05)
    assert ran == [1]


def test_a_closed_connection_says_so(connect: Connect) -> None:
    broker = connect()
    assert broker.is_open
    broker.close()
    broker.close()  # twice is harmless
    assert not broker.is_open
