"""Every detector kind end to end through the CR path, on tiny models built from configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.conftest import ZERO_SHOT_PROFILES
from tests.utils.factories import detection_task
from tests.utils.processes import ManagedProcess
from tests.utils.waiting import wait_for_phase

pytestmark = pytest.mark.slow

TEXT = "Это первое предложение. The second sentence is in English! A third one ends here."


@pytest.fixture(scope="module")
def zero_shot_worker(
    system_env: dict[str, str], logs_dir: Path, operator: ManagedProcess
) -> Iterator[ManagedProcess]:
    """One worker serving all four zero-shot profiles."""
    assert operator.running
    args = ["-m", "aidetect.cli", "worker"]
    for profile in ZERO_SHOT_PROFILES:
        args += ["--detector", profile]
    proc = ManagedProcess(
        "zero-shot-worker", args, {**system_env, "AIDETECT_WORKER_NAME": "zero-shot"}, logs_dir
    ).start()
    proc.wait_for_log("serving [")
    yield proc
    proc.stop()


@pytest.mark.usefixtures("zero_shot_worker")
@pytest.mark.parametrize("profile", ZERO_SHOT_PROFILES)
def test_kind_scores_a_task_with_sentence_offsets(
    profile: str, namespace: str, custom_api: client.CustomObjectsApi
) -> None:
    name = f"kind-{profile}"
    custom_api.create_namespaced_custom_object(
        "aidetect.io",
        "v1alpha1",
        namespace,
        "detectiontasks",
        detection_task(name, text=TEXT, detector=profile, granularity="sentence"),
    )
    cr = wait_for_phase(custom_api, namespace, name, {"Succeeded", "Failed"}, timeout=90)
    assert cr["status"]["phase"] == "Succeeded", cr["status"]
    result = cr["status"]["result"]
    assert result["detector"] == profile
    assert result["label"] in {"ai", "human"}
    assert "probability" not in result  # no calibration in these profiles: no fake probability
    assert [TEXT[s["start"] : s["end"]] for s in result["sentences"]] == [
        "Это первое предложение.",
        "The second sentence is in English!",
        "A third one ends here.",
    ]
    if profile == "binoculars-tiny":
        # both models are recorded: observer + performer, each with its weights' hash
        observer, performer = result["modelVersion"].split("+")
        assert observer != performer
        assert "@sha256:" in observer and "@sha256:" in performer
