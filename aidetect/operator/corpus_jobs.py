"""The operator's side of corpus jobs: split the source into items, publish them, and write the
results to the output object once every item is done. Each runs on a small pool of threads
(`operator.corpus_jobs`), never on a watch handler's: a split of a million records takes minutes.

Both steps are level-triggered and idempotent. Admission asks for a split; so does the resync
for every corpus job still Pending (`resume`), which is how a split interrupted by an operator's
death goes on, from the cursor the database holds. The worker that writes a job's last item
sends a "finished" event, and the resync finds every job whose output is due, so the output is
written after a restart too. A task is in the pool at most once at a time.

Errors: a transient one (the object store, Postgres or the apiserver away) leaves the job as it
is, for the next resync; a permanent one (no such bucket or key, access denied, no Secret) ends
the job Failed, with reason InvalidInput for the source or OutputFailed for the output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from aidetect.core import conditions, k8s
from aidetect.core.corpus import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    S3Location,
    SecretRef,
)
from aidetect.core.errors import InvalidInput, PermanentError, TransientError
from aidetect.core.logs import task_log
from aidetect.core.models import TaskRecord
from aidetect.core.objects import ObjectStore, S3Credentials
from aidetect.core.result_lines import result_pages
from aidetect.core.seams import CorpusTasks
from aidetect.core.states import TERMINAL, Phase
from aidetect.operator.admission import publish
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.splitting import split
from aidetect.operator.sync import announce_end, sync_task

log = logging.getLogger("aidetect.operator.corpus")


def output_due(record: TaskRecord) -> bool:
    """Every item of a corpus job is done, and its results are not written yet."""
    corpus = record.corpus
    return (
        corpus is not None
        and corpus.output is not None
        and corpus.output_location is None
        and record.phase == Phase.RUNNING
        and record.progress.done + record.progress.failed >= record.progress.total
    )


def open_store(
    deps: OperatorDeps, namespace: str, where: S3Location, ref: SecretRef
) -> ObjectStore:
    """A client for `where`, with the credentials of the namespace's Secret."""
    keys = k8s.read_secret(
        deps.kube, namespace, ref.name, (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
    )
    if not keys.get(ACCESS_KEY_ID) or not keys.get(SECRET_ACCESS_KEY):
        raise InvalidInput(
            f"Secret {namespace}/{ref.name} needs the keys {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY}"
        )
    credentials = S3Credentials(
        keys[ACCESS_KEY_ID], keys[SECRET_ACCESS_KEY], keys.get(SESSION_TOKEN)
    )
    return ObjectStore(where, credentials)


class CorpusJobs:
    """Splits and output uploads, each task at most once in the pool at a time."""

    def __init__(self, deps: OperatorDeps, db: CorpusTasks) -> None:
        self.deps = deps
        self.db = db
        self._pool = ThreadPoolExecutor(
            max_workers=deps.settings.operator.corpus_jobs, thread_name_prefix="aidetect-corpus"
        )
        self._busy: set[UUID] = set()
        self._lock = threading.Lock()

    def split(self, task_id: UUID) -> None:
        """Split (or go on splitting) a Pending corpus job, then publish its items."""
        self._submit(task_id, self._split, conditions.REASON_INVALID_INPUT)

    def write_output(self, task_id: UUID) -> None:
        """Write a corpus job's results to its output, then end it Succeeded."""
        self._submit(task_id, self._write_output, conditions.REASON_OUTPUT_FAILED)

    def resume(self) -> int:
        """Ask for every split and output that is due (the resync's step); how many."""
        scope = self.deps.scope
        splits = self.db.splits_due(scope)
        outputs = self.db.outputs_due(scope)
        for record in splits:
            self.split(record.id)
        for record in outputs:
            self.write_output(record.id)
        return len(splits) + len(outputs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, task_id: UUID, step: Callable[[UUID], None], reason: str) -> None:
        with self._lock:
            if task_id in self._busy:
                return
            self._busy.add(task_id)
        try:
            self._pool.submit(self._run, task_id, step, reason)
        except RuntimeError:  # the pool is shut down: the operator is stopping
            with self._lock:
                self._busy.discard(task_id)

    def _run(self, task_id: UUID, step: Callable[[UUID], None], reason: str) -> None:
        tlog = task_log(log, task_id)
        try:
            step(task_id)
        except TransientError as e:
            tlog.warning("%s stopped (%s); the resync goes on with it", step.__name__, e)
            self._note(task_id, f"waiting: {e}"[:1000])
        except PermanentError as e:
            self._fail(task_id, reason, str(e))
        except Exception as e:  # a bug or an input nothing foresaw: say it, never retry forever
            tlog.exception("%s failed unexpectedly", step.__name__)
            self._fail(task_id, reason, f"{type(e).__name__}: {e}")
        finally:
            with self._lock:
                self._busy.discard(task_id)

    def _note(self, task_id: UUID, message: str) -> None:
        try:
            self.db.note(task_id, message)
            sync_task(self.deps, task_id)
        except TransientError as e:  # Postgres or the apiserver away too: the log has it
            task_log(log, task_id).warning("could not show why it waits: %s", e)

    def _fail(self, task_id: UUID, reason: str, message: str) -> None:
        if self.db.transition(task_id, Phase.FAILED, reason, message[:1000]):
            task_log(log, task_id).warning("failed: %s", message)
        try:
            self._show(task_id)
        except TransientError as e:
            task_log(log, task_id).warning("status not synced (%s): the resync will", e)

    def _show(self, task_id: UUID) -> None:
        """Bring the CR up to date, with an Event if the task has ended."""
        synced = sync_task(self.deps, task_id)
        if synced is not None and synced.phase in TERMINAL:
            announce_end(self.deps, synced)

    def _split(self, task_id: UUID) -> None:
        record = self.db.get_task(task_id)
        corpus = record.corpus
        if record.phase != Phase.PENDING or corpus is None:
            return
        source = corpus.source
        tlog = task_log(log, task_id)
        if not corpus.split_done:
            store = open_store(
                self.deps, record.namespace, source.s3, source.credentials_secret_ref
            )
            if corpus.cursor is None:  # before the first record: can the source and output be used?
                store.check_readable(source.s3.key, source.s3.prefix)
                if corpus.output is not None and not self._output_usable(record):
                    return
            batch = self.deps.settings.operator.corpus_split_batch
            if split(self.db, store, task_id, source, corpus.cursor, batch=batch):
                record = self.db.finish_split(task_id, source.s3.url())
                tlog.info(
                    "split %s: %d item(s), %d failed",
                    source.s3.url(),
                    record.progress.total,
                    record.progress.failed,
                )
            else:
                tlog.info("splitting stopped: the task left Pending")
                record = self.db.get_task(task_id)
        if record.phase == Phase.PENDING:
            publish(self.deps, record, self.deps.db.unscored_indices(task_id))
        self._show(task_id)

    def _output_usable(self, record: TaskRecord) -> bool:
        """Before a job's first record is read: can its output be written? A job that would
        score a million texts and then find no bucket fails now instead (OutputFailed)."""
        corpus = record.corpus
        assert corpus is not None and corpus.output is not None
        where, ref = corpus.output.resolved(corpus.source)
        try:
            open_store(self.deps, record.namespace, where, ref).check_bucket()
        except InvalidInput as e:
            self._fail(record.id, conditions.REASON_OUTPUT_FAILED, f"{where.url()}: {e}")
            return False
        return True

    def _write_output(self, task_id: UUID) -> None:
        record = self.db.get_task(task_id)
        corpus = record.corpus
        if not output_due(record) or corpus is None or corpus.output is None:
            return
        where, ref = corpus.output.resolved(corpus.source)
        assert where.key is not None  # CorpusOutput requires it
        store = open_store(self.deps, record.namespace, where, ref)
        store.check_bucket()
        lines = 0
        with store.writer(where.key) as out:
            for page in result_pages(self.db, task_id):
                out.write(b"".join(row.line() for row in page))
                lines += len(page)
        task_log(log, task_id).info(
            "wrote %d result line(s) (%d bytes, %d part(s)) to %s",
            lines,
            out.written,
            out.parts,
            where.url(),
        )
        if self.db.output_written(task_id, where.url(), lines):
            self._show(task_id)
