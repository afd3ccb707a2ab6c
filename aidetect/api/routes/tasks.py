"""The tasks resource: submit (as a DetectionTask CR), read, list and cancel.

Writes go to the kube-apiserver only; the operator records them in the database, so tasks from
kubectl and from REST follow one path. Reads come from the database, the system of record.
Each token reaches only its tenant's namespaces: a task elsewhere is a 404, as if it did not
exist, so that no token learns which task ids other tenants have.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse

from aidetect.api.auth import namespace_forbidden
from aidetect.api.deps import DbDep, KubeDep, SettingsDep, TenantDep, require_tenant
from aidetect.api.errors import ApiError, named_namespace_refusal
from aidetect.api.routing import GuardedRoute
from aidetect.api.schemas import (
    PREDICT_EXAMPLES,
    ErrorResponse,
    TaskCancelled,
    TaskCreate,
    TaskCreated,
    TaskList,
    TaskPublic,
    TaskSummary,
    TaskTexts,
)
from aidetect.api.tenants import NAMESPACE_MAX_LENGTH, NAMESPACE_PATTERN, Tenant
from aidetect.core import k8s
from aidetect.core.errors import InvalidInput, KubeRefused
from aidetect.core.models import MAX_BATCH_ITEMS, TaskRecord
from aidetect.core.profiles import PROFILE_NAME_PATTERN
from aidetect.core.result_lines import result_pages
from aidetect.core.states import TERMINAL, Phase

logger = logging.getLogger("aidetect.api")
NDJSON = "application/x-ndjson"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all with the one error shape."""
    return {code: {"model": ErrorResponse} for code in codes}


router = APIRouter(
    tags=["tasks"],
    route_class=GuardedRoute,
    dependencies=[Depends(require_tenant)],
    responses=errors(401, 422, 503),
)


def task_not_found(task_id: UUID) -> ApiError:
    return ApiError(
        404,
        "task_not_found",
        f"no task {task_id}. A task created a moment ago appears within seconds, once the "
        "operator has recorded it: retry shortly.",
    )


def visible_task(db: DbDep, tenant: Tenant, task_id: UUID) -> TaskRecord:
    """The task, if it exists in a namespace the token may use; a 404 otherwise."""
    record = db.find_task(task_id)
    if record is None:
        logger.info("an unknown task", extra={"task_id": str(task_id)})
        raise task_not_found(task_id)
    if not tenant.may_use(record.namespace):
        logger.info(
            "a task outside the token's namespaces answered as unknown",
            extra={"task_id": str(task_id), "tenant": tenant.name},
        )
        raise task_not_found(task_id)
    return record


@router.post(
    "/predict",
    status_code=202,
    summary="Score one text or a batch",
    responses=errors(400, 403, 413, 502),
)
def predict(
    task: Annotated[TaskCreate, Body(openapi_examples=PREDICT_EXAMPLES)],
    settings: SettingsDep,
    api: KubeDep,
    tenant: TenantDep,
) -> TaskCreated:
    """Create a DetectionTask; poll `GET /status/{taskId}` for its result."""
    namespace = task.namespace or tenant.default_namespace(settings.api.namespace)
    if not tenant.may_use(namespace):
        raise namespace_forbidden(tenant, namespace)
    manifest = k8s.task_manifest(task.to_spec(), generate_name="api-", source="api")
    try:
        ref = k8s.create_task(api, namespace, manifest)
    except KubeRefused as e:
        # A namespace the client named is the client's mistake; the default one is ours (502).
        refusal = named_namespace_refusal(e, namespace) if task.namespace else None
        if refusal is None:
            raise
        raise refusal from e
    logger.info(
        "created DetectionTask %s/%s",
        ref.namespace,
        ref.name,
        extra={"task_id": ref.uid, "tenant": tenant.name},
    )
    return TaskCreated(task_id=UUID(ref.uid), name=ref.name, namespace=ref.namespace)


@router.get(
    "/status/{task_id}", summary="A task's state, result and history", responses=errors(404)
)
def get_status(task_id: UUID, db: DbDep, tenant: TenantDep) -> TaskPublic:
    """A task with its items while it has at most 1000 (the most a CR can carry); a corpus
    job's items are streamed by GET /tasks/{id}/results instead."""
    record = visible_task(db, tenant, task_id)
    items = db.items(task_id) if record.progress.total <= MAX_BATCH_ITEMS else []
    return TaskPublic.from_parts(record, items, db.transitions(task_id))


@router.get(
    "/status/{task_id}/texts",
    summary="A task's texts, in item order (to show them with their sentence scores)",
    responses=errors(404, 409),
)
def get_texts(task_id: UUID, db: DbDep, tenant: TenantDep) -> TaskTexts:
    record = visible_task(db, tenant, task_id)
    if record.corpus is not None:
        raise ApiError(
            409,
            "corpus_job",
            f"task {task_id} is a corpus job: its texts are in {record.corpus.source.s3.url()}, "
            "and its results in GET /tasks/{id}/results",
        )
    return TaskTexts(task_id=task_id, texts=db.texts(task_id))


NamespaceQuery = Query(
    pattern=NAMESPACE_PATTERN,
    max_length=NAMESPACE_MAX_LENGTH,
    description="Only this namespace (one the token may use; a 403 otherwise).",
)
DetectorQuery = Query(
    pattern=PROFILE_NAME_PATTERN, max_length=63, description="Only this detector profile."
)


@router.get(
    "/tasks", summary="Tasks in the token's namespaces, newest first", responses=errors(403)
)
def list_tasks(
    db: DbDep,
    tenant: TenantDep,
    phase: Phase | None = None,
    namespace: Annotated[str | None, NamespaceQuery] = None,
    detector: Annotated[str | None, DetectorQuery] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page.")] = None,
) -> TaskList:
    if namespace is not None and not tenant.may_use(namespace):
        raise namespace_forbidden(tenant, namespace)
    namespaces = [namespace] if namespace is not None else tenant.namespaces
    try:
        page = db.list_tasks(
            phase=phase, namespaces=namespaces, detector=detector, limit=limit, cursor=cursor
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


@router.get(
    "/tasks/{task_id}/results",
    summary="A task's results as JSON Lines, one per item, in item order (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {NDJSON: {}}, "description": "One JSON object per line."},
        **errors(404),
    },
)
def get_results(task_id: UUID, db: DbDep, tenant: TenantDep) -> StreamingResponse:
    """The same lines a corpus job writes to its output object, for any task: what is written
    so far while it runs (items without a result yet are left out), every item once it ended.
    Read from the database a page at a time, so memory stays flat for a million items."""
    visible_task(db, tenant, task_id)

    pages = (b"".join(row.line() for row in page) for page in result_pages(db, task_id))
    logger.info("streaming results", extra={"task_id": str(task_id), "tenant": tenant.name})
    return StreamingResponse(pages, media_type=NDJSON)


@router.delete(
    "/tasks/{task_id}",
    status_code=202,
    summary="Cancel a task",
    responses=errors(404, 409, 502),
)
def cancel_task(task_id: UUID, db: DbDep, api: KubeDep, tenant: TenantDep) -> TaskCancelled:
    """Delete the task's DetectionTask; the operator's finalizer then marks it Cancelled."""
    record = visible_task(db, tenant, task_id)
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
        extra={"task_id": str(task_id), "tenant": tenant.name},
    )
    return TaskCancelled(task_id=task_id)
