"""The resync's per-task error boundary: one task whose repair fails never stops the others."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import pytest

from aidetect.core import k8s
from aidetect.core.errors import DatabaseUnavailable, KubeRefused
from aidetect.core.models import TaskRecord
from aidetect.core.states import Phase
from aidetect.operator import resync
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


def test_sync_lagging_leaves_progress_that_the_events_consumer_holds_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given three lagging tasks: a running one whose progress the throttle holds back, a running
    # one it does not hold, and a finished one (an end is never held)
    held, free = task_record(n=1, phase=Phase.RUNNING), task_record(n=2, phase=Phase.RUNNING)
    ended = task_record(n=3, phase=Phase.SUCCEEDED)
    synced: list[UUID] = []
    monkeypatch.setattr(resync, "sync_task", lambda _deps, task_id: synced.append(task_id))

    class Deps:
        kube = object()
        scope = None

        class db:
            @staticmethod
            def unsynced(_scope: object) -> list[TaskRecord]:
                return [held, free, ended]

        @staticmethod
        def progress_held(task_id: UUID) -> bool:
            return task_id in {held.id, ended.id}

    # When the resync's sync_lagging step runs
    resync.sync_lagging(Deps(), TaskBoundary(Deps()))  # type: ignore[arg-type]
    # Then the held one is left to the events consumer
    assert synced == [free.id, ended.id]


def test_the_drift_check_runs_only_when_due(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def drift(_deps: object, _boundary: object) -> int:
        calls.append("drift")
        return 0

    def ttls(_deps: object, _boundary: object) -> int:
        calls.append("ttls")
        return 0

    monkeypatch.setattr(resync, "repair_drift", drift)
    monkeypatch.setattr(resync, "STEPS", (ttls, drift))
    resync.resync_once(FakeDeps(), boundary(), drift=False)  # type: ignore[arg-type]
    assert calls == ["ttls"]
    resync.resync_once(FakeDeps(), boundary(), drift=True)  # type: ignore[arg-type]
    assert calls == ["ttls", "ttls", "drift"]


def test_a_parallel_pass_repairs_the_others_and_counts_the_failure(
    events: list[dict[str, Any]],
) -> None:
    records = [task_record(n=i) for i in range(20)]
    repaired: list[TaskRecord] = []

    def repair(record: TaskRecord) -> None:
        if record is records[7]:
            raise RuntimeError("boom")
        repaired.append(record)

    boundary_ = boundary()
    assert boundary_.each("enforce_ttls", records, repair, parallel=4) == 1
    assert sorted(r.name for r in repaired) == sorted(
        r.name for r in records if r is not records[7]
    )
    assert set(boundary_.failing) == {records[7].id}
    assert len(events) == 1


def test_ttls_are_enforced_query_after_query_until_none_is_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due = [task_record(n=i, phase=Phase.SUCCEEDED) for i in range(7)]
    deleted: list[str] = []

    def delete_task(_api: object, _namespace: str, name: str, **_: object) -> bool:
        deleted.append(name)
        return True

    monkeypatch.setattr(k8s, "delete_task", delete_task)

    class Db:
        PAST_TTL_LIMIT = 3
        queries = 0

        def past_ttl(self, _scope: object) -> list[TaskRecord]:
            self.queries += 1
            remaining = [r for r in due if r.name not in deleted]
            return remaining[: self.PAST_TTL_LIMIT]

        def mark_cr_deleted(self, _task_id: UUID) -> None:
            pass

    class Deps:
        kube = object()
        scope = None
        db = Db()

    deps = Deps()
    assert resync.enforce_ttls(deps, TaskBoundary(deps)) == 0  # type: ignore[arg-type]
    assert sorted(deleted) == sorted(r.name for r in due)
    assert deps.db.queries == 3  # 3 + 3 + 1: the short third query ends the pass


def test_the_drift_check_lists_only_the_operators_namespaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed: list[object] = []

    def iter_tasks(_api: object, namespaces: object = None) -> list[dict[str, Any]]:
        listed.append(namespaces)
        return []

    monkeypatch.setattr(k8s, "iter_tasks", iter_tasks)

    class Deps:
        kube = object()
        scope = ["team-a", "shared"]

        class db:
            @staticmethod
            def live_tasks(*, recorded_before: object, namespaces: object) -> list[TaskRecord]:
                assert namespaces == ["team-a", "shared"]
                return []

    assert resync.repair_drift(Deps(), TaskBoundary(Deps())) == 0  # type: ignore[arg-type]
    assert listed == [["team-a", "shared"]]


def test_a_repair_the_apiserver_refuses_is_a_warning_not_a_traceback(
    events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    record = task_record()

    def refused(_record: TaskRecord) -> None:
        raise KubeRefused("delete DetectionTask", status=403, reason="Forbidden", message="no")

    with caplog.at_level(logging.WARNING, "aidetect.operator.resync"):
        assert boundary().each("enforce_ttls", [record], refused) == 1

    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.WARNING, None)]
    assert "KubeRefused: delete DetectionTask: 403 Forbidden: no" in events[0]["message"]
