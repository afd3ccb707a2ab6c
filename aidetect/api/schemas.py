"""The API's request and response bodies, in camelCase like the CRD.

`TaskCreate` applies the CRD's limits before anything reaches the apiserver, with messages that
name the field and the limit; the apiserver's CEL rules stay the last word. It derives from
`core.models.TaskOptions`, as `TaskSpec` does, so each default and limit is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from aidetect.api.tenants import NAMESPACE_MAX_LENGTH, NAMESPACE_PATTERN
from aidetect.core.camel import CamelModel
from aidetect.core.errors import InvalidInput
from aidetect.core.models import (
    MAX_BATCH_CHARS,
    MAX_BATCH_ITEMS,
    MAX_TEXT_CHARS,
    ItemFailure,
    ItemResult,
    Progress,
    TaskOptions,
    TaskRecord,
    TaskResult,
    TaskSpec,
    Transition,
    WorkerHeartbeat,
)
from aidetect.core.profiles import PROFILE_NAME_PATTERN
from aidetect.core.states import Phase
from aidetect.core.status import OutputStatus, output_status
from aidetect.core.texts import is_blank, storage_problem

SINGLE_EXAMPLE: JsonDict = {"text": "The quick brown fox jumps over the lazy dog.", "priority": 5}
BATCH_EXAMPLE: JsonDict = {
    "texts": ["First text to score.", "Second text to score."],
    "detector": "roberta-openai",
    "granularity": "sentence",
    "ttlSecondsAfterFinished": 3600,
}
PREDICT_EXAMPLES: dict[str, Any] = {
    "single": {"summary": "One text", "value": SINGLE_EXAMPLE},
    "batch": {
        "summary": "A batch, per-sentence scores, CR removed an hour after",
        "value": BATCH_EXAMPLE,
    },
}


def _check_text(field: str, text: str) -> None:
    if is_blank(text):
        raise PydanticCustomError(
            "blank_text",
            "{field} is empty or blank (only whitespace, zero-width or control characters)",
            {"field": field},
        )
    if problem := storage_problem(text):
        raise PydanticCustomError(
            "invalid_character", "{field} {problem}", {"field": field, "problem": problem}
        )
    if len(text) > MAX_TEXT_CHARS:
        raise PydanticCustomError(
            "text_too_long",
            "{field} has {size} characters; the limit is {limit} per text",
            {"field": field, "size": len(text), "limit": MAX_TEXT_CHARS},
        )


def _task_create_schema(schema: dict[str, Any]) -> None:
    """Examples, the one-of rule, and the request's own fields (where, what) listed before the
    ones it shares with `TaskSpec` (how)."""
    first = ("namespace", "text", "texts")
    props = schema["properties"]
    schema["properties"] = {
        **{k: props[k] for k in first},
        **{k: v for k, v in props.items() if k not in first},
    }
    schema["examples"] = [SINGLE_EXAMPLE, BATCH_EXAMPLE]
    # Exactly one of text and texts (the other absent or null), as _exactly_one_input says.
    schema["oneOf"] = [
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
        {"required": ["texts"], "properties": {"texts": {"type": "array"}}},
    ]


class TaskCreate(TaskOptions):
    """What to score: `text` or `texts` (exactly one), and how."""

    model_config = ConfigDict(
        extra="forbid",
        # JSON numbers only, as the CRD's integers (lax mode read `false` as 0, a TTL of 0)
        strict=True,
        json_schema_extra=_task_create_schema,
    )

    namespace: str | None = Field(
        default=None,
        max_length=NAMESPACE_MAX_LENGTH,
        pattern=NAMESPACE_PATTERN,
        description="Where to create the task: one the token may use. Absent: the token's first "
        "namespace (an admin's: the API's default namespace).",
    )
    text: str | None = Field(
        default=None,
        description=f"One text (1 to {MAX_TEXT_CHARS} characters, not blank).",
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT_CHARS},
    )
    texts: list[str] | None = Field(
        default=None,
        description=f"A batch: 1 to {MAX_BATCH_ITEMS} texts, at most {MAX_TEXT_CHARS} characters "
        f"each and {MAX_BATCH_CHARS} in all.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH_ITEMS},
    )
    # The API checks the name before the apiserver does (TaskSpec leaves that to the CRD).
    detector: str | None = Field(
        default=None,
        max_length=63,
        pattern=PROFILE_NAME_PATTERN,
        description="The detector profile; empty or absent means the cluster default.",
    )

    @field_validator("detector", mode="before")
    @classmethod
    def _empty_detector_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("text")
    @classmethod
    def _text_within_limits(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text("text", value)
        return value

    @field_validator("texts")
    @classmethod
    def _texts_within_limits(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value or len(value) > MAX_BATCH_ITEMS:
            raise PydanticCustomError(
                "batch_size",
                "texts has {size} items; a batch holds 1 to {limit}",
                {"size": len(value), "limit": MAX_BATCH_ITEMS},
            )
        for i, text in enumerate(value):
            _check_text(f"texts[{i}]", text)
        total = sum(len(t) for t in value)
        if total > MAX_BATCH_CHARS:
            raise PydanticCustomError(
                "batch_too_long",
                "texts holds {size} characters in all; the limit is {limit}",
                {"size": total, "limit": MAX_BATCH_CHARS},
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_input(self) -> TaskCreate:
        if (self.text is None) == (self.texts is None):
            raise PydanticCustomError(
                "text_or_texts", "exactly one of text or texts must be set (not both, not neither)"
            )
        return self

    def to_spec(self) -> TaskSpec:
        """The DetectionTask spec this request asks for."""
        try:
            return TaskSpec.model_validate(
                self.model_dump(exclude_none=True, exclude={"namespace"})
            )
        except ValidationError as e:  # the limits above are stricter; this guards against drift
            raise InvalidInput(f"invalid task spec: {e}") from e


class TaskCreated(CamelModel):
    task_id: UUID = Field(description="The task's id: the DetectionTask's metadata.uid.")
    name: str
    namespace: str


class TaskCancelled(CamelModel):
    task_id: UUID
    status: Literal["cancelling"] = "cancelling"


class TaskSummary(CamelModel):
    """A task as listed: its state and result, without the items and the transition log."""

    id: UUID
    namespace: str
    name: str
    phase: Phase
    reason: str | None
    message: str | None
    detector: str
    attempts: int
    progress: Progress
    result: TaskResult | None
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_record(cls, record: TaskRecord) -> TaskSummary:
        return cls.model_validate(
            {name: getattr(record, name) for name in TaskSummary.model_fields}
        )


class TaskPublic(TaskSummary):
    """A task with every written item (a result, or the failure of a text that could not be
    scored) and its transition log."""

    items: list[ItemResult | ItemFailure] = Field(
        description="Every written item, for a task of at most 1000; a larger one (a corpus "
        "job) streams them from GET /tasks/{id}/results instead."
    )
    transitions: list[Transition]
    output: OutputStatus | None = Field(
        default=None, description="Where a corpus job's results were written."
    )

    @classmethod
    def from_parts(
        cls,
        record: TaskRecord,
        items: Sequence[ItemResult | ItemFailure],
        transitions: list[Transition],
    ) -> TaskPublic:
        fields = {name: getattr(record, name) for name in TaskSummary.model_fields}
        output = output_status(record)
        return cls.model_validate(
            {**fields, "items": items, "transitions": transitions, "output": output}
        )


class TaskTexts(CamelModel):
    """A task's texts: `texts[i]` is what item i scored; sentence offsets index into it."""

    task_id: UUID
    texts: list[str]


class ProfilePublic(CamelModel):
    """A detector profile, as a client choosing one needs it."""

    name: str
    kind: str
    model: str
    reference_model: str | None
    metric: str | None
    threshold: float
    higher_is_ai: bool = Field(description="Whether a higher score means more likely AI.")
    default: bool
    model_versions: list[str] = Field(
        default=[],
        description="What the workers serving it have loaded (their heartbeats of the last 5 "
        "minutes), e.g. demo-untrained; empty when no worker serves it.",
    )


class ProfileList(CamelModel):
    items: list[ProfilePublic]


class TaskList(CamelModel):
    items: list[TaskSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )


class WorkerPublic(WorkerHeartbeat):
    """A worker's last heartbeat, as `/stats` serves it."""


class Stats(CamelModel):
    workers: list[WorkerPublic]
    phases: dict[str, int] = Field(description="Tasks per phase, every phase listed.")


class Health(CamelModel):
    status: Literal["ok"] = "ok"


class Ready(CamelModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]


class ErrorDetail(CamelModel):
    model_config = ConfigDict(extra="allow")

    field: str | None = None
    message: str


class ErrorBody(CamelModel):
    code: str = Field(description="snake_case, stable: branch on this.")
    message: str = Field(description="A sentence for humans.")
    details: list[ErrorDetail] | None = None


class ErrorResponse(CamelModel):
    """The one shape of every error."""

    error: ErrorBody
