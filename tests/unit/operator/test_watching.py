"""Admission, finalizing and forgetting through `on_event`, over the in-memory seams."""

from __future__ import annotations

import pytest

from aidetect.core import conditions, k8s
from aidetect.core.states import Phase
from aidetect.operator import watching
from tests.unit.operator.conftest import NS, World, make_world


@pytest.fixture(autouse=True)
def quick_inline_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watching, "INLINE_RETRY_SECONDS", 0.05)


def test_a_kubectl_cr_is_recorded_published_shown_and_finalized(world: World) -> None:
    cr = world.apply({"text": "some text to score"})
    world.event("ADDED", cr)
    task = world.db.get_task(world.uid(cr))
    assert (task.phase, task.reason, task.detector) == (
        Phase.QUEUED,
        conditions.REASON_PUBLISHED,
        "roberta",
    )
    assert [(m.task_id, m.items) for m in world.messages()] == [(world.uid(cr), [0])]
    assert world.status(cr)["phase"] == "Queued"
    now = world.apiserver.task(NS, "t1")
    assert now is not None and now["metadata"]["finalizers"] == [k8s.FINALIZER]
    assert str(world.uid(cr)) in world.admitted


def test_replayed_events_admit_nothing_twice(world: World) -> None:
    cr = world.apply({"text": "some text"}, finalizers=True)
    world.event("ADDED", cr)
    writes = len(world.apiserver.writes())
    world.event("MODIFIED", cr)  # our own status patch comes back: costs nothing
    assert len(world.apiserver.writes()) == writes
    world.admitted = watching.Admitted()  # the operator restarted: kopf lists every CR again
    world.event(None, cr)
    assert len(world.messages()) == 1
    assert [t.to_phase for t in world.db.transitions(world.uid(cr))] == [
        Phase.PENDING,
        Phase.QUEUED,
    ]


def test_a_high_priority_batch_goes_to_the_high_queue_in_parts(world: World) -> None:
    texts = [f"text number {i}" for i in range(40)]
    cr = world.apply({"texts": texts, "priority": 7, "detector": "binoculars"}, finalizers=True)
    world.event("ADDED", cr)
    assert world.messages("binoculars", high=False) == []
    parts = [m.items for m in world.messages("binoculars", high=True)]
    assert [len(p) for p in parts] == [16, 16, 8]
    assert sorted(i for p in parts for i in p) == list(range(40))
    assert world.db.texts(world.uid(cr)) == texts


@pytest.mark.parametrize(
    ("spec", "reason", "says"),
    [
        ({"text": "x", "detector": "nope"}, conditions.REASON_UNKNOWN_DETECTOR, "nope"),
        (
            {"textFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}},
            conditions.REASON_INVALID_INPUT,
            "missing",
        ),
        ({}, conditions.REASON_INVALID_INPUT, "exactly one of text"),
    ],
    ids=["unknown-detector", "missing-configmap", "no-input"],
)
def test_a_task_that_cannot_run_fails_at_once_with_its_reason_and_an_event(
    world: World, spec: dict[str, object], reason: str, says: str
) -> None:
    cr = world.apply(spec, finalizers=True)
    world.event("ADDED", cr)
    task = world.db.get_task(world.uid(cr))
    assert (task.phase, task.reason) == (Phase.FAILED, reason)
    assert says in (task.message or "")
    assert world.messages() == []
    assert world.status(cr)["phase"] == "Failed"
    assert [(e["type"], e["reason"]) for e in world.apiserver.events] == [("Warning", reason)]


def test_texts_from_a_configmap_are_read_line_by_line(world: World) -> None:
    world.apiserver.configmaps[(NS, "essays")] = {"k": "first essay\n\nsecond essay\n"}
    cr = world.apply(
        {"textFrom": {"configMapKeyRef": {"name": "essays", "key": "k"}, "format": "lines"}}
    )
    world.event("ADDED", cr)
    assert world.db.texts(world.uid(cr)) == ["first essay", "second essay"]
    assert [m.items for m in world.messages()] == [[0, 1]]


def test_a_database_outage_leaves_the_cr_to_the_next_event(world: World) -> None:
    cr = world.apply({"text": "some text"}, finalizers=True)
    world.db.up = False
    world.event("ADDED", cr)  # retried in-line, then left for later
    assert str(world.uid(cr)) not in world.admitted
    world.db.up = True
    world.event("MODIFIED", cr)
    assert world.db.get_task(world.uid(cr)).phase == Phase.QUEUED
    assert len(world.messages()) == 1


def test_a_broker_outage_keeps_the_task_pending_until_it_is_published(world: World) -> None:
    cr = world.apply({"text": "some text"}, finalizers=True)
    world.rabbit.up = False
    world.event("ADDED", cr)
    assert world.db.get_task(world.uid(cr)).phase == Phase.PENDING
    world.rabbit.up = True
    world.event("MODIFIED", cr)
    assert world.db.get_task(world.uid(cr)).phase == Phase.QUEUED
    assert len(world.messages()) == 1


def test_deleting_an_open_task_cancels_it_and_lets_the_cr_go(world: World) -> None:
    cr = world.apply({"text": "some text"}, finalizers=True)
    world.event("ADDED", cr)
    assert k8s.delete_task(world.deps.kube, NS, "t1")
    world.event("MODIFIED", cr)  # deletionTimestamp set, our finalizer still on
    task = world.db.get_task(world.uid(cr))
    assert (task.phase, task.reason) == (Phase.CANCELLED, conditions.REASON_CANCELLED)
    assert world.apiserver.task(NS, "t1") is None
    world.event("DELETED", cr)
    assert str(world.uid(cr)) not in world.admitted


def test_a_cr_that_went_without_our_finalizer_is_cancelled_when_it_is_gone() -> None:
    world = make_world()
    cr = world.apply({"text": "some text"}, finalizers=True)
    world.event("ADDED", cr)
    del world.apiserver.objects[(NS, "t1")]  # force-removed: kubectl patch ... finalizers=null
    world.event("DELETED", cr)
    assert world.db.get_task(world.uid(cr)).phase == Phase.CANCELLED


def test_deleting_an_ended_task_keeps_its_phase(world: World) -> None:
    cr = world.apply({"text": "x", "detector": "nope"}, finalizers=True)
    world.event("ADDED", cr)
    k8s.delete_task(world.deps.kube, NS, "t1")
    world.event("MODIFIED", cr)
    assert world.db.get_task(world.uid(cr)).phase == Phase.FAILED
    assert world.apiserver.task(NS, "t1") is None
