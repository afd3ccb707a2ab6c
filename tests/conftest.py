"""Session-wide fixtures: the real local services, started once per session through hack/."""

from __future__ import annotations

import os

# No model hub is reachable from tests: fail fast instead of waiting on network timeouts. This
# must happen before anything imports huggingface_hub, which reads it once at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import subprocess  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path

import pytest  # noqa: E402

from tests.utils.services import HACK, REPO_ROOT, LocalServices

# Modules that write statuses by hand: they run before any test starts the session's operator
# (which would admit their CRs and overwrite those statuses), whatever the modules' names.
BEFORE_THE_OPERATOR = ("test_crd_printing.py", "test_kube.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder, so `-m unit` and `-m e2e` select them (a contract test is
    e2e against the real service, unit against the in-memory one); run the modules of
    BEFORE_THE_OPERATOR first."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "e2e" in parts:
            item.add_marker(pytest.mark.e2e)
        elif "contract" in parts and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.unit)  # the in-memory run of a contract test
    items.sort(key=lambda item: Path(str(item.fspath)).name not in BEFORE_THE_OPERATOR)


@pytest.fixture(scope="session")
def kubeconfig(services: LocalServices) -> str:
    """A real kube-apiserver with the DetectionTask CRD and the operator's RBAC applied."""
    path = services.kubeconfig()
    proc = subprocess.run(
        ["bash", str(HACK / "install-crds.sh")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"hack/install-crds.sh failed:\n{proc.stderr}"
    return path


@pytest.fixture(scope="session")
def services() -> Iterator[LocalServices]:
    """The session's local services; each starts on first use and stops at the end."""
    local = LocalServices()
    try:
        yield local
    finally:
        local.stop()
