"""What the slim image installs, checked without Docker: its build replayed into a fresh venv.

The instructions that fill the slim image's venv run here, in order: those of the stages between
`runtime` and `builder` (WORKDIR, COPY, ENV and RUN: the dependencies, then the package's wheel),
then the slim target's own install of that wheel. `/opt/venv`, `/dist` and the build directory move
under tmp_path and `python3.11` is this interpreter; `--no-cache-dir` is dropped so that the local
pip cache serves the downloads. Any change to how the Dockerfile installs packages changes what
this test installs, so the two cannot drift apart. `make cluster-test` runs the real images.

The worker target is not replayed: its extra is torch and the CUDA libraries, several GB.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.utils.dockerfile import REPO_ROOT, Instruction, parse_dockerfile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

VENV_IN_IMAGE = "/opt/venv"
WHEELS_IN_IMAGE = "/dist"


def expand(value: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` as Docker expands them in ENV, WORKDIR and COPY."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


class BuilderReplay:
    """Runs Dockerfile instructions on this machine: the build dir and the venv under `root`."""

    def __init__(self, root: Path) -> None:
        self.venv = root / "venv"
        self.wheels = root / "dist"
        self.workdir = root / "build"
        self.workdir.mkdir()
        shims = root / "shims"
        shims.mkdir()
        # The image's python3.11 is this test's interpreter: the same Python, as the task asks.
        shim = shims / "python3.11"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
        # Nothing of this checkout may be visible: pip would take the repo's own aidetect (on
        # PYTHONPATH, as hack/lib.sh sets it) for an installed one and skip the wheel.
        self.env.pop("VIRTUAL_ENV", None)
        self.env.pop("PYTHONPATH", None)

    def localise(self, text: str) -> str:
        text = re.sub(rf"(?<![\w/]){WHEELS_IN_IMAGE}\b", str(self.wheels), text)
        return text.replace(VENV_IN_IMAGE, str(self.venv))

    def apply(self, ins: Instruction) -> None:
        args = self.localise(ins.args)
        if ins.keyword == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                self.env[name] = expand(value, self.env)
        elif ins.keyword == "WORKDIR":
            # An absolute WORKDIR in the image is a folder of the build dir here.
            self.workdir = self.workdir / expand(args, self.env).lstrip("/")
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY" and args.startswith("--from="):
            # Between stages: the same localised path on both sides, so already in place here.
            _, source, dest = shlex.split(args)
            assert source == dest and Path(source).exists(), f"nothing replayed at {source}"
        elif ins.keyword == "COPY":
            *sources, dest = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), f"COPY from context only: {args}"
            for source in sources:
                self.copy(REPO_ROOT / source, self.workdir / dest)
        elif ins.keyword == "RUN":
            command = args.replace("--no-cache-dir", "")
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, f"RUN {command}\n{proc.stdout}\n{proc.stderr}"
        else:
            assert ins.keyword in {"ARG", "LABEL"}, f"the replay cannot run {ins.keyword}"

    @staticmethod
    def copy(source: Path, dest: Path) -> None:
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / source.name)


@pytest.fixture(scope="module")
def slim_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with exactly what the slim target installs into /opt/venv."""
    dockerfile = parse_dockerfile()
    slim_copies = [i.args for i in dockerfile.stages["slim"].instructions if i.keyword == "COPY"]
    assert slim_copies == [f"--from=builder {WHEELS_IN_IMAGE} {WHEELS_IN_IMAGE}"]
    assert dockerfile.stages["slim"].parent == "deps"

    chain = dockerfile.chain("builder")
    names = [stage.name for stage in chain]
    # The runtime stage creates the image's user: that is for the image, not for this machine.
    runtime_stages = chain[: names.index("runtime") + 1]
    builder_stages = chain[names.index("runtime") + 1 :]
    # Only ENV may come from the runtime stages: installing anything there would escape this test
    # (and end up in the runtime image outside the venv).
    for stage in runtime_stages:
        assert "pip" not in " ".join(i.args for i in stage.instructions), stage.name

    replay = BuilderReplay(tmp_path_factory.mktemp("slim-image"))
    for stage in runtime_stages:
        for ins in stage.instructions:
            if ins.keyword == "ENV":
                replay.apply(ins)
    for stage in builder_stages:
        for ins in stage.instructions:
            replay.apply(ins)
    for ins in dockerfile.stages["slim"].instructions:
        if ins.keyword in {"COPY", "RUN"}:
            replay.apply(ins)
    assert (replay.venv / "bin" / "aidetect").exists()
    return replay.venv


def run_in(venv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=venv.parent,  # not the repo: its aidetect/ folder would shadow the installed package
    )


def test_slim_help_lists_the_component_commands(slim_venv: Path) -> None:
    proc = run_in(slim_venv, "aidetect", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("operator", "api", "worker"):
        assert re.search(rf"^\s+{command}\s", proc.stdout, re.MULTILINE), proc.stdout


def test_slim_version_command_prints_the_package_version(slim_venv: Path) -> None:
    proc = run_in(slim_venv, "aidetect", "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("aidetect ")


def test_slim_venv_has_no_torch(slim_venv: Path) -> None:
    script = (
        "import importlib.util, sys; print(sys.prefix); print(importlib.util.find_spec('torch'))"
    )
    proc = run_in(slim_venv, "python", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(slim_venv), "None"]


def test_slim_venv_imports_the_operator_and_the_api(slim_venv: Path) -> None:
    proc = run_in(slim_venv, "python", "-c", "import aidetect.operator.main, aidetect.api.main")
    assert proc.returncode == 0, proc.stderr


def test_slim_venv_dependencies_are_consistent(slim_venv: Path) -> None:
    proc = run_in(slim_venv, "python", "-m", "pip", "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
