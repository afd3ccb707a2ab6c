"""Consume the workers' events and the dead letters, and bring the CRs up to date.

An event only says "task X changed": the database row says how. Events are acked after the CR
is patched, so an operator that dies mid-way re-reads them. A dead letter is a task message
that exceeded the queue's delivery limit (e.g. a worker crash-looping on it): the task fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from pydantic import ValidationError

from aidetect.core import conditions
from aidetect.core.errors import (
    DatabaseUnavailable,
    KubeUnavailable,
    QueueUnavailable,
    TransientError,
)
from aidetect.core.logs import task_log
from aidetect.core.models import TaskEvent, TaskMessage
from aidetect.core.queue import DEAD_QUEUE, Broker, Delivery, reconnecting
from aidetect.core.seams import MessageBroker
from aidetect.core.states import TERMINAL, Phase
from aidetect.operator import metrics
from aidetect.operator.corpus_jobs import output_due
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.lifecycle import give_up
from aidetect.operator.progress import ProgressThrottle
from aidetect.operator.sync import announce_end, sync_task

log = logging.getLogger("aidetect.operator.events")

SYNC_THREADS = 4
RETRY_SECONDS = 1.0  # after a drain that found Postgres or the apiserver away


def handle_dead_letter(deps: OperatorDeps, message: TaskMessage) -> None:
    reason = (
        "the task's message exceeded the queue's delivery limit (workers kept failing or dying)"
    )
    if deps.db.transition(
        message.task_id, Phase.FAILED, conditions.REASON_DELIVERY_LIMIT_EXCEEDED, reason
    ):
        metrics.DEAD_LETTERS.inc()
        task_log(log, message.task_id).warning("failed: %s", reason)


class EventsConsumer(threading.Thread):
    """A thread with its own RabbitMQ connection, reconnected with backoff until stopped.

    An outage longer than `outage_limit_seconds` stops the operator, which then exits non-zero
    (`lifecycle.give_up`); `connected` feeds the operator's /readyz.
    """

    def __init__(
        self, deps: OperatorDeps, connect: Callable[[], MessageBroker] | None = None
    ) -> None:
        super().__init__(name="aidetect-events", daemon=True)
        self.deps = deps
        self._connect = connect or self._rabbitmq
        self.stopping = threading.Event()
        self.connected = False
        self._pending: list[Delivery] = []
        # The status patches of one drain go out in parallel: each is an apiserver round trip,
        # and one after another they capped the task rate (sync_task serializes per task).
        self._syncs = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="aidetect-sync")
        self._throttle = ProgressThrottle(deps.settings.operator.progress_interval_seconds)
        deps.progress_held = self._throttle.holds
        deps.status_patched = self._throttle.patched

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._syncs.shutdown(wait=True)

    def _run(self) -> None:
        amqp = self.deps.settings.amqp
        while not self.stopping.is_set():
            policy = reconnecting(amqp, what="events consumer", stopping=self.stopping)
            try:
                broker = policy(self._open)
            except QueueUnavailable as e:
                if not self.stopping.is_set():
                    give_up(f"RabbitMQ unreachable for over {amqp.outage_limit_seconds:.0f}s: {e}")
                return
            try:
                self._consume(broker)
            except TransientError as e:
                log.warning("events consumer: %s; reconnecting", e)
            finally:
                self.connected = False
                self._pending.clear()  # unacked: the broker redelivers them to the next connection
                broker.close()

    def _rabbitmq(self) -> MessageBroker:
        return Broker.connect(self.deps.settings.amqp)

    def _open(self) -> MessageBroker:
        broker = self._connect()
        try:
            broker.declare_topology(self.deps.profiles.profiles)
            queue = broker.declare_events_queue(self.deps.settings.operator.shard)
            broker.consume(queue, self._pending.append, prefetch=200)
            broker.consume(DEAD_QUEUE, self._pending.append, prefetch=50)
        except QueueUnavailable:
            broker.close()
            raise
        self.connected = True
        return broker

    def _consume(self, broker: MessageBroker) -> None:
        debounce = self.deps.settings.operator.event_debounce_seconds
        first_at: float | None = None
        while not self.stopping.is_set():
            broker.process_events(0.05)
            if self._pending:
                # Wait a moment after the first event: a task's "started" and "finished" that
                # arrive together cost one status patch instead of two.
                first_at = first_at or time.monotonic()
                if time.monotonic() - first_at < debounce:
                    continue
            elif not self._throttle.due(time.monotonic()):
                continue
            if self._drain(broker):
                first_at = None
            else:  # Postgres or the apiserver is away: keep the events, try again shortly
                self.stopping.wait(RETRY_SECONDS)

    def _drain(self, broker: MessageBroker) -> bool:
        """Handle what arrived: dead letters first, then one sync per task however many events;
        a task's progress no more often than `progress_interval_seconds` (`ProgressThrottle`).

        True when done and acked. False, with nothing acked, when a dependency is away; an
        error of one task's own is logged and skipped (the resync repairs that task later).
        """
        batch = list(self._pending)
        changes: dict[UUID, bool] = {}
        try:
            changes = self._throttle.select(self._changes(batch), time.monotonic())
            list(self._syncs.map(self._sync, changes, changes.values()))  # raises what one raised
        except (DatabaseUnavailable, KubeUnavailable) as e:
            log.warning("events: %s; keeping %d event(s) to retry", e, len(batch))
            self._throttle.retry(changes)
            return False
        del self._pending[: len(batch)]  # in place: the consumer callbacks hold its append
        for d in batch:
            broker.ack(d)
        return True

    def _changes(self, batch: list[Delivery]) -> dict[UUID, bool]:
        """Task id -> whether it may have ended, from events and dead letters."""
        changed: dict[UUID, bool] = {}
        for d in batch:
            try:
                if d.queue == DEAD_QUEUE:
                    message = TaskMessage.model_validate_json(d.body)
                    handle_dead_letter(self.deps, message)
                    changed[message.task_id] = True
                else:
                    event = TaskEvent.model_validate_json(d.body)
                    if not self._mine(event):
                        continue  # another shard's task: its operator has the event too
                    changed[event.task_id] = (
                        changed.get(event.task_id, False) or event.type == "finished"
                    )
            except ValidationError:
                log.error("dropping an unreadable message from %s: %r", d.queue, d.body[:200])
        return changed

    def _mine(self, event: TaskEvent) -> bool:
        scope = self.deps.scope
        return scope is None or event.namespace is None or event.namespace in scope

    def _sync(self, task_id: UUID, ended: bool) -> None:
        before = time.monotonic()
        try:
            record = sync_task(self.deps, task_id)
            if ended and record is not None and record.phase in TERMINAL:
                announce_end(self.deps, record)
            if record is not None and self.deps.corpus is not None and output_due(record):
                self.deps.corpus.write_output(task_id)  # its last item is done
        except (DatabaseUnavailable, KubeUnavailable):
            raise
        except Exception:  # this task's own problem: the others go on; the resync retries it
            task_log(log, task_id).exception("could not bring the CR up to date")
            return
        task_log(log, task_id).debug("synced in %.3fs", time.monotonic() - before)
