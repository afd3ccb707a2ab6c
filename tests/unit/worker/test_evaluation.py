"""`aidetect eval` end to end in-process, on a tiny local classifier and a generated JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aidetect.cli import main
from aidetect.core.profiles import load_profiles
from aidetect.worker.detectors.hf_classifier import HfClassifier
from tests.utils.tiny_models import TINY_MAX_LENGTH, gpt2_style_copy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXTS = [f"Sample {i}: a note about {word} number {i * 7}." for i, word in enumerate("abcd" * 10)]


@pytest.fixture
def labelled(tmp_path: Path, classifier: HfClassifier) -> Path:
    """40 texts; the upper half by the tiny model's score is labelled AI, so AUROC is 1."""
    scores = [result.score for result in classifier.score(TEXTS)]
    cut = sorted(scores)[len(scores) // 2]
    path = tmp_path / "labelled.jsonl"
    lines = [
        json.dumps({"text": text, "label": "ai" if score >= cut else "human"})
        for text, score in zip(TEXTS, scores, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def profiles(tmp_path: Path, tiny_classifier_dir: Path) -> Path:
    """A profiles file with the tiny classifier (no threshold) and a second profile."""
    path = tmp_path / "profiles.yaml"
    data = {
        "default": "tiny",
        "profiles": {
            "tiny": {
                "kind": "hf-classifier",
                "model": str(tiny_classifier_dir),
                "aiLabel": "Fake",
                "device": "cpu",
                "batchSize": 4,
                "maxLength": TINY_MAX_LENGTH,
            },
            "other": {"kind": "binoculars", "model": "/models/falcon", "threshold": 0.9},
        },
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["eval", *args]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_eval_reports_every_metric_in_range_and_plots_a_png(
    labelled: Path, profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "roc.png"
    args = ["--detector", "tiny", "--data", str(labelled), "--profiles", str(profiles)]

    report = run_eval(capsys, *args, "--plot", str(plot), "--batch-size", "8")

    assert (report["n"], report["n_ai"], report["n_human"]) == (40, 20, 20)
    assert report["auroc"] == pytest.approx(1.0)
    for key in ("tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "f1_at_threshold", "fpr_at_threshold"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["fpr_at_threshold"] <= 0.05
    for key in ("threshold_at_1pct_fpr", "threshold_at_5pct_fpr", "threshold"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["f1_threshold_source"] == "profile"  # hf-classifier's published 0.5
    assert report["calibration"]["method"] == "platt"
    assert report["calibration"]["a"] > 0
    assert report["calibration"]["targetFpr"] == 0.05
    assert report["demo"] is False
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


def test_write_profile_stores_calibration_and_threshold_and_keeps_other_profiles(
    labelled: Path, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(labelled), "--profiles", str(profiles), "--calibration", "isotonic"]

    report = run_eval(capsys, *args, "--target-fpr", "0.1", "--write-profile")

    loaded = load_profiles(profiles)
    tiny = loaded.resolve("tiny")
    assert tiny.threshold == report["threshold"]
    assert tiny.calibration is not None
    assert (tiny.calibration.method, tiny.calibration.target_fpr) == ("isotonic", 0.1)
    assert loaded.resolve("other").threshold == 0.9
    written = yaml.safe_load(profiles.read_text())["profiles"]["tiny"]
    assert "targetFpr" in written["calibration"] and "aiLabel" in written


def test_a_bad_jsonl_line_is_reported_with_its_line_number(
    tmp_path: Path, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "fine", "label": "ai"}\n\n{"text": "odd", "label": "robot"}\n')

    code = main(["eval", "--data", str(data), "--profiles", str(profiles)])

    assert code == 1
    assert f"{data}:3: label must be" in capsys.readouterr().err


def test_a_text_the_detector_cannot_score_is_left_out_and_reported(
    tmp_path: Path, causal_lm_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # A tokenizer that adds no special tokens, as gpt2's: a one-letter text has nothing to predict
    model = gpt2_style_copy(causal_lm_dirs[0], tmp_path / "gpt2-style")
    profiles = tmp_path / "profiles.yaml"
    lm = {"kind": "perplexity", "model": str(model), "device": "cpu", "threshold": 3.0}
    profiles.write_text(yaml.safe_dump({"default": "ppl", "profiles": {"ppl": lm}}))
    data = tmp_path / "data.jsonl"
    rows = [{"text": t, "label": "ai" if i % 2 else "human"} for i, t in enumerate(TEXTS[:10])]
    rows.insert(3, {"text": "x", "label": "ai"})  # one token: no prediction to score
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = run_eval(capsys, "--data", str(data), "--profiles", str(profiles))
    assert report["unscorable"]["count"] == 1
    assert report["unscorable"]["examples"][0].startswith("line 4: ")
    assert 0.0 <= report["auroc"] <= 1.0
