"""How item results add up to a task's result: the item itself, or a summary for a batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aidetect.core.models import ItemResult, Label, TaskResult

# The CR carries per-item scores only while a batch is this small (etcd objects must stay small);
# the full list is always in the database and the REST API.
MAX_ITEMS_ON_CR = 100


def summarize(items: Sequence[ItemResult], *, detector: str) -> TaskResult:
    """The task result. One item: that item. A batch: the mean score, the majority label
    (ties count as ai, the cautious side), counts per label, and the items while few."""
    if not items:
        raise ValueError("a task result needs at least one item")
    first = items[0]
    if len(items) == 1:
        return TaskResult(
            score=first.score,
            label=first.label,
            probability=first.probability,
            threshold=first.threshold,
            detector=detector,
            model_version=first.model_version,
            cached=first.cached,
            chunks=first.chunks,
            sentences=first.sentences,
        )
    counts = Counter(i.label for i in items)
    label: Label = "ai" if counts["ai"] >= counts["human"] else "human"
    probabilities = [i.probability for i in items if i.probability is not None]
    versions = sorted({i.model_version for i in items})
    return TaskResult(
        score=sum(i.score for i in items) / len(items),
        label=label,
        probability=sum(probabilities) / len(probabilities)
        if len(probabilities) == len(items)
        else None,
        threshold=first.threshold,
        detector=detector,
        model_version=",".join(versions),
        cached=all(i.cached for i in items),
        chunks=sum(i.chunks for i in items),
        counts={"ai": counts["ai"], "human": counts["human"]},
        items=list(items) if len(items) <= MAX_ITEMS_ON_CR else None,
    )


@dataclass(frozen=True)
class Aggregate:
    """What `summarize` needs of a batch too large to read whole (the database adds it up)."""

    n: int
    mean_score: float
    ai: int
    human: int
    mean_probability: float | None
    with_probability: int
    model_versions: str
    chunks: int
    cached: bool
    threshold: float


def summarize_aggregate(agg: Aggregate, *, detector: str) -> TaskResult:
    """`summarize` for a batch over MAX_ITEMS_ON_CR items, from its aggregate: the same
    figures, and no per-item list."""
    return TaskResult(
        score=float(agg.mean_score),
        label="ai" if agg.ai >= agg.human else "human",
        probability=float(agg.mean_probability)
        if agg.with_probability == agg.n and agg.mean_probability is not None
        else None,
        threshold=agg.threshold,
        detector=detector,
        model_version=agg.model_versions,
        cached=bool(agg.cached),
        chunks=int(agg.chunks),
        counts={"ai": agg.ai, "human": agg.human},
    )


def partial_message(failed: int, total: int) -> str:
    """The message of a task that succeeded with some items unscorable ("" if none were)."""
    return f"{failed} of {total} item(s) could not be scored" if failed else ""


def unscorable_message(failed: int, index: int, cause: str) -> str:
    """The message of a task that failed because none of its items could be scored."""
    return f"none of the {failed} item(s) could be scored; item {index}: {cause}"
