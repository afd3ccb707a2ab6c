"""Probes for the kubelet: /healthz (the process is alive) and /readyz (it can serve).

Both are open (no token). /healthz touches nothing, so a dependency outage never restarts the
pod; /readyz takes the pod out of the Service while Postgres, the apiserver or RabbitMQ is down.
An open /readyz names the checks that failed and nothing more: why they failed (hosts, ports,
the error text) goes to the log, and to callers with an admin token.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from aidetect.api import readiness
from aidetect.api.deps import AmqpProbeDep, KubeDep, LazyDbDep, OptionalTenantDep, ReadinessDep
from aidetect.api.errors import ApiError
from aidetect.api.schemas import ErrorResponse, Health, Ready

logger = logging.getLogger("aidetect.api")

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    summary="Readiness: the database, the apiserver and RabbitMQ answer",
    responses={503: {"model": ErrorResponse}},
)
def readyz(
    checker: ReadinessDep,
    database: LazyDbDep,
    api: KubeDep,
    amqp: AmqpProbeDep,
    caller: OptionalTenantDep,
) -> Ready:
    results = checker.check(
        {
            "database": readiness.database_probe(database),
            "kubernetes": readiness.kube_probe(api),
            "rabbitmq": amqp,
        }
    )
    failed = [r for r in results if not r.ok]
    if failed:
        logger.warning("not ready: %s", "; ".join(f"{r.name}: {r.message}" for r in failed))
        names = ", ".join(r.name for r in failed)
        if caller is not None and caller.is_admin:
            details: list[dict[str, Any]] = [
                {"check": r.name, "message": r.message} for r in failed
            ]
        else:  # hosts, ports and error texts stay in the log
            details = [{"check": r.name, "message": "failed"} for r in failed]
        raise ApiError(503, "not_ready", f"not ready: {names}", details=details)
    return Ready(checks={r.name: r.message for r in results})
