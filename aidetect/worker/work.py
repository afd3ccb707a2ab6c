"""What flows through the worker's stages: a batch prepared, then scored, then decided.

A micro-batch is read from the database and started (`PreparedBatch`), scored (`ScoredBatch`),
then committed, which gives one `Decision` per delivery. Each stage runs on a thread of its own
(`worker.stages`), so these are the only things the threads hand each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from aidetect.core.db import CachedScore, CacheWrite, ItemToScore
from aidetect.core.models import TaskRecord
from aidetect.core.queue import Delivery
from aidetect.worker.detectors.base import Detector
from aidetect.worker.scoring import Outcome


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery: ack it, dead-letter it, or hand it back after a delay."""

    delivery: Delivery
    action: Literal["ack", "reject", "retry"]
    delay: float = 0.0


def hand_back(deliveries: Sequence[Delivery], delay: float) -> list[Decision]:
    """Retry decisions for deliveries that met an outage (their attempt does not count)."""
    return [Decision(d, "retry", delay) for d in deliveries]


@dataclass
class Work:
    """A delivery whose task is live, with the items of it that still need a result."""

    delivery: Delivery
    task: TaskRecord
    items: list[ItemToScore]


@dataclass(frozen=True)
class PreparedBatch:
    """A batch read and started: the decisions already made (deliveries whose task is gone or
    ended, unreadable ones), the work left, and the raw scores the result cache already had."""

    decided: list[Decision]
    work: list[Work] = field(default_factory=list)
    detector: Detector | None = None
    started: frozenset[UUID] = frozenset()
    cached: Mapping[tuple[str, str], CachedScore] = field(default_factory=dict)

    def waiting(self) -> list[Delivery]:
        """The deliveries whose fate depends on the later stages."""
        return [w.delivery for w in self.work]


@dataclass(frozen=True)
class ScoredMessage:
    """One delivery's work and the outcome of each of its items: (score, from the cache?), or
    why its text could not be scored."""

    work: Work
    scores: list[Outcome]


@dataclass(frozen=True)
class ScoredBatch:
    """A batch scored: the decisions made so far (now with the messages whose scoring failed),
    and the scores still to be committed."""

    decided: list[Decision]
    parts: list[ScoredMessage] = field(default_factory=list)
    cache: CacheWrite | None = None
    started: frozenset[UUID] = frozenset()
    detector: Detector | None = None

    def waiting(self) -> list[Delivery]:
        """The deliveries whose fate depends on the commit."""
        return [p.work.delivery for p in self.parts]


@dataclass
class BatchStats:
    """The last batch's size and scoring time, for the worker's heartbeat."""

    texts: int = 0
    seconds: float = 0.0
