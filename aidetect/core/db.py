"""The only place that speaks SQL: Postgres, the system of record.

Every phase change goes through `Database.transition()`, which checks the state machine and
writes the transition log in the same transaction. Result writes are idempotent per item: an
item's result is written once (`scored_at IS NULL`), however often its message is delivered.
psycopg2 errors are wrapped here as `DatabaseUnavailable`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any
from uuid import UUID

import psycopg2
import psycopg2.extras
import psycopg2.pool

from aidetect.core.errors import DatabaseUnavailable, InvalidInput, TaskNotFound
from aidetect.core.models import (
    ItemResult,
    Progress,
    TaskRecord,
    TaskSpec,
    Transition,
    WorkerHeartbeat,
)
from aidetect.core.results import summarize
from aidetect.core.states import TERMINAL, Phase, can_advance

psycopg2.extras.register_uuid()
Cursor = psycopg2.extras.RealDictCursor

TASK_COLUMNS = """id, namespace, name, generation, detector, granularity, priority, backoff_limit,
    active_deadline_seconds, ttl_seconds_after_finished, phase, reason, message, attempts,
    total_items, done_items, failed_items, result, worker, created_at, queued_at, started_at,
    finished_at, version, cr_version, cr_deleted_at"""


def upgrade_schema(url: str) -> list[str]:
    """Apply the pending yoyo migrations; return their ids. Safe to run concurrently."""
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(url)
    except psycopg2.Error as e:
        raise DatabaseUnavailable(f"cannot connect to the database: {e}") from e
    migrations = read_migrations(str(files("aidetect.core") / "migrations"))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record(row: dict[str, Any]) -> TaskRecord:
    return TaskRecord(
        progress=Progress(
            total=row["total_items"], done=row["done_items"], failed=row["failed_items"]
        ),
        **{k: v for k, v in row.items() if k not in {"total_items", "done_items", "failed_items"}},
    )


@dataclass(frozen=True)
class ItemToScore:
    """An item a worker must score: its text and where the result goes."""

    task_id: UUID
    index: int
    text: str


@dataclass(frozen=True)
class CachedScore:
    """A raw score kept in the result cache (sentences as [{start, end, score}])."""

    score: float
    chunks: int
    sentences: list[dict[str, Any]] | None


@dataclass(frozen=True)
class WriteOutcome:
    """What `record_results` did: how many results were new, and whether the task finished."""

    written: int
    finished: bool
    skipped_phase: Phase | None = None


@dataclass(frozen=True)
class TaskPage:
    tasks: list[TaskRecord]
    next_cursor: str | None


class Database:
    """A pool of connections and the task operations the components need."""

    def __init__(self, url: str, *, pool_max: int = 8, connect_timeout: int = 5) -> None:
        # The pool raises when it is empty; the semaphore makes callers wait for a connection.
        self._available = threading.BoundedSemaphore(pool_max)
        try:
            self._pool = psycopg2.pool.ThreadedConnectionPool(
                1, pool_max, url, connect_timeout=connect_timeout
            )
        except psycopg2.Error as e:
            raise DatabaseUnavailable(f"cannot connect to the database: {e}") from e

    def close(self) -> None:
        self._pool.closeall()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one transaction: committed on success, rolled back on error."""
        if not self._available.acquire(timeout=30):
            raise DatabaseUnavailable("no database connection free for 30s")
        try:
            conn = self._pool.getconn()
        except psycopg2.Error as e:
            self._available.release()
            raise DatabaseUnavailable(f"no database connection: {e}") from e
        broken = False
        try:
            with conn.cursor(cursor_factory=Cursor) as cur:
                yield cur
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            broken = True
            raise DatabaseUnavailable(f"database connection failed: {e}") from e
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        finally:
            self._pool.putconn(conn, close=broken or bool(conn.closed))
            self._available.release()

    def ping(self) -> None:
        with self.transaction() as cur:
            cur.execute("SELECT 1")

    # --- tasks -----------------------------------------------------------------------------

    def insert_task(
        self,
        *,
        task_id: UUID,
        namespace: str,
        name: str,
        spec: TaskSpec,
        detector: str,
        texts: Sequence[str],
        created_at: datetime,
        generation: int = 1,
    ) -> bool:
        """Record a new task and its items as Pending; False if it was already recorded."""
        with self.transaction() as cur:
            cur.execute(
                """INSERT INTO tasks (id, namespace, name, generation, detector, granularity,
                       priority, backoff_limit, active_deadline_seconds,
                       ttl_seconds_after_finished, phase, reason, total_items, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'Pending', 'Recorded', %s, %s)
                   ON CONFLICT (id) DO NOTHING""",
                (
                    task_id,
                    namespace,
                    name,
                    generation,
                    detector,
                    spec.granularity,
                    spec.priority,
                    spec.backoff_limit,
                    spec.active_deadline_seconds,
                    spec.ttl_seconds_after_finished,
                    len(texts),
                    created_at,
                ),
            )
            if cur.rowcount == 0:
                return False
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO task_items (task_id, idx, text, text_sha256) VALUES %s",
                [(task_id, i, t, text_sha256(t)) for i, t in enumerate(texts)],
            )
            self._log(cur, task_id, None, Phase.PENDING, "Recorded", "")
        return True

    def get_task(self, task_id: UUID) -> TaskRecord:
        with self.transaction() as cur:
            cur.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
            row = cur.fetchone()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        return _record(row)

    def find_task(self, task_id: UUID) -> TaskRecord | None:
        try:
            return self.get_task(task_id)
        except TaskNotFound:
            return None

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespace: str | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """Tasks newest first, filtered, with an opaque keyset cursor for the next page."""
        where: list[str] = ["TRUE"]
        args: list[Any] = []
        for column, value in (("phase", phase), ("namespace", namespace), ("detector", detector)):
            if value is not None:
                where.append(f"{column} = %s")
                args.append(str(value))
        if cursor:
            created, last_id = _decode_cursor(cursor)
            where.append("(created_at, id) < (%s, %s)")
            args += [created, last_id]
        with self.transaction() as cur:
            cur.execute(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, id DESC LIMIT %s",
                (*args, limit + 1),
            )
            rows = cur.fetchall()
        more = len(rows) > limit
        tasks = [_record(r) for r in rows[:limit]]
        next_cursor = _encode_cursor(tasks[-1].created_at, tasks[-1].id) if more and tasks else None
        return TaskPage(tasks=tasks, next_cursor=next_cursor)

    def items(self, task_id: UUID) -> list[ItemResult]:
        """The scored items of a task, in order."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, score, label, probability, threshold, model_version, detail
                   FROM task_items WHERE task_id = %s AND scored_at IS NOT NULL ORDER BY idx""",
                (task_id,),
            )
            return [_item(r) for r in cur.fetchall()]

    def transitions(self, task_id: UUID) -> list[Transition]:
        with self.transaction() as cur:
            cur.execute(
                """SELECT from_phase, to_phase, reason, message, at FROM task_transitions
                   WHERE task_id = %s ORDER BY id""",
                (task_id,),
            )
            return [Transition(**r) for r in cur.fetchall()]

    def transition(self, task_id: UUID, target: Phase, reason: str, message: str = "") -> bool:
        """Move a task to `target` if the state machine allows it from its current phase.

        Returns False (and changes nothing) when it does not, e.g. the task already ended.
        """
        with self.transaction() as cur:
            return self._transition(cur, task_id, target, reason, message)

    def _transition(
        self, cur: Any, task_id: UUID, target: Phase, reason: str, message: str
    ) -> bool:
        cur.execute("SELECT phase FROM tasks WHERE id = %s FOR UPDATE", (task_id,))
        row = cur.fetchone()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        current = Phase(row["phase"])
        if not can_advance(current, target):
            return False
        stamp = {
            Phase.QUEUED: "queued_at = coalesce(queued_at, now()),",
            Phase.RUNNING: "started_at = coalesce(started_at, now()),",
        }.get(target, "finished_at = now()," if target in TERMINAL else "")
        cur.execute(
            f"""UPDATE tasks SET phase = %s, reason = %s, message = %s, {stamp}
                    progressed_at = now(), version = version + 1 WHERE id = %s""",
            (target, reason, message, task_id),
        )
        self._log(cur, task_id, current, target, reason, message)
        return True

    def _finish(self, cur: Any, task_id: UUID) -> bool:
        """Succeed a task whose last item was written, stepping through the phases it skipped
        (a task requeued by the resync can be Queued while its last result arrives)."""
        for step, reason in ((Phase.RUNNING, "Scoring"), (Phase.SUCCEEDED, "Completed")):
            moved = self._transition(cur, task_id, step, reason, "")
        return moved

    @staticmethod
    def _log(cur: Any, task_id: UUID, src: Phase | None, dst: Phase, reason: str, msg: str) -> None:
        cur.execute(
            """INSERT INTO task_transitions (task_id, from_phase, to_phase, reason, message)
               VALUES (%s, %s, %s, %s, %s)""",
            (task_id, src, dst, reason, msg),
        )

    def note_attempt(self, task_id: UUID, attempt: int, message: str | None = None) -> None:
        """Record the delivery attempt a worker is on (and why the last one failed)."""
        with self.transaction() as cur:
            cur.execute(
                """UPDATE tasks SET attempts = greatest(attempts, %s),
                       message = coalesce(%s, message), version = version + 1
                   WHERE id = %s AND (attempts < %s OR %s IS NOT NULL)""",
                (attempt, message, task_id, attempt, message),
            )

    def items_to_score(self, task_id: UUID, indices: Sequence[int]) -> list[ItemToScore]:
        """The named items of a task that have no result yet."""
        with self.transaction() as cur:
            cur.execute(
                """SELECT idx, text FROM task_items WHERE task_id = %s AND idx = ANY(%s)
                   AND scored_at IS NULL ORDER BY idx""",
                (task_id, list(indices)),
            )
            return [ItemToScore(task_id, r["idx"], r["text"]) for r in cur.fetchall()]

    def unscored_indices(self, task_id: UUID) -> list[int]:
        with self.transaction() as cur:
            cur.execute(
                "SELECT idx FROM task_items WHERE task_id = %s AND scored_at IS NULL ORDER BY idx",
                (task_id,),
            )
            return [r["idx"] for r in cur.fetchall()]

    def record_results(
        self, task_id: UUID, results: Sequence[ItemResult], worker: str
    ) -> WriteOutcome:
        """Write each item's result once; finish the task when its last item is written.

        Runs under the task row's lock, so two workers finishing the last items concurrently
        finish the task exactly once, and a cancelled or failed task gets no results.
        """
        with self.transaction() as cur:
            cur.execute(
                "SELECT phase, detector, total_items FROM tasks WHERE id = %s FOR UPDATE",
                (task_id,),
            )
            task = cur.fetchone()
            if task is None:
                raise TaskNotFound(f"no task {task_id}")
            if Phase(task["phase"]) in TERMINAL:
                return WriteOutcome(0, False, skipped_phase=Phase(task["phase"]))
            written = (
                psycopg2.extras.execute_values(
                    cur,
                    """UPDATE task_items AS t SET score = v.score, label = v.label,
                       probability = v.probability, threshold = v.threshold,
                       model_version = v.model_version, detail = v.detail::jsonb,
                       worker = v.worker, scored_at = now()
                   FROM (VALUES %s) AS v (task_id, idx, score, label, probability, threshold,
                                          model_version, detail, worker)
                   WHERE t.task_id = v.task_id AND t.idx = v.idx AND t.scored_at IS NULL
                   RETURNING t.idx""",
                    [
                        (
                            task_id,
                            r.index,
                            r.score,
                            r.label,
                            r.probability,
                            r.threshold,
                            r.model_version,
                            psycopg2.extras.Json(_detail(r)),
                            worker,
                        )
                        for r in results
                    ],
                    template="(%s::uuid, %s, %s::double precision, %s, %s::double precision, "
                    "%s::double precision, %s, %s, %s)",
                    fetch=True,
                )
                if results
                else []
            )
            new = len(written)
            cur.execute(
                """UPDATE tasks SET done_items = done_items + %s, worker = %s,
                       progressed_at = now(), version = version + (%s > 0)::int
                   WHERE id = %s RETURNING done_items""",
                (new, worker, new, task_id),
            )
            done = cur.fetchone()["done_items"]
            if done < task["total_items"]:
                return WriteOutcome(new, False)
            cur.execute(
                """SELECT idx, score, label, probability, threshold, model_version, detail
                   FROM task_items WHERE task_id = %s ORDER BY idx""",
                (task_id,),
            )
            summary = summarize([_item(r) for r in cur.fetchall()], detector=task["detector"])
            cur.execute(
                "UPDATE tasks SET result = %s WHERE id = %s",
                (psycopg2.extras.Json(summary.model_dump(mode="json", exclude_none=True)), task_id),
            )
            return WriteOutcome(new, self._finish(cur, task_id))

    # --- operator bookkeeping ----------------------------------------------------------------

    def unsynced(self, limit: int = 100) -> list[TaskRecord]:
        """Tasks whose CR status lags the database."""
        with self.transaction() as cur:
            cur.execute(
                f"""SELECT {TASK_COLUMNS} FROM tasks
                    WHERE cr_version < version AND cr_deleted_at IS NULL
                    ORDER BY progressed_at LIMIT %s""",
                (limit,),
            )
            return [_record(r) for r in cur.fetchall()]

    def mark_synced(self, task_id: UUID, version: int) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE tasks SET cr_version = greatest(cr_version, %s) WHERE id = %s",
                (version, task_id),
            )

    def mark_cr_deleted(self, task_id: UUID) -> None:
        with self.transaction() as cur:
            cur.execute(
                "UPDATE tasks SET cr_deleted_at = coalesce(cr_deleted_at, now()) WHERE id = %s",
                (task_id,),
            )

    def live_rows(self, *, recorded_before: datetime) -> list[UUID]:
        """Ids of tasks whose CR should still exist, recorded before the given time."""
        with self.transaction() as cur:
            cur.execute(
                "SELECT id FROM tasks WHERE cr_deleted_at IS NULL AND recorded_at < %s",
                (recorded_before,),
            )
            return [r["id"] for r in cur.fetchall()]

    def past_deadline(self) -> list[TaskRecord]:
        """Unfinished tasks whose activeDeadlineSeconds, counted from creation, has passed."""
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running') AND active_deadline_seconds IS NOT NULL
               AND created_at + active_deadline_seconds * interval '1 second' < now()"""
        )

    def past_ttl(self) -> list[TaskRecord]:
        """Finished tasks whose CR still exists and whose ttlSecondsAfterFinished has passed."""
        return self._select_where(
            """phase IN ('Succeeded', 'Failed') AND cr_deleted_at IS NULL
               AND ttl_seconds_after_finished IS NOT NULL
               AND finished_at + ttl_seconds_after_finished * interval '1 second' < now()"""
        )

    def stuck(self, older_than_seconds: float) -> list[TaskRecord]:
        """Pending, Queued or Running tasks without progress for longer than the bound."""
        return self._select_where(
            """phase IN ('Pending', 'Queued', 'Running')
               AND progressed_at < now() - %s * interval '1 second'""",
            (older_than_seconds,),
        )

    def touch(self, task_id: UUID) -> None:
        """Restart a task's stuck clock (after it was requeued)."""
        with self.transaction() as cur:
            cur.execute("UPDATE tasks SET progressed_at = now() WHERE id = %s", (task_id,))

    def _select_where(self, condition: str, args: tuple[Any, ...] = ()) -> list[TaskRecord]:
        with self.transaction() as cur:
            cur.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {condition} LIMIT 500", args)
            return [_record(r) for r in cur.fetchall()]

    # --- result cache ----------------------------------------------------------------------

    def cached_scores(
        self, *, detector: str, model_version: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedScore]:
        """Raw scores already computed for (text sha256, granularity) pairs; counts the hits."""
        if not keys:
            return {}
        with self.transaction() as cur:
            cur.execute(
                """UPDATE result_cache SET hits = hits + 1, last_hit_at = now()
                   WHERE detector = %s AND model_version = %s
                     AND (text_sha256, granularity) IN
                         (SELECT * FROM unnest(%s::text[], %s::text[]))
                   RETURNING text_sha256, granularity, score, chunks, sentences""",
                (detector, model_version, [k[0] for k in keys], [k[1] for k in keys]),
            )
            return {
                (r["text_sha256"], r["granularity"]): CachedScore(
                    score=r["score"], chunks=r["chunks"], sentences=r["sentences"]
                )
                for r in cur.fetchall()
            }

    def store_scores(
        self, *, detector: str, model_version: str, entries: Sequence[tuple[str, str, CachedScore]]
    ) -> None:
        """Remember raw scores by (text sha256, granularity); the first writer wins."""
        if not entries:
            return
        with self.transaction() as cur:
            psycopg2.extras.execute_values(
                cur,
                """INSERT INTO result_cache (text_sha256, granularity, score, chunks, sentences,
                       detector, model_version)
                   VALUES %s ON CONFLICT DO NOTHING""",
                [
                    (
                        sha,
                        gran,
                        c.score,
                        c.chunks,
                        psycopg2.extras.Json(c.sentences),
                        detector,
                        model_version,
                    )
                    for sha, gran, c in entries
                ],
            )

    # --- workers ---------------------------------------------------------------------------

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


def _detail(r: ItemResult) -> dict[str, Any]:
    return r.model_dump(
        mode="json", by_alias=True, include={"chunks", "cached", "sentences"}, exclude_none=True
    )


def _item(row: dict[str, Any]) -> ItemResult:
    detail = row.get("detail") or {}
    return ItemResult(
        index=row["idx"],
        score=row["score"],
        label=row["label"],
        probability=row["probability"],
        threshold=row["threshold"],
        model_version=row["model_version"],
        **detail,
    )


def _encode_cursor(created_at: datetime, task_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{task_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), UUID(task_id)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(
            "invalid cursor: pass the nextCursor of a previous page unchanged"
        ) from e
