"""The micro-batcher: size and time limits, high priority first, one profile per batch."""

from __future__ import annotations

import threading
import time
from typing import Any

from aidetect.worker.batcher import Inbox, Pending


def _pending(tag: int, *, profile: str = "p", high: bool = False, items: int = 1) -> Pending:
    delivery: Any = tag  # the batcher never looks inside a delivery
    return Pending(delivery=delivery, profile=profile, high=high, items=items)


def _tags(batch: list[Pending]) -> list[Any]:
    return [p.delivery for p in batch]


def test_batch_stops_at_max_items() -> None:
    inbox = Inbox()
    for i in range(5):
        inbox.put(_pending(i, items=2))
    batch = inbox.next_batch(max_items=4, max_wait=1.0, stop=lambda: False)
    assert _tags(batch) == [0, 1]


def test_high_priority_goes_first() -> None:
    inbox = Inbox()
    inbox.put(_pending(1))
    inbox.put(_pending(2, high=True))
    inbox.put(_pending(3))
    assert _tags(inbox.next_batch(max_items=10, max_wait=0.0, stop=lambda: False)) == [2, 1, 3]


def test_a_batch_holds_one_profile() -> None:
    inbox = Inbox()
    inbox.put(_pending(1, profile="a"))
    inbox.put(_pending(2, profile="b"))
    inbox.put(_pending(3, profile="a"))
    assert _tags(inbox.next_batch(max_items=10, max_wait=0.0, stop=lambda: False)) == [1, 3]


def test_partial_batch_leaves_after_max_wait() -> None:
    inbox = Inbox()
    inbox.put(_pending(1))
    started = time.monotonic()
    batch = inbox.next_batch(max_items=8, max_wait=0.1, stop=lambda: False)
    assert _tags(batch) == [1]
    assert 0.09 <= time.monotonic() - started < 1.0


def test_late_arrival_within_max_wait_joins_the_batch() -> None:
    inbox = Inbox()
    inbox.put(_pending(1))
    threading.Timer(0.05, lambda: inbox.put(_pending(2))).start()
    assert _tags(inbox.next_batch(max_items=2, max_wait=2.0, stop=lambda: False)) == [1, 2]


def test_stop_returns_an_empty_batch_when_idle() -> None:
    assert Inbox().next_batch(max_items=8, max_wait=0.1, stop=lambda: True) == []


def test_drain_returns_what_waits() -> None:
    inbox = Inbox()
    inbox.put(_pending(1))
    inbox.put(_pending(2, high=True))
    assert sorted(_tags(inbox.drain())) == [1, 2]
    assert inbox.drain() == []
