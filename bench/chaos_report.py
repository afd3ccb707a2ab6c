"""The chaos suite's report: the figures and checks as Markdown, and their place in the docs.

docs/reliability.md keeps the last full run between two markers; the rest of the page is prose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos_checks import Verdict

BEGIN = "<!-- chaos-figures:begin (written by bench/chaos.py --write-docs) -->"
END = "<!-- chaos-figures:end -->"
SHOWN_PER_CHECK = 10


def _faults_table(faults: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| kill -9 at | of the window | process | pid | back at | new pid |",
        "|---|---|---|---|---|---|",
    ]
    for f in faults:
        back = f"{f['back_at']:.1f} s" if f["back_at"] is not None else f"not back: {f['error']}"
        rows.append(
            f"| {f['killed_at']:.1f} s | {f['fraction']:.2f} | {f['target']} | {f['old_pid']} "
            f"| {back} | {f['new_pid'] or '-'} |"
        )
    return rows


def _figures_table(f: dict[str, Any]) -> list[str]:
    terminal = (
        f"{f['all_terminal_after_last_submission_s']} s after the last submission "
        f"(t = {f['all_terminal_s']} s)"
        if f.get("all_terminal_s") is not None
        else "not reached"
    )
    phases = ", ".join(f"{k} {v}" for k, v in f.get("phases", {}).items()) or "none"
    return [
        "| figure | value |",
        "|---|---|",
        f"| tasks | {f['tasks']} ({f['kubectl_tasks']} kubectl-style CRs, {f['rest_tasks']} "
        f"`POST /predict`; {f['items']} items) |",
        f"| submission | {f['rate_per_s']}/s over {f['window_s']} s; last at "
        f"{f['last_submission_s']} s |",
        f"| time to all terminal | {terminal} |",
        f"| phases in the database | {phases} |",
        f"| lost | {f['lost']} |",
        f"| duplicated | {f['duplicated']} |",
        f"| create → Succeeded | p50 {f['latency_p50_s']} s, p95 {f['latency_p95_s']} s, "
        f"max {f['latency_max_s']} s |",
        f"| tasks delivered more than once | {f['tasks_redelivered']} (most attempts: "
        f"{f['max_attempts']}) |",
        f"| REST sends retried (refused, 503) | {f['retried_sends']} |",
        f"| REST replies lost after sending | {f['ambiguous_replies']} (task had been created: "
        f"{f['ambiguous_already_created']}) |",
        f"| results the worker logged | {f['worker_logged_results']} of {f['items']} items "
        f"(tasks logged short, killed between commit and log line: {f['tasks_logged_short']}) |",
    ]


def render_markdown(v: Verdict) -> str:
    f = v.figures
    m = f["machine"]
    lines = [
        f"### Run {f['run']}: {'PASSED' if v.passed else 'FAILED'}",
        "",
        f"{m['date']}, commit {m['commit']}; {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}.",
        "",
        *_figures_table(f),
        "",
        *_faults_table(f["faults"]),
        "",
        "Checks:",
        "",
    ]
    for name, problems in v.failures.items():
        lines.append(f"- {'FAILED' if problems else 'passed'}: {name}")
        lines += [f"  - {p}" for p in problems[:SHOWN_PER_CHECK]]
        if len(problems) > SHOWN_PER_CHECK:
            lines.append(f"  - … and {len(problems) - SHOWN_PER_CHECK} more")
    return "\n".join(lines) + "\n"


def write_docs(path: Path, text: str) -> None:
    """Put `text` between the markers of `path`, replacing the previous run's figures."""
    page = path.read_text()
    if BEGIN not in page or END not in page:
        raise SystemExit(f"{path} has no {BEGIN} … {END} block")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
