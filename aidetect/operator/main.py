"""Run the operator: kopf with aidetect's handlers, one active instance, a liveness endpoint.

Exits 0 on SIGTERM, and 1 when it gave up after a dependency outage (`lifecycle.give_up`).
"""

from __future__ import annotations

import kopf

from aidetect.core.config import Settings
from aidetect.operator import handlers, lifecycle


def run(settings: Settings) -> int:
    """Block running the operator until SIGTERM/SIGINT; returns the exit status."""
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
    return 1 if lifecycle.gave_up.is_set() else 0
