"""The only place that speaks AMQP: the RabbitMQ topology, confirmed publishes, and consuming.

Topology (declared here, by everyone who uses it, idempotently):
- exchange `aidetect.tasks` (direct) -> per detector profile two quorum queues,
  `aidetect.tasks.<profile>.high` and `.normal` (RabbitMQ 3.x quorum queues have no priorities),
  each with an explicit `x-delivery-limit` and dead-lettering to `aidetect.dead`;
- exchange `aidetect.events` (fanout) -> quorum queue `aidetect.events` (workers -> operator),
  or one queue per operator shard, `aidetect.events.<shard>`, each declared by its operator;
- exchange `aidetect.dead` (fanout) -> quorum queue `aidetect.dead` (read by the operator).

A `Broker` owns one pika BlockingConnection and must stay on the thread that made it; the only
cross-thread call is `add_callback_threadsafe`. pika errors become `QueueUnavailable`.

Reconnecting is tenacity's job (`reconnecting`): exponential waits with jitter, capped, until
the outage has lasted `outage_limit_seconds` (then the last error is raised, and the component
exits non-zero) or the component is stopping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from tenacity import Retrying

from aidetect.core.camel import CamelModel
from aidetect.core.config import AmqpSettings
from aidetect.core.errors import QueueUnavailable
from aidetect.core.models import TaskEvent, TaskMessage
from aidetect.core.retrying import during_outages

if TYPE_CHECKING:
    from aidetect.core.seams import AckChannel, MessageBroker

log = logging.getLogger("aidetect.queue")

TASKS_EXCHANGE = "aidetect.tasks"
EVENTS_EXCHANGE = "aidetect.events"
EVENTS_QUEUE = "aidetect.events"
DEAD_EXCHANGE = "aidetect.dead"
DEAD_QUEUE = "aidetect.dead"

PIKA_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)


def reconnecting(
    amqp: AmqpSettings, *, what: str, stopping: threading.Event, limit: float | None = None
) -> Retrying:
    """The policy for reaching the broker: `QueueUnavailable` retried during an outage."""
    return during_outages(
        amqp, what=what, retry_on=QueueUnavailable, stopping=stopping, limit=limit
    )


def events_queue(shard: str = "") -> str:
    """The queue an operator reads worker events from: its shard's, or the one shared queue."""
    return f"{EVENTS_QUEUE}.{shard}" if shard else EVENTS_QUEUE


def task_queue(profile: str, *, high: bool) -> str:
    """The queue of a profile's high- or normal-priority tasks (also its routing key)."""
    return f"{TASKS_EXCHANGE}.{profile}.{'high' if high else 'normal'}"


@dataclass(frozen=True)
class Delivery:
    """One received message, with what a consumer needs to decide and to ack it."""

    queue: str
    body: bytes
    delivery_tag: int
    redelivered: bool
    delivery_count: int  # previous deliveries: 0 on the first (quorum x-delivery-count)
    headers: dict[str, Any]
    channel: AckChannel
    broker: MessageBroker  # the connection it came on: only there can it be acked

    @property
    def attempt(self) -> int:
        return self.delivery_count + 1


class Broker:
    """A connection to RabbitMQ for one thread: declare, publish with confirms, consume."""

    def __init__(self, url: str, *, delivery_limit: int = 30, heartbeat: int | None = None) -> None:
        params = pika.URLParameters(url)
        if heartbeat is not None:
            params.heartbeat = heartbeat
        params.blocked_connection_timeout = 60
        self.delivery_limit = delivery_limit
        self._consumers: dict[str, BlockingChannel] = {}
        try:
            self._conn = pika.BlockingConnection(params)
            self._publish_channel = self._conn.channel()
            self._publish_channel.confirm_delivery()
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"cannot connect to RabbitMQ: {e}") from e

    @classmethod
    def connect(cls, amqp: AmqpSettings) -> Broker:
        """A connection with the deployment's delivery limit and AMQP heartbeat."""
        return cls(amqp.url, delivery_limit=amqp.delivery_limit, heartbeat=amqp.heartbeat_seconds)

    @property
    def is_open(self) -> bool:
        return bool(self._conn.is_open)

    def close(self) -> None:
        try:
            if self._conn.is_open:
                self._conn.close()
        except PIKA_ERRORS:
            pass  # closing a connection that already died: nothing left to release

    # --- topology ----------------------------------------------------------------------------

    def declare_topology(self, profiles: Iterable[str]) -> None:
        """Declare the exchanges and queues (idempotent; arguments must not change)."""
        ch = self._publish_channel
        try:
            ch.exchange_declare(TASKS_EXCHANGE, "direct", durable=True)
            ch.exchange_declare(EVENTS_EXCHANGE, "fanout", durable=True)
            ch.exchange_declare(DEAD_EXCHANGE, "fanout", durable=True)
            ch.queue_declare(DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
            ch.queue_bind(DEAD_QUEUE, DEAD_EXCHANGE)
            for profile in profiles:
                for high in (True, False):
                    name = task_queue(profile, high=high)
                    ch.queue_declare(name, durable=True, arguments=self._task_queue_arguments())
                    ch.queue_bind(name, TASKS_EXCHANGE, routing_key=name)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"cannot declare the RabbitMQ topology: {e}") from e

    def declare_events_queue(self, shard: str = "") -> str:
        """Declare (idempotently) the events queue of an operator shard; its name."""
        name = events_queue(shard)
        try:
            ch = self._publish_channel
            ch.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
            ch.queue_bind(name, EVENTS_EXCHANGE)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"cannot declare the events queue {name}: {e}") from e
        return name

    def _task_queue_arguments(self) -> dict[str, Any]:
        # Set explicitly rather than trusting broker defaults (3.x has no delivery limit by
        # default, 4.x has 20). at-least-once dead-lettering needs reject-publish overflow.
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def queue_depth(self, queue: str) -> int:
        """Messages ready in a queue (not counting unacknowledged ones)."""
        try:
            ok = self._publish_channel.queue_declare(queue, passive=True)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"cannot inspect queue {queue}: {e}") from e
        return int(ok.method.message_count)

    # --- publishing --------------------------------------------------------------------------

    def _publish(
        self,
        exchange: str,
        routing_key: str,
        message: CamelModel,
        message_id: str,
        *,
        mandatory: bool = True,
    ) -> None:
        props = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
        )
        body = message.model_dump_json(by_alias=True).encode()
        try:
            # With confirms on, this returns once the broker has the message on disk; mandatory
            # makes an unroutable publish an error instead of a silent drop.
            self._publish_channel.basic_publish(
                exchange, routing_key, body, props, mandatory=mandatory
            )
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"publish to {exchange}/{routing_key} not confirmed: {e}") from e

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        queue = task_queue(profile, high=high)
        first = message.items[0] if message.items else 0
        self._publish(TASKS_EXCHANGE, queue, message, f"{message.task_id}:{first}")

    def publish_event(self, event: TaskEvent) -> None:
        # Not mandatory: before any operator has declared its events queue, an event has nowhere
        # to go, and that is no error (the resync syncs what changed).
        self._publish(EVENTS_EXCHANGE, "", event, f"{event.task_id}:{event.type}", mandatory=False)

    # --- consuming ---------------------------------------------------------------------------

    def consume(self, queue: str, on_delivery: Callable[[Delivery], None], *, prefetch: int) -> str:
        """Start consuming `queue` on a channel of its own with its own prefetch."""
        try:
            ch = self._conn.channel()
            ch.basic_qos(prefetch_count=prefetch)

            def callback(channel: BlockingChannel, method: Any, props: Any, body: bytes) -> None:
                headers = dict(props.headers or {})
                on_delivery(
                    Delivery(
                        queue=queue,
                        body=body,
                        delivery_tag=method.delivery_tag,
                        redelivered=bool(method.redelivered),
                        delivery_count=int(headers.get("x-delivery-count", 0) or 0),
                        headers=headers,
                        channel=channel,
                        broker=self,
                    )
                )

            tag: str = ch.basic_consume(queue, callback)
            self._consumers[tag] = ch
            return tag
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"cannot consume {queue}: {e}") from e

    def cancel_consumers(self) -> None:
        """Stop new deliveries; messages already delivered stay ours to ack or nack."""
        for tag, ch in self._consumers.items():
            try:
                ch.basic_cancel(tag)
            except PIKA_ERRORS:
                pass  # the channel is gone: the broker has already requeued its messages

    def process_events(self, seconds: float) -> None:
        """Run the I/O loop (deliveries, heartbeats, threadsafe callbacks) for a while."""
        try:
            self._conn.process_data_events(time_limit=seconds)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"RabbitMQ connection lost: {e}") from e

    def add_callback_threadsafe(self, fn: Callable[[], None]) -> None:
        """Schedule `fn` on the connection's thread (the only thread-safe pika call)."""
        try:
            self._conn.add_callback_threadsafe(fn)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"RabbitMQ connection lost: {e}") from e

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        try:
            self._conn.call_later(delay, fn)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"RabbitMQ connection lost: {e}") from e

    @staticmethod
    def ack(delivery: Delivery, *, multiple: bool = False) -> None:
        """Ack the delivery; with `multiple`, every unsettled one up to it on its channel too."""
        try:
            delivery.channel.basic_ack(delivery.delivery_tag, multiple=multiple)
        except PIKA_ERRORS as e:
            # The channel died: the broker redelivers the message, and the result write is
            # idempotent, so nothing is lost or doubled.
            raise QueueUnavailable(f"ack failed: {e}") from e

    @staticmethod
    def nack(delivery: Delivery, *, requeue: bool) -> None:
        try:
            delivery.channel.basic_nack(delivery.delivery_tag, requeue=requeue)
        except PIKA_ERRORS as e:
            raise QueueUnavailable(f"nack failed: {e}") from e


class SharedPublisher:
    """A publisher that many threads may use: one Broker behind a lock, reconnected on failure.

    pika connections are not thread-safe, so every publish takes the lock. A publish that fails
    is retried on a fresh connection with tenacity's backoff for up to `publish_retry_seconds`;
    then `QueueUnavailable` is raised (the caller retries later: kopf, the resync).
    """

    def __init__(
        self,
        amqp: AmqpSettings,
        *,
        profiles: Iterable[str],
        publish_retry_seconds: float = 10.0,
    ) -> None:
        self._amqp = amqp
        self._profiles = list(profiles)
        self._retry_seconds = publish_retry_seconds
        self._lock = threading.Lock()
        self._broker: Broker | None = None
        self._closed = threading.Event()

    def _connected(self) -> Broker:
        if self._broker is None or not self._broker.is_open:
            self._broker = Broker.connect(self._amqp)
            self._broker.declare_topology(self._profiles)
        return self._broker

    def _attempt(self, action: Callable[[Broker], None]) -> None:
        try:
            action(self._connected())
        except QueueUnavailable:
            if self._broker is not None:
                self._broker.close()
            self._broker = None
            raise

    def _with_retry(self, action: Callable[[Broker], None]) -> None:
        policy = reconnecting(
            self._amqp, what="publish", stopping=self._closed, limit=self._retry_seconds
        )
        with self._lock:
            policy(self._attempt, action)

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None:
        self._with_retry(lambda b: b.publish_task(profile, message, high=high))

    def publish_event(self, event: TaskEvent) -> None:
        self._with_retry(lambda b: b.publish_event(event))

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._broker is not None:
                self._broker.close()
                self._broker = None
