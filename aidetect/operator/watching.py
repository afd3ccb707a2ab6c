"""What the operator does with each watch event of a DetectionTask: admit, finalize, forget.

kopf's change-tracking handlers (on.create/on.resume/on.delete) cost writes of their own on every
task: a finalizer kopf manages, a diff-base annotation, progress annotations. Here one low-level
`on.event` handler does the same with no state in the CR:

- a live CR not admitted by this process is admitted (idempotent: the database says what is
  done already, so a restart re-admits nothing twice), then gets our finalizer if it lacks it
  (the REST API creates CRs with it on);
- a CR being deleted is cancelled in the database, then its finalizer is removed;
- a CR gone for good is forgotten (and cancelled, if it went without our finalizer).

An event that fails on a transient error is retried in-line for a while; after that the resync,
which compares every CR with its row, admits or finalizes it (level-triggered, nothing lost).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from aidetect.core import k8s
from aidetect.core.errors import TransientError
from aidetect.core.logs import task_log
from aidetect.core.retrying import until_available
from aidetect.operator.admission import CrIdentity, admit_or_reject
from aidetect.operator.deletion import cancel_on_delete
from aidetect.operator.deps import OperatorDeps

log = logging.getLogger("aidetect.operator.watching")

INLINE_RETRY_SECONDS = 20.0


class Admitted:
    """The uids this process has admitted, so that the events our own writes cause cost nothing."""

    def __init__(self) -> None:
        self._uids: set[str] = set()
        self._lock = threading.Lock()

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            return uid in self._uids

    def add(self, uid: str) -> None:
        with self._lock:
            self._uids.add(uid)

    def discard(self, uid: str) -> None:
        with self._lock:
            self._uids.discard(uid)


def identity(meta: dict[str, Any]) -> CrIdentity:
    return CrIdentity(
        uid=UUID(meta["uid"]),
        namespace=meta["namespace"],
        name=meta["name"],
        generation=int(meta.get("generation", 1)),
        created_at=datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00")),
    )


def ref_from(meta: dict[str, Any]) -> k8s.TaskRef:
    return k8s.TaskRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])


def admit_cr(deps: OperatorDeps, body: dict[str, Any]) -> None:
    """Admit the CR, then make sure it carries our finalizer."""
    meta = body["metadata"]
    admit_or_reject(deps, identity(meta), dict(body.get("spec") or {}))
    finalizers = list(meta.get("finalizers") or [])
    if k8s.FINALIZER not in finalizers:
        k8s.add_finalizer(deps.kube, ref_from(meta), finalizers)


def finalize_cr(deps: OperatorDeps, body: dict[str, Any]) -> None:
    """The CR is being deleted: cancel its task, then let the deletion finish."""
    meta = body["metadata"]
    cancel_on_delete(deps, meta["uid"])
    k8s.remove_finalizer(deps.kube, ref_from(meta), list(meta.get("finalizers") or []))


def on_event(
    deps: OperatorDeps, admitted: Admitted, kind: str | None, body: dict[str, Any]
) -> None:
    """Handle one watch event (`kind`: None while listing, ADDED, MODIFIED or DELETED)."""
    meta = body["metadata"]
    uid = meta["uid"]
    if kind == "DELETED":
        admitted.discard(uid)
        _retrying(deps, uid, "cancel", lambda: cancel_on_delete(deps, uid))
        return
    if meta.get("deletionTimestamp"):
        if k8s.FINALIZER in (meta.get("finalizers") or []):
            _retrying(deps, uid, "finalize", lambda: finalize_cr(deps, body))
        return
    if uid in admitted:
        return
    if _retrying(deps, uid, "admit", lambda: admit_cr(deps, body)):
        admitted.add(uid)


def _retrying(deps: OperatorDeps, uid: str, what: str, action: Callable[[], None]) -> bool:
    """Run `action`, retrying transient errors for a while; False if it still failed."""
    policy = until_available(
        what=f"{what} task {uid}",
        retry_on=TransientError,
        initial=0.5,
        cap=deps.settings.amqp.reconnect_max_seconds,
        limit=INLINE_RETRY_SECONDS,
    )
    try:
        policy(action)
    except TransientError as e:
        task_log(log, UUID(uid)).warning("could not %s it (%s); the resync will retry", what, e)
        return False
    return True
