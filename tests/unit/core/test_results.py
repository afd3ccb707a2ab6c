"""How item results add up to a task result."""

from __future__ import annotations

import pytest

from aidetect.core.models import ItemResult
from aidetect.core.results import MAX_ITEMS_ON_CR, summarize


def _item(i: int, score: float, label: str, probability: float | None = None) -> ItemResult:
    return ItemResult(
        index=i,
        score=score,
        label=label,
        probability=probability,
        threshold=0.5,
        model_version="m@1",
    )


def test_single_item_result_is_the_item() -> None:
    result = summarize([_item(0, 0.9, "ai", 0.8)], detector="d")
    assert (result.score, result.label, result.probability, result.counts) == (0.9, "ai", 0.8, None)


def test_batch_result_is_mean_majority_and_counts() -> None:
    result = summarize(
        [_item(0, 0.9, "ai"), _item(1, 0.1, "human"), _item(2, 0.2, "human")], detector="d"
    )
    assert result.score == pytest.approx(0.4)
    assert result.label == "human"
    assert result.counts == {"ai": 1, "human": 2}
    assert result.probability is None  # no fake probability without calibration


def test_a_tie_counts_as_ai() -> None:
    assert summarize([_item(0, 0.9, "ai"), _item(1, 0.1, "human")], detector="d").label == "ai"


def test_large_batches_leave_items_off_the_cr() -> None:
    items = [_item(i, 0.5, "ai") for i in range(MAX_ITEMS_ON_CR + 1)]
    assert summarize(items, detector="d").items is None
    assert summarize(items[:MAX_ITEMS_ON_CR], detector="d").items is not None


def test_empty_task_has_no_result() -> None:
    with pytest.raises(ValueError):
        summarize([], detector="d")
