"""The micro-batcher: group deliveries into batches of up to `max_items` texts, high first.

Deliveries arrive on the connection's thread and wait here; the inference thread takes a batch
when `max_items` texts are ready or `max_wait` has passed since the first one. A batch holds one
detector profile only. High-priority deliveries are always taken before normal ones.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aidetect.core.queue import Delivery


@dataclass(frozen=True)
class Pending:
    delivery: Delivery
    profile: str
    high: bool
    items: int


@dataclass
class Inbox:
    """Deliveries waiting for the inference thread, per profile and priority."""

    _queues: dict[tuple[bool, str], deque[Pending]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def put(self, pending: Pending) -> None:
        with self._cond:
            self._queues.setdefault((pending.high, pending.profile), deque()).append(pending)
            self._cond.notify()

    def drain(self) -> list[Pending]:
        """Take everything that is waiting (on shutdown, to hand it back)."""
        with self._cond:
            everything = [p for q in self._queues.values() for p in q]
            self._queues.clear()
            return everything

    def _first(self) -> Pending | None:
        for high in (True, False):
            for (is_high, _profile), q in self._queues.items():
                if is_high == high and q:
                    return q.popleft()
        return None

    def _more(self, profile: str) -> Pending | None:
        for high in (True, False):
            q = self._queues.get((high, profile))
            if q:
                return q.popleft()
        return None

    def next_batch(
        self, *, max_items: int, max_wait: float, stop: Callable[[], bool], poll: float = 0.2
    ) -> list[Pending]:
        """Block until a batch is ready; an empty list once `stop()` is true and nothing waits."""
        with self._cond:
            first = self._first()
            while first is None:
                if stop():
                    return []
                self._cond.wait(poll)
                first = self._first()
            batch, items = [first], first.items
            deadline = time.monotonic() + max_wait
            while items < max_items:
                nxt = self._more(first.profile)
                if nxt is not None:
                    batch.append(nxt)
                    items += nxt.items
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or stop():
                    break
                self._cond.wait(left)
            return batch
