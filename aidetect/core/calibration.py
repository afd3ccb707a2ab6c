"""Turn a detector's raw score into a calibrated probability that the text is AI-generated.

The parameters are fitted by `aidetect eval` on labelled text from the user's own domain and
stored in the profile. Without calibration there is no probability: a raw score is not one.

Direction convention. `Calibration` stores isotonic steps with ascending x and non-decreasing
y, which cannot describe P(AI) falling as a raw score rises. So for lower-is-AI kinds
(Binoculars, perplexity) the isotonic x values are *negated* raw scores, and
`calibrated_probability(..., higher_is_ai=False)` negates the score before the lookup. Platt
parameters always apply to the raw score: the sign of `a` carries the direction.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from aidetect.core.profiles import Calibration, DetectorProfile
from aidetect.core.roc import FloatArray, as_arrays, oriented, threshold_at_fpr

__all__ = [
    "calibrated_probability",
    "fit_isotonic",
    "fit_platt",
    "probability_for",
    "threshold_at_fpr",
]

_NEWTON_STEPS = 100
_L2 = 1e-6  # on the standardised slope: keeps the Hessian invertible on one-class-like data


def calibrated_probability(
    calibration: Calibration | None, score: float, *, higher_is_ai: bool = True
) -> float | None:
    """P(AI) for a raw score under the profile's calibration; None without one.

    Pass the profile's `higher_is_ai`: isotonic steps of lower-is-AI kinds are keyed on -score.
    """
    if calibration is None:
        return None
    if calibration.method == "platt":
        assert calibration.a is not None and calibration.b is not None
        return _sigmoid(calibration.a * score + calibration.b)
    assert calibration.x is not None and calibration.y is not None
    key = score if higher_is_ai else -score
    i = bisect.bisect_right(calibration.x, key) - 1
    return calibration.y[max(i, 0)]


def probability_for(profile: DetectorProfile, score: float) -> float | None:
    """P(AI) for a raw score under a profile's calibration, in the profile's score direction.

    Detectors and the result cache call this rather than `calibrated_probability`, so the
    direction convention above is applied in one place.
    """
    return calibrated_probability(profile.calibration, score, higher_is_ai=profile.higher_is_ai)


def _sigmoid(z: float) -> float:
    # Written in the form that cannot overflow for large |z|.
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def fit_platt(scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool) -> Calibration:
    """Logistic regression of the label on the raw score, with Platt's smoothed targets.

    The targets (N+ + 1)/(N+ + 2) and 1/(N- + 2) keep separable data from driving the slope
    to infinity. The slope is held to the profile's direction: data on which the score points
    the wrong way gets a flat fit at the base rate, never an inverted detector.
    """
    values, is_ai = as_arrays(scores, labels)
    n_ai = int(is_ai.sum())
    n_human = int(is_ai.size - n_ai)
    target = np.where(is_ai, (n_ai + 1) / (n_ai + 2), 1 / (n_human + 2))
    turned = oriented(values, higher_is_ai)
    centre, spread = float(turned.mean()), float(turned.std()) or 1.0
    slope, intercept = _newton_logistic((turned - centre) / spread, target)
    if slope < 0:
        slope, intercept = 0.0, _logit(float(target.mean()))
    a = slope / spread
    b = intercept - a * centre
    return Calibration(method="platt", a=a if higher_is_ai else -a, b=b)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _newton_logistic(x: FloatArray, target: FloatArray) -> tuple[float, float]:
    """(slope, intercept) minimising cross-entropy to soft targets, by damped Newton steps."""
    design = np.column_stack([x, np.ones_like(x)])
    ridge = np.diag([_L2 * x.size, 0.0])
    weights = np.array([0.0, _logit(float(target.mean()))])

    def loss(w: FloatArray) -> float:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - target * z) + 0.5 * _L2 * x.size * w[0] ** 2)

    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (p - target) + ridge @ weights
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        scale, current = 1.0, loss(weights)
        while scale > 1e-8 and loss(weights - scale * step) > current:
            scale /= 2
        weights = weights - scale * step
        if float(np.abs(scale * step).max()) < 1e-10:
            break
    return float(weights[0]), float(weights[1])


def fit_isotonic(scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool) -> Calibration:
    """The non-decreasing step function closest to the labels (pool-adjacent-violators).

    Equal scores are pooled first. Each step starts at the lowest score of its block; x is the
    raw score for higher-is-AI kinds and the negated raw score otherwise (module docstring).
    """
    values, is_ai = as_arrays(scores, labels)
    keys, inverse = np.unique(oriented(values, higher_is_ai), return_inverse=True)
    sums = np.bincount(inverse, weights=is_ai.astype(np.float64))
    counts = np.bincount(inverse).astype(np.float64)
    starts, means = _pool_adjacent_violators(keys.tolist(), sums.tolist(), counts.tolist())
    return Calibration(method="isotonic", x=starts, y=means)


def _pool_adjacent_violators(
    keys: list[float], sums: list[float], counts: list[float]
) -> tuple[list[float], list[float]]:
    """Block starts and means; neighbouring blocks whose means do not rise are merged."""
    starts: list[float] = []
    block_sums: list[float] = []
    block_counts: list[float] = []
    for key, total, count in zip(keys, sums, counts, strict=True):
        starts.append(key)
        block_sums.append(total)
        block_counts.append(count)
        while len(starts) > 1 and (
            block_sums[-2] / block_counts[-2] >= block_sums[-1] / block_counts[-1]
        ):
            merged_sum, merged_count = block_sums.pop(), block_counts.pop()
            starts.pop()
            block_sums[-1] += merged_sum
            block_counts[-1] += merged_count
    return starts, [total / count for total, count in zip(block_sums, block_counts, strict=True)]
