"""Process one micro-batch: decode -> skip if ended -> detect -> commit -> decide ack or retry.

Plain code with no AMQP in it: it returns a decision per delivery, and the consumer carries the
decisions out on the connection's thread. The ack never comes before the commit. A detector
error is pinned to the message that caused it (a batch that fails is re-scored message by
message), so one poison text does not fail its neighbours; a commit that fails for a reason of
its own (not an outage) is likewise retried task by task.

The database sees the batch, not its messages: one read of every task and item it names, one
transaction to start the tasks that need it, one commit of every result (`core.db.batches`).
The operator hears of each task once per batch: "finished", else "started", else "progress".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import ValidationError

from aidetect.core import conditions
from aidetect.core.db import (
    AttemptStart,
    BatchSnapshot,
    CacheWrite,
    Database,
    ItemsWanted,
    ItemToScore,
    TaskResults,
    WriteOutcome,
)
from aidetect.core.errors import PermanentError, QueueUnavailable, TransientError
from aidetect.core.logs import task_log
from aidetect.core.models import EventType, ItemResult, Score, TaskEvent, TaskMessage, TaskRecord
from aidetect.core.queue import Delivery, SharedPublisher
from aidetect.core.states import TERMINAL, Phase
from aidetect.worker.backoff import retry_delay
from aidetect.worker.detectors.base import Detector
from aidetect.worker.scoring import ScoredItems, ToScore, score_items

log = logging.getLogger("aidetect.worker.runner")


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery: ack it, dead-letter it, or hand it back after a delay."""

    delivery: Delivery
    action: Literal["ack", "reject", "retry"]
    delay: float = 0.0


@dataclass
class Work:
    """A delivery whose task is live, with the items of it that still need a result."""

    delivery: Delivery
    task: TaskRecord
    items: list[ItemToScore]


@dataclass
class BatchStats:
    texts: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Scored:
    work: Work
    scores: list[tuple[Score, bool]]


class BatchRunner:
    """Runs batches for one worker; one instance per inference thread."""

    def __init__(
        self,
        *,
        db: Database,
        publisher: SharedPublisher,
        detectors: dict[str, Detector],
        worker: str,
        retry_base: float,
        retry_cap: float,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.detectors = detectors
        self.worker = worker
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.last = BatchStats()

    def process(self, profile: str, deliveries: Sequence[Delivery]) -> list[Decision]:
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
        started = self.db.begin_attempts(starts, self.worker)
        if work:
            decisions += self._score_and_commit(self.detectors[profile], work, started)
        return decisions

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

    def _score_and_commit(
        self, detector: Detector, work: list[Work], started: set[UUID]
    ) -> list[Decision]:
        begun = time.monotonic()
        decisions: list[Decision] = []
        try:
            scored = self._score(detector, work)
        except TransientError:
            raise
        except Exception as error:  # a detector error: find the message it belongs to
            if len(work) == 1:
                return [self._failed(detector, work[0], error)]
            scored, decisions = self._score_one_by_one(detector, work)
        self.last = BatchStats(
            texts=sum(len(w.items) for w in work), seconds=time.monotonic() - begun
        )
        parts, cache = scored
        if parts:
            decisions += self._commit(detector, parts, cache, started)
        return decisions

    def _score(
        self, detector: Detector, work: list[Work]
    ) -> tuple[list[_Scored], CacheWrite | None]:
        wanted = [ToScore(item, w.task.granularity) for w in work for item in w.items]
        result: ScoredItems = score_items(self.db, detector, wanted)
        parts: list[_Scored] = []
        offset = 0
        for w in work:
            parts.append(_Scored(w, result.scores[offset : offset + len(w.items)]))
            offset += len(w.items)
        return parts, result.cache

    def _score_one_by_one(
        self, detector: Detector, work: list[Work]
    ) -> tuple[tuple[list[_Scored], CacheWrite | None], list[Decision]]:
        """Score each message alone: the failing ones get their decision, the rest a score."""
        parts: list[_Scored] = []
        caches: list[CacheWrite] = []
        failed: list[Decision] = []
        for w in work:
            try:
                (part,), cache = self._score(detector, [w])
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
        parts: list[_Scored],
        cache: CacheWrite | None,
        started: set[UUID],
    ) -> list[Decision]:
        """Write every result in one transaction, then tell the operator, then decide the acks."""
        by_task: dict[UUID, list[_Scored]] = {}
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
        by_task: dict[UUID, list[_Scored]],
        cache: CacheWrite | None,
        started: set[UUID],
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
            tlog.info("finished: wrote %d result(s); the task succeeded", outcome.written)
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


def _results(detector: Detector, part: _Scored) -> list[ItemResult]:
    """The result rows of one message's items."""
    return [
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
        for item, (s, cached) in zip(part.work.items, part.scores, strict=True)
    ]
