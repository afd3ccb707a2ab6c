"""The tasks resource: submit (as a DetectionTask CR), read, list and cancel.

Writes go to the kube-apiserver only; the operator records them in the database, so tasks from
kubectl and from REST follow one path. Reads come from the database, the system of record.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query

from aidetect.api.deps import DbDep, KubeDep, SettingsDep, require_token
from aidetect.api.errors import ApiError
from aidetect.api.schemas import (
    PREDICT_EXAMPLES,
    ErrorResponse,
    TaskCancelled,
    TaskCreate,
    TaskCreated,
    TaskList,
    TaskPublic,
    TaskSummary,
)
from aidetect.core import k8s
from aidetect.core.errors import InvalidInput
from aidetect.core.states import TERMINAL, Phase

logger = logging.getLogger("aidetect.api")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all with the one error shape."""
    return {code: {"model": ErrorResponse} for code in codes}


router = APIRouter(
    tags=["tasks"], dependencies=[Depends(require_token)], responses=errors(401, 422, 503)
)


def task_not_found(task_id: UUID) -> ApiError:
    return ApiError(
        404,
        "task_not_found",
        f"no task {task_id}. A task created a moment ago appears within seconds, once the "
        "operator has recorded it: retry shortly.",
    )


@router.post(
    "/predict",
    status_code=202,
    summary="Score one text or a batch",
    responses=errors(413, 502),
)
def predict(
    task: Annotated[TaskCreate, Body(openapi_examples=PREDICT_EXAMPLES)],
    settings: SettingsDep,
    api: KubeDep,
) -> TaskCreated:
    """Create a DetectionTask; poll `GET /status/{taskId}` for its result."""
    manifest = k8s.task_manifest(task.to_spec(), generate_name="api-", source="api")
    ref = k8s.create_task(api, settings.api.namespace, manifest)
    logger.info("created DetectionTask %s/%s", ref.namespace, ref.name, extra={"task_id": ref.uid})
    return TaskCreated(task_id=UUID(ref.uid), name=ref.name, namespace=ref.namespace)


@router.get(
    "/status/{task_id}", summary="A task's state, result and history", responses=errors(404)
)
def get_status(task_id: UUID, db: DbDep) -> TaskPublic:
    record = db.find_task(task_id)
    if record is None:
        logger.info("status of an unknown task", extra={"task_id": str(task_id)})
        raise task_not_found(task_id)
    return TaskPublic.from_parts(record, db.items(task_id), db.transitions(task_id))


@router.get("/tasks", summary="Tasks, newest first")
def list_tasks(
    db: DbDep,
    phase: Phase | None = None,
    namespace: str | None = None,
    detector: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page.")] = None,
) -> TaskList:
    try:
        page = db.list_tasks(
            phase=phase, namespace=namespace, detector=detector, limit=limit, cursor=cursor
        )
    except InvalidInput as e:
        raise ApiError(
            422,
            "invalid_cursor",
            "invalid cursor: pass the nextCursor of a previous page unchanged",
            details=[{"field": "cursor", "message": str(e)}],
        ) from e
    return TaskList(
        items=[TaskSummary.from_record(t) for t in page.tasks], next_cursor=page.next_cursor
    )


@router.delete(
    "/tasks/{task_id}",
    status_code=202,
    summary="Cancel a task",
    responses=errors(404, 409, 502),
)
def cancel_task(task_id: UUID, db: DbDep, api: KubeDep) -> TaskCancelled:
    """Delete the task's DetectionTask; the operator's finalizer then marks it Cancelled."""
    record = db.find_task(task_id)
    if record is None:
        raise task_not_found(task_id)
    if record.phase in TERMINAL:
        logger.info("not cancelling a finished task", extra={"task_id": str(task_id)})
        raise ApiError(
            409,
            "task_finished",
            f"task {task_id} already finished ({record.phase}); there is nothing to cancel",
        )
    deleted = k8s.delete_task(api, record.namespace, record.name, uid=str(task_id))
    logger.info(
        "cancel requested: DetectionTask %s/%s %s",
        record.namespace,
        record.name,
        "deleted" if deleted else "was already gone",
        extra={"task_id": str(task_id)},
    )
    return TaskCancelled(task_id=task_id)
