"""Typed messages and records that cross component boundaries: spec, queue messages, results.

No dicts cross module boundaries; these models are the contract between the operator, the
worker and the API. Field names in camelCase (aliases) match the CRD and the JSON the API serves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from aidetect.core.camel import CamelModel
from aidetect.core.corpus import CorpusOutput, CorpusSource, CorpusState, FailurePolicy
from aidetect.core.states import Phase
from aidetect.core.texts import text_problem

Label = Literal["ai", "human"]
Granularity = Literal["document", "sentence"]

MAX_TEXT_CHARS = 100_000
MAX_BATCH_ITEMS = 1000
MAX_BATCH_CHARS = 500_000
MAX_PRIORITY = 9
MAX_BACKOFF_LIMIT = 20
HIGH_PRIORITY_FROM = 5  # priorities 0-4 are normal, 5-9 high: `is_high_priority` is the one test
# Upper bounds, the same in the CRD, the API and the database (CHECK constraints): a deadline of
# 30 days, a TTL of a year. Without them a value such as 1e13 overflowed Postgres intervals.
MAX_ACTIVE_DEADLINE_SECONDS = 30 * 24 * 3600  # 2 592 000
MAX_TTL_SECONDS_AFTER_FINISHED = 365 * 24 * 3600  # 31 536 000


def is_high_priority(priority: int) -> bool:
    """Whether a task of this priority goes to its profile's high-priority queue."""
    return priority >= HIGH_PRIORITY_FROM


class KeyRef(CamelModel):
    name: str
    key: str


class TextFrom(CamelModel):
    config_map_key_ref: KeyRef | None = None
    secret_key_ref: KeyRef | None = None
    format: Literal["text", "lines"] = "text"


class TaskOptions(CamelModel):
    """How a task is scored, whatever its input: the fields that `TaskSpec` and the API's
    `TaskCreate` share, with each default and limit written once (the CRD states the same)."""

    detector: str | None = None
    granularity: Granularity = "document"
    priority: int = Field(
        default=0,
        ge=0,
        le=MAX_PRIORITY,
        description=f"0-{HIGH_PRIORITY_FROM - 1} normal, {HIGH_PRIORITY_FROM}-{MAX_PRIORITY} high.",
    )
    backoff_limit: int = Field(
        default=3, ge=0, le=MAX_BACKOFF_LIMIT, description="Retries before Failed."
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ACTIVE_DEADLINE_SECONDS,
        description="Fail the task if it has not finished this long after creation (<= 30 days).",
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        le=MAX_TTL_SECONDS_AFTER_FINISHED,
        description="Delete the CR this long after it finishes (<= 1 year; the record stays).",
    )


class TaskSpec(TaskOptions):
    """A DetectionTask's spec, as the CRD validates it: its input, and how to score it."""

    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    texts: list[str] | None = Field(default=None, min_length=1, max_length=MAX_BATCH_ITEMS)
    text_from: TextFrom | None = None
    source: CorpusSource | None = None
    output: CorpusOutput | None = None
    failure_policy: FailurePolicy | None = None

    @field_validator("text")
    @classmethod
    def _text_can_be_scored(cls, value: str | None) -> str | None:
        if value is not None and (problem := text_problem(value)):
            raise ValueError(f"text {problem}")
        return value

    @field_validator("texts")
    @classmethod
    def _texts_can_be_scored(cls, value: list[str] | None) -> list[str] | None:
        for i, text in enumerate(value or []):
            if problem := text_problem(text):
                raise ValueError(f"texts[{i}] {problem}")
        return value

    @model_validator(mode="after")
    def _exactly_one_input(self) -> TaskSpec:
        inputs = ("text", "texts", "text_from", "source")
        given = [f for f in inputs if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("exactly one of text, texts, textFrom or source must be set")
        if self.output is not None and self.source is None:
            raise ValueError("output needs a source (a corpus job)")
        return self

    @property
    def max_failed_items(self) -> int | None:
        return self.failure_policy.max_failed_items if self.failure_policy else None


class SentenceScore(CamelModel):
    """A sentence's score, with its offsets in characters (not bytes or tokens)."""

    start: int
    end: int
    score: float
    label: Label | None = None


class Score(CamelModel):
    """What a detector says about one text."""

    score: float
    label: Label
    probability: float | None = None
    threshold: float
    chunks: int = 1
    sentences: list[SentenceScore] | None = None


class ItemResult(CamelModel):
    """One scored item of a task, as stored and served."""

    index: int
    score: float
    label: Label
    probability: float | None = None
    threshold: float
    model_version: str
    chunks: int = 1
    cached: bool = False
    sentences: list[SentenceScore] | None = None


class ItemFailure(CamelModel):
    """An item that could not be scored (its text, not the service, is at fault): the reason
    is a condition reason (`InvalidInput`) and the message names the cause. Written once, as a
    result is, and counted in `progress.failed`."""

    index: int
    reason: str
    message: str
    model_version: str


class TaskResult(CamelModel):
    """The task-level result: the item itself for one text, a summary for a batch."""

    score: float
    label: Label
    probability: float | None = None
    threshold: float
    detector: str
    model_version: str
    cached: bool = False
    chunks: int = 1
    counts: dict[str, int] | None = None
    items: list[ItemResult] | None = None
    sentences: list[SentenceScore] | None = None


class Progress(CamelModel):
    total: int
    done: int = 0
    failed: int = 0

    @property
    def summary(self) -> str:
        """As `kubectl get dt` shows it: scored/total, and the items that could not be scored."""
        scored = f"{self.done}/{self.total}"
        return f"{scored} ({self.failed} failed)" if self.failed else scored


class TaskMessage(CamelModel):
    """The queue message for a task: ids only; the texts are in the database."""

    task_id: UUID
    items: list[int]


EventType = Literal["started", "progress", "finished"]


class TaskEvent(CamelModel):
    """A worker's note to the operator that a task's database row changed."""

    type: EventType
    task_id: UUID
    worker: str
    namespace: str | None = None  # lets an operator skip tasks outside its shard unread


class Transition(CamelModel):
    """One entry of a task's transition log."""

    from_phase: Phase | None
    to_phase: Phase
    reason: str
    message: str = ""
    at: datetime


class WorkerHeartbeat(CamelModel):
    """A worker's last heartbeat, as `/stats` shows it."""

    worker: str
    node: str
    detectors: list[str]
    model_version: str
    device: str
    started_at: datetime
    last_seen: datetime
    last_batch_seconds: float | None = None
    last_batch_size: int | None = None
    queue_depth: int | None = None


class TaskRecord(CamelModel):
    """A task as the database (the system of record) holds it."""

    id: UUID
    namespace: str
    name: str
    generation: int
    detector: str
    granularity: Granularity
    priority: int
    backoff_limit: int
    active_deadline_seconds: int | None
    ttl_seconds_after_finished: int | None
    phase: Phase
    reason: str | None
    message: str | None
    attempts: int
    progress: Progress
    result: TaskResult | None
    worker: str | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    version: int
    cr_version: int
    cr_deleted_at: datetime | None
    max_failed_items: int | None = None
    corpus: CorpusState | None = None  # a corpus job: its source, output and splitting
