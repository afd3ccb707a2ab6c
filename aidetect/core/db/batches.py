"""What a worker asks of the database once per micro-batch, however many messages it holds.

A batch of messages costs at most three transactions: one read (the tasks and the unscored
items they name), one start (attempts and the moves to Running, only when some task needs
them) and one commit (the result cache and every task's results). Per message, it used to cost
seven. The guarantees are the per-task ones of `ResultWrites`: each item's result is written once
(`scored_at IS NULL`), under the task row's lock, and a task finishes exactly once.

Task rows are locked in task-id order, in every transaction here, so two workers committing
batches that share tasks cannot deadlock; cache entries are inserted in key order for the same
reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from aidetect.core import conditions
from aidetect.core.db.cache import ResultCache
from aidetect.core.db.item_results import ResultWrites
from aidetect.core.db.rows import (
    TASK_COLUMNS,
    CachedScore,
    ItemToScore,
    WriteOutcome,
    task_record,
)
from aidetect.core.models import ItemFailure, ItemResult, TaskRecord
from aidetect.core.states import Phase


@dataclass(frozen=True)
class ItemsWanted:
    """The items one message names."""

    task_id: UUID
    indices: Sequence[int]


@dataclass(frozen=True)
class BatchSnapshot:
    """The tasks a batch names, and their unscored items (only for tasks not yet ended)."""

    tasks: Mapping[UUID, TaskRecord]
    unscored: Mapping[tuple[UUID, int], ItemToScore] = field(default_factory=dict)

    def items_of(self, wanted: ItemsWanted) -> list[ItemToScore]:
        """The unscored items among those a message names, in index order."""
        found = (self.unscored.get((wanted.task_id, i)) for i in sorted(set(wanted.indices)))
        return [item for item in found if item is not None]


@dataclass(frozen=True)
class AttemptStart:
    """A task a worker is about to score, on the given delivery attempt."""

    task_id: UUID
    attempt: int


@dataclass(frozen=True)
class Begun:
    """What `begin_attempts` did: the tasks it moved to Running, and those it found Pending."""

    running: frozenset[UUID] = frozenset()
    unqueued: frozenset[UUID] = frozenset()


@dataclass(frozen=True)
class TaskResults:
    """The new results of one task's items (a failure for each text that could not be scored)."""

    task_id: UUID
    results: Sequence[ItemResult | ItemFailure]


@dataclass(frozen=True)
class CacheWrite:
    """Raw scores to remember, as (text sha256, granularity, score), for one detector."""

    detector: str
    model_version: str
    entries: Sequence[tuple[str, str, CachedScore]]


class WorkerBatches(ResultWrites, ResultCache):
    """The worker's per-batch reads and writes."""

    def read_batch(self, wanted: Sequence[ItemsWanted]) -> BatchSnapshot:
        """The named tasks, and the named items that have no result yet, in one transaction."""
        task_ids = sorted({w.task_id for w in wanted})
        if not task_ids:
            return BatchSnapshot(tasks={})
        pairs = sorted({(w.task_id, i) for w in wanted for i in w.indices})
        with self.transaction() as cur:
            cur.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ANY(%s)", (task_ids,))
            tasks = {r["id"]: task_record(r) for r in cur.fetchall()}
            cur.execute(
                """SELECT i.task_id, i.idx, i.text
                   FROM unnest(%s::uuid[], %s::int[]) AS w (task_id, idx)
                   JOIN task_items AS i ON i.task_id = w.task_id AND i.idx = w.idx
                   JOIN tasks AS t ON t.id = i.task_id
                   WHERE i.scored_at IS NULL
                     AND t.phase NOT IN ('Succeeded', 'Failed', 'Cancelled')""",
                ([p[0] for p in pairs], [p[1] for p in pairs]),
            )
            unscored = {
                (r["task_id"], r["idx"]): ItemToScore(r["task_id"], r["idx"], r["text"])
                for r in cur.fetchall()
            }
        return BatchSnapshot(tasks=tasks, unscored=unscored)

    def begin_attempts(self, starts: Sequence[AttemptStart], worker: str) -> Begun:
        """Record each task's delivery attempt and move Queued tasks on to Running.

        A task still Pending is left alone: the operator's publish of it did not commit (it
        publishes the task again), and only the operator moves a task on from Pending. A task
        whose publish is under way is locked by the operator until Queued commits: this waits.
        """
        running: set[UUID] = set()
        unqueued: set[UUID] = set()
        latest: dict[UUID, int] = {}
        for s in starts:
            latest[s.task_id] = max(s.attempt, latest.get(s.task_id, 0))
        if not latest:
            return Begun()
        with self.transaction() as cur:
            for task_id in sorted(latest):
                cur.execute("SELECT phase FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
                row = cur.fetchone()
                phase = None if row is None else Phase(row["phase"])
                if phase == Phase.PENDING:
                    unqueued.add(task_id)
                    continue
                self._note_attempt(cur, task_id, latest[task_id])
                if phase == Phase.QUEUED and self._transition(
                    cur, task_id, Phase.RUNNING, conditions.REASON_SCORING, f"scoring on {worker}"
                ):
                    running.add(task_id)
        return Begun(frozenset(running), frozenset(unqueued))

    def commit_batch(
        self, results: Sequence[TaskResults], worker: str, cache: CacheWrite | None = None
    ) -> list[WriteOutcome]:
        """Remember the raw scores and write every task's results, in one transaction.

        One outcome per entry of `results`, in its order. Each task is handled as
        `record_results` handles it: results written once, ended tasks left alone, the task
        finished when its last item is written.
        """
        outcomes: dict[int, WriteOutcome] = {}
        with self.transaction() as cur:
            if cache is not None:
                self._store_scores(cur, cache.detector, cache.model_version, cache.entries)
            order = sorted(range(len(results)), key=lambda i: results[i].task_id)
            for i in order:
                outcomes[i] = self._record_results(
                    cur, results[i].task_id, results[i].results, worker
                )
        return [outcomes[i] for i in range(len(results))]
