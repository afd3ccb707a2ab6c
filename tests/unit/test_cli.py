"""The `aidetect` console script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aidetect import __version__
from aidetect.cli import main, serving
from aidetect.core.config import Settings, WorkerSettings


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
