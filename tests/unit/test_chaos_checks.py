"""The chaos suite's verdict (bench/chaos_checks.py) fails on each kind of damage it looks for."""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaos_checks import CrView, Truth, judge  # noqa: E402
from chaos_submit import Planned, Submission, plan  # noqa: E402

from aidetect.core.models import ItemResult, Progress, TaskRecord, TaskResult, Transition  # noqa: E402
from aidetect.core.states import Phase  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(uid: uuid.UUID, name: str, n: int, score: float = 0.25) -> TaskRecord:
    result = TaskResult(score=score, label="human", threshold=0.5, detector="d", model_version="m")
    return TaskRecord(
        id=uid,
        namespace="default",
        name=name,
        generation=1,
        detector="d",
        granularity="document",
        priority=0,
        backoff_limit=3,
        active_deadline_seconds=None,
        ttl_seconds_after_finished=None,
        phase=Phase.SUCCEEDED,
        reason="Completed",
        message="",
        attempts=1,
        progress=Progress(total=n, done=n),
        result=result,
        worker="w",
        created_at=T0,
        queued_at=T0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
        version=4,
        cr_version=4,
        cr_deleted_at=None,
    )


def history() -> list[Transition]:
    steps = [(None, Phase.PENDING), (Phase.PENDING, Phase.QUEUED), (Phase.QUEUED, Phase.RUNNING)]
    steps.append((Phase.RUNNING, Phase.SUCCEEDED))
    return [Transition(from_phase=a, to_phase=b, reason="r", at=T0) for a, b in steps]


def items(n: int) -> list[ItemResult]:
    return [
        ItemResult(index=i, score=0.25, label="human", threshold=0.5, model_version="m")
        for i in range(n)
    ]


def healthy_run(tasks: int = 5) -> Truth:
    """Every planned task submitted once, Succeeded once on both sides, each item scored."""
    planned = plan("abc123", tasks)
    subs, crs, records, logged = [], [], {}, Counter[str]()
    for p in planned:
        uid = uuid.uuid4()
        name = p.name or f"api-{p.index}"
        subs.append(Submission(p, uid=str(uid)))
        progress = {"total": len(p.texts), "done": len(p.texts), "failed": 0}
        crs.append(CrView(str(uid), name, p.key, "Succeeded", progress, 0.25, "human"))
        records[uid] = record(uid, name, len(p.texts))
        logged[str(uid)] = len(p.texts)
    return Truth(
        plan=planned,
        submissions=subs,
        crs=crs,
        records=records,
        items={uid: items(r.progress.total) for uid, r in records.items()},
        transitions={uid: history() for uid in records},
        logged=logged,
    )


def failed_checks(truth: Truth) -> set[str]:
    return {name for name, problems in judge(truth).failures.items() if problems}


def test_a_healthy_run_passes_every_check() -> None:
    verdict = judge(healthy_run())
    assert verdict.passed, verdict.failures
    assert verdict.figures["lost"] == 0
    assert verdict.figures["duplicated"] == 0


def test_a_rest_task_created_twice_is_a_duplicate() -> None:
    truth = healthy_run()
    rest: Planned = next(p for p in truth.plan if p.kind == "rest")
    original = next(c for c in truth.crs if c.key == rest.key)
    twin_uid = uuid.uuid4()
    truth.crs.append(replace(original, uid=str(twin_uid), name="api-twin"))
    truth.records[twin_uid] = record(twin_uid, "api-twin", len(rest.texts))
    truth.items[twin_uid] = items(len(rest.texts))
    truth.transitions[twin_uid] = history()
    assert failed_checks(truth) == {"nothing duplicated"}


def test_a_task_that_never_became_a_cr_is_lost() -> None:
    truth = healthy_run()
    gone = truth.crs.pop()
    del truth.records[uuid.UUID(gone.uid)]
    assert "nothing lost" in failed_checks(truth)


def test_a_second_transition_into_succeeded_is_reported() -> None:
    truth = healthy_run()
    uid = next(iter(truth.transitions))
    again = Transition(from_phase=Phase.RUNNING, to_phase=Phase.SUCCEEDED, reason="r", at=T0)
    truth.transitions[uid].append(again)
    assert failed_checks(truth) == {"one Succeeded transition each"}


def test_a_cr_score_that_differs_from_the_database_is_reported() -> None:
    truth = healthy_run()
    truth.crs[0] = replace(truth.crs[0], score=0.75)
    assert failed_checks(truth) == {"CR and database agree"}


def test_an_item_the_worker_logged_twice_is_reported() -> None:
    truth = healthy_run()
    truth.logged[truth.crs[0].uid] += 1
    assert failed_checks(truth) == {"every item scored once (worker log: none written twice)"}


def test_an_item_without_a_result_is_reported() -> None:
    truth = healthy_run()
    uid = next(iter(truth.items))
    truth.items[uid] = truth.items[uid][:-1]
    assert "every item scored once (database)" in failed_checks(truth)


def test_a_task_still_running_is_reported_on_both_sides() -> None:
    truth = healthy_run()
    uid = uuid.UUID(truth.crs[0].uid)
    truth.records[uid] = truth.records[uid].model_copy(update={"phase": Phase.RUNNING})
    assert {"every task Succeeded", "CR and database agree"} <= failed_checks(truth)
