"""The level-triggered resync: never trust that an event arrived.

Every `resync_interval_seconds` it compares the database (the system of record) with the
cluster and repairs what disagrees: deadlines, TTLs, tasks stuck without progress (requeued),
CR statuses that lag their row, and rows whose CR vanished without the finalizer running.

Each task is repaired in its own error boundary: a task whose repair fails is logged, counted,
marked on its CR with a Warning Event (once, until it recovers), and skipped, so one bad row
never stops the pass for every other task.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aidetect.core import conditions, k8s
from aidetect.core.errors import AidetectError
from aidetect.core.logs import task_log
from aidetect.core.models import TaskRecord
from aidetect.core.states import TERMINAL, Phase
from aidetect.operator import metrics
from aidetect.operator.admission import publish
from aidetect.operator.corpus_jobs import output_due
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.sync import announce_end, ref_of, sync_task
from aidetect.operator.watching import admit_cr, finalize_cr

log = logging.getLogger("aidetect.operator.resync")

REASON_RESYNC_FAILED = "ResyncFailed"
# How long a CR's create or delete event may take to be handled before the resync steps in.
EVENT_GRACE_SECONDS = 30.0


class TaskBoundary:
    """Runs one repair per task, catching what it raises; remembers which tasks are failing."""

    def __init__(self, deps: OperatorDeps) -> None:
        self.deps = deps
        self.failing: dict[UUID, str] = {}  # task -> the error its last repair raised
        self.errors: Counter[str] = Counter()  # repair step -> failures, since start
        self._lock = threading.Lock()

    def each(
        self,
        step: str,
        records: Iterable[TaskRecord],
        repair: Callable[[TaskRecord], None],
        *,
        parallel: int = 1,
    ) -> int:
        """Repair every record, on `parallel` threads; the number that failed."""

        def one(record: TaskRecord) -> bool:
            try:
                repair(record)
            except Exception as e:  # the boundary: this task is skipped, the others go on
                with self._lock:
                    self._failed(step, record, e)
                return False
            with self._lock:
                self.failing.pop(record.id, None)
            return True

        if parallel <= 1:
            return sum(not one(record) for record in records)
        with ThreadPoolExecutor(parallel, thread_name_prefix=f"aidetect-{step}") as pool:
            return sum(not ok for ok in pool.map(one, records))

    def each_cr(
        self, step: str, objs: Iterable[dict[str, Any]], repair: Callable[[dict[str, Any]], None]
    ) -> int:
        """`each` for CRs that have no row (yet): errors are logged, not marked on the CR."""
        failed = 0
        for obj in objs:
            try:
                repair(obj)
            except Exception as e:  # the boundary: this CR is skipped, the others go on
                failed += 1
                self.errors[step] += 1
                metrics.RESYNC_FAILURES.labels(step).inc()
                task_log(log, UUID(obj["metadata"]["uid"])).warning(
                    "resync skipped this CR: %s failed: %s: %s", step, type(e).__name__, e
                )
        return failed

    def _failed(self, step: str, record: TaskRecord, error: Exception) -> None:
        self.errors[step] += 1
        metrics.RESYNC_FAILURES.labels(step).inc()
        what = f"{step} failed: {type(error).__name__}: {error}"[:1000]
        tlog = task_log(log, record.id)
        if self.failing.get(record.id) == what:
            tlog.debug("still failing: %s", what)
            return
        self.failing[record.id] = what
        if isinstance(error, AidetectError):
            tlog.warning("resync skipped this task: %s", what)
        else:
            tlog.exception("resync skipped this task: %s", what)
        try:
            k8s.post_event(
                self.deps.kube,
                ref_of(record),
                type_="Warning",
                reason=REASON_RESYNC_FAILED,
                message=what,
            )
        except AidetectError as e:
            tlog.warning("could not mark the task with an Event: %s", e)


def enforce_deadlines(deps: OperatorDeps, boundary: TaskBoundary) -> int:
    def fail(record: TaskRecord) -> None:
        message = f"not finished within activeDeadlineSeconds={record.active_deadline_seconds}"
        if deps.db.transition(
            record.id, Phase.FAILED, conditions.REASON_DEADLINE_EXCEEDED, message
        ):
            task_log(log, record.id).warning("failed: %s", message)
            synced = sync_task(deps, record.id)
            if synced is not None:
                announce_end(deps, synced)

    return boundary.each("enforce_deadlines", deps.db.past_deadline(deps.scope), fail)


# At most this many past_ttl queries in one pass (each up to PAST_TTL_LIMIT tasks).
TTL_QUERIES_PER_PASS = 20


def enforce_ttls(deps: OperatorDeps, boundary: TaskBoundary) -> int:
    def delete(record: TaskRecord) -> None:
        ref = ref_of(record)
        if k8s.delete_task(deps.kube, ref.namespace, ref.name, uid=ref.uid):
            task_log(log, record.id).info(
                "deleted the CR %ds after it finished (ttlSecondsAfterFinished); the row stays",
                record.ttl_seconds_after_finished,
            )
        # Marked now, not once the finalizer has run: the next pass would otherwise delete the
        # same terminating CRs again instead of the ones whose time has come since
        deps.db.mark_cr_deleted(record.id)

    # Each deletion is a round trip, then the finalizer's: one after another, and one query's
    # worth (500) a pass, they fell behind the tasks finishing (make bench-memory, 18 tasks/s
    # with a 5 s TTL). So 4 at a time, and query after query until none is due, unless a whole
    # query's worth failed (the apiserver is away: the next pass tries again).
    failed = 0
    for _ in range(TTL_QUERIES_PER_PASS):
        due = deps.db.past_ttl(deps.scope)
        failed_now = boundary.each("enforce_ttls", due, delete, parallel=4)
        failed += failed_now
        if len(due) < deps.db.PAST_TTL_LIMIT or failed_now == len(due):
            break
    return failed


def requeue_stuck(deps: OperatorDeps, boundary: TaskBoundary) -> int:
    """Republish the unscored items of tasks without progress (duplicates are harmless)."""
    after = deps.settings.operator.stuck_after_seconds

    def requeue(record: TaskRecord) -> None:
        if record.corpus is not None and _corpus_step(deps, record):
            return
        indices = (
            list(range(record.progress.total))
            if record.phase == Phase.PENDING
            else deps.db.unscored_indices(record.id)
        )
        if record.phase == Phase.RUNNING:
            deps.db.transition(record.id, Phase.QUEUED, conditions.REASON_REQUEUED, "no progress")
        task_log(log, record.id).warning(
            "no progress for %.0fs; requeueing %d item(s)", after, len(indices)
        )
        metrics.REQUEUES.inc()
        publish(deps, record, indices, requeue=True)

    return boundary.each("requeue_stuck", deps.db.stuck(after, deps.scope), requeue)


def _corpus_step(deps: OperatorDeps, record: TaskRecord) -> bool:
    """A corpus job that is quiet because it is splitting or writing its output, not stuck:
    go on with that step (True); False if it is scoring and may be requeued like any task."""
    if deps.corpus is None:
        return False
    if record.phase == Phase.PENDING:
        deps.corpus.split(record.id)
        return True
    if output_due(record):
        deps.corpus.write_output(record.id)
        return True
    return False


def resume_corpus_jobs(deps: OperatorDeps, boundary: TaskBoundary) -> int:  # noqa: ARG001
    """Go on with every corpus split and output upload that is due (after a restart, an
    outage of the object store, or a missed event)."""
    if deps.corpus is not None:
        deps.corpus.resume()
    return 0


def repair_drift(deps: OperatorDeps, boundary: TaskBoundary) -> int:
    """Compare every CR with its row and repair what an event missed: admit CRs with no row,
    finish deletions, resync statuses that differ, cancel rows whose CR is gone."""
    listed_at = datetime.now(UTC)
    live = deps.db.live_tasks(recorded_before=listed_at, namespaces=deps.scope)
    rows = {r.id: r for r in live}
    shown: dict[UUID, tuple[object, object]] = {}
    missed: list[dict[str, Any]] = []
    for obj in k8s.iter_tasks(
        deps.kube, deps.scope
    ):  # a page at a time: the texts are not all held
        meta = obj["metadata"]
        task_id = UUID(meta["uid"])
        shown[task_id] = _shown(obj)
        if _quiet_for(meta.get("deletionTimestamp") or meta["creationTimestamp"], listed_at):
            if meta.get("deletionTimestamp"):
                if k8s.FINALIZER in (meta.get("finalizers") or []):
                    missed.append(obj)
            elif task_id not in rows or rows[task_id].phase == Phase.PENDING:
                missed.append(obj)  # never admitted, or recorded but never published

    def catch_up(obj: dict[str, Any]) -> None:
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        task_log(log, UUID(obj["metadata"]["uid"])).info(
            "its %s event was missed: handling it now", "deletion" if deleting else "creation"
        )
        if deleting:
            finalize_cr(deps, obj)
        else:
            admit_cr(deps, obj)

    def resync(record: TaskRecord) -> None:
        # The listing can be older than a patch the events consumer made since: look again
        # before forcing one more write
        row = deps.db.find_task(record.id)
        obj = k8s.get_task(deps.kube, record.namespace, record.name)
        if row is None or obj is None or obj["metadata"].get("uid") != str(record.id):
            return  # gone: cancel_orphans or the deletion handles it
        now = _shown(obj)
        if now == (row.phase, row.progress.done) or _held(deps, row):
            return
        task_log(log, record.id).info("CR shows %s, the row %s: resyncing", now[0], row.phase)
        sync_task(deps, record.id, force=True)

    def cancel(record: TaskRecord) -> None:
        # A row recorded before the listing must have had its CR in it, unless the CR vanished
        # without our finalizer running (force-removed): then the task can never be cancelled.
        if deps.db.transition(
            record.id, Phase.CANCELLED, conditions.REASON_CANCELLED, "the CR is gone"
        ):
            task_log(log, record.id).warning("the CR disappeared without the finalizer: cancelled")
        deps.db.mark_cr_deleted(record.id)

    metrics.LIVE_TASKS.set(len(shown))
    lagging = [
        r
        for r in live
        if r.id in shown and shown[r.id] != (r.phase, r.progress.done) and not _held(deps, r)
    ]
    failed = boundary.each_cr("catch_up", missed, catch_up)
    failed += boundary.each("repair_drift", lagging, resync)
    return failed + boundary.each("cancel_orphans", [r for r in live if r.id not in shown], cancel)


def _quiet_for(timestamp: str, now: datetime) -> bool:
    """True if `timestamp` is older than the grace the event handler has to act on its own."""
    at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (now - at).total_seconds() > EVENT_GRACE_SECONDS


def _shown(obj: dict[str, Any]) -> tuple[object, object]:
    """What a CR's status shows of its task: (phase, items done)."""
    status = obj.get("status") or {}
    return status.get("phase"), (status.get("progress") or {}).get("done")


def _held(deps: OperatorDeps, record: TaskRecord) -> bool:
    """A running task whose progress the events consumer holds back on purpose (it shows a
    task's progress at most every `progress_interval_seconds`): not drift."""
    return record.phase not in TERMINAL and deps.progress_held(record.id)


def sync_lagging(deps: OperatorDeps, boundary: TaskBoundary) -> int:
    lagging = [r for r in deps.db.unsynced(deps.scope) if not _held(deps, r)]
    return boundary.each("sync_lagging", lagging, lambda r: _sync(deps, r))


def _sync(deps: OperatorDeps, record: TaskRecord) -> None:
    sync_task(deps, record.id)


STEPS = (
    enforce_deadlines,
    enforce_ttls,
    resume_corpus_jobs,
    requeue_stuck,
    repair_drift,
    sync_lagging,
)


def resync_once(
    deps: OperatorDeps, boundary: TaskBoundary | None = None, *, drift: bool = True
) -> int:
    """One pass of every repair (`repair_drift` only with `drift`); the number of tasks
    skipped because their repair failed.

    A step whose query fails (the database or the apiserver is away) is logged and the next
    step runs; a task whose repair fails is skipped by the boundary.
    """
    boundary = boundary or TaskBoundary(deps)
    skipped = 0
    for step in STEPS:
        if step is repair_drift and not drift:
            continue
        try:
            skipped += step(deps, boundary)
        except AidetectError as e:
            log.warning("resync step %s failed: %s", step.__name__, e)
    if skipped:
        log.warning(
            "resync pass skipped %d task(s) whose repair failed (%d failing in all)",
            skipped,
            len(boundary.failing),
        )
    return skipped


class ResyncLoop(threading.Thread):
    def __init__(self, deps: OperatorDeps) -> None:
        super().__init__(name="aidetect-resync", daemon=True)
        self.deps = deps
        self.boundary = TaskBoundary(deps)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """A pass every `resync_interval_seconds`; the drift check (which lists every CR, and
        every text with it) only every `drift_check_interval_seconds`: at 15 000 live CRs a
        listing took longer than the interval, and the TTL deletions of the same pass fell
        behind the tasks that finished."""
        cfg = self.deps.settings.operator
        last_drift = -math.inf
        while not self.stopping.wait(cfg.resync_interval_seconds):
            drift = time.monotonic() - last_drift >= cfg.drift_check_interval_seconds
            if drift:
                last_drift = time.monotonic()
            try:
                resync_once(self.deps, self.boundary, drift=drift)
            except Exception:  # keep the loop alive whatever one pass hits; say what it was
                log.exception("resync pass failed")
