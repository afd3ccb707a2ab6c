"""Show a task's status a moment after admission, unless its end has been shown already.

Most tasks finish well within a second. Patching `Queued` right after admission would cost one
apiserver write per task that nobody sees; instead the sync is scheduled `delay` seconds later,
and by then `sync_task` usually finds the CR already showing `Succeeded` (the events consumer
wrote it) and writes nothing. A task still waiting then shows `Queued` (or `Running`).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from uuid import UUID

from aidetect.core.errors import AidetectError
from aidetect.core.logs import task_log
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.sync import sync_task

log = logging.getLogger("aidetect.operator.later")


class DelayedSync(threading.Thread):
    """One thread with a heap of (due, task) pairs; `schedule` may be called from any thread."""

    def __init__(self, deps: OperatorDeps, delay: float) -> None:
        super().__init__(name="aidetect-later", daemon=True)
        self.deps = deps
        self.delay = delay
        self._due: list[tuple[float, UUID]] = []
        self._wakeup = threading.Condition()
        self._stopping = False

    def schedule(self, task_id: UUID) -> None:
        with self._wakeup:
            heapq.heappush(self._due, (time.monotonic() + self.delay, task_id))
            self._wakeup.notify()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()

    def run(self) -> None:
        while True:
            task_id = self._next()
            if task_id is None:
                return
            if self.deps.progress_held(task_id):
                continue  # the events consumer has shown it since, and paces its progress
            try:
                sync_task(self.deps, task_id)
            except AidetectError as e:  # the resync syncs what lags, later
                task_log(log, task_id).warning("delayed status sync failed: %s", e)
            except Exception:  # a bug: say so, keep serving the others
                task_log(log, task_id).exception("delayed status sync failed")

    def _next(self) -> UUID | None:
        """The next task whose time has come; None when stopping."""
        with self._wakeup:
            while not self._stopping:
                if self._due and self._due[0][0] <= time.monotonic():
                    return heapq.heappop(self._due)[1]
                timeout = self._due[0][0] - time.monotonic() if self._due else None
                self._wakeup.wait(timeout)
            return None
