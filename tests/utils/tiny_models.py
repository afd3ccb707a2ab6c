"""Tiny models saved to disk, so tests exercise the real `from_pretrained` loading code offline."""

from __future__ import annotations

from pathlib import Path

from aidetect.core.profiles import DetectorProfile
from aidetect.worker.detectors.demo import build_demo_classifier

TINY_MAX_LENGTH = 16  # 14 content tokens per window, so a "long" text is a few dozen bytes


def tiny_classifier(path: Path) -> Path:
    """A tiny untrained RoBERTa sequence classifier saved under `path` (built once, reused)."""
    return build_demo_classifier(path / "tiny-classifier")


def classifier_profile(model: str | Path, **overrides: object) -> DetectorProfile:
    """An hf-classifier profile for `model` on CPU with a tiny window; `overrides` win."""
    fields: dict[str, object] = {
        "name": "tiny",
        "kind": "hf-classifier",
        "model": str(model),
        "ai_label": "Fake",
        "device": "cpu",
        "batch_size": 4,
        "max_length": TINY_MAX_LENGTH,
    }
    return DetectorProfile.model_validate(fields | overrides)
