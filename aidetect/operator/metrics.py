"""The operator's Prometheus metrics (prometheus_client), served at /metrics on its readiness
port. Labels are phases, reasons, profile names and step names only, never task ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` series: one more per counter and histogram, and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

TASKS_ENDED = Counter(
    "aidetect_tasks_ended_total",
    "Tasks whose end the operator showed on their CR, by phase and reason.",
    ["phase", "reason"],
)
TASK_SECONDS = Histogram(
    "aidetect_task_duration_seconds",
    "From the CR's creation to its task's end (Succeeded, Failed or Cancelled).",
    ["phase"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600),
)
ADMITTED = Counter("aidetect_tasks_admitted_total", "Tasks recorded and published.", ["profile"])
DEAD_LETTERS = Counter(
    "aidetect_dead_letters_total", "Task messages over the queue's delivery limit."
)
REQUEUES = Counter("aidetect_requeues_total", "Tasks republished by the resync after no progress.")
STATUS_PATCHES = Counter("aidetect_status_patches_total", "DetectionTask status patches.")
LIVE_TASKS = Gauge(
    "aidetect_live_tasks", "DetectionTask CRs in the operator's namespaces, at the last resync."
)
RESYNC_FAILURES = Counter(
    "aidetect_resync_task_failures_total", "Tasks a resync step could not repair.", ["step"]
)
