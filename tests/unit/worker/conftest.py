"""Worker test fixtures: no model hub, and one tiny classifier built per session."""

from __future__ import annotations

import os

# Set before transformers and huggingface_hub are imported: they read these once, at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from aidetect.worker.detectors.hf_classifier import HfClassifier  # noqa: E402
from tests.utils.tiny_models import classifier_profile, tiny_classifier  # noqa: E402


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def classifier(tiny_classifier_dir: Path) -> HfClassifier:
    return HfClassifier.load(classifier_profile(tiny_classifier_dir))
