"""A batch is acked in as few frames as possible, and never along with what it does not hold."""

from __future__ import annotations

from aidetect.worker.acks import AckPlan, plan_acks


def test_a_batch_holding_every_unsettled_delivery_is_one_multiple_ack() -> None:
    assert plan_acks(unsettled=[1, 2, 3, 4], acking=[1, 2, 3, 4]) == AckPlan(4, [])


def test_a_prefetched_delivery_below_the_batch_keeps_every_ack_single() -> None:
    # Given delivery 1 waiting in the inbox, a multiple ack of 3 would ack it unscored
    assert plan_acks(unsettled=[1, 2, 3], acking=[2, 3]) == AckPlan(None, [2, 3])


def test_the_run_stops_at_the_first_delivery_the_batch_does_not_hold() -> None:
    # Given 3 held back for a retry: 1 and 2 go in one frame, 4 and 5 alone
    assert plan_acks(unsettled=[1, 2, 3, 4, 5, 9], acking=[1, 2, 4, 5]) == AckPlan(2, [4, 5])


def test_deliveries_prefetched_after_the_batch_do_not_stop_the_multiple_ack() -> None:
    assert plan_acks(unsettled=[5, 6, 7, 8], acking=[5, 6]) == AckPlan(6, [])


def test_one_delivery_is_a_single_ack() -> None:
    assert plan_acks(unsettled=[7, 8], acking=[7]) == AckPlan(None, [7])
