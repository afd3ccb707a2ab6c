"""Worker heartbeats and the counts `/stats` serves."""

from __future__ import annotations

from collections.abc import Sequence

from aidetect.core.db.connection import ConnectionPool
from aidetect.core.models import WorkerHeartbeat


class WorkerStore(ConnectionPool):
    """One heartbeat row per worker, and task counts per phase."""

    def heartbeat(
        self,
        *,
        worker: str,
        node: str,
        detectors: Sequence[str],
        model_version: str,
        device: str,
        last_batch_seconds: float | None = None,
        last_batch_size: int | None = None,
        queue_depth: int | None = None,
    ) -> None:
        with self.transaction() as cur:
            cur.execute(
                """INSERT INTO worker_heartbeats (worker, node, detectors, model_version, device,
                       last_batch_seconds, last_batch_size, queue_depth)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (worker) DO UPDATE SET node = excluded.node,
                       detectors = excluded.detectors, model_version = excluded.model_version,
                       device = excluded.device, last_seen = now(),
                       last_batch_seconds = coalesce(excluded.last_batch_seconds,
                                                     worker_heartbeats.last_batch_seconds),
                       last_batch_size = coalesce(excluded.last_batch_size,
                                                  worker_heartbeats.last_batch_size),
                       queue_depth = coalesce(excluded.queue_depth,
                                              worker_heartbeats.queue_depth)""",
                (
                    worker,
                    node,
                    list(detectors),
                    model_version,
                    device,
                    last_batch_seconds,
                    last_batch_size,
                    queue_depth,
                ),
            )

    def workers(self) -> list[WorkerHeartbeat]:
        with self.transaction() as cur:
            cur.execute("SELECT * FROM worker_heartbeats ORDER BY worker")
            return [WorkerHeartbeat(**r) for r in cur.fetchall()]

    def phase_counts(self) -> dict[str, int]:
        with self.transaction() as cur:
            cur.execute("SELECT phase, count(*) AS n FROM tasks GROUP BY phase")
            return {r["phase"]: r["n"] for r in cur.fetchall()}
