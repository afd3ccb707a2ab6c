"""A task's end is synced at once; its progress at most once per interval."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from aidetect.operator.progress import ProgressThrottle

pytestmark = pytest.mark.unit


def patched(throttle: ProgressThrottle, synced: dict[UUID, bool], now: float) -> None:
    """What `sync_task` does after each status patch."""
    for task, ended in synced.items():
        throttle.patched(task, ended, now)


def test_first_progress_is_synced_at_once_and_the_next_waits_out_the_interval() -> None:
    throttle, task = ProgressThrottle(2.0), uuid4()
    assert throttle.select({task: False}, now=10.0) == {task: False}
    patched(throttle, {task: False}, 10.0)
    # progress 0.5 s later waits
    assert throttle.select({task: False}, now=10.5) == {}
    assert not throttle.due(11.9)
    assert throttle.due(12.0)
    # and is synced once its time has come, with no new event
    assert throttle.select({}, now=12.0) == {task: False}
    assert not throttle.due(100.0)


def test_an_end_is_synced_at_once_and_drops_the_deferred_progress() -> None:
    throttle, task = ProgressThrottle(2.0), uuid4()
    patched(throttle, throttle.select({task: False}, now=0.0), 0.0)
    assert throttle.select({task: False}, now=0.5) == {}
    assert throttle.select({task: True}, now=0.6) == {task: True}
    patched(throttle, {task: True}, 0.6)
    assert not throttle.due(10.0)
    assert throttle.select({}, now=10.0) == {}


def test_many_progress_events_in_one_interval_cost_one_deferred_sync() -> None:
    throttle, task = ProgressThrottle(1.0), uuid4()
    patched(throttle, throttle.select({task: False}, now=0.0), 0.0)
    for now in (0.1, 0.2, 0.3, 0.9):
        assert throttle.select({task: False}, now=now) == {}
    assert throttle.select({task: False}, now=1.0) == {task: False}


def test_other_tasks_are_not_held_back() -> None:
    throttle, busy, other = ProgressThrottle(5.0), uuid4(), uuid4()
    patched(throttle, throttle.select({busy: False}, now=0.0), 0.0)
    assert throttle.select({busy: False, other: False}, now=1.0) == {other: False}


def test_a_failed_sync_makes_what_it_took_due_again() -> None:
    throttle, task = ProgressThrottle(1.0), uuid4()
    patched(throttle, throttle.select({task: False}, now=0.0), 0.0)
    throttle.select({task: False}, now=0.5)
    taken = throttle.select({}, now=1.0)
    assert taken == {task: False}
    throttle.retry(taken)
    assert throttle.due(1.0)
    assert throttle.select({}, now=1.0) == {task: False}


def test_interval_zero_syncs_every_change() -> None:
    throttle, task = ProgressThrottle(0.0), uuid4()
    for now in (0.0, 0.01, 0.02):
        assert throttle.select({task: False}, now=now) == {task: False}
        patched(throttle, {task: False}, now)


def test_a_task_is_held_while_synced_within_the_interval_or_waiting() -> None:
    throttle, task = ProgressThrottle(2.0), uuid4()
    assert not throttle.holds(task, now=0.0)
    patched(throttle, throttle.select({task: False}, now=0.0), 0.0)
    assert throttle.holds(task, now=1.0)
    assert not throttle.holds(task, now=2.5)
    patched(throttle, throttle.select({task: False}, now=2.5), 2.5)
    assert throttle.select({task: False}, now=3.0) == {}  # waits for 4.5
    assert throttle.holds(task, now=4.9)  # waiting, though the interval since 2.5 has passed
    patched(throttle, throttle.select({task: True}, now=4.9), 4.9)  # it ended
    assert not throttle.holds(task, now=4.9)


def test_a_patch_made_elsewhere_holds_the_next_progress_back() -> None:
    throttle, task = ProgressThrottle(2.0), uuid4()
    throttle.patched(task, False, now=0.0)  # e.g. the resync showed Running
    assert throttle.select({task: False}, now=0.5) == {}
    assert throttle.select({}, now=2.0) == {task: False}
