"""Tasks and their items: record, read, move through the state machine, write results once.

Every phase change goes through `transition()`, which checks the state machine and writes the
transition log in the same transaction. Result writes are idempotent per item: an item's result
is written once (`scored_at IS NULL`), however often its message is delivered.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg2.extras

from aidetect.core import conditions
from aidetect.core.db.connection import ConnectionPool
from aidetect.core.db.rows import (
    TASK_COLUMNS,
    ItemToScore,
    TaskPage,
    WriteOutcome,
    decode_cursor,
    encode_cursor,
    item_detail,
    item_result,
    task_record,
    text_sha256,
)
from aidetect.core.errors import TaskNotFound
from aidetect.core.models import ItemResult, TaskRecord, TaskSpec, Transition
from aidetect.core.results import summarize
from aidetect.core.states import TERMINAL, Phase, can_advance


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
                       ttl_seconds_after_finished, phase, reason, total_items, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
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

    def items(self, task_id: UUID) -> list[ItemResult]:
        """The scored items of a task, in order."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, score, label, probability, threshold, model_version, detail
                   FROM task_items WHERE task_id = %s AND scored_at IS NOT NULL ORDER BY idx""",
                (task_id,),
            )
            return [item_result(r) for r in cur.fetchall()]

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

    def _transition(
        self,
        cur: Any,
        task_id: UUID,
        target: Phase,
        reason: str,
        message: str,
        only_from: Collection[Phase] | None = None,
    ) -> bool:
        cur.execute("SELECT phase FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
        row = cur.fetchone()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        current = Phase(row["phase"])
        if only_from is not None and current not in only_from:
            return False
        if not can_advance(current, target):
            return False
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

    def _finish(self, cur: Any, task_id: UUID) -> bool:
        """Succeed a task whose last item was written, stepping through the phases it skipped
        (a task requeued by the resync can be Queued while its last result arrives)."""
        steps = (
            (Phase.RUNNING, conditions.REASON_SCORING),
            (Phase.SUCCEEDED, conditions.REASON_COMPLETED),
        )
        for step, reason in steps:
            moved = self._transition(cur, task_id, step, reason, "")
        return moved

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
        with self.transaction() as cur:
            cur.execute(
                "SELECT idx FROM task_items WHERE task_id = %s AND scored_at IS NULL ORDER BY idx",
                (task_id,),
            )
            return [r["idx"] for r in cur.fetchall()]

    def record_results(
        self, task_id: UUID, results: Sequence[ItemResult], worker: str
    ) -> WriteOutcome:
        """Write each item's result once; finish the task when its last item is written.

        Runs under the task row's lock, so two workers finishing the last items concurrently
        finish the task exactly once, and a cancelled or failed task gets no results.
        """
        with self.transaction() as cur:
            return self._record_results(cur, task_id, results, worker)

    def _record_results(
        self, cur: Any, task_id: UUID, results: Sequence[ItemResult], worker: str
    ) -> WriteOutcome:
        """`record_results` inside the caller's transaction (which then holds the row lock)."""
        cur.execute(
            "SELECT phase, detector, total_items FROM tasks WHERE id = %s FOR UPDATE",
            (task_id,),
        )
        task = cur.fetchone()
        if task is None:
            raise TaskNotFound(f"no task {task_id}")
        if Phase(task["phase"]) in TERMINAL:
            return WriteOutcome(0, False, skipped_phase=Phase(task["phase"]))
        written = (
            psycopg2.extras.execute_values(
                cur,
                """UPDATE task_items AS t SET score = v.score, label = v.label,
                   probability = v.probability, threshold = v.threshold,
                   model_version = v.model_version, detail = v.detail::jsonb,
                   worker = v.worker, scored_at = now()
               FROM (VALUES %s) AS v (task_id, idx, score, label, probability, threshold,
                                      model_version, detail, worker)
               WHERE t.task_id = v.task_id AND t.idx = v.idx AND t.scored_at IS NULL
               RETURNING t.idx""",
                [
                    (
                        task_id,
                        r.index,
                        r.score,
                        r.label,
                        r.probability,
                        r.threshold,
                        r.model_version,
                        psycopg2.extras.Json(item_detail(r)),
                        worker,
                    )
                    for r in results
                ],
                template="(%s::uuid, %s, %s::double precision, %s, %s::double precision, "
                "%s::double precision, %s, %s, %s)",
                fetch=True,
            )
            if results
            else []
        )
        new = len(written)
        cur.execute(
            """UPDATE tasks SET done_items = done_items + %s, worker = %s,
                   progressed_at = now(), version = version + (%s > 0)::int
               WHERE id = %s RETURNING done_items""",
            (new, worker, new, task_id),
        )
        done = cur.fetchone()["done_items"]
        if done < task["total_items"]:
            return WriteOutcome(new, False)
        cur.execute(
            """SELECT idx, score, label, probability, threshold, model_version, detail
               FROM task_items WHERE task_id = %s ORDER BY idx""",
            (task_id,),
        )
        summary = summarize([item_result(r) for r in cur.fetchall()], detector=task["detector"])
        cur.execute(
            "UPDATE tasks SET result = %s WHERE id = %s",
            (psycopg2.extras.Json(summary.model_dump(mode="json", exclude_none=True)), task_id),
        )
        return WriteOutcome(new, self._finish(cur, task_id))
