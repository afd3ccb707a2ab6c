"""The `aidetect` console script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aidetect import __version__
from aidetect.cli import main, serving
from aidetect.core import k8s
from aidetect.core.config import Settings, WorkerSettings
from aidetect.core.errors import FieldCause, KubeRefused


def test_version_command_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"aidetect {__version__}"


def test_console_script_is_installed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aidetect.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "usage: aidetect" in proc.stdout


def test_worker_detector_flags_replace_the_profiles_in_a_copy_of_the_settings() -> None:
    settings = Settings(worker=WorkerSettings(detectors=["configured"]))
    served = serving(settings, ["a", "b"])
    assert served.worker.detectors == ["a", "b"]
    assert settings.worker.detectors == ["configured"]  # the cached settings stay as read
    assert serving(settings, None) is settings


def test_a_refused_submit_says_why_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object, **__: object) -> object:
        raise KubeRefused(
            "create DetectionTask",
            status=422,
            reason="Invalid",
            message="DetectionTask.aidetect.io is invalid",
            causes=(FieldCause("spec.priority", "should be less than or equal to 9"),),
        )

    monkeypatch.setattr(k8s, "create_task", refuse)
    monkeypatch.setattr(k8s, "api_client", lambda _kubeconfig: None)
    assert main(["submit", "some text to score"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aidetect submit: error: create DetectionTask: 422 Invalid")
    assert "spec.priority: should be less than or equal to 9" in err
    assert "Traceback" not in err
