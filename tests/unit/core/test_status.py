"""The CR status built from the database row: conditions replayed from the transition log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from aidetect.core.models import Progress, TaskRecord, TaskResult, Transition
from aidetect.core.states import Phase
from aidetect.core.status import build_status, conditions_from

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def _log(*steps: tuple[Phase | None, Phase, str]) -> list[Transition]:
    return [
        Transition(from_phase=a, to_phase=b, reason=r, at=T0 + timedelta(seconds=i))
        for i, (a, b, r) in enumerate(steps)
    ]


def test_succeeded_task_has_queued_and_running_false_and_succeeded_true() -> None:
    log = _log(
        (None, Phase.PENDING, "Recorded"),
        (Phase.PENDING, Phase.QUEUED, "Published"),
        (Phase.QUEUED, Phase.RUNNING, "Scoring"),
        (Phase.RUNNING, Phase.SUCCEEDED, "Completed"),
    )
    conds = {c.type: c for c in conditions_from(log, generation=1)}
    assert (conds["Queued"].status, conds["Queued"].reason) == ("False", "Started")
    assert (conds["Running"].status, conds["Running"].reason) == ("False", "Finished")
    assert (conds["Succeeded"].status, conds["Succeeded"].reason) == ("True", "Completed")
    assert conds["Succeeded"].last_transition_time == T0 + timedelta(seconds=3)
    assert conds["Queued"].last_transition_time == T0 + timedelta(seconds=2)


def test_requeued_task_is_queued_again_and_not_running() -> None:
    log = _log(
        (None, Phase.PENDING, "Recorded"),
        (Phase.PENDING, Phase.QUEUED, "Published"),
        (Phase.QUEUED, Phase.RUNNING, "Scoring"),
        (Phase.RUNNING, Phase.QUEUED, "Requeued"),
    )
    conds = {c.type: c for c in conditions_from(log, generation=1)}
    assert (conds["Queued"].status, conds["Queued"].reason) == ("True", "Requeued")
    assert (conds["Running"].status, conds["Running"].reason) == ("False", "Requeued")


def test_pending_task_has_no_conditions() -> None:
    assert conditions_from(_log((None, Phase.PENDING, "Recorded")), generation=1) == []


def _record(**kw: object) -> TaskRecord:
    base: dict[str, object] = {
        "id": uuid4(),
        "namespace": "ns",
        "name": "t",
        "generation": 1,
        "detector": "d",
        "granularity": "document",
        "priority": 0,
        "backoff_limit": 3,
        "active_deadline_seconds": None,
        "ttl_seconds_after_finished": None,
        "phase": Phase.SUCCEEDED,
        "reason": "Completed",
        "message": "",
        "attempts": 1,
        "progress": Progress(total=2, done=2),
        "result": None,
        "worker": "w",
        "created_at": T0,
        "queued_at": T0,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=1),
        "version": 5,
        "cr_version": 0,
        "cr_deleted_at": None,
    }
    return TaskRecord(**{**base, **kw})


def test_status_dict_uses_camel_case_rfc3339_and_rounded_scores() -> None:
    result = TaskResult(
        score=0.123456789, label="human", threshold=0.5, detector="d", model_version="m"
    )
    status = build_status(_record(result=result), [], generation=1).to_dict()
    assert status["completionTime"] == "2026-11-23T12:00:01Z"
    assert status["progress"] == {"total": 2, "done": 2, "failed": 0, "summary": "2/2"}
    assert status["result"]["score"] == 0.1235
    assert status["result"]["modelVersion"] == "m"
    assert "probability" not in status["result"]
    assert status["observedGeneration"] == 1


def test_the_progress_summary_counts_the_items_that_could_not_be_scored() -> None:
    assert Progress(total=10, done=10).summary == "10/10"
    assert Progress(total=10, done=9, failed=1).summary == "9/10 (1 failed)"
