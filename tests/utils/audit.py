"""The apiserver's audit log of the test session: the writes made to named DetectionTasks."""

from __future__ import annotations

import json
from pathlib import Path

from aidetect.core import crd
from tests.utils.services import LocalServices, ServiceStartError

WRITES = {"create", "patch", "update", "delete"}


def audit_log(services: LocalServices) -> Path:
    """The session apiserver's audit log (every write, at Metadata level)."""
    path = services.state_dir / "control-plane" / "audit.log"
    if "control-plane.sh" not in services.started or not path.exists():
        raise ServiceStartError("counting writes needs the session's own apiserver and audit log")
    return path


def task_writes(log: Path, names: set[str]) -> dict[str, list[str]]:
    """Per CR name, its finished writes as "<verb> <subresource or object>", in order."""
    seen: dict[str, list[str]] = {n: [] for n in names}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        ref = entry.get("objectRef") or {}
        if ref.get("resource") == crd.PLURAL and ref.get("name") in seen:
            if entry.get("verb") in WRITES and entry.get("stage") == "ResponseComplete":
                seen[ref["name"]].append(f"{entry['verb']} {ref.get('subresource') or 'object'}")
    return seen
