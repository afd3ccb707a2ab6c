"""Run kubectl as a user would, against the test session's cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path


def kubectl(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `kubectl ARGS`; with check, a non-zero exit raises with kubectl's stderr."""
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=False, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def apply_file(path: Path, namespace: str) -> subprocess.CompletedProcess[str]:
    """`kubectl apply -f PATH -n NAMESPACE`."""
    return kubectl("apply", "-f", str(path), "-n", namespace)
