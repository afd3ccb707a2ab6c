"""The CLI's table rows, progress bar and sentence marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aidetect.cli_views import age, header, marked_text, progress_bar, task_row
from aidetect.core.models import ItemResult, SentenceScore
from tests.unit.api.fakes import task_record

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (59, "59s"), (60, "1m"), (7200, "2h"), (200_000, "2d")]
)
def test_age_reads_like_kubectl(seconds: int, shown: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert age(now - timedelta(seconds=seconds), now) == shown


def test_a_row_lines_up_under_the_header() -> None:
    task = task_record(name="my-task", namespace="team-a")
    row = task_row(task, task.created_at + timedelta(seconds=5))
    assert header().split() == ["NAMESPACE", "NAME", "PHASE", "SCORE", "PROGRESS", "AGE"]
    assert row.split() == ["team-a", "my-task", "Queued", "0/1", "5s"]
    assert header().index("PHASE") == row.index("Queued")


def test_progress_bar() -> None:
    assert progress_bar(0, 4, width=4) == "[....] 0/4   0%"
    assert progress_bar(2, 4, width=4) == "[##..] 2/4  50%"
    assert progress_bar(4, 4, width=4) == "[####] 4/4 100%"


def test_only_the_sentences_labelled_ai_are_marked_by_character_offsets() -> None:
    text = "Привет, мир. Как дела? Всё хорошо."
    item = ItemResult(
        index=0,
        score=0.6,
        label="ai",
        threshold=0.5,
        model_version="m",
        sentences=[
            SentenceScore(start=0, end=12, score=0.9, label="ai"),
            SentenceScore(start=13, end=22, score=0.1, label="human"),
            SentenceScore(start=23, end=34, score=0.8, label="ai"),
        ],
    )
    assert marked_text(text, item, colour=False) == "[[Привет, мир.]] Как дела? [[Всё хорошо.]]"
    coloured = marked_text(text, item, colour=True)
    assert coloured.count("\x1b[7;31m") == 2 and coloured.count("\x1b[0m") == 2
