"""Zero-shot scores equal their published formulas, computed here independently of the detector.

The definitions below take one text at a time, with no padding and no batching: each window is
run alone through the model and the formula is applied with plain torch ops to that window's
own logits. The demo tokenizer has one token per UTF-8 byte, so a sentence's tokens are found
from byte offsets, independently of the detector's offset mapping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from aidetect.core.errors import PermanentError
from aidetect.worker.detectors import load_detector, token_stats
from aidetect.worker.detectors.chunking import split_windows
from aidetect.worker.detectors.zero_shot import ZeroShotDetector
from tests.utils.tiny_models import TINY_MAX_LENGTH, zero_shot_profile

TOLERANCE = 1e-5
WINDOW = TINY_MAX_LENGTH - 2  # <s> and </s> around every window
TEXTS = ["A short one.", "Ok", "A somewhat longer text.", "Мир"]
LONG_TEXT = "This text is far longer than one window of the tiny model. " * 2
SENTENCES = "First sentence here. Second one, longer than the first!  Third?"
CYRILLIC = "Привет, мир. Как дела?  Всё хорошо."

# One predicted position t of a window: (log p(x_t), rank, mu_t, sigma2_t), and the Binoculars
# cross-entropies: every position (the last included) whose input token is not the pad id.
Positions = list[tuple[float, float, float, float]]
PAD_ID = 1  # the tiny tokenizer's <pad>
WINDOW_POSITIONS = TINY_MAX_LENGTH - 1  # Fast-DetectGPT's W: the predicted positions of a window


@dataclass(frozen=True)
class Case:
    kind: str
    metric: str = "perplexity"
    pair: bool = False  # profile.reference_model set to the second model


CASES = {
    "perplexity": Case("perplexity"),
    "log-rank": Case("perplexity", metric="log-rank"),
    "fast-detectgpt-same-model": Case("fast-detectgpt"),
    "fast-detectgpt-reference": Case("fast-detectgpt", pair=True),
    "binoculars": Case("binoculars", pair=True),
}


@pytest.fixture(scope="module")
def models(causal_lm_dirs: tuple[Path, Path]) -> list[PreTrainedModel]:
    return [AutoModelForCausalLM.from_pretrained(path).train(False) for path in causal_lm_dirs]


@pytest.fixture(scope="module")
def detectors(causal_lm_dirs: tuple[Path, Path]) -> dict[str, ZeroShotDetector]:
    first, second = causal_lm_dirs
    loaded: dict[str, ZeroShotDetector] = {}
    for name, case in CASES.items():
        extra = {"reference_model": str(second)} if case.pair else {}
        profile = zero_shot_profile(case.kind, first, metric=case.metric, **extra)
        detector = load_detector(profile)
        assert isinstance(detector, ZeroShotDetector)
        loaded[name] = detector
    return loaded


def logits_alone(model: PreTrainedModel, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits: torch.Tensor = model(input_ids=torch.tensor([ids])).logits
    return logits[0].float()


def framed_windows(text: str, causal_lm_dir: Path) -> list[tuple[list[int], int]]:
    """Each window as the model sees it, with the index of its first content token."""
    tokenizer = AutoTokenizer.from_pretrained(causal_lm_dir)
    ids = list(text.encode())  # one token per byte: ids are bytes shifted into the vocab
    content = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(content) == len(ids)
    out, start = [], 0
    for window in split_windows(content, WINDOW):
        out.append(([tokenizer.bos_token_id, *window, tokenizer.eos_token_id], start))
        start += len(window)
    if len(out) == 1:
        assert out[0][0] == tokenizer(text)["input_ids"]  # the reference code's own call
    return out


def definition(
    case: Case,
    models: list[PreTrainedModel],
    text: str,
    dirs: tuple[Path, Path],
    span: tuple[int, int] | None = None,
) -> float:
    """The kind's formula over the text's windows, each run alone; `span` restricts it to the
    positions predicting the tokens of text[span[0]:span[1]]."""
    first, second = models
    scoring, reference = {
        "perplexity": (first, first),
        "fast-detectgpt": (first, second if case.pair else first),
        "binoculars": (second, first),  # performer scores; observer is the reference
    }[case.kind]
    byte_range = None
    if span is not None:
        byte_range = (len(text[: span[0]].encode()), len(text[: span[1]].encode()))
    positions: Positions = []
    cross: list[float] = []
    for ids, start in framed_windows(text, dirs[0]):
        s_logits, r_logits = logits_alone(scoring, ids), logits_alone(reference, ids)
        for t in range(1, len(ids)):
            content = start + t - 1 if 1 <= t <= len(ids) - 2 else None
            if byte_range and (content is None or not byte_range[0] <= content < byte_range[1]):
                continue
            log_p = torch.log_softmax(s_logits[t - 1], dim=-1)
            q = torch.softmax(r_logits[t - 1], dim=-1)
            mu = float((q * log_p).sum())
            sigma2 = float((q * log_p**2).sum()) - mu**2
            rank = 1 + int((s_logits[t - 1] > s_logits[t - 1, ids[t]]).sum())
            positions.append((float(log_p[ids[t]]), float(rank), mu, sigma2))
            if ids[t - 1] != PAD_ID:
                cross.append(-mu)
        last = len(ids) - 1  # Binoculars' X-PPL also counts the last position of each window
        if span is None and ids[last] != PAD_ID:
            q = torch.softmax(r_logits[last], dim=-1)
            cross.append(-float((q * torch.log_softmax(s_logits[last], dim=-1)).sum()))
    return formula(case, positions, cross)


def formula(case: Case, positions: Positions, cross: list[float]) -> float:
    log_p = torch.tensor([p[0] for p in positions], dtype=torch.float64)
    if case.kind == "perplexity" and case.metric == "log-rank":
        return float(torch.tensor([p[1] for p in positions], dtype=torch.float64).log().mean())
    if case.kind == "perplexity":
        return float(-log_p.mean())
    mu = torch.tensor([p[2] for p in positions], dtype=torch.float64)
    if case.kind == "fast-detectgpt":
        sigma2 = torch.tensor([p[3] for p in positions], dtype=torch.float64)
        z = float((log_p.sum() - mu.sum()) / sigma2.sum().sqrt())
        return z * math.sqrt(min(1.0, WINDOW_POSITIONS / len(positions)))
    x_ppl = sum(cross) / len(cross)
    return float(-log_p.mean()) / x_ppl


Define = Callable[..., float]


@pytest.fixture
def define(models: list[PreTrainedModel], causal_lm_dirs: tuple[Path, Path]) -> Define:
    def apply(case: Case, text: str, span: tuple[int, int] | None = None) -> float:
        return definition(case, models, text, causal_lm_dirs, span)

    return apply


@pytest.mark.parametrize("name", CASES)
def test_padded_mixed_length_batch_equals_the_definition_text_by_text(
    name: str, detectors: dict[str, ZeroShotDetector], define: Define
) -> None:
    detector = detectors[name]
    batched = [score.score for score in detector.score(TEXTS)]
    alone = [detector.score([text])[0].score for text in TEXTS]
    expected = [define(CASES[name], text) for text in TEXTS]
    assert batched == pytest.approx(expected, abs=TOLERANCE)
    assert alone == pytest.approx(expected, abs=TOLERANCE)
    assert len({round(value, 4) for value in batched}) > 1  # the model tells texts apart


@pytest.mark.parametrize("name", CASES)
def test_statistics_in_row_groups_of_one_equal_the_definition(
    name: str,
    detectors: dict[str, ZeroShotDetector],
    define: Define,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A large vocabulary makes the batch's statistics run a few rows at a time: the same numbers
    monkeypatch.setattr(token_stats, "ROW_GROUP_ELEMENTS", 1)
    texts = [*TEXTS, LONG_TEXT]
    scores = [score.score for score in detectors[name].score(texts)]
    assert scores == pytest.approx([define(CASES[name], text) for text in texts], abs=TOLERANCE)


@pytest.mark.parametrize("name", CASES)
def test_sentence_scores_do_not_change_the_document_score(
    name: str, detectors: dict[str, ZeroShotDetector]
) -> None:
    texts = [SENTENCES, CYRILLIC, LONG_TEXT]
    plain = [score.score for score in detectors[name].score(texts)]
    with_sentences = [score.score for score in detectors[name].score(texts, sentences=True)]
    assert with_sentences == plain


@pytest.mark.parametrize("name", CASES)
def test_long_text_is_the_definition_over_all_its_windows(
    name: str, detectors: dict[str, ZeroShotDetector], define: Define
) -> None:
    result = detectors[name].score([LONG_TEXT, "Short."])[0]
    assert result.chunks == len(split_windows(list(LONG_TEXT.encode()), WINDOW)) > 2
    assert result.score == pytest.approx(define(CASES[name], LONG_TEXT), abs=TOLERANCE)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    "text", [SENTENCES, CYRILLIC, LONG_TEXT], ids=["latin", "cyrillic", "long"]
)
def test_sentence_scores_are_the_definition_over_the_sentence_tokens(
    name: str, text: str, detectors: dict[str, ZeroShotDetector], define: Define
) -> None:
    result = detectors[name].score([text], sentences=True)[0]
    assert result.sentences is not None and len(result.sentences) >= 2
    for sentence in result.sentences:
        expected = define(CASES[name], text, (sentence.start, sentence.end))
        assert sentence.score == pytest.approx(expected, abs=TOLERANCE)
        assert sentence.label == detectors[name].profile.label_of(sentence.score)
    assert result.score == pytest.approx(define(CASES[name], text), abs=TOLERANCE)


def test_cyrillic_sentence_offsets_are_characters(detectors: dict[str, ZeroShotDetector]) -> None:
    result = detectors["binoculars"].score([CYRILLIC], sentences=True)[0]
    assert result.sentences is not None
    found = [CYRILLIC[s.start : s.end] for s in result.sentences]
    assert found == ["Привет, мир.", "Как дела?", "Всё хорошо."]


def test_fast_detectgpt_without_reference_runs_one_forward_pass(
    detectors: dict[str, ZeroShotDetector], monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = detectors["fast-detectgpt-same-model"]
    assert detector.statistics.reference is None
    calls: list[int] = []
    model = detector.statistics.scoring.model
    original = model.forward

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counting)
    detector.score(TEXTS[:3])
    assert len(calls) == 1  # one batch, one pass: the reference reuses the scoring logits


def test_two_model_version_names_both_models(detectors: dict[str, ZeroShotDetector]) -> None:
    observer, performer = detectors["binoculars"].model_version.split("+")
    assert observer.startswith("tiny-causal-lm-0@sha256:")
    assert performer.startswith("tiny-causal-lm-1@sha256:")


def test_binoculars_without_performer_is_a_clear_error(causal_lm_dirs: tuple[Path, Path]) -> None:
    with pytest.raises(PermanentError, match="needs reference_model"):
        load_detector(zero_shot_profile("binoculars", causal_lm_dirs[0]))


def test_fast_detectgpt_without_threshold_is_a_clear_error(
    causal_lm_dirs: tuple[Path, Path],
) -> None:
    profile = zero_shot_profile("fast-detectgpt", causal_lm_dirs[0], threshold=None)
    with pytest.raises(PermanentError, match="set `threshold`.*aidetect eval"):
        load_detector(profile)


def test_scores_are_not_probabilities_without_calibration(
    detectors: dict[str, ZeroShotDetector],
) -> None:
    assert all(score.probability is None for score in detectors["binoculars"].score(TEXTS))


def test_calibrated_probability_is_in_unit_interval_and_monotone(
    causal_lm_dirs: tuple[Path, Path],
) -> None:
    calibration = {"method": "platt", "a": 2.0, "b": -1.0}
    profile = zero_shot_profile("fast-detectgpt", causal_lm_dirs[0], calibration=calibration)
    scores = sorted(load_detector(profile).score(TEXTS), key=lambda s: s.score)
    probabilities = [s.probability for s in scores]
    assert all(p is not None and 0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities)  # type: ignore[type-var]


def test_missing_models_with_demo_fallback_run_two_demo_models(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = zero_shot_profile(
        "binoculars", tmp_path / "missing", reference_model="no/such-model", fallback="demo"
    )
    with caplog.at_level("WARNING", logger="aidetect.worker"):
        detector = load_detector(profile, demo_root=tmp_path)
        detector.score(["Demo text."])
    assert (detector.demo, detector.model_version) == (True, "demo-untrained")
    warnings = [r for r in caplog.records if "UNTRAINED DEMO" in r.getMessage()]
    assert len(warnings) == 2  # on load and on the batch
