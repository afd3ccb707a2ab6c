"""The chaos suite's verdict: the truth read from both sides, the CR and the database.

The CR status gives phase, progress and score; the database (the system of record) gives the
task row, each item's one result and the transition log. The worker's log is a second witness
for "every item scored once": the sum of the results it says it wrote, per task.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from chaos_submit import Planned, Submission, key_of, spec_texts
from kubernetes import client

from aidetect.core import crd
from aidetect.core.db import Database
from aidetect.core.models import ItemFailure, ItemResult, TaskRecord, Transition
from aidetect.core.states import TERMINAL, Phase

CR_SCORE_DIGITS = 4  # the CR shows rounded scores; the database keeps full precision
WROTE = re.compile(r"\[([0-9a-f-]{36})\] (?:finished: )?wrote (\d+) result")


@dataclass(frozen=True)
class CrView:
    """What a DetectionTask's status says."""

    uid: str
    name: str
    key: str | None
    phase: str | None
    progress: dict[str, int]
    score: float | None
    label: str | None


def list_crs(api: client.ApiClient, namespace: str) -> list[CrView]:
    custom = client.CustomObjectsApi(api)
    out: list[CrView] = []
    token: str | None = None
    while True:
        page: dict[str, Any] = custom.list_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.PLURAL, limit=500, _continue=token
        )
        for obj in page["items"]:
            status = obj.get("status") or {}
            result = status.get("result") or {}
            out.append(
                CrView(
                    uid=obj["metadata"]["uid"],
                    name=obj["metadata"]["name"],
                    key=key_of(spec_texts(obj.get("spec") or {})),
                    phase=status.get("phase"),
                    progress=dict(status.get("progress") or {}),
                    score=result.get("score"),
                    label=result.get("label"),
                )
            )
        token = page["metadata"].get("continue")
        if not token:
            return out


def list_records(db: Database, namespace: str) -> dict[UUID, TaskRecord]:
    records: dict[UUID, TaskRecord] = {}
    cursor: str | None = None
    while True:
        page = db.list_tasks(namespaces=[namespace], limit=500, cursor=cursor)
        records.update({t.id: t for t in page.tasks})
        cursor = page.next_cursor
        if cursor is None:
            return records


def terminal_counts(
    crs: list[CrView], records: dict[UUID, TaskRecord], keys: set[str]
) -> tuple[int, int]:
    """How many of the tasks with these keys are terminal on the CR, and in the database."""
    done = {str(p) for p in TERMINAL}
    ours = [c for c in crs if c.key in keys]
    uids = {UUID(c.uid) for c in ours}
    return (
        sum(c.phase in done for c in ours),
        sum(r.phase in TERMINAL for uid, r in records.items() if uid in uids),
    )


def logged_writes(worker_log: Path) -> Counter[str]:
    """Results the worker says it wrote, per task id (every start appends to one log)."""
    counts: Counter[str] = Counter()
    for line in worker_log.read_text(errors="replace").splitlines():
        if match := WROTE.search(line):
            counts[match.group(1)] += int(match.group(2))
    return counts


@dataclass
class Verdict:
    """Each check by name, with what failed it (empty: passed), and the figures it measured."""

    failures: dict[str, list[str]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, problems: list[str]) -> None:
        self.failures[name] = problems

    @property
    def passed(self) -> bool:
        return not any(self.failures.values())


@dataclass(frozen=True)
class Truth:
    """Everything read at the end: the plan, the clients' records, the CRs and the database."""

    plan: list[Planned]
    submissions: list[Submission]
    crs: list[CrView]
    records: dict[UUID, TaskRecord]
    items: dict[UUID, Sequence[ItemResult | ItemFailure]]
    transitions: dict[UUID, list[Transition]]
    logged: Counter[str]


def read_truth(
    api: client.ApiClient,
    db: Database,
    namespace: str,
    plan: list[Planned],
    submissions: list[Submission],
    worker_log: Path,
) -> Truth:
    records = list_records(db, namespace)
    return Truth(
        plan=plan,
        submissions=submissions,
        crs=list_crs(api, namespace),
        records=records,
        items={uid: db.items(uid) for uid in records},
        transitions={uid: db.transitions(uid) for uid in records},
        logged=logged_writes(worker_log),
    )


def _run_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def judge(t: Truth) -> Verdict:
    v = Verdict()
    planned = {p.key: p for p in t.plan}
    run = _run_of(t.plan[0].key)
    # Tasks of earlier runs on the same stack are not this run's business; keyless ones are.
    ours = [cr for cr in t.crs if cr.key is None or _run_of(cr.key) == run]
    by_key: dict[str | None, list[CrView]] = defaultdict(list)
    for cr in ours:
        by_key[cr.key].append(cr)
    v.check(
        "every task was submitted",
        [f"{s.planned.key}: {s.error}" for s in t.submissions if not s.uid],
    )
    lost = [k for k in planned if not by_key.get(k)]
    lost += [f"{cr.name} (no database row)" for cr in ours if UUID(cr.uid) not in t.records]
    v.check("nothing lost", lost)
    dup = [f"{k}: {len(crs)} tasks" for k, crs in by_key.items() if k in planned and len(crs) > 1]
    stray = [f"CR {cr.name} is no planned task" for cr in ours if cr.key not in planned]
    cr_uids = {UUID(cr.uid) for cr in t.crs}
    stray += [f"database task {r.name} has no CR" for u, r in t.records.items() if u not in cr_uids]
    v.check("nothing duplicated", dup + stray)
    mismatch = [
        f"{s.planned.key}: client got {s.uid}, the CR is {by_key[s.planned.key][0].uid}"
        for s in t.submissions
        if s.uid
        and len(by_key.get(s.planned.key, [])) == 1
        and by_key[s.planned.key][0].uid != s.uid
    ]
    v.check("each client's task id is its task's", mismatch)
    _check_outcomes(v, t, planned, by_key)
    v.figures.update(_figures(t, {UUID(cr.uid) for cr in ours}, lost, dup + stray))
    return v


def _check_outcomes(
    v: Verdict, t: Truth, planned: dict[str, Planned], by_key: dict[str | None, list[CrView]]
) -> None:
    not_ok, once, scored, agree, witness = [], [], [], [], []
    for key, p in planned.items():
        for cr in by_key.get(key, []):
            uid = UUID(cr.uid)
            rec = t.records.get(uid)
            if rec is None:
                continue
            if rec.phase != Phase.SUCCEEDED or cr.phase != Phase.SUCCEEDED:
                not_ok.append(
                    f"{key}: database {rec.phase}, CR {cr.phase} ({rec.reason}: {rec.message})"
                )
            log = t.transitions[uid]
            into = [tr for tr in log if tr.to_phase == Phase.SUCCEEDED]
            if len(into) != 1 or (into and log[-1] is not into[0]):
                once.append(f"{key}: {len(into)} transitions to Succeeded in {len(log)}")
            items = t.items[uid]
            indices = [i.index for i in items]
            n = len(p.texts)
            if indices != list(range(n)) or rec.progress.total != n or rec.progress.done != n:
                scored.append(f"{key}: items {indices} of {n}, progress {rec.progress.summary}")
            agree += _disagreements(key, cr, rec)
            if t.logged[cr.uid] > n:
                witness.append(f"{key}: the worker logged {t.logged[cr.uid]} results for {n} items")
    v.check("every task Succeeded", not_ok)
    v.check("one Succeeded transition each", once)
    v.check("every item scored once (database)", scored)
    v.check("every item scored once (worker log: none written twice)", witness)
    v.check("CR and database agree", agree)


def _disagreements(key: str, cr: CrView, rec: TaskRecord) -> list[str]:
    out = []
    if cr.phase != rec.phase:
        out.append(f"{key}: phase CR {cr.phase}, database {rec.phase}")
    db_progress = {
        "total": rec.progress.total,
        "done": rec.progress.done,
        "failed": rec.progress.failed,
    }
    if {k: cr.progress.get(k, 0) for k in db_progress} != db_progress:
        out.append(f"{key}: progress CR {cr.progress}, database {db_progress}")
    db_score = None if rec.result is None else round(rec.result.score, CR_SCORE_DIGITS)
    db_label = None if rec.result is None else rec.result.label
    if cr.score != db_score or cr.label != db_label:
        out.append(f"{key}: result CR {cr.score} {cr.label}, database {db_score} {db_label}")
    return out


def _figures(t: Truth, ours: set[UUID], lost: list[str], duplicated: list[str]) -> dict[str, Any]:
    records = [r for uid, r in t.records.items() if uid in ours]
    latency = sorted(
        (r.finished_at - r.created_at).total_seconds() for r in records if r.finished_at
    )
    phases = Counter(str(r.phase) for r in records)
    items = sum(len(p.texts) for p in t.plan)
    return {
        "tasks": len(t.plan),
        "items": items,
        "phases": dict(sorted(phases.items())),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "latency_p50_s": round(statistics.median(latency), 2) if latency else None,
        "latency_p95_s": round(latency[int(0.95 * (len(latency) - 1))], 2) if latency else None,
        "latency_max_s": round(latency[-1], 2) if latency else None,
        "tasks_redelivered": sum(r.attempts > 1 for r in records),
        "max_attempts": max((r.attempts for r in records), default=0),
        "worker_logged_results": sum(t.logged[str(r.id)] for r in records),
        "tasks_logged_short": sum(
            t.logged[str(r.id)] < r.progress.total for r in records if r.phase == Phase.SUCCEEDED
        ),
    }
