"""The level-triggered resync: never trust that an event arrived.

Every `resync_interval_seconds` it compares the database (the system of record) with the
cluster and repairs what disagrees: deadlines, TTLs, tasks stuck without progress (requeued),
CR statuses that lag their row, and rows whose CR vanished without the finalizer running.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from uuid import UUID

from kubernetes import client
from kubernetes.client.rest import ApiException

from aidetect.core import conditions, crd, k8s
from aidetect.core.errors import AidetectError
from aidetect.core.logs import task_log
from aidetect.core.states import Phase
from aidetect.operator.admission import publish
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.sync import announce_end, ref_of, sync_task

log = logging.getLogger("aidetect.operator.resync")


def enforce_deadlines(deps: OperatorDeps) -> None:
    for record in deps.db.past_deadline():
        message = f"not finished within activeDeadlineSeconds={record.active_deadline_seconds}"
        if deps.db.transition(
            record.id, Phase.FAILED, conditions.REASON_DEADLINE_EXCEEDED, message
        ):
            task_log(log, record.id).warning("failed: %s", message)
            synced = sync_task(deps, record.id)
            if synced is not None:
                announce_end(deps, synced)


def enforce_ttls(deps: OperatorDeps) -> None:
    for record in deps.db.past_ttl():
        ref = ref_of(record)
        if k8s.delete_task(deps.kube, ref.namespace, ref.name, uid=ref.uid):
            task_log(log, record.id).info(
                "deleted the CR %ds after it finished (ttlSecondsAfterFinished); the row stays",
                record.ttl_seconds_after_finished,
            )
        else:
            deps.db.mark_cr_deleted(record.id)


def requeue_stuck(deps: OperatorDeps) -> None:
    """Republish the unscored items of tasks without progress (duplicates are harmless)."""
    for record in deps.db.stuck(deps.settings.operator.stuck_after_seconds):
        indices = (
            list(range(record.progress.total))
            if record.phase == Phase.PENDING
            else deps.db.unscored_indices(record.id)
        )
        if record.phase == Phase.RUNNING:
            deps.db.transition(record.id, Phase.QUEUED, conditions.REASON_REQUEUED, "no progress")
        task_log(log, record.id).warning(
            "no progress for %.0fs; requeueing %d item(s)",
            deps.settings.operator.stuck_after_seconds,
            len(indices),
        )
        publish(deps, record.id, indices, requeue=True)


def repair_drift(deps: OperatorDeps) -> None:
    """Compare every CR with its row: resync statuses that differ; cancel rows whose CR is gone."""
    listed_at = datetime.now(UTC)
    api = client.CustomObjectsApi(deps.kube)
    listed = api.list_cluster_custom_object(crd.GROUP, crd.VERSION, crd.PLURAL)
    seen: set[UUID] = set()
    for obj in listed["items"]:
        task_id = UUID(obj["metadata"]["uid"])
        seen.add(task_id)
        record = deps.db.find_task(task_id)
        if record is None or record.cr_deleted_at is not None:
            continue  # not admitted yet: kopf's create handler owns it
        shown = obj.get("status", {})
        if (shown.get("phase"), shown.get("progress", {}).get("done")) != (
            record.phase,
            record.progress.done,
        ):
            task_log(log, task_id).info(
                "CR shows %s, the row %s: resyncing", shown.get("phase"), record.phase
            )
            sync_task(deps, task_id, force=True)
    # A row recorded before the listing must have had its CR in it, unless the CR vanished
    # without our finalizer running (force-removed): then the task can never be cancelled.
    for task_id in deps.db.live_rows(recorded_before=listed_at):
        if task_id in seen:
            continue
        if deps.db.transition(
            task_id, Phase.CANCELLED, conditions.REASON_CANCELLED, "the CR is gone"
        ):
            task_log(log, task_id).warning("the CR disappeared without the finalizer: cancelled")
        deps.db.mark_cr_deleted(task_id)


def sync_lagging(deps: OperatorDeps) -> None:
    for record in deps.db.unsynced():
        sync_task(deps, record.id)


def resync_once(deps: OperatorDeps) -> None:
    """One pass of every repair; each is independent, so one failing does not stop the rest."""
    for step in (enforce_deadlines, enforce_ttls, requeue_stuck, repair_drift, sync_lagging):
        try:
            step(deps)
        except (AidetectError, ApiException) as e:
            log.warning("resync step %s failed: %s", step.__name__, e)


class ResyncLoop(threading.Thread):
    def __init__(self, deps: OperatorDeps) -> None:
        super().__init__(name="aidetect-resync", daemon=True)
        self.deps = deps
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.wait(self.deps.settings.operator.resync_interval_seconds):
            try:
                resync_once(self.deps)
            except Exception:  # keep the loop alive whatever one pass hits; say what it was
                log.exception("resync pass failed")
