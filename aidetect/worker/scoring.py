"""Score a batch's items: from the result cache where it can, with the detector otherwise.

The cache holds raw scores by (text sha256, granularity, detector, model version); a hit is
judged by the profile's current threshold and calibration. The lookup happens when a batch is
prepared, the scoring on the inference thread; what the detector computes is returned as a
`CacheWrite`, which the runner commits in the same transaction as the results.
Demo models are never cached: their scores mean nothing and must not outlive them.
A text the detector cannot score (`UnscorableItems`) comes back as `Unscored`, with the cause;
the other texts of the call keep their scores. Failures are never cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aidetect.core.calibration import probability_for
from aidetect.core.db import CachedScore, CacheWrite, ItemToScore, text_sha256
from aidetect.core.models import Granularity, Score, SentenceScore
from aidetect.core.profiles import DetectorProfile
from aidetect.core.seams import WorkerTasks
from aidetect.worker.detectors.base import Detector, UnscorableItems


@dataclass(frozen=True)
class ToScore:
    """An item and the granularity its task asks for."""

    item: ItemToScore
    granularity: Granularity


@dataclass(frozen=True)
class Unscored:
    """An item whose text the detector could not score, and why."""

    message: str


Outcome = tuple[Score, bool] | Unscored
"""An item's (score, from the cache?), or why it has none."""


@dataclass(frozen=True)
class ScoredItems:
    """One outcome per item, in order, and the fresh scores to remember."""

    scores: list[Outcome]
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


def cache_key(wanted: ToScore) -> tuple[str, str]:
    return text_sha256(wanted.item.text), wanted.granularity


def cached_scores(
    db: WorkerTasks, detector: Detector, wanted: Sequence[ToScore]
) -> dict[tuple[str, str], CachedScore]:
    """The raw scores the result cache already has for these items (none for demo models)."""
    if detector.demo or not wanted:
        return {}
    return db.cached_scores(
        detector=detector.profile.name,
        model_version=detector.model_version,
        keys=[cache_key(w) for w in wanted],
    )


def score_items(
    detector: Detector,
    wanted: Sequence[ToScore],
    cached: Mapping[tuple[str, str], CachedScore],
) -> ScoredItems:
    """Score every item not in `cached`, in at most two detector calls (documents, then
    sentence tasks); the fresh raw scores come back to be cached (none for demo models)."""
    keys = [cache_key(w) for w in wanted]
    out: dict[int, Outcome] = {
        i: (from_cache(detector.profile, cached[k]), True)
        for i, k in enumerate(keys)
        if k in cached
    }
    for sentences in (False, True):
        todo = [i for i, k in enumerate(keys) if i not in out and (k[1] == "sentence") == sentences]
        if todo:
            texts = [wanted[i].item.text for i in todo]
            out.update(zip(todo, _score_or_explain(detector, texts, sentences), strict=True))
    cache = None
    if not detector.demo:
        fresh = [
            (*keys[i], to_cache(o[0]))
            for i, o in out.items()
            if not isinstance(o, Unscored) and not o[1]
        ]
        cache = CacheWrite(detector.profile.name, detector.model_version, fresh)
    return ScoredItems(scores=[out[i] for i in range(len(keys))], cache=cache)


def _score_or_explain(detector: Detector, texts: list[str], sentences: bool) -> list[Outcome]:
    """The detector's fresh scores, with `Unscored` for each text it could not score."""
    try:
        return [(sc, False) for sc in detector.score(texts, sentences=sentences)]
    except UnscorableItems as e:
        return [
            Unscored(e.reasons[i]) if sc is None else (sc, False) for i, sc in enumerate(e.scores)
        ]
