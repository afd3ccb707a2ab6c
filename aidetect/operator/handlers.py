"""The kopf handlers: thin wrappers that map errors and call plain functions.

kopf's own writes are kept few: its finalizer is ours (the API creates CRs with it already on),
progress is stored only on retries, its diff-base annotation leaves out the texts (they can be
far larger than an annotation may be), and only warnings become Events.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import kopf

from aidetect.core import crd
from aidetect.core.config import get_settings
from aidetect.core.errors import TransientError
from aidetect.core.health import serve_probes
from aidetect.core.k8s import FINALIZER
from aidetect.operator.admission import CrIdentity, admit_or_reject
from aidetect.operator.deletion import cancel_on_delete
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.events import EventsConsumer
from aidetect.operator.resync import ResyncLoop

RETRY_DELAY_SECONDS = 5


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="aidetect.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="aidetect.io",
        key="last-handled-configuration",
        ignored_fields=["spec.text", "spec.texts"],
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 8
    deps = OperatorDeps.open_when_ready(get_settings())
    memo.deps = deps
    events = EventsConsumer(deps)
    memo.loops = [events, ResyncLoop(deps)]
    for loop in memo.loops:
        loop.start()
    memo.probes = serve_probes(
        {"rabbitmq": lambda: events.connected}, deps.settings.operator.readiness_port
    )


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("probes") is not None:
        memo.probes.stop()
    for loop in memo.get("loops", []):
        loop.stop()
    for loop in memo.get("loops", []):
        loop.join(timeout=10)
    if "deps" in memo:
        memo.deps.close()


@kopf.on.resume(crd.GROUP, crd.VERSION, crd.PLURAL)
@kopf.on.create(crd.GROUP, crd.VERSION, crd.PLURAL)
def admit_task(
    spec: kopf.Spec,
    meta: kopf.Meta,
    uid: str,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    deps: OperatorDeps = memo.deps
    assert namespace is not None  # DetectionTask is a namespaced resource
    cr = CrIdentity(
        uid=UUID(uid),
        namespace=namespace,
        name=name,
        generation=int(meta.get("generation", 1)),
        created_at=datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00")),
    )
    try:
        admit_or_reject(deps, cr, dict(spec))
    except TransientError as e:
        raise kopf.TemporaryError(str(e), delay=RETRY_DELAY_SECONDS) from e
    except Exception as e:  # even rejecting failed: give up, never retry forever
        raise kopf.PermanentError(f"{type(e).__name__}: {e}") from e


@kopf.on.delete(crd.GROUP, crd.VERSION, crd.PLURAL)
def cancel_task(uid: str, memo: kopf.Memo, **_: Any) -> None:
    try:
        cancel_on_delete(memo.deps, uid)
    except TransientError as e:
        raise kopf.TemporaryError(str(e), delay=RETRY_DELAY_SECONDS) from e
