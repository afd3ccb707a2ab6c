"""The user commands of the CLI against the real stack: submit --file, status --sentences, watch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.services import REPO_ROOT

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aidetect.cli", *args],
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.usefixtures("worker")
def test_submit_a_file_with_progress_then_see_its_sentences_and_the_watch_table(
    system_env: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    env = {**system_env, "PATH": "/usr/bin:/bin"}
    texts = tmp_path / "texts.txt"
    texts.write_text("First line. It has two sentences.\n\nПривет, мир. Как дела?\n")
    # When a file is submitted at sentence granularity
    submitted = _cli(
        env, "submit", "--file", str(texts), "--granularity", "sentence", "--namespace", namespace
    )
    # Then it waited with a progress bar and succeeded
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout.splitlines()[0])["taskId"]
    assert "Succeeded" in submitted.stderr and "2/2 100%" in submitted.stderr
    # And status --sentences prints both texts (blank lines skipped), marks only ai sentences
    status = _cli(env, "status", task_id, "--sentences")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert "# text 1:" in out and "# text 2:" in out
    assert "First line." in out and "Привет, мир." in out
    assert "\x1b[" not in out  # not a terminal: brackets only
    unmarked = out.replace("[[", "").replace("]]", "")
    assert "First line. It has two sentences." in unmarked and "Привет, мир. Как дела?" in unmarked
    # And watch shows the task in its table
    watch = _cli(env, "watch", "--namespace", namespace, "--count", "1")
    assert watch.returncode == 0, watch.stderr
    header, *rows = watch.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "PHASE", "SCORE", "PROGRESS", "AGE"]
    assert any(r.split()[:3] == [namespace, r.split()[1], "Succeeded"] and "2/2" in r for r in rows)
