"""What deleting a DetectionTask means: an unfinished task is Cancelled; the row always stays."""

from __future__ import annotations

import logging
from uuid import UUID

from aidetect.core import conditions
from aidetect.core.logs import task_log
from aidetect.core.states import TERMINAL, Phase
from aidetect.operator.deps import OperatorDeps

log = logging.getLogger("aidetect.operator.deletion")


def cancel_on_delete(deps: OperatorDeps, uid: str) -> None:
    """Mark an unfinished task Cancelled (workers then skip it) and note that its CR is gone."""
    task_id = UUID(uid)
    record = deps.db.find_task(task_id)
    if record is None:
        return
    if record.phase in TERMINAL and record.cr_deleted_at is not None:
        return  # nothing to cancel, and already noted (the TTL or the finalizer did it)
    if deps.db.transition(
        task_id, Phase.CANCELLED, conditions.REASON_CANCELLED, "the DetectionTask was deleted"
    ):
        task_log(log, task_id).info("cancelled: the DetectionTask was deleted before it finished")
    deps.db.mark_cr_deleted(task_id)
