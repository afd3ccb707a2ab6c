"""Detector profiles from YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aidetect.core.errors import UnknownDetector
from aidetect.core.profiles import BUILTIN_PROFILES, load_profiles


def test_without_a_file_the_default_names_a_real_public_checkpoint() -> None:
    profiles = load_profiles(None)
    assert profiles is BUILTIN_PROFILES
    assert profiles.resolve(None).model == "openai-community/roberta-base-openai-detector"


def test_yaml_profiles_take_camel_case_and_name_themselves(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "default: a\nprofiles:\n"
        "  a: {kind: hf-classifier, model: /m, aiLabel: Fake, batchSize: 4}\n"
    )
    profile = load_profiles(path).resolve("")
    assert (profile.name, profile.ai_label, profile.batch_size) == ("a", "Fake", 4)


def test_unknown_profile_names_the_configured_ones() -> None:
    with pytest.raises(
        UnknownDetector, match="no detector profile 'nope' \\(configured: roberta-openai\\)"
    ):
        BUILTIN_PROFILES.resolve("nope")


def test_a_default_that_is_not_a_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("default: b\nprofiles:\n  a: {kind: hf-classifier, model: /m}\n")
    with pytest.raises(ValidationError, match="default profile 'b'"):
        load_profiles(path)


def test_a_typo_in_a_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("default: a\nprofiles:\n  a: {kind: hf-classifier, model: /m, treshold: 0.3}\n")
    with pytest.raises(ValidationError, match="treshold"):
        load_profiles(path)
