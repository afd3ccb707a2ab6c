"""Loading: the registry, device and dtype rules, model versions and the demo fallback."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from aidetect.core.errors import PermanentError
from aidetect.worker.detectors import base, load_detector, loading
from aidetect.worker.detectors.demo import DEMO_MODEL_VERSION
from aidetect.worker.detectors.loading import ModelUnavailable
from tests.utils.tiny_models import classifier_profile

MISSING_HUB_ID = "aidetect-tests/no-such-detector"


def test_load_detector_serves_hf_classifier(tiny_classifier_dir: Path) -> None:
    detector = load_detector(classifier_profile(tiny_classifier_dir))
    assert (detector.device, detector.demo) == ("cpu", False)


def test_unimplemented_kind_is_a_permanent_error(
    tiny_classifier_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every kind is implemented now: pretend this worker was built without binoculars.
    monkeypatch.delitem(base._REGISTRY, "binoculars")
    profile = classifier_profile(tiny_classifier_dir, kind="binoculars")
    with pytest.raises(PermanentError, match="kind 'binoculars'.*not implement"):
        load_detector(profile)


def test_missing_model_with_demo_fallback_runs_the_labelled_demo(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = classifier_profile(MISSING_HUB_ID, fallback="demo", ai_label="AI")
    with caplog.at_level(logging.WARNING, logger="aidetect.worker"):
        detector = load_detector(profile, demo_root=tmp_path)
    assert (detector.demo, detector.model_version) == (True, DEMO_MODEL_VERSION)
    assert any("UNTRAINED DEMO" in r.getMessage() for r in caplog.records)


def test_demo_detector_warns_on_every_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = classifier_profile(MISSING_HUB_ID, fallback="demo")
    detector = load_detector(profile, demo_root=tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aidetect.worker"):
        detector.score(["one"])
        detector.score(["two"])
    assert sum("UNTRAINED DEMO" in r.getMessage() for r in caplog.records) == 2


def test_missing_model_without_fallback_fails_clearly(tmp_path: Path) -> None:
    profile = classifier_profile(MISSING_HUB_ID, fallback="none")
    with pytest.raises(ModelUnavailable, match=f"(?s){MISSING_HUB_ID}.*`fallback: demo`"):
        load_detector(profile, demo_root=tmp_path)
    assert not any(tmp_path.iterdir())  # no demo model was built


def test_local_model_version_is_dirname_and_weights_hash(tiny_classifier_dir: Path) -> None:
    detector = load_detector(classifier_profile(tiny_classifier_dir))
    assert detector.model_version.startswith(f"{tiny_classifier_dir.name}@sha256:")
    assert len(detector.model_version.rsplit(":", 1)[1]) == loading.DIGEST_CHARS


def test_local_model_version_changes_with_the_weights(
    tiny_classifier_dir: Path, tmp_path: Path
) -> None:
    # Given a copy of the checkpoint whose weights differ in one value
    changed = tmp_path / tiny_classifier_dir.name
    shutil.copytree(tiny_classifier_dir, changed)
    model = AutoModelForSequenceClassification.from_pretrained(changed)
    with torch.no_grad():
        model.classifier.out_proj.bias[0] += 1.0
    model.save_pretrained(changed)
    # Then the two versions share the name and differ in the hash
    before = load_detector(classifier_profile(tiny_classifier_dir)).model_version
    after = load_detector(classifier_profile(changed)).model_version
    assert before.split("@")[0] == after.split("@")[0]
    assert before != after


def test_hub_model_version_is_the_cached_commit(
    tiny_classifier_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a hub cache holding the checkpoint at a commit that `main` points to
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--aidetect-tests--tiny"
    shutil.copytree(tiny_classifier_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    # When it is loaded by hub id with no revision pinned
    detector = load_detector(classifier_profile("aidetect-tests/tiny"))
    # Then the version names the commit
    assert detector.model_version == f"aidetect-tests/tiny@{commit}"


def test_auto_device_is_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert loading.pick_device("auto") == "cpu"


def test_cuda_without_a_gpu_is_a_permanent_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PermanentError, match="no CUDA device"):
        loading.pick_device("cuda")


@pytest.mark.parametrize(
    ("device", "bf16", "expected"),
    [("cpu", True, torch.float32), ("cuda", True, torch.bfloat16), ("cuda", False, torch.float16)],
)
def test_auto_dtype_follows_the_device(
    device: str, bf16: bool, expected: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    assert loading.pick_dtype("auto", device) == expected


def test_explicit_dtype_is_kept() -> None:
    assert loading.pick_dtype("float16", "cpu") == torch.float16
