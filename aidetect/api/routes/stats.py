"""What the system is doing: /stats (workers and tasks per phase, JSON) and /metrics (Prometheus).

/stats needs an admin token, since it names nodes and workers and counts every namespace's
tasks; /metrics is open for Prometheus and still answers (with `aidetect_api_database_up 0`)
while the database is down.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from aidetect.api import metrics
from aidetect.api.auth import admin_only
from aidetect.api.deps import DbDep, LazyDbDep, TenantDep
from aidetect.api.routing import GuardedRoute
from aidetect.api.schemas import ErrorResponse, Stats, WorkerPublic
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.states import Phase

logger = logging.getLogger("aidetect.api")

router = APIRouter(tags=["stats"], route_class=GuardedRoute)
open_router = APIRouter(tags=["stats"])  # no token: Prometheus scrapes it

GUARDED: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 503)
}


@router.get(
    "/stats",
    summary="Worker heartbeats and tasks per phase (an admin token)",
    responses=GUARDED,
)
def stats(tenant: TenantDep, db: DbDep) -> Stats:
    admin_only(tenant, "/stats")
    counts = db.phase_counts()
    return Stats(
        workers=[WorkerPublic.model_validate(w, from_attributes=True) for w in db.workers()],
        phases={str(p): counts.get(p, 0) for p in Phase},
    )


@open_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {metrics.CONTENT_TYPE: {}}}},
)
def prometheus_metrics(request: Request, database: LazyDbDep) -> PlainTextResponse:
    try:
        counts: dict[str, int] | None = database.get().phase_counts()
    except DatabaseUnavailable as e:
        logger.warning("metrics without task counts: %s", e)
        counts = None
    text = request.app.state.requests.render(counts)
    return PlainTextResponse(text, media_type=metrics.CONTENT_TYPE)
