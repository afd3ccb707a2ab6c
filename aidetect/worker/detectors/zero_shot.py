"""What the zero-shot kinds (binoculars, fast-detectgpt, perplexity) share: loading and scoring.

Each kind is a formula over per-token statistics of one or two causal language models
(`token_stats`). Everything around the formula is the same for all three and lives here:
loading the model(s) or their demo stand-ins, refusing a profile that has no decision
threshold, and turning a number into a `Score` with its label, calibrated probability, window
count and, on request, per-sentence scores computed from the same forward pass.

A text that cannot be scored (too short, or a statistic that is undefined on it) fails alone:
`score` raises `UnscorableItems` with the other texts' scores, never a made-up number.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import torch
from transformers import AutoModelForCausalLM

from aidetect.core.calibration import probability_for
from aidetect.core.errors import InvalidInput, PermanentError
from aidetect.core.models import Score, SentenceScore
from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors import demo, loading
from aidetect.worker.detectors.base import Detector, UnscorableItems
from aidetect.worker.detectors.sentences import split_sentences
from aidetect.worker.detectors.token_stats import CausalLM, TextMeasure, TokenStatistics
from aidetect.worker.detectors.token_sums import TextPositions, TokenSums

logger = logging.getLogger(__name__)

Models = tuple[CausalLM, CausalLM | None]


class UndefinedScore(InvalidInput):
    """The kind's formula has no value on this text (a zero variance, a zero cross-entropy)."""


class ZeroShotDetector(Detector):
    """A score computed from causal-LM token statistics by the subclass's `aggregate`."""

    requires_reference: ClassVar[bool] = False
    allows_reference: ClassVar[bool] = True
    wants_ranks: ClassVar[bool] = False
    wants_expectations: ClassVar[bool] = False
    wants_variances: ClassVar[bool] = False
    default_max_length: ClassVar[int | None] = None
    """The window when the profile sets no `max_length`; None is the model's context."""

    def __init__(
        self,
        profile: DetectorProfile,
        statistics: TokenStatistics,
        *,
        model_version: str,
        device: str,
        demo: bool,
    ) -> None:
        self.profile = profile
        self.statistics = statistics
        self.model_version = model_version
        self.device = device
        self.demo = demo
        self.threshold = profile.decision_threshold()

    @abstractmethod
    def aggregate(self, sums: TokenSums) -> float:
        """The kind's score from the sums over some positions (a document or one sentence);
        UndefinedScore where the formula has no value."""

    @classmethod
    def roles(cls, main: CausalLM, other: CausalLM | None) -> Models:
        """(scoring, reference) from (profile.model, profile.reference_model)."""
        return main, other

    @classmethod
    def load(cls, profile: DetectorProfile, *, demo_root: Path | None = None) -> Self:
        cls.check_profile(profile)
        device = loading.pick_device(profile.device)
        dtype = loading.pick_dtype(profile.dtype, device)

        def real() -> Models:
            main = _load_lm(profile.model, profile.revision, device, dtype)
            other = None
            if profile.reference_model:
                other = _load_lm(profile.reference_model, profile.reference_revision, device, dtype)
            return main, other

        def stand_in() -> Models:
            root = demo_root or demo.DEFAULT_DEMO_ROOT
            paths = [
                demo.build_demo_causal_lm(root / f"{demo.CAUSAL_LM_DIRNAME}-{seed}", seed=seed)
                for seed in (0, 1)
            ]
            main = _load_lm(str(paths[0]), None, device, dtype)
            other = (
                _load_lm(str(paths[1]), None, device, dtype) if profile.reference_model else None
            )
            return main, other

        (main, other), is_demo = loading.load_or_demo(profile, real, stand_in)
        version = "+".join(lm.version for lm in (main, other) if lm is not None)
        if is_demo:
            version = demo.DEMO_MODEL_VERSION
        scoring, reference = cls.roles(main, other)
        statistics = TokenStatistics(
            scoring,
            reference,
            max_length=profile.max_length or cls.default_max_length,
            batch_size=profile.batch_size,
            device=device,
            ranks=cls.needs_ranks(profile),
            expectations=cls.wants_expectations,
            variances=cls.wants_variances,
        )
        logger.info("detector %r loaded %s on %s (%s)", profile.name, version, device, dtype)
        return cls(profile, statistics, model_version=version, device=device, demo=is_demo)

    @classmethod
    def needs_ranks(cls, profile: DetectorProfile) -> bool:
        """Whether token ranks must be computed for this profile (a pass over the vocabulary)."""
        return cls.wants_ranks

    @classmethod
    def check_profile(cls, profile: DetectorProfile) -> None:
        """Refuse, before loading anything, a profile this kind cannot serve."""
        if cls.requires_reference and not profile.reference_model:
            raise PermanentError(
                f"detector profile {profile.name!r} ({profile.kind}) needs reference_model "
                "(the second model of the pair) as well as model"
            )
        if not cls.allows_reference and profile.reference_model:
            raise PermanentError(
                f"detector profile {profile.name!r} ({profile.kind}) uses one model: "
                "remove reference_model"
            )
        try:
            profile.decision_threshold()
        except ValueError as e:
            raise PermanentError(
                f"{e}: set `threshold` in the profile, or fit one on labelled text from your "
                "own domain with `aidetect eval`"
            ) from e

    def score(self, texts: Sequence[str], *, sentences: bool = False) -> list[Score]:
        if self.demo:
            logger.warning(
                "detector %r is scoring %d text(s) with UNTRAINED DEMO models: "
                "the scores mean nothing",
                self.profile.name,
                len(texts),
            )
        measured = self.statistics.measure(texts, positions=sentences)
        scores: list[Score | None] = []
        reasons: dict[int, str] = {}
        for index, (text, m) in enumerate(zip(texts, measured, strict=True)):
            try:
                if isinstance(m, InvalidInput):
                    raise m
                scores.append(self._score(m, text))
            except InvalidInput as e:
                scores.append(None)
                reasons[index] = str(e)
        if reasons:
            raise UnscorableItems(scores, reasons)
        return [score for score in scores if score is not None]

    def _value(self, sums: TokenSums) -> float:
        value = self.aggregate(sums)
        if not math.isfinite(value):
            raise UndefinedScore(f"the {self.profile.kind} score is {value} on this text")
        return value

    def _sentences(self, text: str, positions: TextPositions) -> list[SentenceScore]:
        """Each sentence's score from its own tokens' statistics. Left out: sentences with no
        positions (a first token that nothing before it predicts) and sentences on which the
        formula is undefined (UndefinedScore): no sentence gets a made-up number."""
        out: list[SentenceScore] = []
        for span in split_sentences(text):
            keep = positions.positions_in(span.start, span.end)
            if not bool(keep.any()):
                continue
            try:
                value = self._value(positions.sums(keep))
            except UndefinedScore:
                continue
            label = self.profile.label_of(value)
            out.append(SentenceScore(start=span.start, end=span.end, score=value, label=label))
        return out

    def _score(self, measured: TextMeasure, text: str) -> Score:
        value = self._value(measured.sums)
        sentences = None
        if measured.positions is not None:
            sentences = self._sentences(text, measured.positions)
        return Score(
            score=value,
            label=self.profile.label_of(value),
            probability=probability_for(self.profile, value),
            threshold=self.threshold,
            chunks=measured.windows,
            sentences=sentences,
        )


def _load_lm(source: str, revision: str | None, device: str, dtype: torch.dtype) -> CausalLM:
    tokenizer, model = loading.load_pretrained(
        source, revision, AutoModelForCausalLM, device=device, dtype=dtype
    )
    return CausalLM(tokenizer, model, loading.model_version(source, revision, model.config))
