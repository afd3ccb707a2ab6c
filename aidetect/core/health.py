"""/healthz, /readyz and /metrics for the operator and the worker, on a small stdlib HTTP server.

`/metrics` is the process's prometheus_client registry in the text format.

`/healthz` answers 200 while the process runs (a kubelet restarts it otherwise). `/readyz`
answers 200 when every named check passes and 503 otherwise, naming the failing checks and
nothing else (no hosts, ports or error texts: those go to the log). Checks are plain callables
that read flags the component keeps; they must not block.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("aidetect.health")

Check = Callable[[], bool]


class HealthServer:
    """Serves the probes on `host:port` from a daemon thread."""

    def __init__(self, checks: Mapping[str, Check], *, port: int, host: str = "0.0.0.0") -> None:
        self.checks = dict(checks)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="aidetect-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("probes on :%d (/healthz, /readyz: %s)", self.port, ", ".join(self.checks))
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def failing(self) -> list[str]:
        """The names of the checks that do not pass now."""
        return [name for name, check in self.checks.items() if not check()]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                if self.path == "/healthz":
                    self._answer(200, {"status": "ok"})
                elif self.path == "/readyz":
                    failing = server.failing()
                    if failing:
                        self._answer(503, {"status": "not_ready", "failing": failing})
                    else:
                        self._answer(200, {"status": "ready"})
                elif self.path == "/metrics":
                    data = generate_latest()
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._answer(404, {"status": "not_found"})

            def _answer(self, code: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # a probe every few seconds is not worth a log line

        return Handler


def serve_probes(checks: Mapping[str, Check], port: int) -> HealthServer | None:
    """Start a HealthServer on `port`, or nothing when the port is 0."""
    return HealthServer(checks, port=port).start() if port else None
