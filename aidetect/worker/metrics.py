"""The worker's Prometheus metrics (prometheus_client), served at /metrics on its health port.

Labels are profile names, phases and fixed words only, never task ids: the label sets stay
as small as the configuration.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` series: one more per counter and histogram, and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

BATCH_SECONDS = Histogram(
    "aidetect_worker_batch_seconds",
    "Model time per micro-batch (the detector's score call).",
    ["profile"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BATCH_TEXTS = Histogram(
    "aidetect_worker_batch_texts",
    "Texts scored per micro-batch.",
    ["profile"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
QUEUE_WAIT = Histogram(
    "aidetect_worker_queue_wait_seconds",
    "From Queued to the first batch of the task on a worker.",
    ["profile"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
CACHE = Counter(
    "aidetect_worker_cache_lookups_total",
    "Result-cache lookups by outcome (hit: the score came from the cache).",
    ["profile", "outcome"],
)
DECISIONS = Counter(
    "aidetect_worker_messages_total",
    "Task messages settled, by what became of them (ack, retry, reject: dead-lettered).",
    ["action"],
)
QUEUE_DEPTH = Gauge(
    "aidetect_worker_queue_depth",
    "Messages ready in the queues of a profile this worker serves (both priorities).",
    ["profile"],
)
