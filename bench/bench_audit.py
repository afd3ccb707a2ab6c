"""Writes per task, counted from the kube-apiserver's audit log.

The `make up` apiserver logs every write (create, update, patch, delete) at Metadata level to
`$state/control-plane/audit.log`. A task's writes are those on its CR and the CR's subresources,
the user's create included; Events are left out (the issue's rule). A create with
`generateName` (every `POST /predict`) is logged before the object has a name, so those creates
are counted by time window and namespace and spread evenly over the run's REST tasks.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class AuditWrite:
    """One write the apiserver finished, as its audit log records it."""

    resource: str
    namespace: str
    name: str  # "" for a create by generateName
    subresource: str
    verb: str
    agent: str  # the user agent's product ("kopf", "OpenAPI-Generator", "aidetect-bench")
    code: int
    received: datetime

    @property
    def what(self) -> str:
        return f"{self.verb} {self.subresource or 'object'} ({self.agent})"


def parse_audit(lines: Iterable[str], resources: frozenset[str]) -> list[AuditWrite]:
    """The finished writes on `resources` (plural names); other lines are skipped."""
    out: list[AuditWrite] = []
    for line in lines:
        if not line.strip():
            continue
        e = json.loads(line)
        ref = e.get("objectRef") or {}
        if e.get("stage") != "ResponseComplete" or ref.get("resource") not in resources:
            continue
        if e.get("verb") not in WRITE_VERBS:
            continue
        out.append(
            AuditWrite(
                resource=ref["resource"],
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                subresource=ref.get("subresource", ""),
                verb=e["verb"],
                agent=(e.get("userAgent") or "-").split("/")[0],
                code=int((e.get("responseStatus") or {}).get("code", 0)),
                received=datetime.fromisoformat(e["requestReceivedTimestamp"]),
            )
        )
    return out


@dataclass(frozen=True)
class UnnamedCreates:
    """Where to look for creates by generateName: a namespace and a time window."""

    namespace: str
    start: datetime
    end: datetime


@dataclass
class WriteCount:
    """Writes per task for a set of tasks: the spread, and the mean of each kind of write."""

    tasks: int
    mean: float
    median: float
    max: float
    breakdown: dict[str, float] = field(default_factory=dict)  # kind -> mean per task
    refused: float = 0.0  # attempts answered >= 400 (e.g. 409 conflicts), mean per task


def writes_per_task(
    writes: Iterable[AuditWrite],
    resource: str,
    names: Iterable[str],
    unnamed: UnnamedCreates | None = None,
) -> WriteCount:
    """Count the successful writes on each named CR, plus the unnamed creates spread evenly."""
    per: dict[str, Counter[str]] = {n: Counter() for n in names}
    spread: Counter[str] = Counter()
    refused = 0
    for w in writes:
        if w.resource != resource:
            continue
        if w.name in per:
            target: Counter[str] | None = per[w.name]
        elif not w.name and unnamed and _in_window(w, unnamed):
            target = spread
        else:
            target = None
        if target is None:
            continue
        if w.code >= 400:
            refused += 1
        else:
            target[w.what] += 1
    n = len(per)
    if n == 0:
        return WriteCount(0, 0.0, 0.0, 0.0)
    extra = sum(spread.values()) / n
    totals = [sum(c.values()) + extra for c in per.values()]
    breakdown: Counter[str] = Counter()
    for c in per.values():
        breakdown.update(c)
    breakdown.update(spread)
    return WriteCount(
        tasks=n,
        mean=round(statistics.fmean(totals), 2),
        median=round(statistics.median(totals), 2),
        max=round(max(totals), 2),
        breakdown={k: round(v / n, 2) for k, v in sorted(breakdown.items())},
        refused=round(refused / n, 2),
    )


def _in_window(w: AuditWrite, u: UnnamedCreates) -> bool:
    return w.verb == "create" and w.namespace == u.namespace and u.start <= w.received <= u.end
