"""What the system is doing: /stats (workers and tasks per phase, JSON) and /metrics (Prometheus).

/stats needs the token, since it names nodes and workers; /metrics is open for Prometheus and
still answers (with `aidetect_api_database_up 0`) while the database is down.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from aidetect.api import metrics
from aidetect.api.deps import DbDep, LazyDbDep, require_token
from aidetect.api.schemas import ErrorResponse, Stats, WorkerPublic
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.states import Phase

logger = logging.getLogger("aidetect.api")

router = APIRouter(tags=["stats"])

GUARDED: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 503)}


@router.get(
    "/stats",
    summary="Worker heartbeats and tasks per phase",
    dependencies=[Depends(require_token)],
    responses=GUARDED,
)
def stats(db: DbDep) -> Stats:
    counts = db.phase_counts()
    return Stats(
        workers=[WorkerPublic.model_validate(w, from_attributes=True) for w in db.workers()],
        phases={str(p): counts.get(p, 0) for p in Phase},
    )


@router.get(
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
    text = metrics.render(request.app.state.requests, counts)
    return PlainTextResponse(text, media_type=metrics.CONTENT_TYPE)
