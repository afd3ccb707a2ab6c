"""Run the operator: kopf with aidetect's handlers, one active instance, a liveness endpoint."""

from __future__ import annotations

import kopf

from aidetect.core.config import Settings
from aidetect.operator import handlers


def run(settings: Settings) -> None:
    """Block running the operator until SIGTERM/SIGINT."""
    assert handlers  # importing the module registers the handlers with kopf
    liveness = (
        f"http://0.0.0.0:{settings.operator.liveness_port}/healthz"
        if settings.operator.liveness_port
        else None
    )
    kopf.run(
        standalone=True,  # one active operator: the Deployment uses replicas 1 + Recreate
        clusterwide=not settings.operator.namespaces,
        namespaces=settings.operator.namespaces,
        liveness_endpoint=liveness,
    )
