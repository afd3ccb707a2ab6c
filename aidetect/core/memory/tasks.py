"""`MemoryDatabase`: the task store over dicts, with the semantics of `core.db.Database`.

It implements `TaskReader`, `OperatorTasks` and `WorkerTasks` (`core.seams`) the way the SQL
does: the state machine through `states.can_advance`, version bumps that the CR sync follows,
results written once per item, keyset cursors, and the same return types. The contract suite
(`tests/contract`) runs against both. Time comes from `clock`, so tests can move it; `up = False`
makes every call fail as a Postgres outage does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from aidetect.core import conditions
from aidetect.core.db.batches import (
    AttemptStart,
    BatchSnapshot,
    Begun,
    CacheWrite,
    ItemsWanted,
    TaskResults,
)
from aidetect.core.db.rows import (
    CachedScore,
    ItemToScore,
    TaskPage,
    WriteOutcome,
    decode_cursor,
    encode_cursor,
    failure_detail,
    item_detail,
)
from aidetect.core.errors import DatabaseUnavailable, TaskNotFound
from aidetect.core.models import (
    ItemFailure,
    ItemResult,
    Progress,
    TaskRecord,
    TaskSpec,
    Transition,
    WorkerHeartbeat,
)
from aidetect.core.result_lines import PAGE_ROWS, ResultRow
from aidetect.core.results import partial_message, summarize, unscorable_message
from aidetect.core.states import TERMINAL, InvalidTransition, Phase, advance

OPEN = frozenset({Phase.PENDING, Phase.QUEUED, Phase.RUNNING})


@dataclass
class _Item:
    text: str
    result: ItemResult | ItemFailure | None = None  # None: not written yet (scored_at IS NULL)
    worker: str | None = None


@dataclass
class _Row:
    """A task row: the columns of `tasks`, its items and its transition log."""

    record: TaskRecord  # the columns TaskRecord shows; replaced, never mutated
    recorded_at: datetime
    progressed_at: datetime
    items: list[_Item]
    log: list[Transition] = field(default_factory=list)

    def set(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)


class MemoryDatabase:
    """Every task, cache and worker operation of `Database`, in memory and thread-safe."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.up = True
        self._lock = threading.RLock()
        self._rows: dict[UUID, _Row] = {}
        self._cache: dict[tuple[str, str, str, str], CachedScore] = {}
        self.cache_hits: dict[tuple[str, str, str, str], int] = {}
        self._workers: dict[str, WorkerHeartbeat] = {}

    # --- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[None]:
        if not self.up:
            raise DatabaseUnavailable(
                "cannot connect to the database: connection refused (MemoryDatabase.up is False)"
            )
        with self._lock:
            yield

    def _row(self, task_id: UUID) -> _Row:
        row = self._rows.get(task_id)
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        return row

    def ping(self) -> None:
        with self._tx():
            pass

    def close(self) -> None:
        """Nothing to release; kept for the protocol."""

    # --- recording and reading ---------------------------------------------------------------

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
    ) -> bool:
        with self._tx():
            if task_id in self._rows:
                return False
            now = self.clock()
            record = TaskRecord(
                id=task_id,
                namespace=namespace,
                name=name,
                generation=generation,
                detector=detector,
                granularity=spec.granularity,
                priority=spec.priority,
                backoff_limit=spec.backoff_limit,
                active_deadline_seconds=spec.active_deadline_seconds,
                ttl_seconds_after_finished=spec.ttl_seconds_after_finished,
                phase=Phase.PENDING,
                reason=conditions.REASON_RECORDED,
                message=None,
                attempts=0,
                progress=Progress(total=len(texts)),
                result=None,
                worker=None,
                created_at=created_at,
                queued_at=None,
                started_at=None,
                finished_at=None,
                version=1,
                cr_version=0,
                cr_deleted_at=None,
            )
            row = _Row(record, now, now, [_Item(t) for t in texts])
            self._rows[task_id] = row
            self._log(row, None, Phase.PENDING, conditions.REASON_RECORDED, "")
            return True

    def restore(
        self,
        record: TaskRecord,
        items: Sequence[ItemResult | ItemFailure] = (),
        texts: Sequence[str] | None = None,
    ) -> TaskRecord:
        """Put a task back as it stands (a test's starting point): its record, its scored
        items and its texts (one per item of `record.progress.total` unless given)."""
        with self._tx():
            now = self.clock()
            texts = (
                texts if texts is not None else [f"text {i}" for i in range(record.progress.total)]
            )
            row = _Row(record, now, now, [_Item(t) for t in texts])
            for item in items:
                row.items[item.index] = _Item(texts[item.index], item)
            self._rows[record.id] = row
            self._log(row, None, Phase.PENDING, conditions.REASON_RECORDED, "")
            if record.phase != Phase.PENDING:
                self._log(row, Phase.PENDING, record.phase, record.reason or "Restored", "")
            return record

    def get_task(self, task_id: UUID) -> TaskRecord:
        with self._tx():
            return self._row(task_id).record

    def find_task(self, task_id: UUID) -> TaskRecord | None:
        with self._tx():
            row = self._rows.get(task_id)
            return None if row is None else row.record

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespaces: Sequence[str] | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        after = decode_cursor(cursor) if cursor else None
        with self._tx():
            found = [
                r.record
                for r in self._rows.values()
                if (phase is None or r.record.phase == phase)
                and (detector is None or r.record.detector == detector)
                and (namespaces is None or r.record.namespace in namespaces)
                and (after is None or (r.record.created_at, r.record.id) < after)
            ]
        found.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        tasks = found[:limit]
        more = len(found) > limit
        next_cursor = encode_cursor(tasks[-1].created_at, tasks[-1].id) if more and tasks else None
        return TaskPage(tasks=tasks, next_cursor=next_cursor)

    def items(self, task_id: UUID) -> list[ItemResult | ItemFailure]:
        with self._tx():
            row = self._rows.get(task_id)
            return [i.result for i in row.items if i.result is not None] if row else []

    def texts(self, task_id: UUID) -> list[str]:
        with self._tx():
            row = self._rows.get(task_id)
            return [i.text for i in row.items] if row else []

    def transitions(self, task_id: UUID) -> list[Transition]:
        with self._tx():
            row = self._rows.get(task_id)
            return list(row.log) if row else []

    def unscored_indices(self, task_id: UUID) -> list[int]:
        with self._tx():
            row = self._rows.get(task_id)
            return [i for i, item in enumerate(row.items) if item.result is None] if row else []

    def items_to_score(self, task_id: UUID, indices: Sequence[int]) -> list[ItemToScore]:
        with self._tx():
            row = self._rows.get(task_id)
            if row is None:
                return []
            return [
                ItemToScore(task_id, i, row.items[i].text)
                for i in sorted(set(indices))
                if 0 <= i < len(row.items) and row.items[i].result is None
            ]

    # --- the state machine -------------------------------------------------------------------

    def transition(
        self,
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str = "",
        *,
        only_from: Collection[Phase] | None = None,
    ) -> bool:
        with self._tx():
            return self._transition(self._row(task_id), target, reason, message, only_from)

    def transition_after(
        self,
        action: Callable[[], None],
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str = "",
        *,
        only_from: Collection[Phase] | None = None,
    ) -> bool:
        """`transition`, with `action` run just before the move, the store locked meanwhile;
        when the move is not allowed `action` does not run, and when it raises nothing moves."""
        with self._tx():
            row = self._row(task_id)
            return self._transition(row, target, reason, message, only_from, action)

    def _transition(
        self,
        row: _Row,
        target: Phase,
        reason: str,
        message: str,
        only_from: Collection[Phase] | None = None,
        before: Callable[[], None] | None = None,
    ) -> bool:
        current = row.record.phase
        if only_from is not None and current not in only_from:
            return False
        try:
            target = advance(current, target)
        except InvalidTransition:
            return False
        if before is not None:
            before()
        now = self.clock()
        stamps: dict[str, Any] = {}
        if target == Phase.QUEUED:
            stamps["queued_at"] = row.record.queued_at or now
        elif target == Phase.RUNNING:
            stamps["started_at"] = row.record.started_at or now
        elif target in TERMINAL:
            stamps["finished_at"] = now
        row.set(
            phase=target, reason=reason, message=message, version=row.record.version + 1, **stamps
        )
        row.progressed_at = now
        self._log(row, current, target, reason, message)
        return True

    def _log(self, row: _Row, src: Phase | None, dst: Phase, reason: str, message: str) -> None:
        row.log.append(
            Transition(
                from_phase=src, to_phase=dst, reason=reason, message=message, at=self.clock()
            )
        )

    def note_attempt(self, task_id: UUID, attempt: int, message: str | None = None) -> None:
        with self._tx():
            row = self._rows.get(task_id)
            if row is not None:
                self._note_attempt(row, attempt, message)

    @staticmethod
    def _note_attempt(row: _Row, attempt: int, message: str | None = None) -> None:
        r = row.record
        if r.attempts < attempt or message is not None:
            row.set(
                attempts=max(r.attempts, attempt),
                message=r.message if message is None else message,
                version=r.version + 1,
            )

    # --- results -----------------------------------------------------------------------------

    def record_results(
        self, task_id: UUID, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> WriteOutcome:
        with self._tx():
            return self._record_results(self._row(task_id), results, worker)

    def _record_results(
        self, row: _Row, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> WriteOutcome:
        if row.record.phase in TERMINAL:
            return WriteOutcome(0, False, skipped_phase=row.record.phase)
        new_done = new_failed = 0
        for r in results:
            if 0 <= r.index < len(row.items) and row.items[r.index].result is None:
                row.items[r.index] = replace(row.items[r.index], result=r, worker=worker)
                if isinstance(r, ItemFailure):
                    new_failed += 1
                else:
                    new_done += 1
        new = new_done + new_failed
        progress = row.record.progress
        done, failed = progress.done + new_done, progress.failed + new_failed
        row.set(
            progress=progress.model_copy(update={"done": done, "failed": failed}),
            worker=worker,
            version=row.record.version + (1 if new else 0),
        )
        row.progressed_at = self.clock()
        if done + failed < progress.total:
            return WriteOutcome(new, False)
        if done == 0:
            first = next(i.result for i in row.items if isinstance(i.result, ItemFailure))
            message = unscorable_message(failed, first.index, first.message)
            moved = self._transition(row, Phase.FAILED, conditions.REASON_INVALID_INPUT, message)
            return WriteOutcome(new, moved)
        scored = [i.result for i in row.items if isinstance(i.result, ItemResult)]
        row.set(result=summarize(scored, detector=row.record.detector))
        return WriteOutcome(new, self._finish(row, partial_message(failed, progress.total)))

    def _finish(self, row: _Row, message: str) -> bool:
        moved = False
        for step, reason, text in (
            (Phase.RUNNING, conditions.REASON_SCORING, ""),
            (Phase.SUCCEEDED, conditions.REASON_COMPLETED, message),
        ):
            moved = self._transition(row, step, reason, text)
        return moved

    # --- a worker's batches ------------------------------------------------------------------

    def read_batch(self, wanted: Sequence[ItemsWanted]) -> BatchSnapshot:
        with self._tx():
            tasks = {
                w.task_id: self._rows[w.task_id].record for w in wanted if w.task_id in self._rows
            }
            unscored: dict[tuple[UUID, int], ItemToScore] = {}
            for w in wanted:
                row = self._rows.get(w.task_id)
                if row is None or row.record.phase in TERMINAL:
                    continue
                for i in w.indices:
                    if 0 <= i < len(row.items) and row.items[i].result is None:
                        unscored[(w.task_id, i)] = ItemToScore(w.task_id, i, row.items[i].text)
        return BatchSnapshot(tasks=tasks, unscored=unscored)

    def begin_attempts(self, starts: Sequence[AttemptStart], worker: str) -> Begun:
        running: set[UUID] = set()
        unqueued: set[UUID] = set()
        latest: dict[UUID, int] = {}
        for s in starts:
            latest[s.task_id] = max(s.attempt, latest.get(s.task_id, 0))
        if not latest:
            return Begun()
        with self._tx():
            for task_id in sorted(latest):
                row = self._rows.get(task_id)
                if row is None:
                    continue
                if row.record.phase == Phase.PENDING:  # only the operator moves it on
                    unqueued.add(task_id)
                    continue
                self._note_attempt(row, latest[task_id])
                if row.record.phase == Phase.QUEUED and self._transition(
                    row, Phase.RUNNING, conditions.REASON_SCORING, f"scoring on {worker}"
                ):
                    running.add(task_id)
        return Begun(frozenset(running), frozenset(unqueued))

    def commit_batch(
        self, results: Sequence[TaskResults], worker: str, cache: CacheWrite | None = None
    ) -> list[WriteOutcome]:
        with self._tx():
            for r in results:
                self._row(r.task_id)  # all or nothing, as one transaction
            if cache is not None:
                self._store(cache.detector, cache.model_version, cache.entries)
            return [self._record_results(self._rows[r.task_id], r.results, worker) for r in results]

    # --- the result cache --------------------------------------------------------------------

    def cached_scores(
        self, *, detector: str, model_version: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedScore]:
        found: dict[tuple[str, str], CachedScore] = {}
        if not keys:
            return found
        with self._tx():
            for sha, granularity in keys:
                key = (sha, detector, model_version, granularity)
                if key in self._cache:
                    found[(sha, granularity)] = self._cache[key]
                    self.cache_hits[key] = self.cache_hits.get(key, 0) + 1
        return found

    def store_scores(
        self, *, detector: str, model_version: str, entries: Sequence[tuple[str, str, CachedScore]]
    ) -> None:
        if not entries:
            return
        with self._tx():
            self._store(detector, model_version, entries)

    def _store(
        self, detector: str, model_version: str, entries: Sequence[tuple[str, str, CachedScore]]
    ) -> None:
        for sha, granularity, score in entries:
            self._cache.setdefault((sha, detector, model_version, granularity), score)

    # --- heartbeats and counts ---------------------------------------------------------------

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
    ) -> None:
        with self._tx():
            now = self.clock()
            before = self._workers.get(worker)
            self._workers[worker] = WorkerHeartbeat(
                worker=worker,
                node=node,
                detectors=list(detectors),
                model_version=model_version,
                device=device,
                started_at=before.started_at if before else now,
                last_seen=now,
                last_batch_seconds=_kept(last_batch_seconds, before, "last_batch_seconds"),
                last_batch_size=_kept(last_batch_size, before, "last_batch_size"),
                queue_depth=_kept(queue_depth, before, "queue_depth"),
            )

    def workers(self) -> list[WorkerHeartbeat]:
        with self._tx():
            return [self._workers[w] for w in sorted(self._workers)]

    def result_rows(
        self, task_id: UUID, *, after: int = -1, limit: int = PAGE_ROWS
    ) -> list[ResultRow]:
        with self._tx():
            row = self._rows.get(task_id)
            written = [
                (i, item.result)
                for i, item in enumerate(row.items if row else [])
                if item.result is not None and i > after
            ]
            return [_result_row(i, r) for i, r in written[:limit]]

    def phase_counts(self) -> dict[str, int]:
        with self._tx():
            counts: dict[str, int] = {}
            for row in self._rows.values():
                counts[row.record.phase] = counts.get(row.record.phase, 0) + 1
            return counts

    # --- the operator's bookkeeping ----------------------------------------------------------

    PAST_TTL_LIMIT: ClassVar[int] = 500

    def _select(
        self,
        keep: Callable[[_Row], bool],
        namespaces: Sequence[str] | None,
        order: Callable[[_Row], Any] | None = None,
        limit: int | None = 500,
    ) -> list[TaskRecord]:
        with self._tx():
            rows = [
                r
                for r in self._rows.values()
                if keep(r) and (namespaces is None or r.record.namespace in namespaces)
            ]
        if order is not None:
            rows.sort(key=order)
        return [r.record for r in rows[:limit]]

    def unsynced(
        self, namespaces: Sequence[str] | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        return self._select(
            lambda r: r.record.cr_version < r.record.version and r.record.cr_deleted_at is None,
            namespaces,
            order=lambda r: r.progressed_at,
            limit=limit,
        )

    def mark_synced(self, task_id: UUID, version: int) -> None:
        with self._tx():
            row = self._rows.get(task_id)
            if row is not None:
                row.set(cr_version=max(row.record.cr_version, version))

    def mark_cr_deleted(self, task_id: UUID) -> None:
        with self._tx():
            row = self._rows.get(task_id)
            if row is not None and row.record.cr_deleted_at is None:
                row.set(cr_deleted_at=self.clock())

    def live_tasks(
        self, *, recorded_before: datetime, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]:
        return self._select(
            lambda r: r.record.cr_deleted_at is None and r.recorded_at < recorded_before,
            namespaces,
            limit=None,
        )

    def past_deadline(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        now = self.clock()

        def due(r: _Row) -> bool:
            limit = r.record.active_deadline_seconds
            age = (now - r.record.created_at).total_seconds()
            return r.record.phase in OPEN and limit is not None and age > limit

        return self._select(due, namespaces)

    def past_ttl(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        now = self.clock()

        def due(r: _Row) -> bool:
            t, ttl = r.record, r.record.ttl_seconds_after_finished
            return (
                t.phase in (Phase.SUCCEEDED, Phase.FAILED)
                and t.cr_deleted_at is None
                and ttl is not None
                and t.finished_at is not None
                and (now - t.finished_at).total_seconds() > ttl
            )

        return self._select(
            due,
            namespaces,
            order=lambda r: r.record.finished_at,
            limit=self.PAST_TTL_LIMIT,
        )

    def stuck(
        self, older_than_seconds: float, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]:
        bound = self.clock() - timedelta(seconds=older_than_seconds)
        return self._select(
            lambda r: r.record.phase in OPEN and r.progressed_at < bound, namespaces
        )

    def touch(self, task_id: UUID) -> None:
        with self._tx():
            row = self._rows.get(task_id)
            if row is not None:
                row.progressed_at = self.clock()


def _kept(value: Any, before: WorkerHeartbeat | None, name: str) -> Any:
    """A heartbeat's value, or the last one sent when this one has none (SQL's coalesce)."""
    if value is not None or before is None:
        return value
    return getattr(before, name)


def _result_row(index: int, r: ItemResult | ItemFailure) -> ResultRow:
    """An item as `core.db` reads it back for the results JSONL (texts from a CR: no source id)."""
    if isinstance(r, ItemFailure):
        return ResultRow(index, None, None, None, None, None, r.model_version, failure_detail(r))
    return ResultRow(
        index, None, r.score, r.label, r.probability, r.threshold, r.model_version, item_detail(r)
    )
