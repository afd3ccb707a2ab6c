"""`make bench`'s report: one run's figures and their ratios against the issue's goals, in Markdown.

Absolute figures move between runs and machines; the ratios are measured in one run, on one
machine, so they are what the goals are stated in. docs/benchmarks.md keeps the baseline ("before")
and the last run of each kind between markers; the rest of the page is prose.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_audit import WriteCount

MIB = 2**20
DISTURBED = 15.0  # % of the CPU taken by other processes above which a step is suspect


@dataclass
class Figures:
    """Everything one run measured; None where a step was skipped or did not finish."""

    floor_per_s: float | None = None  # the better of the floor runs
    floor_step: str = "floor"  # the step that gave it
    floor_runs: dict[str, float] = field(default_factory=dict)  # step -> CRs/s
    kubectl_per_s: float | None = None
    rest_per_s: float | None = None
    idle_p50_kubectl_s: float | None = None
    idle_p50_rest_s: float | None = None
    half_load_rate: float | None = None
    half_load_tasks: int | None = None
    half_load_p50_s: float | None = None
    half_load_p99_s: float | None = None
    batch_texts_per_s: float | None = None
    bare_texts_per_s: float | None = None
    zero_shot_ratios: dict[str, float] = field(default_factory=dict)
    classifier_score_ratio: float | None = None
    live_crs: int | None = None
    live_per_s: float | None = None  # tasks/s while the live CRs were topped up
    live_unfinished: int | None = None  # of those, not Succeeded by the live timeout
    rss_start_mib: float | None = None
    rss_live_mib: float | None = None
    rss_peak_mib: float | None = None
    writes: dict[str, WriteCount] = field(default_factory=dict)  # "rest", "kubectl", ...
    flatness: list[tuple[int, float, int]] = field(default_factory=list)  # (processed, MiB, live)
    memory_rate: float | None = None  # tasks/s of the paced memory rounds
    others_cpu: dict[str, float] = field(default_factory=dict)  # step -> % of the CPU not ours
    problems: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal, or not measured
    steps: tuple[str, ...] = ()  # the steps it comes from: disturbed there, no verdict


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return ordered[int(rank) - 1]


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def _pair(a: float | None, b: float | None, digits: int, unit: str = "") -> str:
    return f"{_fmt(a, digits)} / {_fmt(b, digits)}{unit}"


def _at_least(goal: float, *values: float | None) -> bool | None:
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) else all(v >= goal for v in known)


def _at_most(goal: float, *values: float | None) -> bool | None:
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) else all(v <= goal for v in known)


def _mean(w: WriteCount | None) -> float | None:
    return None if w is None else w.mean


def throughput_rows(f: Figures) -> list[Row]:
    k_ratio, r_ratio = ratio(f.kubectl_per_s, f.floor_per_s), ratio(f.rest_per_s, f.floor_per_s)
    both = _pair(f.kubectl_per_s, f.rest_per_s, 1)
    return [
        Row(
            "kopf floor: FloorTask CRs/s (create → status patch seen), the better of "
            + " / ".join(f"{v:.1f}" for v in f.floor_runs.values()),
            _fmt(f.floor_per_s),
        ),
        Row("single-text tasks/s, create → Succeeded: kubectl / REST", both),
        Row(
            "single-text ÷ kopf floor: kubectl / REST",
            _pair(k_ratio, r_ratio, 3),
            "≥ 0.25",
            _at_least(0.25, k_ratio, r_ratio),
            ("throughput", f.floor_step),
        ),
    ]


def write_rows(f: Figures) -> list[Row]:
    rest, kubectl = _mean(f.writes.get("rest")), _mean(f.writes.get("kubectl"))
    idle_rest, idle_kubectl = _mean(f.writes.get("rest idle")), _mean(f.writes.get("kubectl idle"))
    goal = "≤ 3 / ≤ 4"
    return [
        Row(
            "apiserver writes per task, at full load: REST / kubectl",
            _pair(rest, kubectl, 2),
            goal,
            _both(_at_most(3, rest), _at_most(4, kubectl)),
        ),
        Row(
            "apiserver writes per task, idle: REST / kubectl",
            _pair(idle_rest, idle_kubectl, 2),
            goal,
            _both(_at_most(3, idle_rest), _at_most(4, idle_kubectl)),
        ),
        Row("apiserver writes per CR, kopf floor", _fmt(_mean(f.writes.get("floor")), 2)),
    ]


def _both(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a and b


def latency_rows(f: Figures) -> list[Row]:
    rate = (
        f"at {_fmt(f.half_load_rate)} tasks/s, half the max" if f.half_load_rate else "at half load"
    )
    idle = (f.idle_p50_kubectl_s, f.idle_p50_rest_s)
    return [
        Row(
            f"create → Succeeded {rate}: p50 / p99",
            _pair(f.half_load_p50_s, f.half_load_p99_s, 3, " s"),
        ),
        Row(
            "create → Succeeded, one idle task, p50: kubectl / REST",
            _pair(*idle, 3, " s"),
            "≤ 0.3 s",
            _at_most(0.3, *idle),
            ("idle",),
        ),
    ]


def model_rows(f: Figures) -> list[Row]:
    batch = ratio(f.batch_texts_per_s, f.bare_texts_per_s)
    zs = list(f.zero_shot_ratios.values())
    zs_min = min(zs) if zs else None
    spread = f" ({min(zs):.2f}–{max(zs):.2f})" if zs else ""
    return [
        Row("batch CRs, texts/s (create → all Succeeded)", _fmt(f.batch_texts_per_s)),
        Row("bare classifier loop `model(**batch)`, texts/s", _fmt(f.bare_texts_per_s)),
        Row(
            "batch ÷ bare classifier loop",
            _fmt(batch, 3),
            "≥ 0.9",
            _at_least(0.9, batch),
            ("batch",),
        ),
        Row(
            "zero-shot `score()` ÷ bare forward loop, worst kind",
            _fmt(zs_min, 3) + spread,
            "≥ 0.9",
            _at_least(0.9, zs_min),
            ("zero-shot",),
        ),
        Row("hf-classifier `score()` ÷ bare forward loop", _fmt(f.classifier_score_ratio, 3)),
    ]


def memory_rows(f: Figures) -> list[Row]:
    live = f"{f.live_crs:,}".replace(",", " ") if f.live_crs else "10 000"
    state = (
        f"{f.live_unfinished} of them not yet Succeeded"
        if f.live_unfinished
        else "all Succeeded, settled"
    )
    rows = [
        Row("operator RSS before any task", _fmt(f.rss_start_mib, 0, " MiB")),
        Row(
            "single-text tasks/s while the live CRs were topped up (paced at the best rate)",
            _fmt(f.live_per_s),
        ),
        Row(
            f"operator RSS at {live} live CRs ({state})",
            _fmt(f.rss_live_mib, 0, " MiB"),
            "≤ 300 MiB",
            _at_most(300, f.rss_live_mib),
        ),
        Row("operator RSS, peak while they were processed", _fmt(f.rss_peak_mib, 0, " MiB")),
    ]
    if f.flatness:
        drift = flatness_drift(f.flatness)
        processed = f"{f.flatness[-1][0]:,}".replace(",", " ")
        rows.append(
            Row(
                f"operator RSS drift while {processed} tasks were processed "
                f"(live CRs at most {max(live for _, _, live in f.flatness)})",
                _fmt(drift, 1, " %"),
                "± 10 %",
                _at_most(10, drift),
            )
        )
    return rows


def flatness_drift(samples: Sequence[tuple[int, float, int]]) -> float | None:
    """The largest deviation, in %, from the median RSS of the samples after the first 10 %."""
    if len(samples) < 2:
        return None
    last = samples[-1][0]
    settled = [rss for processed, rss, _ in samples if processed >= 0.1 * last]
    middle = statistics.median(settled)
    return max(abs(rss - middle) for rss in settled) / middle * 100


def rows(f: Figures) -> list[Row]:
    return [*throughput_rows(f), *write_rows(f), *latency_rows(f), *model_rows(f), *memory_rows(f)]


def _verdict(r: Row, others: dict[str, float]) -> str:
    if r.met is None:
        return ""
    if any(others.get(step, 0.0) > DISTURBED for step in r.steps):
        return "disturbed"
    return "yes" if r.met else "**no**"


def render_table(table: Sequence[Row], others: dict[str, float] | None = None) -> list[str]:
    lines = ["| figure | value | goal | met |", "|---|---|---|---|"]
    lines += [f"| {r.figure} | {r.value} | {r.goal} | {_verdict(r, others or {})} |" for r in table]
    return lines


def render_writes(writes: dict[str, WriteCount]) -> list[str]:
    lines = ["| tasks | n | mean | median | max | mean per task, by kind (user agent) |"]
    lines.append("|---|---|---|---|---|---|")
    for label, w in writes.items():
        kinds = "; ".join(f"{k} {v:g}" for k, v in w.breakdown.items())
        refused = f"; refused {w.refused:g}" if w.refused else ""
        spread = f"{w.tasks} | {w.mean:g} | {w.median:g} | {w.max:g}"
        lines.append(f"| {label} | {spread} | {kinds}{refused} |")
    return lines


def render_markdown(f: Figures, machine: dict[str, Any], title: str, memory: bool = False) -> str:
    """The run as Markdown; `memory`: only the memory figures (`make bench-memory`)."""
    m = machine
    table = [r for r in memory_rows(f) if r.value != "—"] if memory else rows(f)
    lines = [
        f"### {title}: commit {m['commit']}, {m['date']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"load average before the run {m.get('load', '?')}. CPU used by other processes, "
        f"per step: {_shares(f.others_cpu)}.",
        "",
        *render_table(table, f.others_cpu),
        "",
    ]
    if f.writes:
        lines += ["Writes per task (audit log; Events left out):", "", *render_writes(f.writes), ""]
    if f.zero_shot_ratios:
        kinds = ", ".join(f"{k} {v:.3f}" for k, v in f.zero_shot_ratios.items())
        lines += [f"`score()` ÷ bare forward loop per zero-shot kind: {kinds}.", ""]
    if f.flatness:
        samples = ", ".join(f"{n}: {rss:.0f} ({live})" for n, rss, live in f.flatness)
        rate = (
            f", after the first round paced at {f.memory_rate:.1f} tasks/s" if f.memory_rate else ""
        )
        lines += [f"Operator RSS in MiB (live CRs) by tasks processed{rate}: {samples}.", ""]
    settings = ", ".join(f"{k}={v}" for k, v in f.settings.items())
    lines += [f"Settings: {settings}.", ""]
    if f.problems:
        lines += ["Problems in this run:", "", *[f"- {p}" for p in f.problems], ""]
    return "\n".join(lines)


def _shares(others: dict[str, float]) -> str:
    return ", ".join(f"{step} {share:g} %" for step, share in others.items()) or "not measured"


def begin_marker(slot: str) -> str:
    return f"<!-- bench:{slot}:begin (written by make bench) -->"


def end_marker(slot: str) -> str:
    return f"<!-- bench:{slot}:end -->"


def write_block(path: Path, slot: str, text: str) -> None:
    """Put `text` between the slot's markers in `path` (appended, with them, if absent)."""
    begin, end = begin_marker(slot), end_marker(slot)
    page = path.read_text() if path.exists() else ""
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        _, tail = rest.split(end, 1)
    else:
        head, tail = (page.rstrip("\n") + "\n\n" if page else ""), "\n"
    path.write_text(f"{head}{begin}\n{text.rstrip()}\n{end}{tail}")
