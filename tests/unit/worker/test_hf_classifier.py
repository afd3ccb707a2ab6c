"""The hf-classifier detector on a tiny local checkpoint: scores, batching, windows, sentences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from aidetect.core.errors import PermanentError
from aidetect.worker.detectors.chunking import split_windows
from aidetect.worker.detectors.hf_classifier import HfClassifier, resolve_ai_index
from tests.utils.tiny_models import TINY_MAX_LENGTH, classifier_profile

TEXTS = [
    "A short one.",
    "A somewhat longer text that still fits.",
    "Ok",
    "Мир",
]
LONG_TEXT = "Это длинный текст, который не помещается в одно окно модели. " * 2


def ai_probability_alone(detector: HfClassifier, window: Sequence[int]) -> float:
    """The AI probability of one window, run on its own: no padding, no batching code."""
    input_ids = torch.tensor([detector.frame.wrap(window)])
    with torch.inference_mode():
        logits = detector.model(input_ids=input_ids).logits
    return float(logits.softmax(dim=-1)[0, detector.ai_index])


def test_scores_are_uncalibrated_values_in_unit_interval(classifier: HfClassifier) -> None:
    for result in classifier.score(TEXTS):
        assert 0.0 <= result.score <= 1.0
        assert result.probability is None
        assert result.threshold == classifier.profile.decision_threshold()
        assert result.label == ("ai" if result.score >= result.threshold else "human")


def test_scores_are_deterministic(classifier: HfClassifier) -> None:
    assert classifier.score(TEXTS) == classifier.score(TEXTS)


def test_padded_batch_scores_like_one_text_at_a_time(classifier: HfClassifier) -> None:
    batched = [result.score for result in classifier.score(TEXTS)]
    alone = [classifier.score([text])[0].score for text in TEXTS]
    assert batched == pytest.approx(alone, abs=1e-5)
    assert len({round(score, 4) for score in batched}) > 1  # the model tells texts apart


def test_long_text_is_the_token_weighted_mean_of_its_windows(classifier: HfClassifier) -> None:
    ids = classifier.tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]
    windows = split_windows(ids, TINY_MAX_LENGTH - 2)
    expected = sum(ai_probability_alone(classifier, w) * len(w) for w in windows) / len(ids)

    result = classifier.score([LONG_TEXT])[0]

    assert result.chunks == len(windows) > 1
    assert result.score == pytest.approx(expected, abs=1e-5)


def test_long_text_is_never_truncated(
    classifier: HfClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spy on the windows that reach the model
    seen: list[list[int]] = []
    original = classifier.score_windows

    def spy(windows: Sequence[Sequence[int]]) -> list[float]:
        seen.extend(list(w) for w in windows)
        return original(windows)

    monkeypatch.setattr(classifier, "score_windows", spy)
    # When a text far longer than one window is scored
    result = classifier.score([LONG_TEXT])[0]
    # Then every one of its tokens reached the model, none twice
    ids = classifier.tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]
    assert [token for window in seen for token in window] == ids
    assert all(len(window) <= TINY_MAX_LENGTH - 2 for window in seen)
    assert result.chunks == len(seen)


def test_cyrillic_sentence_offsets_point_into_the_text(classifier: HfClassifier) -> None:
    text = "Привет, мир. Как дела?  Всё хорошо… Да!"
    result = classifier.score([text], sentences=True)[0]
    assert result.sentences is not None
    found = [text[s.start : s.end] for s in result.sentences]
    assert found == [
        "Привет, мир.",
        "Как дела?",
        "Всё хорошо… Да!",
    ]  # sentencex: … does not end one


def test_sentence_scores_equal_scoring_each_sentence_alone(classifier: HfClassifier) -> None:
    text = "First sentence here. Second one!"
    result = classifier.score([text], sentences=True)[0]
    assert result.sentences is not None
    alone = [classifier.score([text[s.start : s.end]])[0].score for s in result.sentences]
    assert [s.score for s in result.sentences] == pytest.approx(alone, abs=1e-5)
    assert result.score == pytest.approx(classifier.score([text])[0].score, abs=1e-5)


def test_document_granularity_has_no_sentences(classifier: HfClassifier) -> None:
    assert classifier.score(["One. Two."])[0].sentences is None


def test_no_texts_give_no_scores(classifier: HfClassifier) -> None:
    assert classifier.score([]) == []


def test_unknown_ai_label_is_a_permanent_error(tiny_classifier_dir: Path) -> None:
    with pytest.raises(PermanentError, match="ai_label 'Robot'"):
        HfClassifier.load(classifier_profile(tiny_classifier_dir, ai_label="Robot"))


def test_ai_label_matches_case_insensitively() -> None:
    assert resolve_ai_index({0: "Fake", 1: "Real"}, "FAKE") == 0


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "Fake", 1: "Real"}, 0),
        ({0: "human", 1: "machine-generated"}, 1),
        ({0: "Human", 1: "AI"}, 1),
    ],
)
def test_binary_ai_label_defaults_to_a_name_that_means_ai(
    id2label: dict[int, str], expected: int
) -> None:
    assert resolve_ai_index(id2label, None) == expected


@pytest.mark.parametrize(
    "id2label", [{0: "LABEL_0", 1: "LABEL_1"}, {0: "human", 1: "gpt", 2: "ai"}]
)
def test_ai_label_must_be_set_when_no_name_says_ai(id2label: dict[int, str]) -> None:
    with pytest.raises(PermanentError, match="set ai_label"):
        resolve_ai_index(id2label, None)
