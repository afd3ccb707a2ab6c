"""One page of tasks across the namespaces a token may read, newest first.

The database lists one namespace or all of them. A tenant with several namespaces gets the merge
of one page per namespace: every query uses the same keyset cursor (created_at, id), so the
merged page is exactly the page a single query over those namespaces would return, and its
cursor is the same kind (`core.db`'s), valid for the next merge.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from aidetect.core.db import TaskPage
from aidetect.core.db.rows import encode_cursor
from aidetect.core.models import TaskRecord
from aidetect.core.states import Phase


class TaskLister(Protocol):
    """The one `Database` method this needs (the unit tests' fake has it too)."""

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespace: str | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage: ...


def _newest_first(task: TaskRecord) -> tuple[datetime, UUID]:
    return (task.created_at, task.id)


def list_visible_tasks(
    db: TaskLister,
    namespaces: Sequence[str] | None,
    *,
    phase: Phase | None,
    detector: str | None,
    limit: int,
    cursor: str | None,
) -> TaskPage:
    """A page of the tasks in `namespaces` (None: every namespace) matching the filters."""
    if namespaces is None or len(namespaces) == 1:
        only = None if namespaces is None else namespaces[0]
        return db.list_tasks(
            phase=phase, namespace=only, detector=detector, limit=limit, cursor=cursor
        )
    pages = [
        db.list_tasks(phase=phase, namespace=ns, detector=detector, limit=limit, cursor=cursor)
        for ns in namespaces
    ]
    merged = heapq.nlargest(limit + 1, (t for p in pages for t in p.tasks), key=_newest_first)
    more = len(merged) > limit or any(p.next_cursor for p in pages)
    tasks = merged[:limit]
    next_cursor = encode_cursor(tasks[-1].created_at, tasks[-1].id) if more and tasks else None
    return TaskPage(tasks=tasks, next_cursor=next_cursor)
