"""The results JSONL: one line per item, the same bytes from the output object and the API."""

from __future__ import annotations

import json

from aidetect.core.result_lines import ResultRow


def test_a_scored_item_is_one_json_line_with_its_source_id() -> None:
    row = ResultRow(
        index=3,
        source_id="essay-7",
        score=0.91,
        label="ai",
        probability=0.8,
        threshold=0.5,
        model_version="m@sha256:1",
        detail={"chunks": 2, "cached": True, "sentences": [{"start": 0, "end": 4, "score": 0.9}]},
    )
    line = row.line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "id": "essay-7",
        "index": 3,
        "score": 0.91,
        "label": "ai",
        "probability": 0.8,
        "threshold": 0.5,
        "modelVersion": "m@sha256:1",
        "chunks": 2,
        "cached": True,
        "sentences": [{"start": 0, "end": 4, "score": 0.9}],
    }


def test_a_failed_item_carries_its_reason_and_the_index_is_the_default_id() -> None:
    error = {"error": {"reason": "InvalidInput", "message": "line k:3 is not valid JSON"}}
    row = ResultRow(4, None, None, None, None, None, "", error)
    assert json.loads(row.line()) == {"id": "4", "index": 4, **error}


def test_non_ascii_text_stays_readable() -> None:
    row = ResultRow(0, "сочинение-1", 0.1, "human", None, 0.5, "m", None)
    assert "сочинение-1".encode() in row.line()
