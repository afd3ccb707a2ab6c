"""The seams between the components and their services, as protocols.

Each component is given only what it needs: the API reads tasks (`TaskReader`), the operator
records and repairs them (`OperatorTasks`), the worker starts and finishes them
(`WorkerTasks`). `core.db.Database` implements all three over Postgres, and
`core.memory.MemoryDatabase` over dicts with the same semantics; `tests/contract` runs one suite
against both, so the two cannot drift. Likewise `MessageBroker` is implemented by
`core.queue.Broker` (RabbitMQ) and `core.memory.StubBroker`, and `EventPublisher` /
`TaskPublisher` by `core.queue.SharedPublisher` and the stub.

Every method raises only `core.errors` types: `TransientError` when the service is away,
`PermanentError` (e.g. `TaskNotFound`, `InvalidInput`) when retrying cannot help.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol
from uuid import UUID

from aidetect.core.corpus import SplitCursor, SplitItem, SplitOutcome
from aidetect.core.models import (
    ItemFailure,
    ItemResult,
    TaskEvent,
    TaskMessage,
    TaskRecord,
    TaskSpec,
    Transition,
    WorkerHeartbeat,
)
from aidetect.core.result_lines import PAGE_ROWS, ResultRow
from aidetect.core.states import Phase

if TYPE_CHECKING:
    from aidetect.core.db.batches import (
        AttemptStart,
        BatchSnapshot,
        Begun,
        CacheWrite,
        ItemsWanted,
        TaskResults,
    )
    from aidetect.core.db.rows import CachedScore, TaskPage, WriteOutcome
    from aidetect.core.queue import Delivery


class TaskReader(Protocol):
    """What the API reads: tasks, their items and history, workers and counts. No writes."""

    def ping(self) -> None: ...

    def find_task(self, task_id: UUID) -> TaskRecord | None: ...

    def items(self, task_id: UUID) -> list[ItemResult | ItemFailure]: ...

    def texts(self, task_id: UUID) -> list[str]: ...

    def transitions(self, task_id: UUID) -> list[Transition]: ...

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespaces: Sequence[str] | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage: ...

    def workers(self) -> list[WorkerHeartbeat]: ...

    def phase_counts(self) -> dict[str, int]: ...

    def result_rows(
        self, task_id: UUID, *, after: int = -1, limit: int = PAGE_ROWS
    ) -> list[ResultRow]: ...


class TaskWriter(Protocol):
    """The writes the operator and the worker share: read a task, move it, note an attempt."""

    def get_task(self, task_id: UUID) -> TaskRecord: ...

    def find_task(self, task_id: UUID) -> TaskRecord | None: ...

    def transition(
        self,
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str = "",
        *,
        only_from: Collection[Phase] | None = None,
    ) -> bool: ...

    def note_attempt(self, task_id: UUID, attempt: int, message: str | None = None) -> None: ...

    def close(self) -> None: ...


class OperatorTasks(TaskWriter, Protocol):
    """What the operator asks: record tasks, sync their CRs, find what the resync repairs."""

    PAST_TTL_LIMIT: ClassVar[int]  # the most tasks one `past_ttl` returns

    def insert_task(
        self,
        *,
        task_id: UUID,
        namespace: str,
        name: str,
        spec: TaskSpec,
        detector: str,
        texts: Sequence[str],
        created_at: datetime,
        generation: int = 1,
    ) -> bool: ...

    def transition_after(
        self,
        action: Callable[[], None],
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str = "",
        *,
        only_from: Collection[Phase] | None = None,
    ) -> bool: ...

    def transitions(self, task_id: UUID) -> list[Transition]: ...

    def unscored_indices(self, task_id: UUID) -> list[int]: ...

    def unsynced(
        self, namespaces: Sequence[str] | None = None, limit: int = 100
    ) -> list[TaskRecord]: ...

    def mark_synced(self, task_id: UUID, version: int) -> None: ...

    def mark_cr_deleted(self, task_id: UUID) -> None: ...

    def live_tasks(
        self, *, recorded_before: datetime, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]: ...

    def past_deadline(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]: ...

    def past_ttl(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]: ...

    def stuck(
        self, older_than_seconds: float, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]: ...

    def touch(self, task_id: UUID) -> None: ...


class WorkerTasks(TaskWriter, Protocol):
    """What a worker asks per micro-batch: read, start, commit; the result cache; heartbeats."""

    def read_batch(self, wanted: Sequence[ItemsWanted]) -> BatchSnapshot: ...

    def begin_attempts(self, starts: Sequence[AttemptStart], worker: str) -> Begun: ...

    def commit_batch(
        self, results: Sequence[TaskResults], worker: str, cache: CacheWrite | None = None
    ) -> list[WriteOutcome]: ...

    def record_results(
        self, task_id: UUID, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> WriteOutcome: ...

    def cached_scores(
        self, *, detector: str, model_version: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedScore]: ...

    def store_scores(
        self, *, detector: str, model_version: str, entries: Sequence[tuple[str, str, CachedScore]]
    ) -> None: ...

    def heartbeat(
        self,
        *,
        worker: str,
        node: str,
        detectors: Sequence[str],
        model_version: str,
        device: str,
        last_batch_seconds: float | None = None,
        last_batch_size: int | None = None,
        queue_depth: int | None = None,
    ) -> None: ...


class EventPublisher(Protocol):
    """Where a worker tells the operator that a task's row changed."""

    def publish_event(self, event: TaskEvent) -> None: ...


class TaskPublisher(Protocol):
    """Where the operator sends a task's message to the workers of its profile."""

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None: ...

    def close(self) -> None: ...


class AckChannel(Protocol):
    """The channel a delivery came on: only there can it be settled (hashable: a key)."""

    def __hash__(self) -> int: ...

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None: ...

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None: ...


class MessageBroker(Protocol):
    """One connection to the broker, used from one thread: declare, publish, consume, settle."""

    @property
    def is_open(self) -> bool: ...

    def close(self) -> None: ...

    def declare_topology(self, profiles: Iterable[str]) -> None: ...

    def declare_events_queue(self, shard: str = "") -> str: ...

    def queue_depth(self, queue: str) -> int: ...

    def publish_task(self, profile: str, message: TaskMessage, *, high: bool) -> None: ...

    def publish_event(self, event: TaskEvent) -> None: ...

    def consume(
        self, queue: str, on_delivery: Callable[[Delivery], None], *, prefetch: int
    ) -> str: ...

    def cancel_consumers(self) -> None: ...

    def process_events(self, seconds: float) -> None: ...

    def add_callback_threadsafe(self, fn: Callable[[], None]) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    @staticmethod
    def ack(delivery: Delivery, *, multiple: bool = False) -> None: ...

    @staticmethod
    def nack(delivery: Delivery, *, requeue: bool) -> None: ...


class CorpusTasks(TaskWriter, Protocol):
    """What the operator asks of corpus jobs: split them into items, read their results, and
    end them once the results are written. (Postgres only: the in-memory stand-in has no
    corpus jobs.)"""

    def record_split(
        self, task_id: UUID, items: Sequence[SplitItem], cursor: SplitCursor, where: str
    ) -> SplitOutcome: ...

    def finish_split(self, task_id: UUID, where: str) -> TaskRecord: ...

    def result_rows(
        self, task_id: UUID, *, after: int = -1, limit: int = PAGE_ROWS
    ) -> list[ResultRow]: ...

    def splits_due(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]: ...

    def outputs_due(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]: ...

    def output_written(self, task_id: UUID, location: str, lines: int) -> bool: ...

    def note(self, task_id: UUID, message: str) -> None: ...
