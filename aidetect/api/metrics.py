"""Prometheus metrics in the text exposition format, written by hand (no client library).

The API serves two families: `aidetect_tasks{phase}` (a gauge read from the database at scrape
time) and `aidetect_api_requests_total{route,status}` (a counter kept in this process). Routes are
labelled by their template (`/status/{task_id}`), so the label set stays small.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aidetect.core.states import Phase

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "unmatched"


class RequestCounter:
    """Answered requests by (route, status); the event loop adds, scrapes read from threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()

    def add(self, route: str, status: int) -> None:
        with self._lock:
            self._counts[(route, status)] += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)


def route_template(scope: Scope) -> str:
    """The path template of the route that served `scope`, which the router leaves in it."""
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class CountRequests:
    """ASGI middleware that counts every answered request, 413s and 500s included."""

    def __init__(self, app: ASGIApp, counter: RequestCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.counter.add(route_template(scope), status)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(counter: RequestCounter, phase_counts: Mapping[str, int] | None) -> str:
    """The exposition text. Without phase counts (the database is down) the gauge is left out
    and `aidetect_api_database_up` says why."""
    lines: list[str] = []
    if phase_counts is not None:
        lines += [
            "# HELP aidetect_tasks Tasks recorded in the database, by phase.",
            "# TYPE aidetect_tasks gauge",
        ]
        lines += [f'aidetect_tasks{{phase="{p}"}} {phase_counts.get(p, 0)}' for p in Phase]
    lines += [
        "# HELP aidetect_api_database_up Whether this scrape could read the database.",
        "# TYPE aidetect_api_database_up gauge",
        f"aidetect_api_database_up {0 if phase_counts is None else 1}",
        "# HELP aidetect_api_requests_total HTTP requests answered, by route template and status.",
        "# TYPE aidetect_api_requests_total counter",
    ]
    for (route, status), n in sorted(counter.snapshot().items()):
        lines.append(
            f'aidetect_api_requests_total{{route="{_label(route)}",status="{status}"}} {n}'
        )
    return "\n".join(lines) + "\n"
