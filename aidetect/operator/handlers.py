"""The kopf handlers: thin wrappers over plain functions that run without kopf in unit tests.

One low-level `on.event` handler does the work (`watching.py`): kopf's change-tracking handlers
would write a diff-base annotation and manage a finalizer of their own on every task, two
apiserver writes per task that aidetect does not need (the database is the record of what was
handled). kopf's own finalizer therefore stays kopf's default, which no handler requests, and
aidetect's finalizer is aidetect's to add and remove. Only warnings become Events.

Every handler goes through `kopf_errors`, the one mapping of core's error tree onto kopf's.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from aidetect.core import crd
from aidetect.core.config import get_settings
from aidetect.core.health import serve_probes
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.events import EventsConsumer
from aidetect.operator.kopf_errors import kopf_errors
from aidetect.operator.later import DelayedSync
from aidetect.operator.resync import ResyncLoop
from aidetect.operator.watching import Admitted, on_event


@kopf.on.startup()
@kopf_errors()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 8
    deps = OperatorDeps.open_when_ready(get_settings())
    memo.deps = deps
    memo.admitted = Admitted()
    events = EventsConsumer(deps)
    memo.loops = [events, ResyncLoop(deps)]
    delay = deps.settings.operator.status_delay_seconds
    if delay:
        later = DelayedSync(deps, delay)
        deps.show_status_later = later.schedule
        memo.loops.append(later)
    for loop in memo.loops:
        loop.start()
    memo.probes = serve_probes(
        {"rabbitmq": lambda: events.connected}, deps.settings.operator.readiness_port
    )


@kopf.on.cleanup()
@kopf_errors()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("probes") is not None:
        memo.probes.stop()
    for loop in memo.get("loops", []):
        loop.stop()
    for loop in memo.get("loops", []):
        loop.join(timeout=10)
    if "deps" in memo:
        memo.deps.close()


@kopf.on.event(crd.GROUP, crd.VERSION, crd.PLURAL)
@kopf_errors()
def task_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:  # noqa: A002
    on_event(memo.deps, memo.admitted, type, dict(body))
