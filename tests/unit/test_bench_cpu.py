"""The bench's account of who used the CPU during a step (bench/bench_cpu.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_cpu import (  # noqa: E402
    CORES,
    TICKS,
    CpuSnapshot,
    machine_seconds,
    others_share,
    tree_seconds,
)

pytestmark = pytest.mark.unit


def test_a_process_tree_counts_every_descendant_and_nothing_else() -> None:
    processes = {1: (0, 100.0), 10: (1, 2.0), 11: (10, 3.0), 12: (11, 4.0), 20: (1, 50.0)}
    assert tree_seconds(processes, [10]) == 9.0
    assert tree_seconds(processes, [10, 20, 99]) == 59.0  # a root that is gone counts nothing


def test_machine_busy_time_is_process_time_only() -> None:
    busy, steal = machine_seconds("cpu  100 10 50 900 40 5 5 20 0 0\ncpu0 1 2 3\n")
    assert (busy, steal) == (160 / TICKS, 20 / TICKS)


def test_others_share_is_what_the_machine_did_beyond_our_processes() -> None:
    before, after = CpuSnapshot(100.0, 10.0, 0.0), CpuSnapshot(110.0, 16.0, 1.0)
    others, steal = others_share(before, after, wall=10.0)
    assert others == pytest.approx(4.0 / (10.0 * CORES))
    assert steal == pytest.approx(1.0 / (10.0 * CORES))
