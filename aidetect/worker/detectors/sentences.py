"""A minimal sentence splitter that keeps character offsets into the original string.

Sentence-level results point back into the submitted text, so offsets must be Python string
indices (characters, not bytes or tokens) for any script, Cyrillic included. It lives alone so
that a maintained segmenter (e.g. a language-aware one) can replace it without touching detectors.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Sentence-final punctuation, any closing quotes or brackets after it, then whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")


class Span(NamedTuple):
    """A sentence as `text[start:end]`, with surrounding whitespace excluded."""

    start: int
    end: int


def split_sentences(text: str) -> list[Span]:
    """The sentences of `text`, in order; whitespace-only text has none."""
    spans: list[Span] = []
    cursor = 0
    for boundary in _BOUNDARY.finditer(text):
        _add_trimmed(spans, text, cursor, boundary.end())
        cursor = boundary.end()
    _add_trimmed(spans, text, cursor, len(text))
    return spans


def _add_trimmed(spans: list[Span], text: str, start: int, end: int) -> None:
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return
    stripped_end = start + len(text[start:end].rstrip())
    spans.append(Span(first.start(), stripped_end))
