"""Sentence spans with character offsets into the original string, from `sentencex`.

Sentence-level results point back into the submitted text, so offsets must be Python string
indices (characters, not bytes or tokens) for any script, Cyrillic included. Segmentation is
left to sentencex, a maintained, language-aware segmenter (abbreviations such as "Mr." do not
end a sentence); this module only picks the language and turns its segments, which
concatenate back to the text, into trimmed spans.
"""

from __future__ import annotations

from typing import NamedTuple

from sentencex import segment


class Span(NamedTuple):
    """A sentence as `text[start:end]`, with surrounding whitespace excluded."""

    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """The sentences of `text`, in order; whitespace-only text has none."""
    spans: list[Span] = []
    cursor = 0
    for piece in segment(language_of(text), text):
        start = text.find(piece, cursor)  # == cursor: segments concatenate back to the text
        if start < 0:
            raise ValueError(f"sentencex returned a segment not found in the text: {piece!r}")
        cursor = start + len(piece)
        stripped = piece.strip()
        if stripped:
            first = start + (len(piece) - len(piece.lstrip()))
            spans.append(Span(first, first + len(stripped)))
    return spans


def language_of(text: str) -> str:
    """ "ru" when most letters are Cyrillic, else "en": the two languages aidetect targets."""
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyrillic * 2 > len(letters) else "en"
