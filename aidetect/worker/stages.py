"""A stage of the worker's pipeline: a thread that handles what it is handed, one at a time.

A batch is prepared (Postgres: tasks, items, the result cache), scored (the model) and
committed (Postgres, then the operator's events, then the acks). Run one after the other on one
thread, the model waited for the database and the broker a fifth to a third of the time (py-spy,
docs/performance.md). As three stages, each on its own thread, the model scores one batch while
the next is read and the one before is committed.

Each stage holds at most one item waiting besides the one it handles, so a batch cannot run far
ahead of its acks. Order is kept. `close` handles everything handed over before it returns, so a
graceful drain commits and acks what was scored. A bug in a stage (an exception that is not
handled below it) stops the worker, as one in the old single inference thread did.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("aidetect.worker.stages")

Item = TypeVar("Item")


class _Close:
    """The marker that ends a stage once everything before it is handled."""


class Stage(Generic[Item]):
    """A thread that runs `handle` on each item handed over, in order."""

    def __init__(
        self, name: str, handle: Callable[[Item], None], on_crash: Callable[[], None]
    ) -> None:
        self.name = name
        self._handle = handle
        self._on_crash = on_crash
        self._queue: queue.Queue[Item | _Close] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> None:
        """Hand an item over; blocks while the one before it still waits."""
        if not self._put(item):
            raise RuntimeError(f"the {self.name} thread has stopped")

    def close(self, timeout: float = 60.0) -> None:
        """Handle everything handed over, then stop the thread."""
        if self._put(_Close()):
            self._thread.join(timeout)

    def _put(self, item: Item | _Close) -> bool:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not isinstance(item := self._queue.get(), _Close):
                self._handle(item)
        except Exception:  # a bug, not an outage (each stage hands those back itself)
            log.exception("the %s thread crashed; stopping the worker", self.name)
            self._on_crash()
