"""`StubBroker`: the RabbitMQ topology of `core.queue` in memory, for tests without a broker.

`MemoryRabbit` is the broker's state (queues, unsettled messages, dead letters), shared by any
number of `StubBroker` connections and `StubPublisher`s, as one RabbitMQ is shared by the
components. It keeps the semantics the components rely on: task queues per profile and band,
a fanout of events to every declared events queue (none declared: the event is dropped), an
unroutable task publish is an error, deliveries wait for an ack up to the consumer's prefetch,
a nack with requeue or a closed connection redelivers with `x-delivery-count` raised, and a
message past the delivery limit, or nacked without requeue, is dead-lettered.

Like pika's BlockingConnection, a `StubBroker` delivers only inside `process_events`, on the
thread that calls it; `add_callback_threadsafe` is the one call other threads may make.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aidetect.core.camel import CamelModel
from aidetect.core.errors import QueueUnavailable
from aidetect.core.models import TaskEvent, TaskMessage
from aidetect.core.queue import DEAD_QUEUE, Delivery, events_queue, task_queue


@dataclass
class Message:
    """A message in a queue: its body and how often it was delivered before."""

    body: bytes
    message_id: str
    delivery_count: int = 0


@dataclass
class MemoryRabbit:
    """The broker's state: queues by name, and what was dead-lettered."""

    delivery_limit: int = 30
    queues: dict[str, deque[Message]] = field(default_factory=dict)
    events_queues: set[str] = field(default_factory=set)
    up: bool = True
    lock: threading.RLock = field(default_factory=threading.RLock)

    def check(self) -> None:
        if not self.up:
            raise QueueUnavailable("RabbitMQ is away (MemoryRabbit.up is False)")

    def declare(self, name: str) -> None:
        with self.lock:
            self.queues.setdefault(name, deque())

    def put(self, name: str, message: Message, *, front: bool = False) -> None:
        """Enqueue, or dead-letter a message that was delivered more often than the limit."""
        with self.lock:
            if message.delivery_count > self.delivery_limit and name != DEAD_QUEUE:
                name = DEAD_QUEUE
            target = self.queues.setdefault(name, deque())
            if front:
                target.appendleft(message)
            else:
                target.append(message)

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        self.check()
        name = task_queue(profile, high=high)
        with self.lock:
            if name not in self.queues:
                raise QueueUnavailable(f"publish to {name} not confirmed: unroutable")
            first = message.items[0] if message.items else 0
            self.put(name, Message(_body(message), f"{message.task_id}:{first}"))

    def publish_event(self, event: TaskEvent) -> None:
        self.check()
        with self.lock:
            for name in sorted(self.events_queues):
                self.put(name, Message(_body(event), f"{event.task_id}:{event.type}"))

    def ready(self, name: str) -> list[bytes]:
        """The bodies waiting in a queue (not those delivered and unsettled)."""
        with self.lock:
            return [m.body for m in self.queues.get(name, ())]


class StubChannel:
    """A consumer's channel: its unsettled deliveries, settled by tag."""

    def __init__(self, rabbit: MemoryRabbit, queue_name: str, prefetch: int) -> None:
        self.rabbit, self.queue, self.prefetch = rabbit, queue_name, prefetch
        self.unsettled: dict[int, Message] = {}
        self._tags = itertools.count(1)
        self.open = True

    def next_tag(self) -> int:
        return next(self._tags)

    def _settle(self, delivery_tag: int, multiple: bool) -> list[Message]:
        tags = [t for t in self.unsettled if t <= delivery_tag] if multiple else [delivery_tag]
        missing = [t for t in tags if t not in self.unsettled]
        if missing or not self.open:
            raise QueueUnavailable(f"unknown delivery tag {missing or delivery_tag}")
        return [self.unsettled.pop(t) for t in sorted(tags)]

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        with self.rabbit.lock:
            self._settle(delivery_tag, multiple)

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        with self.rabbit.lock:
            for m in reversed(self._settle(delivery_tag, multiple)):
                m.delivery_count += 1
                if requeue:
                    self.rabbit.put(self.queue, m, front=True)
                else:
                    self.rabbit.put(DEAD_QUEUE, m)

    def close(self) -> None:
        """The connection died: every unsettled message goes back, counted as delivered."""
        with self.rabbit.lock:
            self.open = False
            for tag in sorted(self.unsettled, reverse=True):
                m = self.unsettled.pop(tag)
                m.delivery_count += 1
                self.rabbit.put(self.queue, m, front=True)


@dataclass
class _Consumer:
    channel: StubChannel
    on_delivery: Callable[[Delivery], None]
    cancelled: bool = False


class StubBroker:
    """One connection to a `MemoryRabbit`, implementing `core.seams.MessageBroker`."""

    def __init__(self, rabbit: MemoryRabbit | None = None) -> None:
        self.rabbit = rabbit or MemoryRabbit()
        self.rabbit.check()
        self.delivery_limit = self.rabbit.delivery_limit
        self._consumers: dict[str, _Consumer] = {}
        self._callbacks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def close(self) -> None:
        for c in self._consumers.values():
            c.channel.close()
        self._open = False

    def _check(self) -> None:
        if not self._open:
            raise QueueUnavailable("the connection is closed")
        self.rabbit.check()

    def declare_topology(self, profiles: Iterable[str]) -> None:
        self._check()
        self.rabbit.declare(DEAD_QUEUE)
        for profile in profiles:
            for high in (True, False):
                self.rabbit.declare(task_queue(profile, high=high))

    def declare_events_queue(self, shard: str = "") -> str:
        self._check()
        name = events_queue(shard)
        with self.rabbit.lock:
            self.rabbit.declare(name)
            self.rabbit.events_queues.add(name)
        return name

    def queue_depth(self, queue: str) -> int:
        self._check()
        with self.rabbit.lock:
            if queue not in self.rabbit.queues:
                raise QueueUnavailable(f"cannot inspect queue {queue}: not found")
            return len(self.rabbit.queues[queue])

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        self._check()
        self.rabbit.publish_task(profile, message, high=high)

    def publish_event(self, event: TaskEvent) -> None:
        self._check()
        self.rabbit.publish_event(event)

    def consume(self, queue: str, on_delivery: Callable[[Delivery], None], *, prefetch: int) -> str:
        self._check()
        if queue not in self.rabbit.queues:
            raise QueueUnavailable(f"cannot consume {queue}: not found")
        tag = f"ctag-{next(self._seq)}"
        self._consumers[tag] = _Consumer(StubChannel(self.rabbit, queue, prefetch), on_delivery)
        return tag

    def cancel_consumers(self) -> None:
        for c in self._consumers.values():
            c.cancelled = True

    def process_events(self, seconds: float) -> None:
        """Deliver, run due timers and threadsafe callbacks, for up to `seconds`."""
        end = time.monotonic() + seconds
        while True:
            self._check()
            busy = self._run_callbacks() | self._run_timers() | self._deliver()
            if time.monotonic() >= end:
                return
            if not busy:
                time.sleep(min(0.005, max(0.0, end - time.monotonic())))

    def _run_callbacks(self) -> bool:
        ran = False
        while True:
            try:
                fn = self._callbacks.get_nowait()
            except queue.Empty:
                return ran
            fn()
            ran = True

    def _run_timers(self) -> bool:
        ran = False
        while self._timers and self._timers[0][0] <= time.monotonic():
            _, _, fn = heapq.heappop(self._timers)
            fn()
            ran = True
        return ran

    def _deliver(self) -> bool:
        delivered = False
        for c in list(self._consumers.values()):
            while not c.cancelled and len(c.channel.unsettled) < c.channel.prefetch:
                with self.rabbit.lock:
                    waiting = self.rabbit.queues[c.channel.queue]
                    if not waiting:
                        break
                    m = waiting.popleft()
                    tag = c.channel.next_tag()
                    c.channel.unsettled[tag] = m
                headers: dict[str, Any] = {"x-delivery-count": m.delivery_count}
                c.on_delivery(
                    Delivery(
                        queue=c.channel.queue,
                        body=m.body,
                        delivery_tag=tag,
                        redelivered=m.delivery_count > 0,
                        delivery_count=m.delivery_count,
                        headers=headers,
                        channel=c.channel,
                        broker=self,
                    )
                )
                delivered = True
        return delivered

    def add_callback_threadsafe(self, fn: Callable[[], None]) -> None:
        self._check()
        self._callbacks.put(fn)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))

    @staticmethod
    def ack(delivery: Delivery, *, multiple: bool = False) -> None:
        delivery.channel.basic_ack(delivery.delivery_tag, multiple=multiple)

    @staticmethod
    def nack(delivery: Delivery, *, requeue: bool) -> None:
        delivery.channel.basic_nack(delivery.delivery_tag, requeue=requeue)


class StubPublisher:
    """`SharedPublisher`'s stand-in: publishes to a `MemoryRabbit` from any thread."""

    def __init__(self, rabbit: MemoryRabbit) -> None:
        self.rabbit = rabbit

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        self.rabbit.publish_task(profile, message, high=high)

    def publish_event(self, event: TaskEvent) -> None:
        self.rabbit.publish_event(event)

    def close(self) -> None:
        """Nothing to release."""


def _body(message: CamelModel) -> bytes:
    return message.model_dump_json(by_alias=True).encode()
