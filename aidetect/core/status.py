"""The DetectionTask status as a typed model, built from the database row.

`TaskStatus.to_dict()` is the only writer of CR status: the operator never hand-assembles a
status dict. Conditions are derived from the transition log, so their lastTransitionTime is the
time the database recorded the change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aidetect.core import conditions as c
from aidetect.core.camel import CamelModel
from aidetect.core.models import TaskRecord, TaskResult, Transition
from aidetect.core.states import Phase


class Condition(CamelModel):
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: datetime
    observed_generation: int


class OutputStatus(CamelModel):
    """Where a corpus job's results were written."""

    location: str
    lines: int


class TaskStatus(CamelModel):
    phase: Phase
    observed_generation: int
    detector: str
    attempts: int
    progress: dict[str, Any]
    conditions: list[Condition]
    message: str | None = None
    worker: str | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    result: TaskResult | None = None
    output: OutputStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON for a merge patch of `status` (times as RFC 3339 UTC, seconds)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key, value in (
            ("startTime", self.start_time),
            ("completionTime", self.completion_time),
        ):
            if value is not None:
                data[key] = _rfc3339(value)
        if "result" in data:
            data["result"] = _rounded(data["result"])
        for cond, model in zip(data["conditions"], self.conditions, strict=True):
            cond["lastTransitionTime"] = _rfc3339(model.last_transition_time)
        return data


SCORE_DIGITS = 4  # on the CR, for readable columns; the database and the API keep full precision


def _rounded(value: Any) -> Any:
    """Scores and probabilities rounded for display, recursively (items, sentences)."""
    if isinstance(value, dict):
        return {
            k: round(v, SCORE_DIGITS)
            if k in ("score", "probability") and isinstance(v, float)
            else _rounded(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _rfc3339(value: datetime | None) -> str | None:
    """Kubernetes' metav1.Time format; the database gives timezone-aware datetimes."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions_from(transitions: list[Transition], generation: int) -> list[Condition]:
    """Replay the transition log: entering a phase makes its condition True, leaving it False."""
    current: dict[str, Condition] = {}
    for t in transitions:
        for type_, cond in list(current.items()):
            if cond.status == "True" and type_ != c.CONDITION_OF_PHASE.get(t.to_phase):
                reason = {
                    Phase.RUNNING: c.REASON_STARTED,
                    Phase.SUCCEEDED: c.REASON_FINISHED,
                    Phase.FAILED: c.REASON_FINISHED,
                    Phase.CANCELLED: c.REASON_CANCELLED,
                }.get(t.to_phase, t.reason)
                current[type_] = cond.model_copy(
                    update={
                        "status": "False",
                        "reason": reason,
                        "message": t.message or t.reason,
                        "last_transition_time": t.at,
                    }
                )
        entered = c.CONDITION_OF_PHASE.get(t.to_phase)
        if entered is not None:
            current[entered] = Condition(
                type=entered,
                status="True",
                reason=t.reason,
                message=t.message or t.reason,
                last_transition_time=t.at,
                observed_generation=generation,
            )
    order = [c.QUEUED, c.RUNNING, c.SUCCEEDED, c.FAILED]
    return [current[t] for t in order if t in current]


def build_status(record: TaskRecord, transitions: list[Transition], generation: int) -> TaskStatus:
    """The status the CR should show for this database row."""
    return TaskStatus(
        phase=record.phase,
        observed_generation=generation,
        detector=record.detector,
        attempts=record.attempts,
        progress={**record.progress.model_dump(), "summary": record.progress.summary},
        conditions=conditions_from(transitions, generation),
        message=record.message or None,
        worker=record.worker,
        start_time=record.started_at,
        completion_time=record.finished_at,
        result=record.result,
        output=output_status(record),
    )


def output_status(record: TaskRecord) -> OutputStatus | None:
    corpus = record.corpus
    if corpus is None or corpus.output_location is None:
        return None
    return OutputStatus(location=corpus.output_location, lines=corpus.output_lines or 0)
