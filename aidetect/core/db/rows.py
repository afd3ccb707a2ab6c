"""Rows to models and back: the task columns, result details, list cursors, small records."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from aidetect.core.corpus import CorpusOutput, CorpusSource, CorpusState, SplitCursor
from aidetect.core.errors import InvalidInput
from aidetect.core.models import ItemFailure, ItemResult, Progress, TaskRecord
from aidetect.core.states import Phase

TASK_COLUMNS = """id, namespace, name, generation, detector, granularity, priority, backoff_limit,
    active_deadline_seconds, ttl_seconds_after_finished, phase, reason, message, attempts,
    total_items, done_items, failed_items, result, worker, created_at, queued_at, started_at,
    finished_at, version, cr_version, cr_deleted_at, max_failed_items, source, output,
    split_done, split_cursor, output_location, output_lines"""
CORPUS_COLUMNS = (
    "source",
    "output",
    "split_done",
    "split_cursor",
    "output_location",
    "output_lines",
)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def task_record(row: dict[str, Any]) -> TaskRecord:
    progress_columns = {"total_items", "done_items", "failed_items"}
    return TaskRecord(
        progress=Progress(
            total=row["total_items"], done=row["done_items"], failed=row["failed_items"]
        ),
        corpus=corpus_state(row),
        **{k: v for k, v in row.items() if k not in progress_columns and k not in CORPUS_COLUMNS},
    )


def corpus_state(row: dict[str, Any]) -> CorpusState | None:
    """A corpus job's source, output and splitting; None for a task with its texts on the CR."""
    if row.get("source") is None:
        return None
    return CorpusState(
        source=CorpusSource.model_validate(row["source"]),
        output=CorpusOutput.model_validate(row["output"]) if row.get("output") else None,
        split_done=row["split_done"],
        cursor=SplitCursor.model_validate(row["split_cursor"]) if row.get("split_cursor") else None,
        output_location=row.get("output_location"),
        output_lines=row.get("output_lines"),
    )


@dataclass(frozen=True)
class ItemToScore:
    """An item a worker must score: its text and where the result goes."""

    task_id: UUID
    index: int
    text: str


@dataclass(frozen=True)
class CachedScore:
    """A raw score kept in the result cache (sentences as [{start, end, score}])."""

    score: float
    chunks: int
    sentences: list[dict[str, Any]] | None


@dataclass(frozen=True)
class WriteOutcome:
    """What `record_results` did: how many results were new, and whether the task finished."""

    written: int
    finished: bool
    skipped_phase: Phase | None = None
    scored_all: bool = False  # a corpus job's last item: the operator writes its output next


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskRecord]
    next_cursor: str | None


def item_detail(r: ItemResult) -> dict[str, Any]:
    return r.model_dump(
        mode="json", by_alias=True, include={"chunks", "cached", "sentences"}, exclude_none=True
    )


def failure_detail(f: ItemFailure) -> dict[str, Any]:
    """The `detail` of a failed item's row (its score, label and threshold stay NULL)."""
    return {"error": {"reason": f.reason, "message": f.message}}


def item_of(row: dict[str, Any]) -> ItemResult | ItemFailure:
    """A written item row: a failure where the score is NULL, else a result."""
    if row["score"] is None:
        error = (row.get("detail") or {}).get("error") or {}
        return ItemFailure(
            index=row["idx"],
            reason=error.get("reason", ""),
            message=error.get("message", ""),
            model_version=row["model_version"] or "",
        )
    return item_result(row)


def item_result(row: dict[str, Any]) -> ItemResult:
    detail = row.get("detail") or {}
    return ItemResult(
        index=row["idx"],
        score=row["score"],
        label=row["label"],
        probability=row["probability"],
        threshold=row["threshold"],
        model_version=row["model_version"],
        **detail,
    )


def encode_cursor(created_at: datetime, task_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{task_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), UUID(task_id)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(
            "invalid cursor: pass the nextCursor of a previous page unchanged"
        ) from e
