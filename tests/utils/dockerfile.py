"""A small Dockerfile parser for tests: stages, their instructions, and what a target inherits.

Used by tests/unit/test_dockerfile.py (structure) and tests/e2e/test_image_packages.py, which
replays the slim builder's instructions into a fresh venv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
RUNTIME_TARGETS = ("slim", "worker")


@dataclass
class Instruction:
    keyword: str  # upper case: RUN, COPY, ...
    args: str  # continuation lines joined with a space


@dataclass
class Stage:
    name: str
    parent: str  # the FROM image or stage, as written
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    global_args: dict[str, str]  # ARGs before the first FROM, with their defaults
    stages: dict[str, Stage]

    def chain(self, target: str) -> list[Stage]:
        """`target` and the stages it is built FROM, oldest first; `base-${BASE}` is the cpu one."""
        chain: list[Stage] = []
        name = target
        while name in self.stages:
            stage = self.stages[name]
            chain.insert(0, stage)
            name = stage.parent.replace("${BASE}", self.global_args.get("BASE", ""))
        return chain

    def effective(self, target: str, keyword: str) -> str | None:
        """The last `keyword` instruction that `target` has, its own or inherited."""
        found = None
        for stage in self.chain(target):
            for ins in stage.instructions:
                if ins.keyword == keyword:
                    found = ins.args
        return found


def logical_lines(text: str) -> list[str]:
    """Instructions with their `\\` continuations joined; comments and blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)\s+AS\s+(\S+)", args, re.IGNORECASE)
            assert match, f"every stage is named: FROM {args}"
            stage = Stage(name=match.group(2), parent=match.group(1))
            stages[stage.name] = stage
        elif stage is None:
            assert keyword == "ARG", f"only ARG may come before the first FROM: {line}"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stage.instructions.append(Instruction(keyword, args))
    return Dockerfile(global_args, stages)
