"""Bring a CR's status up to date with its database row (the system of record).

Used by the events consumer, the resync loop and the handlers alike: the database row says
what the status must be, and `TaskStatus.to_dict()` writes it. A row already shown is skipped,
so duplicate events cost nothing.
"""

from __future__ import annotations

import logging
import threading
from uuid import UUID

from aidetect.core import conditions, k8s
from aidetect.core.logs import task_log
from aidetect.core.models import TaskRecord
from aidetect.core.states import TERMINAL, Phase
from aidetect.core.status import build_status
from aidetect.operator import metrics
from aidetect.operator.deps import OperatorDeps

log = logging.getLogger("aidetect.operator.sync")


def ref_of(record: TaskRecord) -> k8s.TaskRef:
    return k8s.TaskRef(namespace=record.namespace, name=record.name, uid=str(record.id))


# Syncs of one task are serialized: otherwise a sync that read the row earlier could patch
# after one that read it later, and leave an older status on the CR.
_LOCKS = [threading.Lock() for _ in range(64)]


def sync_task(deps: OperatorDeps, task_id: UUID, *, force: bool = False) -> TaskRecord | None:
    """Patch the CR status from the row if it lags (or always, with force); the row or None."""
    with _LOCKS[task_id.int % len(_LOCKS)]:
        return _sync_locked(deps, task_id, force=force)


def _sync_locked(deps: OperatorDeps, task_id: UUID, *, force: bool) -> TaskRecord | None:
    record = deps.db.find_task(task_id)
    if record is None or record.cr_deleted_at is not None:
        return record
    if record.version <= record.cr_version and not force:
        return record
    status = build_status(record, deps.db.transitions(task_id), record.generation)
    if k8s.patch_status(deps.kube, ref_of(record), status):
        deps.db.mark_synced(task_id, record.version)
        ended = record.phase in TERMINAL
        deps.status_patched(task_id, ended)
        metrics.STATUS_PATCHES.inc()
        if ended and record.cr_version < record.version:  # its end shown the first time
            _count_end(record)
        task_log(log, task_id).debug("status synced: %s v%d", record.phase, record.version)
    else:
        deps.db.mark_cr_deleted(task_id)
        task_log(log, task_id).info("the CR is gone; the database row stays")
    return record


def _count_end(record: TaskRecord) -> None:
    metrics.TASKS_ENDED.labels(record.phase, record.reason or "").inc()
    if record.finished_at is not None:
        took = (record.finished_at - record.created_at).total_seconds()
        metrics.TASK_SECONDS.labels(record.phase).observe(max(took, 0.0))


def announce_end(deps: OperatorDeps, record: TaskRecord) -> None:
    """A Kubernetes Event for a task that ended, as `kubectl describe dt` shows it: always for
    a failure, for a success only with `success_events` (it costs one apiserver write a task)."""
    if record.cr_deleted_at is not None:
        return
    if record.phase == Phase.SUCCEEDED and record.result is not None:
        if not deps.settings.operator.success_events:
            return
        r = record.result
        scored = f"{record.progress.summary} scored by {record.detector}"
        message = f"{scored}: {r.label} (score {r.score:.4g})"
        k8s.post_event(
            deps.kube, ref_of(record), type_="Normal", reason=conditions.SUCCEEDED, message=message
        )
    elif record.phase == Phase.FAILED:
        k8s.post_event(
            deps.kube,
            ref_of(record),
            type_="Warning",
            reason=record.reason or conditions.FAILED,
            message=record.message or "the task failed",
        )
