"""Writing a task's item results, once each, and finishing the task with its last one.

An item's result is written only while it has none (`scored_at IS NULL`), under the task row's
lock, so a redelivered message writes nothing twice and two workers that write a task's last
items at once finish it exactly once. A task that has ended gets no results.

An item whose text cannot be scored gets an `ItemFailure` instead, written the same way (score,
label and threshold NULL, the error in `detail`) and counted in `failed_items`. A task ends
when every item is written: Succeeded if at least one item scored (its result summarises the
scored ones, and the message counts the failed), Failed with reason InvalidInput if none did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg2.extras

from aidetect.core import conditions
from aidetect.core.db.rows import WriteOutcome, failure_detail, item_detail, item_result
from aidetect.core.db.tasks import TaskStore
from aidetect.core.errors import TaskNotFound
from aidetect.core.models import ItemFailure, ItemResult
from aidetect.core.results import (
    MAX_ITEMS_ON_CR,
    Aggregate,
    partial_message,
    summarize,
    summarize_aggregate,
    unscorable_message,
)
from aidetect.core.states import TERMINAL, Phase

# What `summarize` takes from the rows, in one pass over the task's scored items.
AGGREGATE_SQL = """
    SELECT count(*) AS n, avg(score) AS mean_score,
           count(*) FILTER (WHERE label = 'ai') AS ai,
           count(*) FILTER (WHERE label = 'human') AS human,
           avg(probability) AS mean_probability, count(probability) AS with_probability,
           string_agg(DISTINCT model_version, ',' ORDER BY model_version) AS model_versions,
           sum(coalesce((detail->>'chunks')::int, 1)) AS chunks,
           bool_and(coalesce((detail->>'cached')::boolean, false)) AS cached
    FROM task_items WHERE task_id = %s AND score IS NOT NULL"""


class ResultWrites(TaskStore):
    """Item results in SQL."""

    def record_results(
        self, task_id: UUID, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> WriteOutcome:
        """Write each item's result once; finish the task when its last item is written.

        Runs under the task row's lock, so two workers finishing the last items concurrently
        finish the task exactly once, and a cancelled or failed task gets no results.
        """
        with self.transaction() as cur:
            return self._record_results(cur, task_id, results, worker)

    def _record_results(
        self, cur: Any, task_id: UUID, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> WriteOutcome:
        """`record_results` inside the caller's transaction (which then holds the row lock)."""
        task = self._lock_for_results(cur, task_id)
        if Phase(task["phase"]) in TERMINAL:
            return WriteOutcome(0, False, skipped_phase=Phase(task["phase"]))
        new_done, new_failed = self._write_item_results(cur, task_id, results, worker)
        done, failed = self._count_done(cur, task_id, new_done, new_failed, worker)
        new = new_done + new_failed
        limit = task["max_failed_items"]
        if limit is not None and failed > limit:
            return WriteOutcome(new, self._fail_too_many(cur, task_id, failed, limit))
        if done + failed < task["total_items"]:
            return WriteOutcome(new, False)
        if done == 0:
            return WriteOutcome(new, self._fail_unscorable(cur, task_id, failed))
        self._store_summary(cur, task_id, task["detector"])
        if task["has_output"]:  # a corpus job ends when the operator has written its results
            self._scored_all(cur, task_id)
            return WriteOutcome(new, False, scored_all=True)
        return WriteOutcome(new, self._finish(cur, task_id, failed, task["total_items"]))

    @staticmethod
    def _lock_for_results(cur: Any, task_id: UUID) -> Any:
        """The task's phase, detector and item count, with its row locked."""
        cur.execute(
            """SELECT phase, detector, total_items, max_failed_items,
                      output IS NOT NULL AS has_output FROM tasks WHERE id = %s FOR UPDATE""",
            (task_id,),
        )
        task = cur.fetchone()
        if task is None:
            raise TaskNotFound(f"no task {task_id}")
        return task

    @staticmethod
    def _write_item_results(
        cur: Any, task_id: UUID, results: Sequence[ItemResult | ItemFailure], worker: str
    ) -> tuple[int, int]:
        """Write the results (and failures) of the items that have none yet; how many of each
        were written."""
        if not results:
            return 0, 0
        written = psycopg2.extras.execute_values(
            cur,
            """UPDATE task_items AS t SET score = v.score, label = v.label,
                   probability = v.probability, threshold = v.threshold,
                   model_version = v.model_version, detail = v.detail::jsonb,
                   worker = v.worker, scored_at = now()
               FROM (VALUES %s) AS v (task_id, idx, score, label, probability, threshold,
                                      model_version, detail, worker)
               WHERE t.task_id = v.task_id AND t.idx = v.idx AND t.scored_at IS NULL
               RETURNING t.idx, v.score IS NULL AS failed""",
            [_row_values(task_id, r, worker) for r in results],
            template="(%s::uuid, %s, %s::double precision, %s, %s::double precision, "
            "%s::double precision, %s, %s, %s)",
            fetch=True,
        )
        failed = sum(1 for row in written if row["failed"])
        return len(written) - failed, failed

    @staticmethod
    def _count_done(
        cur: Any, task_id: UUID, new_done: int, new_failed: int, worker: str
    ) -> tuple[int, int]:
        """Add the new results and failures to the task's counts (a new version only if there
        are any); the items done and failed now."""
        cur.execute(
            """UPDATE tasks SET done_items = done_items + %s, failed_items = failed_items + %s,
                   worker = %s, progressed_at = now(), version = version + (%s > 0)::int
               WHERE id = %s RETURNING done_items, failed_items""",
            (new_done, new_failed, worker, new_done + new_failed, task_id),
        )
        row = cur.fetchone()
        return int(row["done_items"]), int(row["failed_items"])

    @staticmethod
    def _store_summary(cur: Any, task_id: UUID, detector: str) -> None:
        """Summarize every item's result into the task's result: from the rows while they
        are few enough to show on the CR, else from an aggregate (a corpus job's million rows
        are never all read)."""
        cur.execute(
            """SELECT idx, score, label, probability, threshold, model_version, detail
               FROM task_items WHERE task_id = %s AND score IS NOT NULL ORDER BY idx LIMIT %s""",
            (task_id, MAX_ITEMS_ON_CR + 1),
        )
        rows = cur.fetchall()
        if len(rows) <= MAX_ITEMS_ON_CR:
            summary = summarize([item_result(r) for r in rows], detector=detector)
        else:
            cur.execute(AGGREGATE_SQL, (task_id,))
            summary = summarize_aggregate(
                Aggregate(**cur.fetchone(), threshold=rows[0]["threshold"]), detector=detector
            )
        cur.execute(
            "UPDATE tasks SET result = %s WHERE id = %s",
            (psycopg2.extras.Json(summary.model_dump(mode="json", exclude_none=True)), task_id),
        )

    def _finish(self, cur: Any, task_id: UUID, failed: int, total: int) -> bool:
        """Succeed a task whose last item was written, stepping through the phases it skipped
        (a task requeued by the resync can be Queued while its last result arrives)."""
        message = partial_message(failed, total)
        steps = (
            (Phase.RUNNING, conditions.REASON_SCORING, ""),
            (Phase.SUCCEEDED, conditions.REASON_COMPLETED, message),
        )
        for step, reason, text in steps:
            moved = self._transition(cur, task_id, step, reason, text)
        return moved

    def _scored_all(self, cur: Any, task_id: UUID) -> None:
        """Every item of a corpus job is done: it stays Running (the operator writes its
        output, then ends it), stepping to Running if the resync had requeued it."""
        self._transition(cur, task_id, Phase.RUNNING, conditions.REASON_SCORING, "")
        cur.execute(
            """UPDATE tasks SET reason = %s, message = %s, version = version + 1
               WHERE id = %s""",
            (conditions.REASON_WRITING_OUTPUT, "every item is done; writing the results", task_id),
        )

    def _fail_too_many(self, cur: Any, task_id: UUID, failed: int, limit: int) -> bool:
        message = f"{failed} item(s) failed, more than failurePolicy.maxFailedItems ({limit})"
        return bool(
            self._transition(
                cur, task_id, Phase.FAILED, conditions.REASON_TOO_MANY_FAILED_ITEMS, message
            )
        )

    def _fail_unscorable(self, cur: Any, task_id: UUID, failed: int) -> bool:
        """Fail a task none of whose items could be scored, saying why the first one failed."""
        cur.execute(
            """SELECT idx, detail FROM task_items WHERE task_id = %s AND score IS NULL
               ORDER BY idx LIMIT 1""",
            (task_id,),
        )
        first = cur.fetchone()
        error = (first["detail"] or {}).get("error") or {}
        message = unscorable_message(failed, first["idx"], error.get("message", ""))
        return bool(
            self._transition(cur, task_id, Phase.FAILED, conditions.REASON_INVALID_INPUT, message)
        )


def _row_values(task_id: UUID, r: ItemResult | ItemFailure, worker: str) -> tuple[Any, ...]:
    if isinstance(r, ItemFailure):
        detail = psycopg2.extras.Json(failure_detail(r))
        return (task_id, r.index, None, None, None, None, r.model_version, detail, worker)
    return (
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
