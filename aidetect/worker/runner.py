"""Process one micro-batch: decode -> skip if ended -> detect -> commit -> decide ack or retry.

Plain code with no AMQP in it: it returns a decision per delivery, and the consumer carries the
decisions out on the connection's thread. The ack never comes before the commit. A detector
error is pinned to the message that caused it (a batch that fails is re-scored message by
message), so one poison text does not fail its neighbours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from aidetect.core import conditions
from aidetect.core.calibration import probability_for
from aidetect.core.db import CachedScore, Database, ItemToScore, text_sha256
from aidetect.core.errors import PermanentError, QueueUnavailable
from aidetect.core.logs import task_log
from aidetect.core.models import (
    EventType,
    ItemResult,
    Score,
    SentenceScore,
    TaskEvent,
    TaskMessage,
    TaskRecord,
)
from aidetect.core.profiles import DetectorProfile
from aidetect.core.queue import Delivery, SharedPublisher
from aidetect.core.states import TERMINAL, Phase
from aidetect.worker.backoff import retry_delay
from aidetect.worker.detectors.base import Detector

log = logging.getLogger("aidetect.worker.runner")


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery: ack it, dead-letter it, or hand it back after a delay."""

    delivery: Delivery
    action: Literal["ack", "reject", "retry"]
    delay: float = 0.0


@dataclass
class Work:
    delivery: Delivery
    task: TaskRecord
    items: list[ItemToScore]


@dataclass
class BatchStats:
    texts: int = 0
    seconds: float = 0.0


def from_cache(profile: DetectorProfile, c: CachedScore) -> Score:
    """A Score from a cached raw score, judged by the profile's current threshold/calibration."""
    sentences = (
        [
            SentenceScore(
                start=x["start"], end=x["end"], score=x["score"], label=profile.label_of(x["score"])
            )
            for x in c.sentences
        ]
        if c.sentences is not None
        else None
    )
    return Score(
        score=c.score,
        label=profile.label_of(c.score),
        probability=probability_for(profile, c.score),
        threshold=profile.decision_threshold(),
        chunks=c.chunks,
        sentences=sentences,
    )


def to_cache(score: Score) -> CachedScore:
    sentences = (
        [{"start": x.start, "end": x.end, "score": x.score} for x in score.sentences]
        if score.sentences is not None
        else None
    )
    return CachedScore(score=score.score, chunks=score.chunks, sentences=sentences)


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
        work: list[Work] = []
        for d in deliveries:
            prepared = self._prepare(d)
            if isinstance(prepared, Decision):
                decisions.append(prepared)
            else:
                work.append(prepared)
        if work:
            decisions += self._score_and_commit(self.detectors[profile], work)
        return decisions

    def _prepare(self, d: Delivery) -> Work | Decision:
        try:
            message = TaskMessage.model_validate_json(d.body)
        except ValidationError:
            log.error("dead-lettering an unreadable message from %s: %r", d.queue, d.body[:200])
            return Decision(d, "reject")
        tlog = task_log(log, message.task_id)
        task = self.db.find_task(message.task_id)
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
        self.db.note_attempt(task.id, d.attempt)
        if task.phase == Phase.PENDING:
            # The operator publishes before it records Queued, so a fast worker can get here first.
            self.db.transition(task.id, Phase.QUEUED, conditions.REASON_PUBLISHED, "picked up")
        if task.phase in (Phase.PENDING, Phase.QUEUED) and self.db.transition(
            task.id, Phase.RUNNING, conditions.REASON_SCORING, f"scoring on {self.worker}"
        ):
            self._announce("started", task)
        return Work(d, task, self.db.items_to_score(task.id, message.items))

    def _score_and_commit(self, detector: Detector, work: list[Work]) -> list[Decision]:
        started = time.monotonic()
        try:
            scores = self._score(detector, work)
        except Exception as error:  # a detector error: find the message it belongs to
            if len(work) == 1:
                return [self._failed(detector, work[0], error)]
            return [d for w in work for d in self._score_and_commit(detector, [w])]
        self.last = BatchStats(
            texts=sum(len(w.items) for w in work), seconds=time.monotonic() - started
        )
        decisions = []
        offset = 0
        for w in work:
            mine = scores[offset : offset + len(w.items)]
            offset += len(w.items)
            decisions.append(self._commit(detector, w, mine))
        return decisions

    def _score(self, detector: Detector, work: list[Work]) -> list[tuple[Score, bool]]:
        """Score every item, from the result cache where it can; (score, cached) per item.

        Tasks asking for sentence granularity get per-sentence scores. Demo models are never
        cached: their scores mean nothing and must not outlive them.
        """
        keys = [(text_sha256(item.text), w.task.granularity) for w in work for item in w.items]
        texts = [item.text for w in work for item in w.items]
        use_cache = not detector.demo
        hits = (
            self.db.cached_scores(
                detector=detector.profile.name, model_version=detector.model_version, keys=keys
            )
            if use_cache
            else {}
        )
        out: dict[int, tuple[Score, bool]] = {
            i: (from_cache(detector.profile, hits[k]), True)
            for i, k in enumerate(keys)
            if k in hits
        }
        for sentences in (False, True):
            todo = [
                i for i, k in enumerate(keys) if i not in out and (k[1] == "sentence") == sentences
            ]
            if todo:
                scored = detector.score([texts[i] for i in todo], sentences=sentences)
                out.update({i: (sc, False) for i, sc in zip(todo, scored, strict=True)})
        if use_cache:
            fresh = [
                (keys[i][0], keys[i][1], to_cache(sc))
                for i, (sc, cached) in out.items()
                if not cached
            ]
            self.db.store_scores(
                detector=detector.profile.name, model_version=detector.model_version, entries=fresh
            )
        return [out[i] for i in range(len(keys))]

    def _commit(self, detector: Detector, w: Work, scores: list[tuple[Score, bool]]) -> Decision:
        results = [
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
            for item, (s, cached) in zip(w.items, scores, strict=True)
        ]
        outcome = self.db.record_results(w.task.id, results, self.worker)
        tlog = task_log(log, w.task.id)
        if outcome.skipped_phase is not None:
            tlog.info("results discarded: the task became %s meanwhile", outcome.skipped_phase)
        elif outcome.finished:
            tlog.info("finished: wrote %d result(s); the task succeeded", outcome.written)
            self._announce("finished", w.task)
        else:
            tlog.info("wrote %d result(s)", outcome.written)
            self._announce("progress", w.task)
        return Decision(w.delivery, "ack")

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
