"""The `aidetect` console script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aidetect import __version__
from aidetect.cli import main


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
