"""What the user commands of the CLI print: a `kubectl get -w`-style task table, a progress
bar, and a text with the sentences that look generated marked. Pure functions of their
arguments (no I/O), so the CLI and its tests share them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aidetect.core.models import ItemResult, TaskRecord

COLUMNS = ("NAMESPACE", "NAME", "PHASE", "SCORE", "PROGRESS", "AGE")
WIDTHS = (16, 24, 10, 8, 11, 6)
# On a terminal: reverse video, red; elsewhere (a pipe, a file) the brackets say it alone.
MARK_ON, MARK_OFF = "\x1b[7;31m", "\x1b[0m"


def age(since: datetime, now: datetime) -> str:
    """kubectl's age: 45s, 12m, 3h, 2d."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _row(values: Sequence[str]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, WIDTHS, strict=True)).rstrip()


def header() -> str:
    return _row(COLUMNS)


def task_row(task: TaskRecord, now: datetime) -> str:
    score = f"{task.result.score:.4g}" if task.result is not None else ""
    p = task.progress
    return _row(
        (
            task.namespace,
            task.name,
            task.phase,
            score,
            f"{p.done + p.failed}/{p.total}",
            age(task.created_at, now),
        )
    )


def row_key(task: TaskRecord) -> tuple[object, ...]:
    """What a watch prints a new row for when it changes."""
    return (task.phase, task.progress.done, task.progress.failed)


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """`[#########.....]  12/40  30%`."""
    share = done / total if total else 1.0
    filled = round(width * share)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {round(100 * share):3d}%"


def marked_text(text: str, item: ItemResult, *, colour: bool) -> str:
    """The text with each sentence labelled ai marked: [[like this]] (and, with `colour`, in
    reverse red). Offsets count characters (code points), as the API's do."""
    out: list[str] = []
    at = 0
    for sentence in sorted(item.sentences or [], key=lambda s: s.start):
        if sentence.label != "ai":
            continue
        out.append(text[at : sentence.start])
        inner = f"[[{text[sentence.start : sentence.end]}]]"
        out.append(f"{MARK_ON}{inner}{MARK_OFF}" if colour else inner)
        at = sentence.end
    out.append(text[at:])
    return "".join(out)
