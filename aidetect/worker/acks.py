"""Which deliveries a channel still owes the broker an answer for, and how to ack a batch.

One `basic_ack(tag, multiple=True)` acks every unsettled delivery up to `tag` on its channel,
so it is only safe when all of those are meant to be acked: a message that was prefetched but
not scored yet, or one held back for a retry, must never be acked along with the batch. The
ledger knows every delivery still unsettled; `plan_acks` acks the longest run of them that the
batch covers with one frame and the rest one by one. Used on the connection's thread only.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from aidetect.core.queue import Delivery


@dataclass(frozen=True)
class AckPlan:
    """Ack `multiple_up_to` with multiple=True (if set), then each of `single` alone."""

    multiple_up_to: int | None
    single: list[int]


def plan_acks(unsettled: Iterable[int], acking: Iterable[int]) -> AckPlan:
    """The fewest ack frames for the `acking` tags, given every unsettled tag of the channel.

    The run of lowest unsettled tags that are all being acked goes in one multiple ack, when it
    holds two or more; every other tag is acked alone.
    """
    wanted = set(acking)
    run: list[int] = []
    for tag in sorted(set(unsettled) | wanted):
        if tag not in wanted:
            break
        run.append(tag)
    if len(run) < 2:
        return AckPlan(None, sorted(wanted))
    return AckPlan(run[-1], sorted(wanted - set(run)))


@dataclass
class AckLedger:
    """The unsettled delivery tags of each consuming channel."""

    _open: dict[Hashable, set[int]] = field(default_factory=dict)  # by channel

    def received(self, delivery: Delivery) -> None:
        self._open.setdefault(delivery.channel, set()).add(delivery.delivery_tag)

    def settled(self, deliveries: Iterable[Delivery]) -> None:
        for d in deliveries:
            self._open.get(d.channel, set()).discard(d.delivery_tag)

    def plan(self, channel: Hashable, acking: Iterable[int]) -> AckPlan:
        return plan_acks(self._open.get(channel, set()), acking)

    def forget(self) -> None:
        """Drop everything (the connection is gone: the broker requeues what was unsettled)."""
        self._open.clear()
