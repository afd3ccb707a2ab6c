"""Where the chart is, the pinned helm binary that hack/build-helm.sh builds, and a runner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.utils.services import REPO_ROOT

CHART = REPO_ROOT / "helm" / "aidetect"


def helm_binary() -> Path:
    """$AIDETECT_BIN/helm-v$HELM_VERSION/helm (hack/versions.env); fails loudly if missing."""
    pinned = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "hack" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    cache = Path(os.environ.get("AIDETECT_CACHE", Path.home() / ".cache" / "aidetect"))
    helm = Path(os.environ.get("AIDETECT_BIN", cache / "bin")) / f"helm-v{pinned['HELM_VERSION']}"
    helm = helm / "helm"
    if not os.access(helm, os.X_OK):
        pytest.fail(f"helm is missing at {helm}: build it with `bash hack/build-helm.sh`")
    return helm


def helm(
    *args: str, check: bool = True, timeout: float = 120, kubeconfig: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the pinned helm; with check, a non-zero exit raises with helm's output."""
    env = {**os.environ, "KUBECONFIG": kubeconfig} if kubeconfig else None
    proc = subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc
