"""What a text to score must be: not blank, and storable in Postgres. One rule for every entry.

The CRD (`TEXT_PATTERN`, checked by the apiserver's RE2), the API's request model and the
operator's `textFrom` reader all apply the same two rules:

- **Blank** means no visible character: only Unicode separators (`Z*`), control characters
  (`Cc`, which holds tab and newline), format characters (`Cf`: zero-width space, joiners, BOM)
  and the Hangul fillers that render as nothing. Such a text is refused, not scored.
- **Storable** means Postgres `text` can hold it: no NUL character (U+0000), and no lone UTF-16
  surrogate (JSON's `"\\ud800"`, which Python's json accepts but UTF-8 cannot encode).
"""

from __future__ import annotations

import unicodedata

# Letters by category that render as nothing (Hangul fillers).
INVISIBLE_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})

# The same two rules in RE2 syntax, for the CRD's `pattern`: at least one visible character,
# and no NUL anywhere. (A lone surrogate cannot reach the apiserver: Go's JSON decoder turns it
# into U+FFFD.) A unit test keeps this equal to the CRD file; an e2e test runs both on one corpus.
TEXT_PATTERN = r"^[^\x00]*[^\p{Z}\p{Cc}\p{Cf}\x{115F}\x{1160}\x{3164}\x{FFA0}][^\x00]*$"


def is_blank_char(char: str) -> bool:
    return char in INVISIBLE_FILLERS or unicodedata.category(char) in BLANK_CATEGORIES


def is_blank(text: str) -> bool:
    """True if `text` has no visible character (see the module docstring)."""
    return all(is_blank_char(c) for c in text)  # stops at the first visible one


def storage_problem(text: str) -> str | None:
    """Why Postgres cannot store `text` (a sentence), or None when it can."""
    if "\x00" in text:
        return f"contains a NUL character (U+0000) at offset {text.index(chr(0))}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"contains a lone surrogate (U+{ord(text[e.start]):04X}) at offset {e.start}"
    return None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be scored: blank or not storable; None when it is fine."""
    if is_blank(text):
        return "is empty or blank (only whitespace, zero-width or control characters)"
    return storage_problem(text)
