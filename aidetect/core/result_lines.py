"""The results of a task as JSON Lines: what a corpus job writes to its output object and what
`GET /tasks/{id}/results` streams. One line per item, in item order, the same bytes from both.

A scored item: `{"id", "index", "score", "label", "probability", "threshold", "modelVersion",
"chunks", "cached"}`, plus `"sentences"` at sentence granularity. An item that failed (a bad
line, a text over the limit, a text the detector could not score): `{"id", "index", "error":
{"reason", "message"}}`. The id is the record's own (`source.idField`), else `key:line` for a
corpus, else the index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

PAGE_ROWS = 2000  # rows read per query while streaming: memory stays flat whatever the task's size


@dataclass(frozen=True)
class ResultRow:
    """One written item, as the database holds it."""

    index: int
    source_id: str | None
    score: float | None
    label: str | None
    probability: float | None
    threshold: float | None
    model_version: str | None
    detail: dict[str, Any] | None

    def line(self) -> bytes:
        """The item's JSON line, with its newline."""
        detail = self.detail or {}
        out: dict[str, Any] = {"id": self.source_id or str(self.index), "index": self.index}
        if self.score is None:
            error = detail.get("error") or {}
            out["error"] = {"reason": error.get("reason", ""), "message": error.get("message", "")}
        else:
            out |= {
                "score": self.score,
                "label": self.label,
                "probability": self.probability,
                "threshold": self.threshold,
                "modelVersion": self.model_version,
                "chunks": detail.get("chunks", 1),
                "cached": detail.get("cached", False),
            }
            if detail.get("sentences"):
                out["sentences"] = detail["sentences"]
        return (json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class ResultSource(Protocol):
    """Where result rows are read from a page at a time (the task store, real or in memory)."""

    def result_rows(
        self, task_id: UUID, *, after: int = -1, limit: int = PAGE_ROWS
    ) -> list[ResultRow]: ...


def result_pages(source: ResultSource, task_id: UUID) -> Iterator[list[ResultRow]]:
    """Every written item of a task, in order, a page of PAGE_ROWS at a time (keyset paging)."""
    after = -1
    while page := source.result_rows(task_id, after=after):
        yield page
        after = page[-1].index
