"""A pipeline stage: in order, never ahead of what it was handed, nothing lost on close."""

from __future__ import annotations

import threading

import pytest

from aidetect.worker.stages import Stage


def test_items_are_handled_in_the_order_they_were_handed_over() -> None:
    handled: list[int] = []
    stage: Stage[int] = Stage("test", handled.append, on_crash=lambda: None)
    for i in range(20):
        stage.submit(i)
    stage.close()
    assert handled == list(range(20))


def test_close_handles_what_still_waits() -> None:
    # Given a stage busy with one item while another waits behind it
    release = threading.Event()
    handled: list[int] = []

    def slow(item: int) -> None:
        release.wait(5)
        handled.append(item)

    stage: Stage[int] = Stage("test", slow, on_crash=lambda: None)
    stage.submit(1)
    stage.submit(2)
    release.set()
    # When the worker drains, then both are handled before close returns
    stage.close()
    assert handled == [1, 2]


def test_at_most_one_item_waits_besides_the_one_handled() -> None:
    busy, release = threading.Event(), threading.Event()

    def block(_item: int) -> None:
        busy.set()
        release.wait(5)

    stage: Stage[int] = Stage("test", block, on_crash=lambda: None)
    stage.submit(1)
    assert busy.wait(5)
    stage.submit(2)  # waits in the queue
    third = threading.Thread(target=stage.submit, args=(3,))
    third.start()
    third.join(0.5)
    assert third.is_alive()  # the producer is held back
    release.set()
    third.join(5)
    stage.close()


def test_a_bug_in_a_stage_stops_the_worker() -> None:
    def broken(_item: int) -> None:
        raise KeyError("bug")

    crashed = threading.Event()
    stage: Stage[int] = Stage("test", broken, on_crash=crashed.set)
    stage.submit(1)
    assert crashed.wait(5)
    with pytest.raises(RuntimeError, match="test thread has stopped"):
        for _ in range(3):  # one item may still fit in the queue; then the thread is gone
            stage.submit(2)
