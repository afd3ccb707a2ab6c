"""Admit a DetectionTask: record it in Postgres (Pending), then publish it and mark it Queued
in one transaction (`publish`). Every step is idempotent, so a crash between steps (or kopf
retrying the handler) only repeats work.

Only a transient error (a dependency away) is worth retrying. Anything else that admission
raises, expected or not, ends the task as Failed with reason InvalidInput and says why
(`admit_or_reject`): a task that can never be admitted must not be retried forever, unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from aidetect.core import conditions, k8s
from aidetect.core.errors import InvalidInput, PermanentError, TransientError, UnknownDetector
from aidetect.core.logs import task_log
from aidetect.core.models import TaskMessage, TaskRecord, TaskSpec, is_high_priority
from aidetect.core.states import TERMINAL, Phase
from aidetect.operator import metrics
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.sync import announce_end, sync_task

log = logging.getLogger("aidetect.operator.admission")


def parse_spec(spec: dict[str, Any]) -> TaskSpec:
    """The spec as a model; the CRD already validated it, so a failure here is permanent."""
    try:
        return TaskSpec.model_validate(spec)
    except ValidationError as e:
        raise PermanentError(f"invalid spec: {e}") from e


def chunks(indices: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield list(indices[start : start + size])


def texts_of(deps: OperatorDeps, namespace: str, spec: TaskSpec) -> list[str]:
    """The texts on the CR, or in its textFrom; none for a corpus job (split later)."""
    if spec.source is not None:
        if deps.corpus is None:
            raise InvalidInput("corpus jobs (spec.source) need the operator's Postgres store")
        return []
    if spec.text is not None:
        return [spec.text]
    if spec.texts is not None:
        return list(spec.texts)
    assert spec.text_from is not None
    return k8s.read_text_source(deps.kube, namespace, spec.text_from)


@dataclass(frozen=True)
class CrIdentity:
    """The CR being admitted, as kopf hands it over: what its row is keyed and named by."""

    uid: UUID
    namespace: str
    name: str
    generation: int
    created_at: datetime


def _insert(
    deps: OperatorDeps, cr: CrIdentity, spec: TaskSpec, detector: str, texts: list[str]
) -> None:
    deps.db.insert_task(
        task_id=cr.uid,
        namespace=cr.namespace,
        name=cr.name,
        spec=spec,
        detector=detector,
        texts=texts,
        created_at=cr.created_at,
        generation=cr.generation,
    )


def record_task(deps: OperatorDeps, cr: CrIdentity, spec: TaskSpec) -> None:
    """Insert the row (ON CONFLICT DO NOTHING). Bad input is recorded too, then Failed."""
    failure: tuple[str, str] | None = None
    detector = spec.detector or deps.profiles.default
    texts: list[str] = []
    try:
        detector = deps.profiles.resolve(spec.detector).name
        texts = texts_of(deps, cr.namespace, spec)
    except UnknownDetector as e:
        failure = (conditions.REASON_UNKNOWN_DETECTOR, str(e))
    except InvalidInput as e:
        failure = (conditions.REASON_INVALID_INPUT, str(e))
    _insert(deps, cr, spec, detector, texts)
    if failure is not None:
        if deps.db.transition(cr.uid, Phase.FAILED, *failure):
            task_log(log, cr.uid).warning("rejected: %s", failure[1])


def publish(
    deps: OperatorDeps, record: TaskRecord, indices: Sequence[int], *, requeue: bool = False
) -> None:
    """Publish the task's items (confirmed, persistent) and, if it is Pending, move it to Queued.

    The operator is the one writer of Pending -> Queued: the publish runs inside the transaction
    that records Queued, under the task's row lock, so Queued means "confirmed by the broker",
    and a worker handed a message before the commit waits for it (`core.db.tasks`). If the
    publish fails, the task stays Pending and kopf or the resync publishes it again.
    """
    task_id = record.id
    profile = deps.profiles.resolve(record.detector)
    high = is_high_priority(record.priority)

    cfg = deps.settings.operator
    per_message = cfg.corpus_items_per_message if record.corpus else cfg.items_per_message

    def send() -> None:
        for part in chunks(indices, per_message):
            deps.publisher.publish_task(
                profile.name, TaskMessage(task_id=task_id, items=part), high=high
            )

    reason = conditions.REASON_REQUEUED if requeue else conditions.REASON_PUBLISHED
    message = f"{len(indices)} item(s) published to {profile.name} ({'high' if high else 'normal'})"
    if deps.db.transition_after(
        send, task_id, Phase.QUEUED, reason, message, only_from={Phase.PENDING}
    ):
        if not requeue:
            metrics.ADMITTED.labels(profile.name).inc()
        task_log(log, task_id).info("queued: %s", message)
    elif requeue:  # Queued already, or Running and just moved back by the resync
        send()
        deps.db.touch(task_id)
        task_log(log, task_id).info("queued: %s", message)


def admit(deps: OperatorDeps, cr: CrIdentity, spec: dict[str, Any]) -> Phase:
    """Record, publish and mark Queued, as far as the task has not got yet; return its phase."""
    record = deps.db.find_task(cr.uid)
    was_open = record is None or record.phase not in TERMINAL
    if record is None:
        record_task(deps, cr, parse_spec(spec))
        record = deps.db.get_task(cr.uid)
    if record.phase == Phase.PENDING and record.corpus is not None and deps.corpus is not None:
        deps.corpus.split(cr.uid)  # on the corpus pool: reading a corpus takes a while
    elif record.phase == Phase.PENDING:
        publish(deps, record, range(record.progress.total))
        if deps.show_status_later is not None:
            deps.show_status_later(cr.uid)  # by then it has often ended: one write, not two
            return Phase.QUEUED
    synced = sync_task(deps, cr.uid)
    if synced is not None and synced.phase in TERMINAL and was_open:
        announce_end(deps, synced)
    return synced.phase if synced is not None else record.phase


def reject(deps: OperatorDeps, cr: CrIdentity, why: str) -> Phase:
    """Record the task (with no items, if it was not recorded yet) as Failed: InvalidInput."""
    message = f"the task cannot be admitted: {why}"[:1000]
    # The spec is what failed: record the defaults.
    _insert(deps, cr, TaskSpec.model_construct(), deps.profiles.default, [])
    if deps.db.transition(cr.uid, Phase.FAILED, conditions.REASON_INVALID_INPUT, message):
        task_log(log, cr.uid).warning("rejected: %s", message)
    synced = sync_task(deps, cr.uid)
    if synced is not None:
        announce_end(deps, synced)
        return synced.phase
    return Phase.FAILED


def admit_or_reject(deps: OperatorDeps, cr: CrIdentity, spec: dict[str, Any]) -> Phase:
    """`admit`; on any error but a transient one, `reject` the task with the error's reason."""
    try:
        return admit(deps, cr, spec)
    except TransientError:
        raise  # the event handler retries it in-line for a while, then the resync does
    except Exception as e:  # every other error ends the task, with its reason
        if isinstance(e, PermanentError):
            why = str(e)
        else:  # a bug or an input nothing foresaw: log it whole, never retry it forever
            task_log(log, cr.uid).exception("admission failed unexpectedly")
            why = f"{type(e).__name__}: {e}"
        return reject(deps, cr, why)
