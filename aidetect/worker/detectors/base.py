"""The detector contract, and the registry that maps a profile's kind to the class serving it.

The worker loop sees only `Detector`: it calls `load_detector(profile)` once per profile and then
`score(texts)` per batch. Each kind lives in a module of its own and registers itself with
`@register(kind)`, so adding a method (binoculars, fast-detectgpt, perplexity) never touches
the loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self, TypeVar

from aidetect.core.errors import InvalidInput, PermanentError
from aidetect.core.models import Score
from aidetect.core.profiles import DetectorKind, DetectorProfile


class Detector(ABC):
    """A loaded model that scores texts: 1 means AI-generated, 0 human-written."""

    profile: DetectorProfile
    model_version: str
    """Recorded with every result: checkpoint and revision, a content hash, or "demo-untrained"."""
    device: str
    demo: bool
    """True when an untrained demo model stands in for the profile's model: scores mean nothing."""

    @classmethod
    @abstractmethod
    def load(cls, profile: DetectorProfile, *, demo_root: Path | None = None) -> Self:
        """Load the profile's model(s); `demo_root` is where `fallback: demo` models are cached."""

    @abstractmethod
    def score(self, texts: Sequence[str], *, sentences: bool = False) -> list[Score]:
        """One Score per text, in order; with `sentences`, each also carries per-sentence scores.

        `UnscorableItems` if some texts cannot be scored: it carries the other texts' scores.
        """


class UnscorableItems(InvalidInput):
    """Some texts of one `score()` call cannot be scored; the error keeps the others' scores.

    A caller that knows items can fail alone records `reasons[i]` for text i and `scores[i]`
    for the rest; any other caller sees an InvalidInput, as if the whole call had failed.
    """

    def __init__(self, scores: Sequence[Score | None], reasons: dict[int, str]) -> None:
        self.scores = list(scores)
        self.reasons = dict(reasons)
        listed = "; ".join(f"text {i}: {reason}" for i, reason in sorted(self.reasons.items()))
        super().__init__(f"{len(self.reasons)} of {len(self.scores)} text(s) unscorable: {listed}")


DetectorClass = TypeVar("DetectorClass", bound=type[Detector])

_REGISTRY: dict[str, type[Detector]] = {}


def register(kind: DetectorKind) -> Callable[[DetectorClass], DetectorClass]:
    """Class decorator: make `cls` the implementation of profiles with this `kind`."""

    def add(cls: DetectorClass) -> DetectorClass:
        existing = _REGISTRY.get(kind)
        if existing is not None and existing is not cls:
            raise ValueError(f"detector kind {kind!r} is already served by {existing.__name__}")
        _REGISTRY[kind] = cls
        return cls

    return add


def registered_kinds() -> list[str]:
    """The kinds this worker can serve, sorted."""
    return sorted(_REGISTRY)


def load_detector(profile: DetectorProfile, *, demo_root: Path | None = None) -> Detector:
    """The loaded detector for a profile; PermanentError if no class serves its kind."""
    cls = _REGISTRY.get(profile.kind)
    if cls is None:
        available = ", ".join(registered_kinds()) or "none"
        raise PermanentError(
            f"detector profile {profile.name!r} has kind {profile.kind!r}, which this worker "
            f"does not implement (implemented kinds: {available})"
        )
    return cls.load(profile, demo_root=demo_root)
