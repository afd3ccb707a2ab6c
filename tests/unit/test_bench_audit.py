"""Writes per task from the apiserver's audit log (bench/bench_audit.py)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_audit import UnnamedCreates, parse_audit, writes_per_task  # noqa: E402

pytestmark = pytest.mark.unit
TASKS = frozenset({"detectiontasks"})


def entry(
    verb: str,
    name: str = "",
    resource: str = "detectiontasks",
    subresource: str = "",
    agent: str = "kopf/1.45.2",
    code: int = 200,
    at: str = "2026-12-01T12:00:05.000000Z",
    stage: str = "ResponseComplete",
) -> str:
    ref: dict[str, Any] = {"resource": resource, "namespace": "default", "apiGroup": "aidetect.io"}
    if name:
        ref["name"] = name
    if subresource:
        ref["subresource"] = subresource
    return json.dumps(
        {
            "stage": stage,
            "verb": verb,
            "userAgent": agent,
            "objectRef": ref,
            "responseStatus": {"code": code},
            "requestReceivedTimestamp": at,
        }
    )


WINDOW = UnnamedCreates(
    "default",
    datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC),
)


def test_counts_the_users_create_and_every_write_on_the_cr_and_its_status() -> None:
    lines = [
        entry("create", "a", agent="aidetect-bench", code=201),
        entry("patch", "a"),
        entry("patch", "a", subresource="status", agent="OpenAPI-Generator/37.0.2/python"),
    ]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a"])
    assert count.mean == 3
    assert count.breakdown == {
        "create object (aidetect-bench)": 1,
        "patch object (kopf)": 1,
        "patch status (OpenAPI-Generator)": 1,
    }


def test_leaves_events_and_other_tasks_out() -> None:
    lines = [
        entry("create", "a", code=201),
        entry("create", "a.17c3", resource="events", code=201),
        entry("patch", "b"),
    ]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a"])
    assert count.mean == 1


def test_skips_reads_and_the_request_received_stage() -> None:
    lines = [entry("get", "a"), entry("patch", "a", stage="RequestReceived"), entry("patch", "a")]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a"])
    assert count.mean == 1


def test_refused_attempts_are_reported_apart_from_writes() -> None:
    lines = [entry("patch", "a"), entry("patch", "a", code=409)]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a"])
    assert (count.mean, count.refused) == (1, 1)


def test_creates_by_generate_name_in_the_window_are_spread_over_the_tasks() -> None:
    # Given two REST tasks, whose creates the audit log records without a name,
    # and one more unnamed create outside the run's window
    lines = [
        entry("create", code=201, agent="OpenAPI-Generator/37.0.2/python"),
        entry("create", code=201, agent="OpenAPI-Generator/37.0.2/python"),
        entry("create", code=201, at="2026-12-01T12:01:00.000000Z"),
        entry("patch", "api-x"),
        entry("patch", "api-y"),
    ]
    # When they are counted with the run's window
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["api-x", "api-y"], WINDOW)
    # Then each task gets its one create and its own patch
    assert count.mean == 2
    assert count.breakdown["create object (OpenAPI-Generator)"] == 1


def test_unnamed_creates_are_ignored_without_a_window() -> None:
    lines = [entry("create", code=201), entry("patch", "a")]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a"])
    assert count.mean == 1


def test_spread_shows_median_and_max_per_task() -> None:
    lines = [entry("patch", "a"), entry("patch", "b"), entry("patch", "b"), entry("patch", "b")]
    count = writes_per_task(parse_audit(lines, TASKS), "detectiontasks", ["a", "b", "c"])
    assert (count.tasks, count.mean, count.median, count.max) == (3, 1.33, 1, 3)
