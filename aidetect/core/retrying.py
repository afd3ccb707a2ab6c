"""One backoff policy for reaching a dependency that is away (RabbitMQ, Postgres): tenacity's.

Exponential waits with jitter, capped, retrying only the given transient error, until `limit`
seconds have passed (0: never give up) or `stopping` is set; then the last error is raised.
Waits end early when `stopping` is set, so a SIGTERM is not held up by a backoff.
"""

from __future__ import annotations

import logging
import threading

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from aidetect.core.config import AmqpSettings
from aidetect.core.errors import TransientError

log = logging.getLogger("aidetect.retrying")


def until_available(
    *,
    what: str,
    retry_on: type[TransientError],
    initial: float,
    cap: float,
    limit: float,
    stopping: threading.Event | None = None,
) -> Retrying:
    stopping = stopping or threading.Event()
    stop: stop_base = stop_when_event_set(stopping)
    if limit:
        stop = stop | stop_after_delay(limit)

    def sleep(seconds: float) -> None:
        stopping.wait(seconds)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s; retrying in %.1fs (attempt %d)", what, error, wait, state.attempt_number
        )

    return Retrying(
        retry=retry_if_exception_type(retry_on),
        wait=wait_exponential_jitter(multiplier=initial, max=cap, jitter=initial),
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def during_outages(
    amqp: AmqpSettings,
    *,
    what: str,
    retry_on: type[TransientError],
    stopping: threading.Event | None = None,
    limit: float | None = None,
) -> Retrying:
    """`until_available` with the deployment's reconnect settings (AIDETECT_AMQP_*)."""
    return until_available(
        what=what,
        retry_on=retry_on,
        initial=amqp.reconnect_initial_seconds,
        cap=amqp.reconnect_max_seconds,
        limit=amqp.outage_limit_seconds if limit is None else limit,
        stopping=stopping,
    )
