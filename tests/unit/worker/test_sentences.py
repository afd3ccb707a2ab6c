"""The sentence splitter: offsets are character indices into the original string."""

from __future__ import annotations

from aidetect.worker.detectors.sentences import language_of, split_sentences


def pieces(text: str) -> list[str]:
    return [text[span.start : span.end] for span in split_sentences(text)]


def test_cyrillic_offsets_are_characters_of_the_original_string() -> None:
    text = "Привет, мир. Как дела?  Всё хорошо… Да!"
    assert pieces(text) == [
        "Привет, мир.",
        "Как дела?",
        "Всё хорошо… Да!",
    ]  # sentencex: … does not end one


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert pieces('He said "stop." Then left.') == ['He said "stop."', "Then left."]


def test_text_without_final_punctuation_is_one_trimmed_sentence() -> None:
    text = "  no punctuation here \n"
    assert pieces(text) == ["no punctuation here"]


def test_punctuation_inside_a_word_does_not_split() -> None:
    assert pieces("Version 3.11 is out. Yes.") == ["Version 3.11 is out.", "Yes."]


def test_whitespace_only_text_has_no_sentences() -> None:
    assert split_sentences(" \n\t ") == []


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert pieces("Mr. Smith went home. He slept.") == ["Mr. Smith went home.", "He slept."]


def test_mostly_cyrillic_text_is_segmented_as_russian() -> None:
    assert language_of("Это текст про GPU.") == "ru"
    assert language_of("A text about ГОСТ.") == "en"
