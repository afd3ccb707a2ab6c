"""The `hf-classifier` kind: any sequence-classification checkpoint, scored as P(AI label).

The score is the softmax probability of the profile's AI label. It is an uncalibrated model
output, so `Score.probability` stays None until calibration exists. Texts longer than the
model's window are cut into consecutive token windows whose scores are averaged, weighted by
token count: nothing is truncated. Sentence scores, when asked for, come from the same batched
forward passes as the documents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import torch
from transformers import (
    AutoModelForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from aidetect.core.calibration import probability_for
from aidetect.core.errors import PermanentError
from aidetect.core.models import Label, Score, SentenceScore
from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors import chunking, demo, loading
from aidetect.worker.detectors.base import Detector, register
from aidetect.worker.detectors.demo import DEMO_AI_LABEL
from aidetect.worker.detectors.sentences import Span, split_sentences

logger = logging.getLogger(__name__)

# Label names that mean "AI-generated" when a binary profile leaves `ai_label` unset.
AI_LABEL_WORDS = frozenset({"ai", "fake", "machine", "generated"})
_WORD = re.compile(r"[a-z0-9]+")
# The window when the profile sets none: what the RoBERTa detectors' wrappers truncate at.
DEFAULT_MAX_LENGTH = 512


@register("hf-classifier")
class HfClassifier(Detector):
    """A transformers sequence classifier; its AI label's probability is the score."""

    def __init__(
        self,
        profile: DetectorProfile,
        tokenizer: PreTrainedTokenizerBase,
        model: PreTrainedModel,
        *,
        model_version: str,
        device: str,
        demo: bool,
    ) -> None:
        self.profile = profile
        self.tokenizer = tokenizer
        self.model = model
        self.model_version = model_version
        self.device = device
        self.demo = demo
        # A profile's ai_label names a label of its real model, not of the demo stand-in.
        wanted = DEMO_AI_LABEL if demo else profile.ai_label
        self.ai_index = resolve_ai_index(model.config.id2label, wanted)
        self.frame = chunking.special_frame(tokenizer)
        cap = profile.max_length or DEFAULT_MAX_LENGTH
        limit = chunking.max_positions(tokenizer, model.config, cap)
        self.window = limit - len(self.frame)
        if self.window < 1:
            raise PermanentError(f"max_length {limit} leaves no room around the special tokens")
        self.pad_id = _pad_id(tokenizer, model)

    @classmethod
    def load(cls, profile: DetectorProfile, *, demo_root: Path | None = None) -> Self:
        device = loading.pick_device(profile.device)
        dtype = loading.pick_dtype(profile.dtype, device)
        auto = AutoModelForSequenceClassification

        def real() -> tuple[PreTrainedTokenizerBase, PreTrainedModel, str]:
            tokenizer, model = loading.load_pretrained(
                profile.model, profile.revision, auto, device=device, dtype=dtype
            )
            version = loading.model_version(profile.model, profile.revision, model.config)
            return tokenizer, model, version

        def stand_in() -> tuple[PreTrainedTokenizerBase, PreTrainedModel, str]:
            root = demo_root or demo.DEFAULT_DEMO_ROOT
            path = demo.build_demo_classifier(root / demo.CLASSIFIER_DIRNAME)
            tokenizer, model = loading.load_pretrained(
                str(path), None, auto, device=device, dtype=dtype
            )
            return tokenizer, model, demo.DEMO_MODEL_VERSION

        (tokenizer, model, version), is_demo = loading.load_or_demo(profile, real, stand_in)
        logger.info("detector %r loaded %s on %s (%s)", profile.name, version, device, dtype)
        return cls(profile, tokenizer, model, model_version=version, device=device, demo=is_demo)

    def score(self, texts: Sequence[str], *, sentences: bool = False) -> list[Score]:
        if self.demo:
            logger.warning(
                "detector %r is scoring %d text(s) with an UNTRAINED DEMO model: "
                "the scores mean nothing",
                self.profile.name,
                len(texts),
            )
        spans = [split_sentences(text) if sentences else [] for text in texts]
        pieces = [text[s.start : s.end] for text, ss in zip(texts, spans, strict=True) for s in ss]
        scored = iter(self.score_strings([*texts, *pieces]))
        documents = [next(scored) for _ in texts]
        results: list[Score] = []
        for (value, chunks), text_spans in zip(documents, spans, strict=True):
            per_sentence = [self._sentence(span, next(scored)[0]) for span in text_spans]
            results.append(self._score(value, chunks, per_sentence if sentences else None))
        return results

    def score_strings(self, strings: Sequence[str]) -> list[tuple[float, int]]:
        """(token-weighted AI probability, window count) for each string, in order."""
        if not strings:
            return []
        encoded = chunking.token_ids(self.tokenizer, strings)
        split = [chunking.split_windows(ids, self.window) for ids in encoded]
        probabilities = iter(self.score_windows([w for windows in split for w in windows]))
        out: list[tuple[float, int]] = []
        for windows in split:
            window_scores = [next(probabilities) for _ in windows]
            out.append((chunking.token_weighted_mean(window_scores, windows), len(windows)))
        return out

    def score_windows(self, windows: Sequence[Sequence[int]]) -> list[float]:
        """The AI-label probability of each window (ids without special tokens), in order."""
        framed = [self.frame.wrap(window) for window in windows]
        scores = [0.0] * len(framed)
        with torch.inference_mode():
            for batch in chunking.length_sorted_batches(framed, self.profile.batch_size):
                input_ids, attention_mask = chunking.pad_right(
                    [framed[i] for i in batch], self.pad_id, self.device
                )
                logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
                ai = logits.float().softmax(dim=-1)[:, self.ai_index].tolist()
                for index, value in zip(batch, ai, strict=True):
                    scores[index] = float(value)
        return scores

    def _label(self, value: float) -> Label:
        return self.profile.label_of(value)

    def _score(self, value: float, chunks: int, sentences: list[SentenceScore] | None) -> Score:
        return Score(
            score=value,
            label=self._label(value),
            probability=probability_for(self.profile, value),
            threshold=self.profile.decision_threshold(),
            chunks=chunks,
            sentences=sentences,
        )

    def _sentence(self, span: Span, value: float) -> SentenceScore:
        return SentenceScore(start=span.start, end=span.end, score=value, label=self._label(value))


def _pad_id(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> int:
    """The padding id; decoder-style classifiers without one pad with EOS, as is customary."""
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    if not isinstance(pad_id, int):
        raise PermanentError(f"{type(tokenizer).__name__} has neither a pad nor an EOS token")
    if model.config.pad_token_id is None:  # models that find the last token by the pad id
        model.config.pad_token_id = pad_id
    return pad_id


def resolve_ai_index(
    id2label: Mapping[int, str] | Mapping[str, str] | None, wanted: str | None
) -> int:
    """The output index meaning AI: `wanted` (case-insensitive), or a label like "Fake"."""
    labels = {int(index): str(name) for index, name in (id2label or {}).items()}
    listing = ", ".join(repr(name) for name in labels.values())
    if wanted is not None:
        matches = [i for i, name in labels.items() if name.casefold() == wanted.casefold()]
        if len(matches) != 1:
            raise PermanentError(f"ai_label {wanted!r} is not one label of the model ({listing})")
        return matches[0]
    if len(labels) != 2:
        raise PermanentError(f"the model has {len(labels)} labels ({listing}): set ai_label")
    matches = [i for i, name in labels.items() if AI_LABEL_WORDS & set(_WORD.findall(name.lower()))]
    if len(matches) != 1:
        raise PermanentError(f"cannot tell which label means AI among {listing}: set ai_label")
    return matches[0]
