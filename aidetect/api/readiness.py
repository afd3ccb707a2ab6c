"""Readiness: can this API serve requests? Postgres, the kube-apiserver and RabbitMQ must answer.

The three probes run in parallel on a small bounded pool, and the answer waits at most
`READY_TIMEOUT_SECONDS` for all of them, so /readyz answers in time for the kubelet even when a
dependency hangs. Each probe also sets its own client timeout, so a stuck probe ends on its own.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aidetect.api.lazy_db import LazyDatabase
from aidetect.core import k8s
from aidetect.core.queue import Broker

READY_TIMEOUT_SECONDS = 3.0
PROBE_SOCKET_TIMEOUT_SECONDS = 2

Probe = Callable[[], None]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    message: str


def database_probe(database: LazyDatabase) -> Probe:
    def probe() -> None:
        database.get().ping()

    return probe


def kube_probe(api: k8s.KubeClient) -> Probe:
    def probe() -> None:
        k8s.ping(api, PROBE_SOCKET_TIMEOUT_SECONDS)

    return probe


def with_probe_timeouts(amqp_url: str) -> str:
    """The broker URL with short connect timeouts and one attempt, unless the URL sets them."""
    parts = urlsplit(amqp_url)
    query = dict(parse_qsl(parts.query))
    for key, value in (
        ("connection_attempts", "1"),
        ("socket_timeout", str(PROBE_SOCKET_TIMEOUT_SECONDS)),
        ("stack_timeout", str(PROBE_SOCKET_TIMEOUT_SECONDS + 1)),
    ):
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def amqp_probe(amqp_url: str) -> Probe:
    def probe() -> None:
        Broker(with_probe_timeouts(amqp_url)).close()

    return probe


class ReadinessChecker:
    """Runs named probes concurrently with one overall deadline."""

    def __init__(self, max_workers: int = 6) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="aidetect-readyz"
        )

    def check(
        self, probes: Mapping[str, Probe], timeout: float = READY_TIMEOUT_SECONDS
    ) -> list[CheckResult]:
        futures = {name: self._pool.submit(probe) for name, probe in probes.items()}
        concurrent.futures.wait(futures.values(), timeout=timeout)
        return [_result(name, future, timeout) for name, future in futures.items()]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _result(name: str, future: concurrent.futures.Future[None], timeout: float) -> CheckResult:
    if not future.done():
        future.cancel()
        return CheckResult(name, False, f"no answer within {timeout:g} s")
    error = future.exception()
    if error is None:
        return CheckResult(name, True, "ok")
    return CheckResult(
        name, False, f"{type(error).__name__}: {error}" if str(error) else repr(error)
    )
