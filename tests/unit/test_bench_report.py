"""`make bench`'s table: ratios against the goals, percentiles, drift, the docs block."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_audit import WriteCount  # noqa: E402
from bench_report import (  # noqa: E402
    Figures,
    Row,
    flatness_drift,
    percentile,
    render_markdown,
    rows,
    write_block,
)

pytestmark = pytest.mark.unit
MACHINE = {"commit": "abc1234", "date": "2026-12-01 12:00 UTC", "cpu": "cpu", "cores": 2}
MACHINE |= {"memory_gib": 24, "kernel": "6.1", "load": "0.1"}


def row(figures: Figures, starts: str) -> Row:
    return next(r for r in rows(figures) if r.figure.startswith(starts))


def test_throughput_is_reported_as_a_ratio_of_the_kopf_floor() -> None:
    f = Figures(floor_per_s=200.0, kubectl_per_s=22.0, rest_per_s=60.0)
    r = row(f, "single-text ÷ kopf floor")
    assert r.value == "0.110 / 0.300"
    assert r.met is False  # both paths must reach 0.25


def test_a_goal_is_met_when_every_figure_it_names_is() -> None:
    f = Figures(floor_per_s=200.0, kubectl_per_s=60.0, rest_per_s=55.0)
    assert row(f, "single-text ÷ kopf floor").met is True


def test_a_goal_with_a_figure_missing_is_neither_met_nor_failed() -> None:
    f = Figures(floor_per_s=200.0, kubectl_per_s=60.0)
    r = row(f, "single-text ÷ kopf floor")
    assert r.met is None
    assert r.value == "0.300 / —"


def test_writes_per_task_are_judged_against_three_for_rest_and_four_for_kubectl() -> None:
    f = Figures(writes={"rest": WriteCount(10, 3.0, 3, 3), "kubectl": WriteCount(10, 4.5, 4, 5)})
    assert row(f, "apiserver writes per task, at full load").met is False
    f.writes["kubectl"] = WriteCount(10, 4.0, 4, 4)
    assert row(f, "apiserver writes per task, at full load").met is True


def test_batch_path_is_a_ratio_of_the_bare_model_loop() -> None:
    f = Figures(batch_texts_per_s=656.0, bare_texts_per_s=1250.0)
    r = row(f, "batch ÷ bare")
    assert (r.value, r.met) == ("0.525", False)


def test_zero_shot_row_shows_the_worst_kind_and_the_range() -> None:
    f = Figures(zero_shot_ratios={"perplexity": 0.74, "binoculars": 0.40})
    assert row(f, "zero-shot").value == "0.400 (0.40–0.74)"


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile([0.2], 0.99) == 0.2
    assert percentile([], 0.5) is None


def test_flatness_drift_leaves_the_warm_up_out() -> None:
    samples = [(1000, 100.0, 90), (10_000, 200.0, 95), (20_000, 210.0, 80), (30_000, 190.0, 85)]
    assert flatness_drift(samples) == pytest.approx(5.0)


def test_the_table_names_commit_date_and_machine() -> None:
    f = Figures(floor_per_s=203.0, floor_runs={"floor": 203.0, "floor-again": 190.0})
    text = render_markdown(f, MACHINE, "`make bench`")
    assert "commit abc1234, 2026-12-01 12:00 UTC" in text
    assert "seen), the better of 203.0 / 190.0 | 203.0 |  |  |" in text


def test_a_goal_from_a_disturbed_step_gets_no_verdict() -> None:
    f = Figures(batch_texts_per_s=656.0, bare_texts_per_s=1250.0, others_cpu={"batch": 40.0})
    text = render_markdown(f, MACHINE, "`make bench`")
    assert "| batch ÷ bare classifier loop | 0.525 | ≥ 0.9 | disturbed |" in text


def test_write_block_replaces_only_its_own_block(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nprose\n")
    write_block(page, "before", "old table")
    write_block(page, "last", "first")
    write_block(page, "last", "second")
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nprose\n")
    assert "old table" in text and "second" in text and "first" not in text
    assert text.count("bench:last:begin") == 1


def test_the_memory_run_shows_only_what_it_measured() -> None:
    f = Figures(rss_start_mib=78.0, flatness=[(1000, 120.0, 40), (2000, 126.0, 70)])
    f.memory_rate = 12.5
    text = render_markdown(f, MACHINE, "`make bench-memory`", memory=True)
    assert "drift while 2 000 tasks were processed (live CRs at most 70)" in text
    assert "paced at 12.5 tasks/s: 1000: 120 (40), 2000: 126 (70)." in text
    assert "kopf floor" not in text and "live CRs (" not in text
