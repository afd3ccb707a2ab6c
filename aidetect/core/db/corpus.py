"""Corpus jobs in SQL: items written as the source is split, resumably, and the results read
back a page at a time.

`record_split` writes a batch of items and the cursor that follows them in one transaction,
under the task's row lock, and only while the task is Pending: a split that an operator's death
interrupted resumes at the cursor, and the items are keyed by their position in the source
(`ON CONFLICT DO NOTHING` as well), so none is written twice. A record that cannot be an item
(not JSON, no text, over the limit) is written already failed, with the reason, and counted.

Who writes what: the operator splits (`record_split`, `finish_split`), the workers score the
items as for any task (`item_results` leaves a corpus job Running when its last item is done),
and the operator writes the output, then moves the task to Succeeded (`output_written`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg2.extras

from aidetect.core import conditions
from aidetect.core.corpus import SplitCursor, SplitItem, SplitOutcome
from aidetect.core.db.bookkeeping import Bookkeeping
from aidetect.core.db.rows import TASK_COLUMNS, task_record, text_sha256
from aidetect.core.models import TaskRecord
from aidetect.core.result_lines import PAGE_ROWS, ResultRow
from aidetect.core.states import Phase


class CorpusStore(Bookkeeping):
    """Splitting corpora into items, and reading results back."""

    def record_split(
        self, task_id: UUID, items: Sequence[SplitItem], cursor: SplitCursor, where: str
    ) -> SplitOutcome:
        """Write a batch of items and the cursor after them, if the task is still Pending."""
        with self.transaction() as cur:
            phase = self._locked_phase(cur, task_id)
            if phase != Phase.PENDING:
                cur.execute("SELECT total_items, failed_items FROM tasks WHERE id = %s", (task_id,))
                row = cur.fetchone()
                return SplitOutcome(row["total_items"], row["failed_items"], False)
            inserted = psycopg2.extras.execute_values(
                cur,
                """INSERT INTO task_items (task_id, idx, text, text_sha256, source_id, detail,
                       scored_at)
                   VALUES %s ON CONFLICT (task_id, idx) DO NOTHING
                   RETURNING scored_at IS NOT NULL AS failed""",
                [_item_row(task_id, i) for i in items],
                template="(%s, %s, %s, %s, %s, %s::jsonb, %s::timestamptz)",
                page_size=1000,
                fetch=True,
            )
            failed = sum(1 for r in inserted if r["failed"])
            cur.execute(
                """UPDATE tasks SET total_items = total_items + %s,
                       failed_items = failed_items + %s, split_cursor = %s, reason = %s,
                       message = %s, progressed_at = now(),
                       version = version + 1
                   WHERE id = %s RETURNING total_items, failed_items, max_failed_items""",
                (
                    len(inserted),
                    failed,
                    psycopg2.extras.Json(cursor.model_dump(mode="json")),
                    conditions.REASON_SPLITTING,
                    f"splitting: {cursor.index} record(s) read from {where}",
                    task_id,
                ),
            )
            row = cur.fetchone()
            total, failed_now, limit = (
                row["total_items"],
                row["failed_items"],
                row["max_failed_items"],
            )
            if limit is not None and failed_now > limit:
                message = (
                    f"{failed_now} record(s) of the source could not be items, more than "
                    f"failurePolicy.maxFailedItems ({limit})"
                )
                self._transition(
                    cur, task_id, Phase.FAILED, conditions.REASON_TOO_MANY_FAILED_ITEMS, message
                )
                return SplitOutcome(total, failed_now, False)
            return SplitOutcome(total, failed_now, True)

    def finish_split(self, task_id: UUID, where: str) -> TaskRecord:
        """Mark the split done; a source with no record, or none that could be an item, fails
        the task (InvalidInput). The record as it is now."""
        with self.transaction() as cur:
            phase = self._locked_phase(cur, task_id)
            cur.execute(
                f"""UPDATE tasks SET split_done = true, reason = %s, message = %s,
                        version = version + 1
                    WHERE id = %s RETURNING {TASK_COLUMNS}""",
                (conditions.REASON_RECORDED, f"split {where}", task_id),
            )
            record = task_record(cur.fetchone())
            total, failed = record.progress.total, record.progress.failed
            if phase == Phase.PENDING and (total == 0 or failed == total):
                why = (
                    f"{where} holds no record"
                    if total == 0
                    else f"none of the {total} record(s) of {where} could be scored"
                )
                self._transition(cur, task_id, Phase.FAILED, conditions.REASON_INVALID_INPUT, why)
        return self.get_task(task_id)

    def note(self, task_id: UUID, message: str) -> None:
        """Show why an open task is waiting (the object store away): its message, on the CR."""
        with self.transaction() as cur:
            cur.execute(
                """UPDATE tasks SET message = %s, version = version + 1
                   WHERE id = %s AND phase IN ('Pending', 'Queued', 'Running')
                     AND message IS DISTINCT FROM %s""",
                (message, task_id, message),
            )

    def result_rows(
        self, task_id: UUID, *, after: int = -1, limit: int = PAGE_ROWS
    ) -> list[ResultRow]:
        """The written items of a task after index `after`, in order, at most `limit`."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, source_id, score, label, probability, threshold, model_version,
                          detail
                   FROM task_items WHERE task_id = %s AND idx > %s AND scored_at IS NOT NULL
                   ORDER BY idx LIMIT %s""",
                (task_id, after, limit),
            )
            return [_result_row(r) for r in cur.fetchall()]

    def splits_due(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        """Corpus jobs whose split has not finished (an operator died during it)."""
        return self._select_where("NOT split_done AND phase = 'Pending'", namespaces=namespaces)

    def outputs_due(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        """Corpus jobs whose every item is done and whose results are not written yet."""
        return self._select_where(
            """output IS NOT NULL AND output_location IS NULL AND phase = 'Running'
               AND done_items + failed_items >= total_items""",
            namespaces=namespaces,
        )

    def output_written(self, task_id: UUID, location: str, lines: int) -> bool:
        """Record where the results went, and end the task Succeeded (if it is still Running)."""
        with self.transaction() as cur:
            phase = self._locked_phase(cur, task_id)
            if phase != Phase.RUNNING:
                return False
            cur.execute(
                """UPDATE tasks SET output_location = %s, output_lines = %s WHERE id = %s
                   RETURNING failed_items""",
                (location, lines, task_id),
            )
            row = cur.fetchone()
            failed = f"; {row['failed_items']} failed" if row["failed_items"] else ""
            message = f"{lines} result line(s) written to {location}{failed}"
            return self._transition(
                cur, task_id, Phase.SUCCEEDED, conditions.REASON_COMPLETED, message
            )


def _item_row(task_id: UUID, item: SplitItem) -> tuple[Any, ...]:
    if item.problem is None:
        return (task_id, item.index, item.text, text_sha256(item.text), item.source_id, None, None)
    detail = {"error": {"reason": conditions.REASON_INVALID_INPUT, "message": item.problem}}
    return (
        task_id,
        item.index,
        "",
        text_sha256(""),
        item.source_id,
        psycopg2.extras.Json(detail),
        "now",
    )


def _result_row(r: dict[str, Any]) -> ResultRow:
    return ResultRow(
        index=r["idx"],
        source_id=r["source_id"],
        score=r["score"],
        label=r["label"],
        probability=r["probability"],
        threshold=r["threshold"],
        model_version=r["model_version"],
        detail=r["detail"],
    )
