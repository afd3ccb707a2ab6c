"""The API's Prometheus metrics, with prometheus_client, in a registry of the app's own.

- `aidetect_api_requests_total{route,status}`: requests answered (413s and 500s included);
- `aidetect_api_request_duration_seconds{route}`: a histogram of the time to answer;
- `aidetect_tasks{phase}`: tasks recorded in the database, read at scrape time;
- `aidetect_api_database_up`: whether that read worked (without it the gauge is left out).

Routes are labelled by their template (`/status/{task_id}`), so the label sets stay small. The
registry belongs to the app (not the process-wide default), so that two apps in one process
(the tests make many) count apart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aidetect.core.states import Phase

# No `_created` series: one more per counter and histogram, and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "unmatched"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """The app's metric families and their registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aidetect_api_requests",
            "HTTP requests answered, by route template and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aidetect_api_request_duration_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.tasks = Gauge(
            "aidetect_tasks",
            "Tasks recorded in the database, by phase.",
            ["phase"],
            registry=self.registry,
        )
        self.database_up = Gauge(
            "aidetect_api_database_up",
            "Whether this scrape could read the database.",
            registry=self.registry,
        )

    def add(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def render(self, phase_counts: Mapping[str, int] | None) -> bytes:
        """The exposition text, with the task gauge from `phase_counts` (None: unreadable)."""
        self.tasks.clear()
        if phase_counts is not None:
            for phase in Phase:
                self.tasks.labels(str(phase)).set(phase_counts.get(phase, 0))
        self.database_up.set(0 if phase_counts is None else 1)
        return generate_latest(self.registry)


def route_template(scope: Scope) -> str:
    """The path template of the route that served `scope`, which the router leaves in it."""
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class CountRequests:
    """ASGI middleware that counts and times every answered request, 413s and 500s included."""

    def __init__(self, app: ASGIApp, counter: ApiMetrics) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.counter.add(route_template(scope), status, time.perf_counter() - started)
