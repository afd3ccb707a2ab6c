"""Fitting calibrations: Platt recovers known parameters, isotonic is PAVA, both keep direction."""

from __future__ import annotations

import numpy as np
import pytest

from aidetect.core.calibration import (
    calibrated_probability,
    fit_isotonic,
    fit_platt,
    threshold_at_fpr,
)
from aidetect.core.roc import rates_at


def logistic_sample(a: float, b: float, seed: int = 7) -> tuple[list[float], list[int]]:
    """Scores uniform on [-3, 3] and labels drawn with P(AI) = sigmoid(a * score + b)."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(-3.0, 3.0, 20_000)
    labels = rng.uniform(size=scores.size) < 1.0 / (1.0 + np.exp(-(a * scores + b)))
    return scores.tolist(), labels.astype(int).tolist()


@pytest.mark.parametrize(("a", "b", "higher_is_ai"), [(2.0, -0.5, True), (-1.5, 1.0, False)])
def test_platt_recovers_the_parameters_that_generated_the_labels(
    a: float, b: float, higher_is_ai: bool
) -> None:
    fitted = fit_platt(*logistic_sample(a, b), higher_is_ai=higher_is_ai)
    assert fitted.method == "platt"
    assert fitted.a == pytest.approx(a, abs=0.1)
    assert fitted.b == pytest.approx(b, abs=0.1)


@pytest.mark.parametrize("higher_is_ai", [True, False])
def test_platt_probability_rises_toward_the_ai_end_of_the_score(higher_is_ai: bool) -> None:
    scores, labels = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1]
    if not higher_is_ai:
        labels = [1 - label for label in labels]
    fitted = fit_platt(scores, labels, higher_is_ai)
    probabilities = [calibrated_probability(fitted, s) or 0.0 for s in scores]
    ordered = probabilities if higher_is_ai else probabilities[::-1]
    assert ordered == sorted(ordered) and ordered[0] < 0.5 < ordered[-1]


def test_platt_on_separable_data_stays_finite() -> None:
    fitted = fit_platt([0.0, 1.0, 2.0, 3.0], [0, 0, 1, 1], True)
    assert fitted.a is not None and 0.0 < fitted.a < 100.0


def test_platt_never_inverts_the_profile_direction() -> None:
    # Higher-is-AI profile, but the data say the opposite: a flat fit, not a negative slope.
    fitted = fit_platt([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], True)
    assert fitted.a == 0.0


def test_isotonic_equals_pava_on_a_hand_example() -> None:
    # Labels 0 1 0 1 1 0 -> pool (1, 0) to 0.5 at x=2..3, pool (1, 1, 0) to 2/3 at x=4..6.
    fitted = fit_isotonic([1, 2, 3, 4, 5, 6], [0, 1, 0, 1, 1, 0], True)
    assert fitted.x == [1.0, 2.0, 4.0]
    assert fitted.y == pytest.approx([0.0, 0.5, 2 / 3])
    assert calibrated_probability(fitted, 3.5) == pytest.approx(0.5)


def test_isotonic_pools_equal_scores_before_fitting() -> None:
    fitted = fit_isotonic([1, 1, 2], [1, 0, 1], True)
    assert (fitted.x, fitted.y) == ([1.0, 2.0], [0.5, 1.0])


def test_isotonic_is_monotone_on_noisy_data() -> None:
    scores, labels = logistic_sample(1.0, 0.0)
    fitted = fit_isotonic(scores, labels, True)
    grid = np.linspace(-4, 4, 200).tolist()
    probabilities = [calibrated_probability(fitted, s) or 0.0 for s in grid]
    assert probabilities == sorted(probabilities)


def test_isotonic_for_lower_is_ai_is_keyed_on_the_negated_score() -> None:
    fitted = fit_isotonic([6, 5, 4, 3, 2, 1], [0, 1, 0, 1, 1, 0], False)
    assert fitted.x == [-6.0, -5.0, -3.0]
    grid = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    probabilities = [calibrated_probability(fitted, s, higher_is_ai=False) or 0.0 for s in grid]
    assert probabilities == sorted(probabilities, reverse=True)
    assert calibrated_probability(fitted, 3.5, higher_is_ai=False) == pytest.approx(0.5)


@pytest.mark.parametrize("higher_is_ai", [True, False])
@pytest.mark.parametrize("target", [0.01, 0.05, 0.2])
def test_threshold_at_fpr_keeps_the_false_positive_rate_on_the_data(
    higher_is_ai: bool, target: float
) -> None:
    scores, labels = logistic_sample(1.0 if higher_is_ai else -1.0, 0.0)
    threshold = threshold_at_fpr(scores, labels, higher_is_ai, target)
    point = rates_at(scores, labels, higher_is_ai, threshold)
    assert point.fpr <= target
    assert point.fpr > target - 0.01  # and spends the budget
