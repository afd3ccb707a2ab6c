"""Cached raw scores are judged by the profile's current threshold and calibration."""

from __future__ import annotations

import pytest

from aidetect.core.calibration import fit_isotonic
from aidetect.core.db import CachedScore
from aidetect.core.models import Score, SentenceScore
from aidetect.core.profiles import Calibration, DetectorProfile
from aidetect.worker.scoring import from_cache, to_cache


def _profile(**kw: object) -> DetectorProfile:
    return DetectorProfile.model_validate(
        {"name": "p", "kind": "hf-classifier", "model": "/m", **kw}
    )


def test_a_new_threshold_relabels_a_cached_score() -> None:
    cached = CachedScore(score=0.6, chunks=1, sentences=None)
    assert from_cache(_profile(threshold=0.5), cached).label == "ai"
    assert from_cache(_profile(threshold=0.7), cached).label == "human"
    assert from_cache(_profile(threshold=0.7), cached).threshold == 0.7


def test_a_new_calibration_gives_a_probability_without_rescoring() -> None:
    cached = CachedScore(score=0.6, chunks=2, sentences=None)
    assert from_cache(_profile(), cached).probability is None
    platt = Calibration(method="platt", a=10.0, b=-5.0)
    score = from_cache(_profile(calibration=platt), cached)
    assert score.probability == pytest.approx(1 / (1 + 2.718281828459045**-1.0))
    assert score.chunks == 2


def test_lower_is_ai_kinds_label_below_the_threshold() -> None:
    profile = _profile(kind="binoculars", reference_model="/r")
    assert from_cache(profile, CachedScore(score=0.80, chunks=1, sentences=None)).label == "ai"
    assert from_cache(profile, CachedScore(score=0.95, chunks=1, sentences=None)).label == "human"


def test_sentences_round_trip_through_the_cache() -> None:
    original = Score(
        score=0.6,
        label="ai",
        threshold=0.5,
        chunks=1,
        sentences=[SentenceScore(start=0, end=5, score=0.2, label="human")],
    )
    restored = from_cache(_profile(), to_cache(original))
    assert restored.sentences == original.sentences


def test_isotonic_probability_follows_a_lower_is_ai_kind() -> None:
    # Given an isotonic fit for Binoculars (lower is AI), stored on negated scores
    calibration = fit_isotonic([0.7, 0.8, 0.9, 1.0], [1, 1, 0, 0], higher_is_ai=False)
    profile = _profile(kind="binoculars", reference_model="/r", calibration=calibration)
    # Then a low (AI-like) score gets a high probability, and a high score a low one
    low = from_cache(profile, CachedScore(score=0.7, chunks=1, sentences=None)).probability
    high = from_cache(profile, CachedScore(score=1.0, chunks=1, sentences=None)).probability
    assert (low, high) == (1.0, 0.0)
