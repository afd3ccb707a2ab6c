"""The operator's bookkeeping queries: CR sync versions, deadlines, TTLs, stuck and live tasks.

Every query that picks tasks for the resync takes `namespaces`: None for an operator that
watches the whole cluster, or the namespaces of its shard, so that operators sharing a cluster
by namespace never repair each other's tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from aidetect.core.db.rows import TASK_COLUMNS, task_record
from aidetect.core.db.tasks import TaskStore
from aidetect.core.models import TaskRecord


class Bookkeeping(TaskStore):
    """What the operator's resync and status sync ask of the database."""

    def unsynced(
        self, namespaces: Sequence[str] | None = None, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks whose CR status lags the database."""
        return self._select_where(
            "cr_version < version AND cr_deleted_at IS NULL",
            namespaces=namespaces,
            order="progressed_at",
            limit=limit,
        )

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

    def live_tasks(
        self, *, recorded_before: datetime, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]:
        """Tasks whose CR should still exist, recorded before the given time (no limit)."""
        return self._select_where(
            "cr_deleted_at IS NULL AND recorded_at < %s",
            (recorded_before,),
            namespaces=namespaces,
            limit=None,
        )

    def past_deadline(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        """Unfinished tasks whose activeDeadlineSeconds, counted from creation, has passed.

        Compared in seconds rather than as `seconds * interval`, which overflows for huge values.
        """
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running') AND active_deadline_seconds IS NOT NULL
               AND extract(epoch FROM now() - created_at) > active_deadline_seconds""",
            namespaces=namespaces,
        )

    PAST_TTL_LIMIT: ClassVar[int] = 500

    def past_ttl(self, namespaces: Sequence[str] | None = None) -> list[TaskRecord]:
        """Finished tasks whose CR still exists and whose ttlSecondsAfterFinished has passed,
        the longest past first, at most PAST_TTL_LIMIT."""
        return self._select_where(
            """phase IN ('Succeeded', 'Failed') AND cr_deleted_at IS NULL
               AND ttl_seconds_after_finished IS NOT NULL
               AND extract(epoch FROM now() - finished_at) > ttl_seconds_after_finished""",
            namespaces=namespaces,
            order="finished_at",
            limit=self.PAST_TTL_LIMIT,
        )

    def stuck(
        self, older_than_seconds: float, namespaces: Sequence[str] | None = None
    ) -> list[TaskRecord]:
        """Pending, Queued or Running tasks without progress for longer than the bound."""
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running')
               AND progressed_at < now() - %s * interval '1 second'""",
            (older_than_seconds,),
            namespaces=namespaces,
        )

    def touch(self, task_id: UUID) -> None:
        """Restart a task's stuck clock (after it was requeued)."""
        with self.transaction() as cur:
            cur.execute("UPDATE tasks SET progressed_at = now() WHERE id = %s", (task_id,))

    def _select_where(
        self,
        condition: str,
        args: tuple[Any, ...] = (),
        *,
        namespaces: Sequence[str] | None = None,
        order: str | None = None,
        limit: int | None = 500,
    ) -> list[TaskRecord]:
        sql = f"SELECT {TASK_COLUMNS} FROM tasks WHERE ({condition})"
        values = list(args)
        if namespaces is not None:
            sql += " AND namespace = ANY(%s)"
            values.append(list(namespaces))
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT %s"
            values.append(limit)
        with self.transaction() as cur:
            cur.execute(sql, values)
            return [task_record(r) for r in cur.fetchall()]
