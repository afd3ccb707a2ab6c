"""Retry backoff is exponential and capped."""

from __future__ import annotations

import pytest

from aidetect.worker.backoff import retry_delay


def test_doubles_per_attempt_until_the_cap() -> None:
    assert [retry_delay(a, base=2, cap=10) for a in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        retry_delay(0, base=1, cap=1)
