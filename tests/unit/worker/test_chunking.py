"""Windows over long token sequences: lossless, balanced, weighted by token count, padded."""

from __future__ import annotations

import pytest
import torch

from aidetect.worker.detectors.chunking import (
    pad_right,
    split_windows,
    token_ids,
    token_weighted_mean,
)
from aidetect.worker.detectors.hf_classifier import HfClassifier


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


def test_pad_right_pads_each_row_to_the_longest_and_masks_the_padding() -> None:
    ids, mask = pad_right([[5, 6, 7], [8], []], pad_id=1, device="cpu")
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1], [1, 1, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_token_ids_from_the_fast_backend_equal_the_tokenizers_own(classifier: HfClassifier) -> None:
    texts = ["Plain text.", "", "Мир, 世界 🙂", "with <s> and </s> inside", "  spaced  out  "]
    tokenizer = classifier.tokenizer
    expected = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    assert token_ids(tokenizer, texts) == expected
