"""The resync's per-task error boundary: one task whose repair fails never stops the others."""

from __future__ import annotations

from typing import Any

import pytest

from aidetect.core import k8s
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.models import TaskRecord
from aidetect.operator.resync import REASON_RESYNC_FAILED, TaskBoundary
from tests.unit.api.fakes import task_record


class FakeDeps:
    kube = object()


def boundary() -> TaskBoundary:
    return TaskBoundary(FakeDeps())  # type: ignore[arg-type]  # only deps.kube is used


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(
        k8s, "post_event", lambda _api, ref, **kw: posted.append({"ref": ref, **kw})
    )
    return posted


def test_a_failing_task_is_skipped_and_the_others_are_repaired(
    events: list[dict[str, Any]],
) -> None:
    # Given three tasks, the second of which makes its repair raise something unforeseen
    records = [task_record(n=i) for i in range(3)]
    repaired: list[TaskRecord] = []

    def repair(record: TaskRecord) -> None:
        if record is records[1]:
            raise OverflowError("interval out of range")
        repaired.append(record)

    boundary_ = boundary()
    # When one pass runs
    failed = boundary_.each("enforce_ttls", records, repair)
    # Then the other two were repaired, and the failure is counted and marked on its task
    assert failed == 1
    assert repaired == [records[0], records[2]]
    assert boundary_.errors["enforce_ttls"] == 1
    assert set(boundary_.failing) == {records[1].id}
    assert [(e["ref"].uid, e["reason"], e["type_"]) for e in events] == [
        (str(records[1].id), REASON_RESYNC_FAILED, "Warning")
    ]
    assert "OverflowError: interval out of range" in events[0]["message"]


def test_a_task_that_keeps_failing_is_marked_once_and_forgotten_when_it_recovers(
    events: list[dict[str, Any]],
) -> None:
    record = task_record()
    outcomes = [DatabaseUnavailable("gone"), DatabaseUnavailable("gone"), None]

    def repair(_: TaskRecord) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    boundary_ = boundary()
    for _ in range(3):
        boundary_.each("sync_lagging", [record], repair)
    assert len(events) == 1
    assert boundary_.errors["sync_lagging"] == 2
    assert boundary_.failing == {}


def test_a_failing_event_post_does_not_escape_the_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise DatabaseUnavailable("the apiserver is away too")

    monkeypatch.setattr(k8s, "post_event", refuse)

    def crash(_: TaskRecord) -> None:
        raise ZeroDivisionError("a bug")

    assert boundary().each("x", [task_record()], crash) == 1
