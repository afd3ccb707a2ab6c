"""ROC analysis: how well a detector's raw scores separate AI from human text, in the units
RAID reports. (The Prometheus metrics are another thing: each component's `metrics.py`.)

`aidetect eval` needs AUROC, the ROC curve, TPR at a fixed false-positive rate and F1, and it
needs them without scikit-learn or torch, so that `core` stays light. Labels are 1 for AI and 0
for human. Kinds whose score is lower for AI (Binoculars, perplexity) are negated internally, so
every rank computation runs on one orientation, and every threshold handed back is in the raw
score's units with the decision rule of `DetectorProfile.label_of`: higher-is-AI flags
`score >= threshold`, lower-is-AI flags `score < threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold in raw-score units and the rates it gives on the data it was chosen on."""

    threshold: float
    tpr: float
    fpr: float


@dataclass(frozen=True)
class RocCurve:
    """ROC points from (0, 0) to (1, 1); thresholds[i] gives (fpr[i], tpr[i]), in raw units."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]


def as_arrays(scores: Sequence[float], labels: Sequence[int]) -> tuple[FloatArray, BoolArray]:
    """Scores as floats and labels as "is AI"; ValueError on mismatched lengths or bad labels."""
    values = np.asarray(scores, dtype=np.float64)
    marks = np.asarray(labels)
    if values.shape != marks.shape or values.ndim != 1:
        raise ValueError(f"{values.size} scores but {marks.size} labels")
    if not np.isin(marks, (0, 1)).all():
        raise ValueError("labels must be 1 (AI) or 0 (human)")
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite")
    return values, marks.astype(bool)


def oriented(scores: FloatArray, higher_is_ai: bool) -> FloatArray:
    """Scores turned so that higher always means more AI-like."""
    return scores if higher_is_ai else -scores


def raw_threshold(oriented_threshold: float, higher_is_ai: bool) -> float:
    """The raw threshold equivalent to flagging `oriented >= oriented_threshold`.

    Lower-is-AI flags `raw < t`; `-raw >= o` is `raw <= -o`, which is `raw < nextafter(-o, inf)`.
    """
    if higher_is_ai:
        return oriented_threshold
    return float(np.nextafter(-oriented_threshold, math.inf))


def flagged(scores: FloatArray, threshold: float, higher_is_ai: bool) -> BoolArray:
    """Which scores are called AI at `threshold`: the rule of `DetectorProfile.label_of`."""
    return scores >= threshold if higher_is_ai else scores < threshold


def _both_classes(is_ai: BoolArray) -> tuple[int, int]:
    n_ai = int(is_ai.sum())
    n_human = int(is_ai.size - n_ai)
    if n_ai == 0 or n_human == 0:
        raise ValueError(f"need both classes: {n_ai} AI and {n_human} human texts")
    return n_ai, n_human


def average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    ranks: FloatArray = mean_rank[inverse].astype(np.float64)
    return ranks


def auroc(scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool = True) -> float:
    """Area under the ROC curve: P(AI text outranks human text), ties counting one half.

    Computed as the Mann-Whitney U statistic of the AI scores over n_ai * n_human.
    """
    values, is_ai = as_arrays(scores, labels)
    n_ai, n_human = _both_classes(is_ai)
    ranks = average_ranks(oriented(values, higher_is_ai))
    u = float(ranks[is_ai].sum()) - n_ai * (n_ai + 1) / 2.0
    return u / (n_ai * n_human)


def roc_curve(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool = True
) -> RocCurve:
    """One ROC point per distinct score, plus (0, 0) for a threshold that flags nothing."""
    values, is_ai = as_arrays(scores, labels)
    n_ai, n_human = _both_classes(is_ai)
    turned = oriented(values, higher_is_ai)
    order = np.argsort(-turned, kind="stable")
    turned, is_ai = turned[order], is_ai[order]
    # The last index of each run of equal scores: a threshold flags whole runs at once.
    run_ends = np.r_[np.flatnonzero(np.diff(turned) != 0), turned.size - 1]
    true_pos = np.cumsum(is_ai)[run_ends]
    false_pos = (run_ends + 1) - true_pos
    nothing = math.inf if higher_is_ai else -math.inf
    thresholds = [nothing] + [raw_threshold(float(turned[i]), higher_is_ai) for i in run_ends]
    return RocCurve(
        fpr=[0.0, *(false_pos / n_human).tolist()],
        tpr=[0.0, *(true_pos / n_ai).tolist()],
        thresholds=thresholds,
    )


def threshold_at_fpr(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool, target_fpr: float
) -> float:
    """The RAID threshold: chosen on the human texts alone so that at most `target_fpr` of
    them are flagged.

    It is the lowest human score that can be flagged within that budget (ties flag together);
    when even the top human score cannot, it sits just above it, so that no human is flagged.
    """
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target FPR {target_fpr} is not in [0, 1]")
    values, is_ai = as_arrays(scores, labels)
    human = oriented(values[~is_ai], higher_is_ai)
    if human.size == 0:
        raise ValueError("need human texts to choose a threshold at a false-positive rate")
    budget = math.floor(target_fpr * human.size + 1e-9)
    distinct, counts = np.unique(human, return_counts=True)
    # flagged_at[j]: humans scoring >= distinct[j] (distinct is ascending).
    flagged_at = np.cumsum(counts[::-1])[::-1]
    allowed = np.flatnonzero(flagged_at <= budget)
    if allowed.size == 0:
        chosen = float(np.nextafter(distinct[-1], math.inf))
    else:
        chosen = float(distinct[allowed[0]])
    return raw_threshold(chosen, higher_is_ai)


def rates_at(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool, threshold: float
) -> OperatingPoint:
    """TPR and FPR on the data at a raw threshold."""
    values, is_ai = as_arrays(scores, labels)
    _both_classes(is_ai)
    called = flagged(values, threshold, higher_is_ai)
    return OperatingPoint(
        threshold=threshold,
        tpr=float(called[is_ai].mean()),
        fpr=float(called[~is_ai].mean()),
    )


def tpr_at_fpr(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool, target_fpr: float
) -> OperatingPoint:
    """TPR at the RAID threshold for `target_fpr`, with that threshold and the FPR it reaches."""
    threshold = threshold_at_fpr(scores, labels, higher_is_ai, target_fpr)
    return rates_at(scores, labels, higher_is_ai, threshold)


def f1_at_threshold(
    scores: Sequence[float], labels: Sequence[int], higher_is_ai: bool, threshold: float
) -> float:
    """F1 of the AI class at a raw threshold; 0 when nothing is flagged and nothing is AI."""
    values, is_ai = as_arrays(scores, labels)
    called = flagged(values, threshold, higher_is_ai)
    true_pos = int((called & is_ai).sum())
    wrong = int((called ^ is_ai).sum())
    denominator = 2 * true_pos + wrong
    return 2 * true_pos / denominator if denominator else 0.0
