"""Windows over long token sequences: lossless, balanced, and weighted by token count."""

from __future__ import annotations

import pytest

from aidetect.worker.detectors.chunking import split_windows, token_weighted_mean


def test_windows_hold_every_token_once_in_order() -> None:
    ids = list(range(33))
    windows = split_windows(ids, 10)
    assert [token for window in windows for token in window] == ids


def test_windows_are_balanced_and_within_the_limit() -> None:
    assert [len(w) for w in split_windows(list(range(33)), 10)] == [9, 8, 8, 8]


def test_a_short_sequence_is_one_window() -> None:
    assert split_windows([1, 2, 3], 10) == [[1, 2, 3]]


def test_an_empty_sequence_is_one_empty_window() -> None:
    assert split_windows([], 10) == [[]]


def test_mean_is_weighted_by_window_length() -> None:
    assert token_weighted_mean([1.0, 0.0], [[1, 2, 3], [4]]) == pytest.approx(0.75)
