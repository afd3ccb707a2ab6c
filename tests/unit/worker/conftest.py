"""Worker test fixtures: no model hub; a tiny classifier and two tiny causal LMs per session."""

from __future__ import annotations

import os

# Set before transformers and huggingface_hub are imported: they read these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from aidetect.worker.detectors.hf_classifier import HfClassifier  # noqa: E402
from tests.utils.tiny_models import (  # noqa: E402
    classifier_profile,
    tiny_causal_lm,
    tiny_classifier,
)


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def classifier(tiny_classifier_dir: Path) -> HfClassifier:
    return HfClassifier.load(classifier_profile(tiny_classifier_dir))


@pytest.fixture(scope="session")
def causal_lm_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny causal LMs (seeds 0 and 1) with identical tokenizers."""
    root = tmp_path_factory.mktemp("causal-lms")
    return tiny_causal_lm(root, seed=0), tiny_causal_lm(root, seed=1)
