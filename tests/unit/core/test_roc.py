"""Detection metrics against hand-computed values: AUROC, ROC, TPR at FPR (RAID), F1."""

from __future__ import annotations

import pytest

from aidetect.core.roc import (
    auroc,
    f1_at_threshold,
    rates_at,
    roc_curve,
    threshold_at_fpr,
    tpr_at_fpr,
)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([0.1, 0.2, 0.8, 0.9], 1.0), ([0.5, 0.5, 0.5, 0.5], 0.5), ([0.8, 0.9, 0.1, 0.2], 0.0)],
)
def test_auroc_of_perfect_tied_and_inverted_scores(scores: list[float], expected: float) -> None:
    assert auroc(scores, [0, 0, 1, 1]) == pytest.approx(expected)


def test_auroc_counts_a_tie_between_classes_as_one_half() -> None:
    # Pairs (AI, human): (2,1) win, (2,2) tie, (3,1) win, (3,2) win -> 3.5 / 4.
    assert auroc([1, 2, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.875)


def test_auroc_of_a_lower_is_ai_score_is_taken_on_the_negated_score() -> None:
    assert auroc([5.0, 4.0, 1.0, 2.0], [0, 0, 1, 1], higher_is_ai=False) == pytest.approx(1.0)


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="need both classes"):
        auroc([0.1, 0.2], [1, 1])


def test_roc_curve_has_one_point_per_distinct_score_and_raw_thresholds() -> None:
    curve = roc_curve([1, 2, 2, 3], [0, 0, 1, 1])
    assert curve.fpr == [0.0, 0.0, 0.5, 1.0]
    assert curve.tpr == [0.0, 0.5, 1.0, 1.0]
    assert curve.thresholds[1:] == [3.0, 2.0, 1.0]


def test_threshold_at_fpr_flags_at_most_the_target_share_of_human_texts() -> None:
    # Ten human texts, budget 10% -> only the top human (0.9) may be flagged.
    human = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    scores, labels = [*human, 0.85, 0.95], [0] * 10 + [1, 1]
    threshold = threshold_at_fpr(scores, labels, True, 0.1)
    assert threshold == 0.9
    assert rates_at(scores, labels, True, threshold).fpr <= 0.1


def test_threshold_at_fpr_never_splits_tied_human_scores_over_budget() -> None:
    scores, labels = [0.5, 0.5, 0.1, 0.9], [0, 0, 0, 1]
    threshold = threshold_at_fpr(scores, labels, True, 0.4)  # budget 1, but 0.5 is held by 2
    assert 0.5 < threshold < 0.9
    assert rates_at(scores, labels, True, threshold).fpr == 0.0


def test_tpr_at_fpr_on_a_hand_example() -> None:
    # Humans 1..4, AI 2.5, 3.5, 4.5, 5: at FPR 25% the threshold is 4 (flags human 4 only).
    scores = [1.0, 2.0, 3.0, 4.0, 2.5, 3.5, 4.5, 5.0]
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    point = tpr_at_fpr(scores, labels, True, 0.25)
    assert (point.threshold, point.tpr, point.fpr) == (4.0, 0.5, 0.25)


def test_tpr_at_fpr_for_lower_is_ai_reports_a_raw_threshold_for_score_below() -> None:
    # The same data negated: lower means AI, and flagged means score < threshold.
    scores = [-1.0, -2.0, -3.0, -4.0, -2.5, -3.5, -4.5, -5.0]
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    point = tpr_at_fpr(scores, labels, False, 0.25)
    assert -4.0 < point.threshold < -3.5
    assert (point.tpr, point.fpr) == (0.5, 0.25)


def test_f1_on_a_hand_example() -> None:
    # At 0.5: flagged 0.6, 0.7 (AI) and 0.55 (human); missed 0.4 (AI): tp 2, fp 1, fn 1.
    scores, labels = [0.6, 0.7, 0.55, 0.4, 0.1], [1, 1, 0, 1, 0]
    assert f1_at_threshold(scores, labels, True, 0.5) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_f1_is_zero_when_nothing_is_flagged() -> None:
    assert f1_at_threshold([0.1, 0.2], [1, 0], True, 0.9) == 0.0
