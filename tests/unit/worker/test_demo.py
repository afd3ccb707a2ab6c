"""The demo classifier: built offline, loadable by the real transformers code, reproducible."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from aidetect.worker.detectors.demo import build_demo_classifier
from aidetect.worker.detectors.loading import checkpoint_digest


def test_demo_classifier_reloads_through_from_pretrained(tiny_classifier_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir)
    assert model.config.id2label == {0: "Fake", 1: "Real"}
    assert tokenizer("Да")["input_ids"][0] == tokenizer.bos_token_id
    assert sum(p.numel() for p in model.parameters()) < 100_000


def test_demo_classifier_is_reused_when_present(tiny_classifier_dir: Path) -> None:
    weights = tiny_classifier_dir / "model.safetensors"
    written = weights.stat().st_mtime_ns
    assert build_demo_classifier(tiny_classifier_dir) == tiny_classifier_dir
    assert weights.stat().st_mtime_ns == written


def test_demo_classifier_builds_are_identical(tiny_classifier_dir: Path, tmp_path: Path) -> None:
    again = build_demo_classifier(tmp_path / "again")
    assert checkpoint_digest(again) == checkpoint_digest(tiny_classifier_dir)
