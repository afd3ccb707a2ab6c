"""A batch too large to read whole is summarised from the database's aggregate: the figures
must be those `summarize` gives from the rows."""

from __future__ import annotations

import pytest

from aidetect.core.models import ItemResult
from aidetect.core.results import Aggregate, summarize, summarize_aggregate


def items(labels: str, *, probability: bool = True) -> list[ItemResult]:
    return [
        ItemResult(
            index=i,
            score=0.1 + 0.8 * (label == "a") + i / 1000,
            label="ai" if label == "a" else "human",
            probability=0.3 + i / 100 if probability else None,
            threshold=0.5,
            model_version="m@1",
            chunks=1 + i % 3,
            cached=i % 2 == 0,
        )
        for i, label in enumerate(labels)
    ]


def aggregate_of(rows: list[ItemResult]) -> Aggregate:
    with_p = [r.probability for r in rows if r.probability is not None]
    return Aggregate(
        n=len(rows),
        mean_score=sum(r.score for r in rows) / len(rows),
        ai=sum(r.label == "ai" for r in rows),
        human=sum(r.label == "human" for r in rows),
        mean_probability=sum(with_p) / len(with_p) if with_p else None,
        with_probability=len(with_p),
        model_versions=",".join(sorted({r.model_version for r in rows})),
        chunks=sum(r.chunks for r in rows),
        cached=all(r.cached for r in rows),
        threshold=rows[0].threshold,
    )


@pytest.mark.parametrize(
    ("labels", "probability"), [("aahah", True), ("hhah", False), ("ahah", True)]
)
def test_the_aggregate_summary_is_the_row_summary_without_the_items(
    labels: str, probability: bool
) -> None:
    rows = items(labels, probability=probability)
    from_rows = summarize(rows, detector="d")
    from_aggregate = summarize_aggregate(aggregate_of(rows), detector="d")
    assert from_aggregate.model_dump() == from_rows.model_copy(update={"items": None}).model_dump()
