"""Stand-ins for the API's two seams: records for the database, and the kube-apiserver.

The database is `core.memory.MemoryDatabase` (held to Postgres's semantics by tests/contract);
`task_record` and `scored` make rows to `restore` into it. The apiserver is
`tests.utils.fake_apiserver.FakeApiServer`, under a real kubernetes `ApiClient`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aidetect.core.memory import MemoryDatabase
from aidetect.core.models import ItemResult, Progress, TaskRecord, TaskResult
from aidetect.core.states import TERMINAL, Phase
from tests.utils.fake_apiserver import FakeApiServer

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def task_record(phase: Phase = Phase.QUEUED, *, n: int = 0, **changes: Any) -> TaskRecord:
    """A task row as the operator would have recorded it; `n` orders tasks by creation time."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "namespace": "default",
        "name": f"api-{n:05d}",
        "generation": 1,
        "detector": "roberta-openai",
        "granularity": "document",
        "priority": 0,
        "backoff_limit": 3,
        "active_deadline_seconds": None,
        "ttl_seconds_after_finished": None,
        "phase": phase,
        "reason": None,
        "message": None,
        "attempts": 0,
        "progress": Progress(total=1),
        "result": None,
        "worker": None,
        "created_at": T0 + timedelta(seconds=n),
        "queued_at": None,
        "started_at": None,
        "finished_at": T0 + timedelta(seconds=n + 1) if phase in TERMINAL else None,
        "version": 1,
        "cr_version": 1,
        "cr_deleted_at": None,
    }
    values.update(changes)
    return TaskRecord(**values)


def scored(record: TaskRecord) -> tuple[TaskRecord, list[ItemResult]]:
    """A Succeeded copy of `record` with one scored item."""
    item = ItemResult(index=0, score=0.9, label="ai", threshold=0.5, model_version="m@1")
    result = TaskResult(
        score=0.9, label="ai", threshold=0.5, detector=record.detector, model_version="m@1"
    )
    done = record.model_copy(
        update={"phase": Phase.SUCCEEDED, "result": result, "progress": Progress(total=1, done=1)}
    )
    return done, [item]


@dataclass
class FakeLazyDatabase:
    """Stands in for `lazy_db.LazyDatabase`."""

    db: MemoryDatabase

    def get(self) -> MemoryDatabase:
        self.db.ping()
        return self.db

    def close(self) -> None:
        pass


__all__ = ["FakeApiServer", "FakeLazyDatabase", "scored", "task_record"]
