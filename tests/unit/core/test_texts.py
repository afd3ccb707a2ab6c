"""The two text rules (blank, storable) that the CRD, the API and the operator share."""

from __future__ import annotations

import pytest
import yaml

from aidetect.core.models import TaskSpec
from aidetect.core.texts import INVISIBLE_FILLERS, TEXT_PATTERN, is_blank, text_problem
from tests.utils.services import REPO_ROOT


@pytest.mark.parametrize(
    "text", ["", " \t\n", "\u200b\u200c\u200d\u2060\ufeff", "\u3164\u115f", "\x01\x7f", "\u2028"]
)
def test_invisible_texts_are_blank(text: str) -> None:
    assert is_blank(text)
    assert text_problem(text) is not None


@pytest.mark.parametrize("text", ["a", "\u200bx", "\u0416", "\U0001f600", "\u0301", "  1  "])
def test_texts_with_a_visible_character_are_not_blank(text: str) -> None:
    assert not is_blank(text)
    assert text_problem(text) is None


def test_nul_is_refused_with_its_offset() -> None:
    assert text_problem("abc\x00def") == "contains a NUL character (U+0000) at offset 3"


def test_lone_surrogate_is_refused_with_its_offset() -> None:
    assert text_problem("ab\ud800") == "contains a lone surrogate (U+D800) at offset 2"


def test_task_spec_refuses_what_postgres_cannot_store() -> None:
    with pytest.raises(ValueError, match=r"texts\[1\] contains a NUL"):
        TaskSpec.model_validate({"texts": ["fine", "a\x00"]})


def test_crd_pattern_is_the_one_core_applies() -> None:
    crd = yaml.safe_load((REPO_ROOT / "crds" / "detectiontasks.aidetect.io.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["text"]["pattern"] == TEXT_PATTERN
    assert spec["properties"]["texts"]["items"]["pattern"] == TEXT_PATTERN
    for filler in INVISIBLE_FILLERS:
        assert f"\\x{{{ord(filler):04X}}}" in TEXT_PATTERN
