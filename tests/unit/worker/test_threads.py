"""torch's thread count follows the cgroup CPU limit, not the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aidetect.worker.threads import cpu_quota, torch_threads, usable_cpus

pytestmark = pytest.mark.unit


def test_cgroup_v2_quota_is_read_and_rounded_up(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert cpu_quota(tmp_path) == 2.5
    assert usable_cpus(tmp_path) == min(3, len(os.sched_getaffinity(0)))


def test_no_quota_means_the_cpus_the_process_may_run_on(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) == 0.5
    assert usable_cpus(tmp_path) == 1  # never below one thread


def test_v1_without_a_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(tmp_path) is None


def test_an_explicit_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert torch_threads(3, tmp_path) == 3
    assert torch_threads(0, tmp_path) == 1
