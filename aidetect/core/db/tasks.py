"""Tasks and their items: record, read, and move through the state machine.

Every phase change goes through `_transition()`, which moves a task only through
`states.advance()` and writes the transition log in the same transaction. (Item results are
written by `item_results`.)

Each transition has one writer:

- Pending (Recorded): the operator's admission records the task (`insert_task`).
- Pending -> Queued (Published, Requeued): the operator, in the transaction that publishes the
  items (`transition_after`): the row stays locked from before the publish until Queued is
  committed, so a worker handed a message waits, then finds the task Queued.
- Queued -> Running (Scoring): the worker, when it starts an attempt (`begin_attempts`), or
  when the last result of a task that the resync had requeued arrives (`item_results`).
- Running -> Queued (Requeued): the operator's resync, for a task without progress.
- Running -> Succeeded (Completed): the worker that writes the last item's result.
- -> Failed: the operator for bad input, a deadline or a dead letter; the worker when the
  detector refuses the input, the backoff limit is spent, or the last item is written and no
  item of the task could be scored (InvalidInput).
- -> Cancelled: the operator, when the CR is deleted or vanished.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg2.extras

from aidetect.core import conditions
from aidetect.core.camel import CamelModel
from aidetect.core.db.connection import ConnectionPool
from aidetect.core.db.rows import (
    TASK_COLUMNS,
    ItemToScore,
    TaskPage,
    decode_cursor,
    encode_cursor,
    item_of,
    task_record,
    text_sha256,
)
from aidetect.core.errors import TaskNotFound
from aidetect.core.models import ItemFailure, ItemResult, TaskRecord, TaskSpec, Transition
from aidetect.core.states import TERMINAL, InvalidTransition, Phase, advance


def _json(model: CamelModel | None) -> psycopg2.extras.Json | None:
    """A spec model as a jsonb value (camelCase, as the CR has it)."""
    if model is None:
        return None
    return psycopg2.extras.Json(model.model_dump(mode="json", by_alias=True, exclude_none=True))


class TaskStore(ConnectionPool):
    """The task lifecycle in SQL."""

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
        """Record a new task and its items as Pending; False if it was already recorded."""
        with self.transaction() as cur:
            cur.execute(
                """INSERT INTO tasks (id, namespace, name, generation, detector, granularity,
                       priority, backoff_limit, active_deadline_seconds,
                       ttl_seconds_after_finished, phase, reason, total_items, created_at,
                       max_failed_items, source, output, split_done)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                           %s, %s, %s, %s)
                   ON CONFLICT (id) DO NOTHING""",
                (
                    task_id,
                    namespace,
                    name,
                    generation,
                    detector,
                    spec.granularity,
                    spec.priority,
                    spec.backoff_limit,
                    spec.active_deadline_seconds,
                    spec.ttl_seconds_after_finished,
                    Phase.PENDING,
                    conditions.REASON_RECORDED,
                    len(texts),
                    created_at,
                    spec.max_failed_items,
                    _json(spec.source),
                    _json(spec.output),
                    spec.source is None,  # a corpus is split into items later
                ),
            )
            if cur.rowcount == 0:
                return False
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO task_items (task_id, idx, text, text_sha256) VALUES %s",
                [(task_id, i, t, text_sha256(t)) for i, t in enumerate(texts)],
            )
            self._log(cur, task_id, None, Phase.PENDING, conditions.REASON_RECORDED, "")
        return True

    def get_task(self, task_id: UUID) -> TaskRecord:
        with self.transaction() as cur:
            cur.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
            row = cur.fetchone()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        return task_record(row)

    def find_task(self, task_id: UUID) -> TaskRecord | None:
        try:
            return self.get_task(task_id)
        except TaskNotFound:
            return None

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespaces: Sequence[str] | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """Tasks newest first, filtered, with an opaque keyset cursor for the next page.

        `namespaces` None means every namespace; a list means only those (a tenant's).
        """
        where: list[str] = ["TRUE"]
        args: list[Any] = []
        for column, value in (("phase", phase), ("detector", detector)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(str(value))
        if namespaces is not None:
            where.append("namespace = ANY(%s)")
            args.append(list(namespaces))
        if cursor:
            created, last_id = decode_cursor(cursor)
            where.append("(created_at, id) < (%s, %s)")
            args += [created, last_id]
        with self.transaction() as cur:
            cur.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, id DESC LIMIT %s",
                (*args, limit + 1),
            )
            rows = cur.fetchall()
        more = len(rows) > limit
        tasks = [task_record(r) for r in rows[:limit]]
        next_cursor = encode_cursor(tasks[-1].created_at, tasks[-1].id) if more and tasks else None
        return TaskPage(tasks=tasks, next_cursor=next_cursor)

    def items(self, task_id: UUID) -> list[ItemResult | ItemFailure]:
        """The written items of a task, in order: results, and failures of unscorable texts."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, score, label, probability, threshold, model_version, detail
                   FROM task_items WHERE task_id = %s AND scored_at IS NOT NULL ORDER BY idx""",
                (task_id,),
            )
            return [item_of(r) for r in cur.fetchall()]

    def texts(self, task_id: UUID) -> list[str]:
        """The task's texts, in order (what its items scored)."""
        with self.transaction() as cur:
            cur.execute("SELECT text FROM task_items WHERE task_id = %s ORDER BY idx", (task_id,))
            return [r["text"] for r in cur.fetchall()]

    def transitions(self, task_id: UUID) -> list[Transition]:
        with self.transaction() as cur:
            cur.execute(
                """SELECT from_phase, to_phase, reason, message, at FROM task_transitions
                   WHERE task_id = %s ORDER BY id""",
                (task_id,),
            )
            return [Transition(**r) for r in cur.fetchall()]

    def transition(
        self,
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str = "",
        *,
        only_from: Collection[Phase] | None = None,
    ) -> bool:
        """Move a task to `target` if the state machine allows it from its current phase (and,
        with `only_from`, if the task is in one of those phases).

        Returns False (and changes nothing) when it does not, e.g. the task already ended.
        """
        with self.transaction() as cur:
            return self._transition(cur, task_id, target, reason, message, only_from)

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
        """`transition`, with `action` run under the task's row lock just before the move.

        The lock is held from before `action` until the move commits, so no other transaction
        sees the task between the two. When the move is not allowed, `action` does not run
        (False); when `action` raises, nothing is written and the error propagates.
        """
        with self.transaction() as cur:
            return self._transition(cur, task_id, target, reason, message, only_from, action)

    def _transition(
        self,
        cur: Any,
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str,
        only_from: Collection[Phase] | None = None,
        before: Callable[[], None] | None = None,
    ) -> bool:
        current = self._locked_phase(cur, task_id)
        if only_from is not None and current not in only_from:
            return False
        try:
            target = advance(current, target)
        except InvalidTransition:
            return False
        if before is not None:
            before()
        stamp = {
            Phase.QUEUED: "queued_at = coalesce(queued_at, now()),",
            Phase.RUNNING: "started_at = coalesce(started_at, now()),",
        }.get(target, "finished_at = now()," if target in TERMINAL else "")
        cur.execute(
            f"""UPDATE tasks SET phase = %s, reason = %s, message = %s, {stamp}
                    progressed_at = now(), version = version + 1 WHERE id = %s""",
            (target, reason, message, task_id),
        )
        self._log(cur, task_id, current, target, reason, message)
        return True

    @staticmethod
    def _locked_phase(cur: Any, task_id: UUID) -> Phase:
        """The task's phase, with its row locked until the transaction ends."""
        cur.execute("SELECT phase FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
        row = cur.fetchone()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        return Phase(row["phase"])

    @staticmethod
    def _log(cur: Any, task_id: UUID, src: Phase | None, dst: Phase, reason: str, msg: str) -> None:
        cur.execute(
            """INSERT INTO task_transitions (task_id, from_phase, to_phase, reason, message)
               VALUES (%s, %s, %s, %s, %s)""",
            (task_id, src, dst, reason, msg),
        )

    def note_attempt(self, task_id: UUID, attempt: int, message: str | None = None) -> None:
        """Record the delivery attempt a worker is on (and why the last one failed)."""
        with self.transaction() as cur:
            self._note_attempt(cur, task_id, attempt, message)

    @staticmethod
    def _note_attempt(cur: Any, task_id: UUID, attempt: int, message: str | None = None) -> None:
        cur.execute(
            """UPDATE tasks SET attempts = greatest(attempts, %s),
                   message = coalesce(%s, message), version = version + 1
               WHERE id = %s AND (attempts < %s OR %s IS NOT NULL)""",
            (attempt, message, task_id, attempt, message),
        )

    def items_to_score(self, task_id: UUID, indices: Sequence[int]) -> list[ItemToScore]:
        """The named items of a task that have no result yet."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, text FROM task_items WHERE task_id = %s AND idx = ANY(%s)
                   AND scored_at IS NULL ORDER BY idx""",
                (task_id, list(indices)),
            )
            return [ItemToScore(task_id, r["idx"], r["text"]) for r in cur.fetchall()]

    def unscored_indices(self, task_id: UUID) -> list[int]:
        """The indices of the items without a result, in order: one array, not a row per item
        (psycopg2 dict rows cost 370 bytes an item, 370 MB for a million; a list of ints 38 MB)."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT coalesce(array_agg(idx ORDER BY idx), '{}') AS indices FROM task_items
                   WHERE task_id = %s AND scored_at IS NULL""",
                (task_id,),
            )
            return list(cur.fetchone()["indices"])
