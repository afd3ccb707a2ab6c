"""Each resync repair over the in-memory seams: deadlines, TTLs, stuck tasks, drift, orphans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aidetect.core import conditions, k8s
from aidetect.core.memory import MemoryDatabase
from aidetect.core.models import ItemResult
from aidetect.core.states import Phase
from aidetect.operator import resync
from aidetect.operator.resync import TaskBoundary, resync_once
from tests.unit.operator.conftest import NS, World


def admitted(world: World, spec: dict[str, Any], name: str = "t1") -> dict[str, Any]:
    cr = world.apply(spec, name=name, finalizers=True)
    world.event("ADDED", cr)
    return cr


def later(world: World, seconds: float) -> None:
    """Move the database's clock on."""
    moved = world.db.clock() + timedelta(seconds=seconds)
    world.db.clock = lambda: moved


def test_a_task_past_its_deadline_fails_and_says_so(world: World) -> None:
    cr = world.apply({"text": "x", "activeDeadlineSeconds": 60}, finalizers=True)
    cr["metadata"]["creationTimestamp"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    world.event("ADDED", cr)
    assert resync_once(world.deps, drift=False) == 0
    task = world.db.get_task(world.uid(cr))
    assert (task.phase, task.reason) == (Phase.FAILED, conditions.REASON_DEADLINE_EXCEEDED)
    assert world.status(cr)["phase"] == "Failed"
    assert [e["reason"] for e in world.apiserver.events] == [conditions.REASON_DEADLINE_EXCEEDED]


def test_a_finished_task_past_its_ttl_loses_its_cr_and_keeps_its_row(world: World) -> None:
    cr = admitted(world, {"text": "x", "ttlSecondsAfterFinished": 30})
    world.db.transition(world.uid(cr), Phase.FAILED, "Test")
    resync_once(world.deps, drift=False)
    assert world.apiserver.task(NS, "t1") is not None  # not yet
    later(world, 31)
    resync_once(world.deps, drift=False)
    obj = world.apiserver.task(NS, "t1")
    assert obj is not None and obj["metadata"].get("deletionTimestamp")  # the finalizer runs next
    world.event("MODIFIED", cr)
    assert world.apiserver.task(NS, "t1") is None
    task = world.db.get_task(world.uid(cr))
    assert task.phase == Phase.FAILED and task.cr_deleted_at is not None


def test_ttl_deletions_drain_more_than_one_query_a_pass(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MemoryDatabase, "PAST_TTL_LIMIT", 3)
    crs = [admitted(world, {"text": "x", "ttlSecondsAfterFinished": 0}, f"t{i}") for i in range(7)]
    for cr in crs:
        world.db.transition(world.uid(cr), Phase.FAILED, "Test")
    later(world, 1)
    resync.enforce_ttls(world.deps, TaskBoundary(world.deps))
    assert all(world.db.get_task(world.uid(cr)).cr_deleted_at is not None for cr in crs)


def test_a_stuck_running_task_is_requeued_with_its_unscored_items(world: World) -> None:
    cr = admitted(world, {"texts": ["a", "b", "c"]})
    task_id = world.uid(cr)
    world.db.transition(task_id, Phase.RUNNING, conditions.REASON_SCORING)
    item = ItemResult(index=1, score=0.9, label="ai", threshold=0.5, model_version="m@1")
    world.db.record_results(task_id, [item], "w1")
    world.rabbit.queues["aidetect.tasks.roberta.normal"].clear()  # the worker took them and died
    later(world, world.deps.settings.operator.stuck_after_seconds + 1)
    resync_once(world.deps, drift=False)
    task = world.db.get_task(task_id)
    assert (task.phase, task.reason) == (Phase.QUEUED, conditions.REASON_REQUEUED)
    assert [m.items for m in world.messages()] == [[0, 2]]
    assert world.db.stuck(1.0, [NS]) == []  # its clock restarted


def test_drift_a_cr_showing_an_old_status_is_resynced(world: World) -> None:
    cr = admitted(world, {"text": "x"})
    world.apiserver.objects[(NS, "t1")]["status"] = {"phase": "Pending"}  # e.g. restored
    resync_once(world.deps)
    assert world.status(cr)["phase"] == "Queued"


def test_drift_a_cr_whose_creation_was_missed_is_admitted(world: World) -> None:
    cr = world.apply({"text": "x"})  # no event ever came
    resync_once(world.deps)
    assert world.db.get_task(world.uid(cr)).phase == Phase.QUEUED
    assert len(world.messages()) == 1
    obj = world.apiserver.task(NS, "t1")
    assert obj is not None and k8s.FINALIZER in obj["metadata"]["finalizers"]


def test_drift_a_row_whose_cr_vanished_is_cancelled(world: World) -> None:
    cr = admitted(world, {"text": "x"})
    del world.apiserver.objects[(NS, "t1")]
    later(world, 1)  # recorded before the listing
    resync_once(world.deps)
    task = world.db.get_task(world.uid(cr))
    assert task.phase == Phase.CANCELLED and task.cr_deleted_at is not None


def test_a_poison_row_is_skipped_and_marked_and_the_others_repaired(world: World) -> None:
    good = admitted(world, {"text": "x", "activeDeadlineSeconds": 60}, "good")
    bad = admitted(world, {"text": "y", "activeDeadlineSeconds": 60}, "bad")
    transition = world.db.transition

    def poisoned(task_id: Any, *args: Any, **kwargs: Any) -> bool:
        if task_id == world.uid(bad):
            raise OverflowError("interval out of range")
        return transition(task_id, *args, **kwargs)

    world.db.transition = poisoned  # type: ignore[method-assign]
    later(world, 100)
    boundary = TaskBoundary(world.deps)
    assert resync_once(world.deps, boundary, drift=False) == 1
    assert world.db.get_task(world.uid(good)).phase == Phase.FAILED
    assert world.db.get_task(world.uid(bad)).phase == Phase.QUEUED
    assert set(boundary.failing) == {world.uid(bad)}
    reasons = [e["reason"] for e in world.apiserver.events]
    assert resync.REASON_RESYNC_FAILED in reasons


def test_a_pass_goes_on_when_the_apiserver_is_away(world: World) -> None:
    cr = admitted(world, {"text": "x", "activeDeadlineSeconds": 60})
    world.apiserver.down = True
    world.db.clock = lambda: datetime.now(UTC) + timedelta(days=1)
    resync_once(world.deps)
    assert world.db.get_task(world.uid(cr)).phase == Phase.FAILED  # the row moved regardless
    world.apiserver.down = False
    resync_once(world.deps, drift=False)  # and the lagging status follows
    assert world.status(cr)["phase"] == "Failed"
