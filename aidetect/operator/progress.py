"""Which changed tasks get a status patch now, and which a little later.

A worker reports a task's progress after every micro-batch, and every status patch of a CR
makes the apiserver decode, validate and store the whole object and send it to every watcher:
for a CR of 1 000 texts, a patch a batch took more of the apiserver's CPU than the model took
(docs/performance.md). So a task's end (and a dead letter) is shown at once, while its progress
(`started`, `progress`) is shown at most once per `interval` seconds: a change that comes sooner
waits, in memory, until the interval has passed, and is then synced with whatever the row says
by then. Every status patch counts, whoever made it (`sync_task` reports each one through
`patched`), so the resync and the delayed Queued sync do not add patches of their own. An
operator that dies meanwhile loses only that wait; the resync compares every CR with its row
and repairs what lags.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from uuid import UUID

# Past this many remembered patch times, the ones too old to hold anything back are dropped.
_PRUNE_AT = 10_000


class ProgressThrottle:
    """Task id -> due time of its deferred progress sync, and when each task was last patched.

    Thread-safe: the events consumer selects, every status sync reports its patch.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[UUID, float] = {}
        self._later: dict[UUID, float] = {}
        self._earliest = math.inf
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        """Whether a deferred sync's time has come."""
        return self._earliest <= now

    def holds(self, task: UUID, now: float | None = None) -> bool:
        """Whether the task's progress is held back by the throttle (patched within the
        interval, or waiting for it): the resync leaves such a task to the events consumer."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return task in self._later or now - self._last.get(task, -math.inf) < self.interval

    def patched(self, task: UUID, ended: bool, now: float | None = None) -> None:
        """A status patch of `task` was made (by anyone): an ended task is forgotten."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if ended:
                self._last.pop(task, None)
                self._later.pop(task, None)
            else:
                self._last[task] = now
            if len(self._last) > _PRUNE_AT:
                horizon = now - self.interval
                self._last = {t: at for t, at in self._last.items() if at > horizon}

    def select(self, changes: Mapping[UUID, bool], now: float) -> dict[UUID, bool]:
        """From `changes` (task id -> whether it may have ended), the tasks to sync now, with
        the deferred ones whose time has come; the others are deferred."""
        selected: dict[UUID, bool] = {}
        with self._lock:
            for task, ended in changes.items():
                if ended:
                    selected[task] = True
                    self._later.pop(task, None)
                    continue
                at = self._last.get(task, -math.inf) + self.interval
                if at <= now and task not in self._later:
                    selected[task] = False
                elif task not in self._later:
                    self._later[task] = at
            for task, at in list(self._later.items()):
                if at <= now:
                    selected.setdefault(task, False)
                    del self._later[task]
            for task, ended in selected.items():
                if not ended:  # from now on, not once synced: `holds` has no gap in between
                    self._last[task] = now
            self._earliest = min(self._later.values(), default=math.inf)
        return selected

    def retry(self, selected: Mapping[UUID, bool]) -> None:
        """The sync of `selected` failed: what was taken from the deferred ones is due again."""
        with self._lock:
            for task, ended in selected.items():
                if not ended:
                    self._later.setdefault(task, -math.inf)
            self._earliest = min(self._later.values(), default=math.inf)
