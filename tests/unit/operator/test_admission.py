"""Admission maps every error but a transient one to a Failed task (InvalidInput), never retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from aidetect.core.errors import DatabaseUnavailable, InvalidInput
from aidetect.core.states import Phase
from aidetect.operator import admission
from tests.unit.api.fakes import task_record


class FakeDb:
    def __init__(self) -> None:
        self.inserted: list[dict[str, Any]] = []
        self.transitions: list[tuple[UUID, Phase, str, str]] = []

    def insert_task(self, **row: Any) -> bool:
        self.inserted.append(row)
        return True

    def transition(self, task_id: UUID, phase: Phase, reason: str, message: str) -> bool:
        self.transitions.append((task_id, phase, reason, message))
        return True


class FakeProfiles:
    default = "roberta-openai"


class FakeDeps:
    def __init__(self) -> None:
        self.db = FakeDb()
        self.profiles = FakeProfiles()


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> FakeDeps:
    fake = FakeDeps()
    monkeypatch.setattr(
        admission, "sync_task", lambda _deps, task_id: task_record(Phase.FAILED, id=task_id)
    )
    monkeypatch.setattr(admission, "announce_end", lambda _deps, _record: None)
    return fake


def _admit(deps: FakeDeps, uid: str) -> Phase:
    cr = admission.CrIdentity(
        uid=UUID(uid), namespace="team-a", name="t", generation=1, created_at=datetime.now(UTC)
    )
    # Only db, profiles and the patched syncs are used.
    return admission.admit_or_reject(deps, cr, {"text": "x"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (ValueError("A string literal cannot contain NUL (0x00) characters."), "ValueError: A"),
        (InvalidInput("ConfigMap team-a/cm not found"), "ConfigMap team-a/cm not found"),
        (KeyError("creationTimestamp"), "KeyError: 'creationTimestamp'"),
    ],
    ids=["unforeseen", "permanent", "bug"],
)
def test_an_admission_error_fails_the_task_as_invalid_input(
    deps: FakeDeps, monkeypatch: pytest.MonkeyPatch, error: Exception, why: str
) -> None:
    def admit(*_: Any, **__: Any) -> Phase:
        raise error

    monkeypatch.setattr(admission, "admit", admit)
    uid = str(uuid4())
    assert _admit(deps, uid) == Phase.FAILED
    assert [r["task_id"] for r in deps.db.inserted] == [UUID(uid)]
    assert deps.db.inserted[0]["texts"] == []
    ((task_id, phase, reason, message),) = deps.db.transitions
    assert (task_id, phase, reason) == (UUID(uid), Phase.FAILED, "InvalidInput")
    assert why in message


def test_a_transient_error_is_raised_for_kopf_to_retry(
    deps: FakeDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    def admit(*_: Any, **__: Any) -> Phase:
        raise DatabaseUnavailable("Postgres is restarting")

    monkeypatch.setattr(admission, "admit", admit)
    with pytest.raises(DatabaseUnavailable):
        _admit(deps, str(uuid4()))
    assert deps.db.transitions == []
