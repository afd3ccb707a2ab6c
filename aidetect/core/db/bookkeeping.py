"""The operator's bookkeeping queries: CR sync versions, deadlines, TTLs, stuck and live tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aidetect.core.db.rows import TASK_COLUMNS, task_record
from aidetect.core.db.tasks import TaskStore
from aidetect.core.models import TaskRecord


class Bookkeeping(TaskStore):
    """What the operator's resync and status sync ask of the database."""

    def unsynced(self, limit: int = 100) -> list[TaskRecord]:
        """Tasks whose CR status lags the database."""
        with self.transaction() as cur:
            cur.execute(
                f"""SELECT {TASK_COLUMNS} FROM tasks
                    WHERE cr_version < version AND cr_deleted_at IS NULL
                    ORDER BY progressed_at LIMIT %s""",
                (limit,),
            )
            return [task_record(r) for r in cur.fetchall()]

    def mark_synced(self, task_id: UUID, version: int) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE tasks SET cr_version = greatest(cr_version, %s) WHERE id = %s",
                (version, task_id),
            )

    def mark_cr_deleted(self, task_id: UUID) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE tasks SET cr_deleted_at = coalesce(cr_deleted_at, now()) WHERE id = %s",
                (task_id,),
            )

    def live_tasks(self, *, recorded_before: datetime) -> list[TaskRecord]:
        """Tasks whose CR should still exist, recorded before the given time (no limit)."""
        with self.transaction() as cur:
            cur.execute(
                f"""SELECT {TASK_COLUMNS} FROM tasks
                    WHERE cr_deleted_at IS NULL AND recorded_at < %s""",
                (recorded_before,),
            )
            return [task_record(r) for r in cur.fetchall()]

    def past_deadline(self) -> list[TaskRecord]:
        """Unfinished tasks whose activeDeadlineSeconds, counted from creation, has passed.

        Compared in seconds rather than as `seconds * interval`, which overflows for huge values.
        """
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running') AND active_deadline_seconds IS NOT NULL
               AND extract(epoch FROM now() - created_at) > active_deadline_seconds"""
        )

    def past_ttl(self) -> list[TaskRecord]:
        """Finished tasks whose CR still exists and whose ttlSecondsAfterFinished has passed."""
        return self._select_where(
            """phase IN ('Succeeded', 'Failed') AND cr_deleted_at IS NULL
               AND ttl_seconds_after_finished IS NOT NULL
               AND extract(epoch FROM now() - finished_at) > ttl_seconds_after_finished"""
        )

    def stuck(self, older_than_seconds: float) -> list[TaskRecord]:
        """Pending, Queued or Running tasks without progress for longer than the bound."""
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running')
               AND progressed_at < now() - %s * interval '1 second'""",
            (older_than_seconds,),
        )

    def touch(self, task_id: UUID) -> None:
        """Restart a task's stuck clock (after it was requeued)."""
        with self.transaction() as cur:
            cur.execute("UPDATE tasks SET progressed_at = now() WHERE id = %s", (task_id,))

    def _select_where(self, condition: str, args: tuple[Any, ...] = ()) -> list[TaskRecord]:
        with self.transaction() as cur:
            cur.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {condition} LIMIT 500", args)
            return [task_record(r) for r in cur.fetchall()]
