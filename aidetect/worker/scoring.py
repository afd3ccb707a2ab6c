"""Score a batch's items: from the result cache where it can, with the detector otherwise.

The cache holds raw scores by (text sha256, granularity, detector, model version); a hit is
judged by the profile's current threshold and calibration. What the detector computes is
returned as a `CacheWrite`, which the runner commits in the same transaction as the results.
Demo models are never cached: their scores mean nothing and must not outlive them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aidetect.core.calibration import probability_for
from aidetect.core.db import CachedScore, CacheWrite, Database, ItemToScore, text_sha256
from aidetect.core.models import Granularity, Score, SentenceScore
from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors.base import Detector


@dataclass(frozen=True)
class ToScore:
    """An item and the granularity its task asks for."""

    item: ItemToScore
    granularity: Granularity


@dataclass(frozen=True)
class ScoredItems:
    """One (score, from the cache?) per item, in order, and the fresh scores to remember."""

    scores: list[tuple[Score, bool]]
    cache: CacheWrite | None


def from_cache(profile: DetectorProfile, c: CachedScore) -> Score:
    """A Score from a cached raw score, judged by the profile's current threshold/calibration."""
    sentences = (
        [
            SentenceScore(
                start=x["start"], end=x["end"], score=x["score"], label=profile.label_of(x["score"])
            )
            for x in c.sentences
        ]
        if c.sentences is not None
        else None
    )
    return Score(
        score=c.score,
        label=profile.label_of(c.score),
        probability=probability_for(profile, c.score),
        threshold=profile.decision_threshold(),
        chunks=c.chunks,
        sentences=sentences,
    )


def to_cache(score: Score) -> CachedScore:
    sentences = (
        [{"start": x.start, "end": x.end, "score": x.score} for x in score.sentences]
        if score.sentences is not None
        else None
    )
    return CachedScore(score=score.score, chunks=score.chunks, sentences=sentences)


def score_items(db: Database, detector: Detector, wanted: Sequence[ToScore]) -> ScoredItems:
    """Score every item, in at most two detector calls (documents, then sentence tasks)."""
    keys = [(text_sha256(w.item.text), w.granularity) for w in wanted]
    use_cache = not detector.demo
    hits = (
        db.cached_scores(
            detector=detector.profile.name, model_version=detector.model_version, keys=keys
        )
        if use_cache and keys
        else {}
    )
    out: dict[int, tuple[Score, bool]] = {
        i: (from_cache(detector.profile, hits[k]), True) for i, k in enumerate(keys) if k in hits
    }
    for sentences in (False, True):
        todo = [i for i, k in enumerate(keys) if i not in out and (k[1] == "sentence") == sentences]
        if todo:
            scored = detector.score([wanted[i].item.text for i in todo], sentences=sentences)
            out.update({i: (sc, False) for i, sc in zip(todo, scored, strict=True)})
    cache = None
    if use_cache:
        fresh = [(*keys[i], to_cache(sc)) for i, (sc, cached) in out.items() if not cached]
        cache = CacheWrite(detector.profile.name, detector.model_version, fresh)
    return ScoredItems(scores=[out[i] for i in range(len(keys))], cache=cache)
