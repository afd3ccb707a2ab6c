"""The one backoff policy: retries only transient errors, gives up at its limit or on stop."""

from __future__ import annotations

import threading
import time

import pytest

from aidetect.core.errors import DatabaseUnavailable, InvalidInput, QueueUnavailable
from aidetect.core.retrying import until_available


def test_retries_until_the_dependency_answers() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise QueueUnavailable("not yet")
        return "connected"

    policy = until_available(what="t", retry_on=QueueUnavailable, initial=0.01, cap=0.02, limit=5)
    assert policy(flaky) == "connected"
    assert len(calls) == 4


def test_gives_up_after_the_outage_limit_with_the_last_error() -> None:
    policy = until_available(what="t", retry_on=QueueUnavailable, initial=0.01, cap=0.02, limit=0.2)

    def down() -> None:
        raise QueueUnavailable("still down")

    started = time.monotonic()
    with pytest.raises(QueueUnavailable, match="still down"):
        policy(down)
    assert 0.2 <= time.monotonic() - started < 2


@pytest.mark.parametrize("error", [InvalidInput("bad"), DatabaseUnavailable("other kind")])
def test_other_errors_are_not_retried(error: Exception) -> None:
    calls = []

    def fails() -> None:
        calls.append(1)
        raise error

    policy = until_available(what="t", retry_on=QueueUnavailable, initial=0.01, cap=0.02, limit=5)
    with pytest.raises(type(error)):
        policy(fails)
    assert calls == [1]


def test_a_stop_ends_the_wait_at_once() -> None:
    stopping = threading.Event()
    policy = until_available(
        what="t", retry_on=QueueUnavailable, initial=30, cap=30, limit=0, stopping=stopping
    )

    def down() -> None:
        raise QueueUnavailable("down")

    threading.Timer(0.2, stopping.set).start()
    started = time.monotonic()
    with pytest.raises(QueueUnavailable):
        policy(down)
    assert time.monotonic() - started < 5  # not the 30 s backoff
