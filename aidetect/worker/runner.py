"""Process one micro-batch: decode -> skip if ended -> detect -> commit -> decide ack or retry.

The worker writes Queued -> Running and the end of a task it scores (`core.db.tasks` says who
writes which transition); a task still Pending is not its to start, and its message is dropped.

Plain code with no AMQP in it: it returns a decision per delivery, and the consumer carries the
decisions out on the connection's thread. The ack never comes before the commit. A detector
error is pinned to the message that caused it (a batch that fails is re-scored message by
message), so one poison text does not fail its neighbours; a text the detector reports as
unscorable (`UnscorableItems`) fails alone, as an item failure with reason InvalidInput, and
its task goes on; a commit that fails for a reason of its own (not an outage) is likewise
retried task by task.

The database sees the batch, not its messages: one read of every task and item it names, one
transaction to start the tasks that need it, one commit of every result (`core.db.batches`).
The operator hears of each task once per batch: "finished", else "started", else "progress".

A batch goes through three stages: `prepare` (read, start, look up the cache), `score` (the
detector) and `commit` (write, announce, decide). The consumer runs each on a thread of its own
(`worker.stages`), so that the model scores one batch while the next is read and the one before
is committed; `process` runs the three one after the other. An outage (Postgres or the broker
away) in any stage hands the batch's deliveries back, after a pause, with nothing written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError

from aidetect.core import conditions
from aidetect.core.db import (
    AttemptStart,
    BatchSnapshot,
    CachedScore,
    CacheWrite,
    ItemsWanted,
    TaskResults,
    WriteOutcome,
)
from aidetect.core.errors import PermanentError, QueueUnavailable, TransientError
from aidetect.core.logs import task_log
from aidetect.core.models import (
    EventType,
    ItemFailure,
    ItemResult,
    TaskEvent,
    TaskMessage,
    TaskRecord,
)
from aidetect.core.queue import Delivery
from aidetect.core.seams import EventPublisher, WorkerTasks
from aidetect.core.states import TERMINAL, Phase
from aidetect.worker import metrics
from aidetect.worker.backoff import retry_delay
from aidetect.worker.detectors.base import Detector
from aidetect.worker.scoring import ToScore, Unscored, cached_scores, score_items
from aidetect.worker.work import (
    BatchStats,
    Decision,
    PreparedBatch,
    ScoredBatch,
    ScoredMessage,
    Work,
    hand_back,
)

log = logging.getLogger("aidetect.worker.runner")


class BatchRunner:
    """Runs a worker's batches through their stages (each stage from one thread at a time)."""

    def __init__(
        self,
        *,
        db: WorkerTasks,
        publisher: EventPublisher,
        detectors: dict[str, Detector],
        worker: str,
        retry_base: float,
        retry_cap: float,
        outage_delay: float = 2.0,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.detectors = detectors
        self.worker = worker
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.outage_delay = outage_delay
        self.last = BatchStats()

    def process(self, profile: str, deliveries: Sequence[Delivery]) -> list[Decision]:
        """The three stages of a batch, one after the other: a decision per delivery."""
        return self.commit(self.score(self.prepare(profile, deliveries)))

    def prepare(self, profile: str, deliveries: Sequence[Delivery]) -> PreparedBatch:
        """Stage one: read the batch's tasks and items, start them, look up the cache."""
        try:
            return self._prepare(profile, deliveries)
        except TransientError as e:
            log.warning("batch not read (%s); returning it to the queue", e)
            return PreparedBatch(hand_back(deliveries, self.outage_delay))

    def score(self, batch: PreparedBatch) -> ScoredBatch:
        """Stage two: score the items the cache did not have."""
        if not batch.work or batch.detector is None:
            return ScoredBatch(list(batch.decided))
        try:
            parts, cache, failed = self._score_batch(batch.detector, batch.work, batch.cached)
        except TransientError as e:
            log.warning("batch not scored (%s); returning it to the queue", e)
            return ScoredBatch(batch.decided + hand_back(batch.waiting(), self.outage_delay))
        return ScoredBatch(batch.decided + failed, parts, cache, batch.started, batch.detector)

    def commit(self, batch: ScoredBatch) -> list[Decision]:
        """Stage three: write the batch's results, tell the operator, decide the acks."""
        if not batch.parts or batch.detector is None:
            return list(batch.decided)
        try:
            written = self._commit(batch.detector, batch.parts, batch.cache, batch.started)
        except TransientError as e:
            log.warning("batch not committed (%s); returning it to the queue", e)
            return batch.decided + hand_back(batch.waiting(), self.outage_delay)
        return batch.decided + written

    def _prepare(self, profile: str, deliveries: Sequence[Delivery]) -> PreparedBatch:
        decisions: list[Decision] = []
        messages: list[tuple[Delivery, TaskMessage]] = []
        for d in deliveries:
            try:
                messages.append((d, TaskMessage.model_validate_json(d.body)))
            except ValidationError:
                log.error("dead-lettering an unreadable message from %s: %r", d.queue, d.body[:200])
                decisions.append(Decision(d, "reject"))
        snapshot = self.db.read_batch([ItemsWanted(m.task_id, m.items) for _, m in messages])
        work: list[Work] = []
        starts: list[AttemptStart] = []
        for d, message in messages:
            triaged = self._triage(d, message, snapshot)
            if isinstance(triaged, Decision):
                decisions.append(triaged)
                continue
            work.append(triaged)
            task = triaged.task
            if d.attempt > task.attempts or task.phase in (Phase.PENDING, Phase.QUEUED):
                starts.append(AttemptStart(task.id, d.attempt))
        begun = self.db.begin_attempts(starts, self.worker)
        started = begun.running
        work, unqueued = _split_unqueued(work, begun.unqueued)
        decisions += unqueued
        if not work:
            return PreparedBatch(decisions)
        detector = self.detectors[profile]
        wanted = _wanted(work)
        cached = cached_scores(self.db, detector, wanted)
        if not detector.demo:  # demo models' scores are never cached
            metrics.CACHE.labels(profile, "hit").inc(len(cached))
            metrics.CACHE.labels(profile, "miss").inc(len(wanted) - len(cached))
        now = datetime.now(UTC)
        for w in work:
            if w.task.id in started and w.task.queued_at is not None:
                waited = (now - w.task.queued_at).total_seconds()
                metrics.QUEUE_WAIT.labels(profile).observe(max(waited, 0.0))
        return PreparedBatch(decisions, work, detector, started, cached)

    def _triage(
        self, d: Delivery, message: TaskMessage, snapshot: BatchSnapshot
    ) -> Work | Decision:
        """The delivery's work, or what to do with it right away (its task is gone or ended)."""
        tlog = task_log(log, message.task_id)
        task = snapshot.tasks.get(message.task_id)
        if task is None:
            tlog.error("no such task in the database; dropping its message")
            return Decision(d, "ack")
        if task.phase in TERMINAL:
            tlog.info("skipping items %s: the task is %s", message.items, task.phase)
            return Decision(d, "ack")
        if d.attempt > task.backoff_limit + 1:
            # Earlier deliveries died with the worker (crash, OOM, timeout): they count too.
            self._fail(task, d.attempt - 1, "the worker died or timed out on every attempt")
            return Decision(d, "ack")
        return Work(d, task, snapshot.items_of(ItemsWanted(task.id, message.items)))

    # --- scoring -----------------------------------------------------------------------------

    def _score_batch(
        self, detector: Detector, work: list[Work], cached: Mapping[tuple[str, str], CachedScore]
    ) -> tuple[list[ScoredMessage], CacheWrite | None, list[Decision]]:
        """Every message's scores, the fresh ones to cache, and the decisions of messages whose
        scoring failed (a failing batch is re-scored message by message to find them)."""
        begun = time.monotonic()
        try:
            parts, cache = self._score(detector, work, cached)
            failed: list[Decision] = []
        except TransientError:
            raise
        except Exception as error:  # a detector error: find the message it belongs to
            if len(work) == 1:
                return [], None, [self._failed(detector, work[0], error)]
            (parts, cache), failed = self._score_one_by_one(detector, work, cached)
        self.last = BatchStats(
            texts=sum(len(w.items) for w in work), seconds=time.monotonic() - begun
        )
        profile = detector.profile.name
        metrics.BATCH_SECONDS.labels(profile).observe(self.last.seconds)
        metrics.BATCH_TEXTS.labels(profile).observe(self.last.texts)
        return parts, cache, failed

    def _score(
        self, detector: Detector, work: list[Work], cached: Mapping[tuple[str, str], CachedScore]
    ) -> tuple[list[ScoredMessage], CacheWrite | None]:
        result = score_items(detector, _wanted(work), cached)
        parts: list[ScoredMessage] = []
        offset = 0
        for w in work:
            parts.append(ScoredMessage(w, result.scores[offset : offset + len(w.items)]))
            offset += len(w.items)
        return parts, result.cache

    def _score_one_by_one(
        self, detector: Detector, work: list[Work], cached: Mapping[tuple[str, str], CachedScore]
    ) -> tuple[tuple[list[ScoredMessage], CacheWrite | None], list[Decision]]:
        """Score each message alone: the failing ones get their decision, the rest a score."""
        parts: list[ScoredMessage] = []
        caches: list[CacheWrite] = []
        failed: list[Decision] = []
        for w in work:
            try:
                (part,), cache = self._score(detector, [w], cached)
            except TransientError:
                raise
            except Exception as error:
                failed.append(self._failed(detector, w, error))
                continue
            parts.append(part)
            if cache is not None:
                caches.append(cache)
        merged = None
        if caches:
            merged = CacheWrite(
                caches[0].detector, caches[0].model_version, [e for c in caches for e in c.entries]
            )
        return (parts, merged), failed

    # --- committing --------------------------------------------------------------------------

    def _commit(
        self,
        detector: Detector,
        parts: list[ScoredMessage],
        cache: CacheWrite | None,
        started: frozenset[UUID],
    ) -> list[Decision]:
        """Write every result in one transaction, then tell the operator, then decide the acks."""
        by_task: dict[UUID, list[ScoredMessage]] = {}
        for part in parts:
            by_task.setdefault(part.work.task.id, []).append(part)
        batch = [
            TaskResults(task_id, [r for p in mine for r in _results(detector, p)])
            for task_id, mine in by_task.items()
        ]
        try:
            outcomes = self.db.commit_batch(batch, self.worker, cache)
        except TransientError:
            raise
        except Exception:  # one task's results cannot be written: find which, commit the rest
            log.exception("the batch's results could not be written together; task by task")
            return self._commit_one_by_one(detector, by_task, cache, started)
        decisions: list[Decision] = []
        for (task_id, mine), outcome in zip(by_task.items(), outcomes, strict=True):
            self._settled(mine[0].work.task, outcome, task_id in started)
            decisions += [Decision(p.work.delivery, "ack") for p in mine]
        return decisions

    def _commit_one_by_one(
        self,
        detector: Detector,
        by_task: dict[UUID, list[ScoredMessage]],
        cache: CacheWrite | None,
        started: frozenset[UUID],
    ) -> list[Decision]:
        if cache is not None:
            self.db.store_scores(
                detector=cache.detector, model_version=cache.model_version, entries=cache.entries
            )
        decisions: list[Decision] = []
        for task_id, mine in by_task.items():
            results = [r for p in mine for r in _results(detector, p)]
            try:
                outcome = self.db.record_results(task_id, results, self.worker)
            except TransientError:
                raise
            except Exception as error:
                task_log(log, task_id).exception("could not write the results")
                decisions += [self._failed(detector, p.work, error) for p in mine]
                continue
            self._settled(mine[0].work.task, outcome, task_id in started)
            decisions += [Decision(p.work.delivery, "ack") for p in mine]
        return decisions

    def _settled(self, task: TaskRecord, outcome: WriteOutcome, started: bool) -> None:
        """Log what the commit did to a task and send the operator its one event."""
        tlog = task_log(log, task.id)
        if outcome.skipped_phase is not None:
            tlog.info("results discarded: the task became %s meanwhile", outcome.skipped_phase)
        elif outcome.finished:
            tlog.info("finished: wrote %d result(s); the task ended", outcome.written)
            self._announce("finished", task)
        elif outcome.scored_all:  # a corpus job: the operator writes its output next
            tlog.info("wrote %d result(s); every item of the job is done", outcome.written)
            self._announce("finished", task)
        else:
            tlog.info("wrote %d result(s)", outcome.written)
            if started:
                self._announce("started", task)
            elif outcome.written:
                self._announce("progress", task)

    # --- failures ----------------------------------------------------------------------------

    def _failed(self, detector: Detector, w: Work, error: Exception) -> Decision:
        attempt = w.delivery.attempt
        tlog = task_log(log, w.task.id)
        if isinstance(error, PermanentError):
            # The input cannot be scored (e.g. too short for the model): retrying cannot help.
            message = f"{detector.profile.name} cannot score this input: {error}"
            if self.db.transition(
                w.task.id, Phase.FAILED, conditions.REASON_INVALID_INPUT, message
            ):
                tlog.warning("failed: %s", message)
                self._announce("finished", w.task)
            return Decision(w.delivery, "ack")
        tlog.exception("detector %s failed on attempt %d", detector.profile.name, attempt)
        summary = f"attempt {attempt} failed on {self.worker}: {type(error).__name__}: {error}"[
            :500
        ]
        if attempt >= w.task.backoff_limit + 1:
            self._fail(w.task, attempt, summary)
            return Decision(w.delivery, "ack")
        self.db.note_attempt(w.task.id, attempt, message=summary)
        delay = retry_delay(attempt, base=self.retry_base, cap=self.retry_cap)
        tlog.warning("retrying in %.1fs (backoffLimit %d)", delay, w.task.backoff_limit)
        return Decision(w.delivery, "retry", delay)

    def _fail(self, task: TaskRecord, attempts: int, error: str) -> None:
        message = f"{attempts} attempt(s) failed (backoffLimit {task.backoff_limit}); last: {error}"
        if self.db.transition(
            task.id, Phase.FAILED, conditions.REASON_BACKOFF_LIMIT_EXCEEDED, message
        ):
            task_log(log, task.id).warning("failed: %s", message)
            self._announce("finished", task)

    def _announce(self, kind: EventType, task: TaskRecord) -> None:
        """Tell the operator the row changed. Best effort: its resync catches a lost event."""
        try:
            self.publisher.publish_event(
                TaskEvent(type=kind, task_id=task.id, worker=self.worker, namespace=task.namespace)
            )
        except QueueUnavailable as e:
            task_log(log, task.id).warning("could not publish the %s event: %s", kind, e)


def _wanted(work: Sequence[Work]) -> list[ToScore]:
    return [ToScore(item, w.task.granularity) for w in work for item in w.items]


def _results(detector: Detector, part: ScoredMessage) -> list[ItemResult | ItemFailure]:
    """The result rows of one message's items; a failure (InvalidInput) for each text the
    detector could not score, so that it fails alone and its neighbours are scored."""
    out: list[ItemResult | ItemFailure] = []
    for item, outcome in zip(part.work.items, part.scores, strict=True):
        if isinstance(outcome, Unscored):
            tlog = task_log(log, item.task_id)
            tlog.warning("item %d not scored: %s", item.index, outcome.message)
            out.append(
                ItemFailure(
                    index=item.index,
                    reason=conditions.REASON_INVALID_INPUT,
                    message=f"{detector.profile.name} cannot score this text: {outcome.message}",
                    model_version=detector.model_version,
                )
            )
            continue
        s, cached = outcome
        out.append(
            ItemResult(
                index=item.index,
                score=s.score,
                label=s.label,
                probability=s.probability,
                threshold=s.threshold,
                model_version=detector.model_version,
                chunks=s.chunks,
                cached=cached,
                sentences=s.sentences,
            )
        )
    return out


def _split_unqueued(
    work: list[Work], unqueued: frozenset[UUID]
) -> tuple[list[Work], list[Decision]]:
    """The work whose task is Queued or on, and acks for the deliveries of tasks still Pending.

    Such a message comes from an admission whose publish did not commit: the operator publishes
    the task again, and only the operator moves it on from Pending, so the message is dropped.
    """
    if not unqueued:
        return work, []
    acks = []
    for w in work:
        if w.task.id in unqueued:
            task_log(log, w.task.id).info(
                "dropping items %s: the task is not Queued yet", [i.index for i in w.items]
            )
            acks.append(Decision(w.delivery, "ack"))
    return [w for w in work if w.task.id not in unqueued], acks
