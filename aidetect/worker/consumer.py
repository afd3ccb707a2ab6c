"""The worker process: a pika connection on the main thread, inference on others.

The main thread only does I/O (deliveries, heartbeats to the broker, acks), so a long forward
pass never starves the AMQP heartbeat. Batches go through three threads (`stages`): one is read
and started while the next is scored and the one before committed. Decisions cross back to the
main thread through `add_callback_threadsafe`, a batch's in one callback. On SIGTERM it stops
consuming, lets the batches in flight finish and be acked, hands back what was prefetched but
not started, and exits 0.

When the broker goes away the worker reconnects in-process (tenacity's backoff, `reconnecting`)
and /readyz says it is disconnected meanwhile. What it had prefetched is dropped: the broker
redelivers it. A batch being scored still commits its results; its acks die with the old
channel, so the broker redelivers it too, and the redelivery finds the items scored and writes
nothing (results are written once per item). Only an outage longer than
`outage_limit_seconds` makes the worker exit, non-zero.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import torch
from pydantic import ValidationError

from aidetect.core.config import Settings
from aidetect.core.db import Database
from aidetect.core.errors import DatabaseUnavailable, QueueUnavailable
from aidetect.core.health import HealthServer, serve_probes
from aidetect.core.models import TaskMessage
from aidetect.core.queue import Broker, Delivery, SharedPublisher, reconnecting, task_queue
from aidetect.core.retrying import during_outages
from aidetect.core.seams import MessageBroker
from aidetect.worker import metrics
from aidetect.worker.acks import AckLedger
from aidetect.worker.batcher import Inbox, Pending
from aidetect.worker.detectors.base import Detector, load_detector
from aidetect.worker.runner import BatchRunner
from aidetect.worker.stages import Stage
from aidetect.worker.threads import torch_threads
from aidetect.worker.work import Decision, PreparedBatch, ScoredBatch

log = logging.getLogger("aidetect.worker")


@dataclass
class WorkerState:
    """What the threads share: the stop flag, and what readiness reports."""

    stopping: threading.Event = field(default_factory=threading.Event)
    crashed: bool = False
    connected: bool = False
    loaded: bool = False


def _items_in(body: bytes) -> int:
    try:
        return len(TaskMessage.model_validate_json(body).items)
    except ValidationError:
        return 1  # the runner dead-letters it


class Worker:
    def __init__(self, settings: Settings, state: WorkerState | None = None) -> None:
        self.settings = settings
        self.state = state or WorkerState()
        self.cfg = settings.worker
        torch.set_num_threads(torch_threads(self.cfg.torch_threads))
        profiles = settings.profiles()
        self.all_profiles = list(profiles.profiles)
        self.served = self.cfg.detectors or [profiles.default]
        self.detectors: dict[str, Detector] = {
            name: load_detector(
                profiles.resolve(name), demo_root=Path(self.cfg.demo_model_dir).expanduser()
            )
            for name in self.served
        }
        self.db = during_outages(
            settings.amqp, what="opening the database", retry_on=DatabaseUnavailable
        )(Database, settings.db.url, pool_max=self.cfg.db_pool_max)
        self.publisher = SharedPublisher(settings.amqp, profiles=self.all_profiles)
        self.runner = BatchRunner(
            db=self.db,
            publisher=self.publisher,
            detectors=self.detectors,
            worker=self.cfg.name,
            retry_base=self.cfg.retry_base_seconds,
            retry_cap=self.cfg.retry_max_seconds,
        )
        self.inbox = Inbox()
        self.ledger = AckLedger()  # used on the connection's thread only
        self.state.loaded = True

    # --- the inference thread ----------------------------------------------------------------

    def _infer_loop(self) -> None:
        """The pipeline: this thread gathers and prepares batches, a stage thread scores them,
        another commits them; on stop, what was handed on is finished before this returns."""
        committer: Stage[ScoredBatch] = Stage(
            "commit", lambda b: self._dispatch(self.runner.commit(b)), self._crash
        )
        scorer: Stage[PreparedBatch] = Stage(
            "inference", lambda b: committer.submit(self.runner.score(b)), self._crash
        )
        try:
            self._prepare_batches(scorer)
        except Exception:  # a bug, not a bad input: stop the process so it is restarted
            log.exception("the prepare thread crashed; stopping the worker")
            self._crash()
        finally:
            scorer.close()  # the batches in flight are scored, committed and settled
            committer.close()

    def _crash(self) -> None:
        self.state.crashed = True
        self.state.stopping.set()

    def _prepare_batches(self, scorer: Stage[PreparedBatch]) -> None:
        while True:
            batch = self.inbox.next_batch(
                max_items=self.cfg.max_batch,
                max_wait=self.cfg.max_wait_ms / 1000,
                stop=self.state.stopping.is_set,
            )
            if not batch:
                return
            scorer.submit(self.runner.prepare(batch[0].profile, [p.delivery for p in batch]))

    def _dispatch(self, decisions: list[Decision]) -> None:
        """Send decisions to the connection threads their deliveries came on (any thread)."""
        for broker, mine in _by_connection(decisions):
            try:
                broker.add_callback_threadsafe(functools.partial(self._settle, broker, mine))
            except QueueUnavailable:
                # Its connection is gone; the broker redelivers the messages, and the
                # redeliveries find the results already written.
                log.info("connection lost before a batch was settled; it will be redelivered")

    def _settle(self, broker: MessageBroker, decisions: list[Decision]) -> None:
        """Carry out a batch's decisions on the connection's thread: acks in as few frames as
        the unsettled deliveries allow, dead letters, and retries after their delay."""
        try:
            acked = [d.delivery for d in decisions if d.action == "ack"]
            for channel, tags in _tags_by_channel(acked).items():
                plan = self.ledger.plan(channel, tags)
                if plan.multiple_up_to is not None:
                    broker.ack(tags[plan.multiple_up_to], multiple=True)
                for tag in plan.single:
                    broker.ack(tags[tag])
            self.ledger.settled(acked)
            for decision in decisions:
                metrics.DECISIONS.labels(decision.action).inc()
                d = decision.delivery
                if decision.action == "reject":
                    broker.nack(d, requeue=False)
                    self.ledger.settled([d])
                elif decision.action == "retry":
                    broker.call_later(decision.delay, functools.partial(self._hand_back, broker, d))
        except QueueUnavailable as e:
            log.warning("could not settle deliveries (%s); the broker will redeliver them", e)

    def _hand_back(self, broker: MessageBroker, d: Delivery) -> None:
        Worker._nack_quietly(broker, d)
        self.ledger.settled([d])

    @staticmethod
    def _nack_quietly(broker: MessageBroker, d: Delivery) -> None:
        try:
            broker.nack(d, requeue=True)
        except QueueUnavailable as e:
            log.warning("could not hand a delivery back (%s); the broker will redeliver it", e)

    # --- the main (I/O) thread ---------------------------------------------------------------

    def _on_delivery(self, profile: str, high: bool) -> Callable[[Delivery], None]:
        def put(d: Delivery) -> None:
            self.ledger.received(d)
            self.inbox.put(Pending(delivery=d, profile=profile, high=high, items=_items_in(d.body)))

        return put

    def _heartbeat(self, broker: Broker) -> None:
        depths = {
            p: sum(broker.queue_depth(task_queue(p, high=h)) for h in (True, False))
            for p in self.served
        }
        for profile, n in depths.items():
            metrics.QUEUE_DEPTH.labels(profile).set(n)
        depth = sum(depths.values())
        first = next(iter(self.detectors.values()))
        self.db.heartbeat(
            worker=self.cfg.name,
            node=self.cfg.node,
            detectors=self.served,
            model_version=",".join(d.model_version for d in self.detectors.values()),
            device=first.device,
            last_batch_seconds=self.runner.last.seconds or None,
            last_batch_size=self.runner.last.texts or None,
            queue_depth=depth,
        )

    def _open(self) -> Broker:
        """A connection consuming every served queue (closed again if any step fails)."""
        broker = Broker.connect(self.settings.amqp)
        try:
            broker.declare_topology(self.all_profiles)
            prefetch = prefetch_for(self.cfg.max_batch)
            for profile in self.served:
                for high in (True, False):
                    callback = self._on_delivery(profile, high)
                    broker.consume(task_queue(profile, high=high), callback, prefetch=prefetch)
        except QueueUnavailable:
            broker.close()
            raise
        return broker

    def _connect(self) -> Broker | None:
        """Connect with backoff; None if stopped meanwhile. Raises after the outage limit."""
        policy = reconnecting(self.settings.amqp, what="RabbitMQ", stopping=self.state.stopping)
        try:
            broker = policy(self._open)
        except QueueUnavailable:
            if self.state.stopping.is_set():
                return None
            raise
        self.state.connected = True
        return broker

    def _serve(self, broker: Broker) -> None:
        """Pump the connection until stopping; raises QueueUnavailable when it is lost."""
        next_beat = 0.0
        while not self.state.stopping.is_set():
            broker.process_events(0.2)
            if time.monotonic() >= next_beat:
                try:
                    self._heartbeat(broker)
                except DatabaseUnavailable as e:  # Postgres is away: keep serving, say so
                    log.warning("heartbeat not recorded: %s", e)
                next_beat = time.monotonic() + self.cfg.heartbeat_seconds

    def _lost(self, broker: MessageBroker, error: QueueUnavailable) -> None:
        self.state.connected = False
        dropped = self.inbox.drain()  # prefetched on the dead channel: the broker redelivers
        self.ledger.forget()
        log.warning(
            "lost RabbitMQ (%s); dropped %d prefetched message(s); reconnecting",
            error,
            len(dropped),
        )
        broker.close()

    def run(self) -> int:
        infer = threading.Thread(target=self._infer_loop, name="prepare", daemon=True)
        infer.start()
        broker: Broker | None = None
        while not self.state.stopping.is_set():
            try:
                broker = self._connect()
            except QueueUnavailable as e:
                limit = self.settings.amqp.outage_limit_seconds
                log.error("RabbitMQ unreachable for over %.0fs (%s); exiting", limit, e)
                self.state.crashed = True
                self.state.stopping.set()
                break
            if broker is None:
                break
            log.info(
                "worker %s serving %s (prefetch %d, max_batch %d, torch threads %d)",
                self.cfg.name,
                self.served,
                prefetch_for(self.cfg.max_batch),
                self.cfg.max_batch,
                torch.get_num_threads(),
            )
            try:
                self._serve(broker)
            except QueueUnavailable as e:
                self._lost(broker, e)
                broker = None
        return self._drain(broker, infer)

    def _drain(self, broker: Broker | None, infer: threading.Thread) -> int:
        log.info("draining: no new deliveries; finishing the batch in flight")
        try:
            if broker is not None:
                self._settle_last(broker, infer)
        except QueueUnavailable as e:
            log.warning("lost RabbitMQ while draining (%s): the broker redelivers the rest", e)
        infer.join(timeout=60)
        if broker is not None:
            broker.close()
        self.publisher.close()
        self.db.close()
        if self.state.crashed:
            log.error("exiting with an error: unacknowledged messages go back to the queue")
            return 1
        log.info("drained; exiting")
        return 0

    def _settle_last(self, broker: MessageBroker, infer: threading.Thread) -> None:
        broker.cancel_consumers()
        for p in self.inbox.drain():
            self._hand_back(broker, p.delivery)
        while infer.is_alive():
            broker.process_events(0.2)
        broker.process_events(0.5)  # carry out the last acks

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d", signum)
        self.state.stopping.set()


def prefetch_for(max_batch: int) -> int:
    """Unacked deliveries per queue: a batch being committed, one being scored, one arriving
    (for single-text messages; a batch of many-item messages needs fewer)."""
    return 3 * max_batch


def _by_connection(decisions: list[Decision]) -> list[tuple[MessageBroker, list[Decision]]]:
    """A batch's decisions grouped by the connection their deliveries came on."""
    groups: dict[int, tuple[MessageBroker, list[Decision]]] = {}
    for decision in decisions:
        broker = decision.delivery.broker
        groups.setdefault(id(broker), (broker, []))[1].append(decision)
    return list(groups.values())


def _tags_by_channel(deliveries: list[Delivery]) -> dict[Hashable, dict[int, Delivery]]:
    """Each channel's deliveries by tag (tags are numbered per channel)."""
    by_channel: dict[Hashable, dict[int, Delivery]] = {}
    for d in deliveries:
        by_channel.setdefault(d.channel, {})[d.delivery_tag] = d
    return by_channel


def serve_worker_probes(settings: Settings, state: WorkerState) -> HealthServer | None:
    """/readyz: the models are loaded and RabbitMQ is connected."""
    checks = {"models": lambda: state.loaded, "rabbitmq": lambda: state.connected}
    return serve_probes(checks, settings.worker.health_port)


def run_worker(settings: Settings) -> int:
    """Load the detectors, then consume until SIGTERM or SIGINT; returns the exit code."""
    state = WorkerState()
    probes = serve_worker_probes(settings, state)  # up first: not ready while models load
    try:
        worker = Worker(settings, state)
        signal.signal(signal.SIGTERM, worker.stop)
        signal.signal(signal.SIGINT, worker.stop)
        return worker.run()
    finally:
        if probes is not None:
            probes.stop()
