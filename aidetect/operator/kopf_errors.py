"""The one mapping of core's error tree onto kopf's, so that each handler stays a few lines.

`@kopf_errors()` goes under every `@kopf.on...` decorator:

- `TransientError` -> `kopf.TemporaryError(delay=...)`: kopf may retry after the delay;
- `PermanentError` -> `kopf.PermanentError`: kopf gives up;
- anything else is a bug or an input nothing foresaw: logged with its traceback, then treated as
  temporary, as kopf's default errors mode treats any exception.

What kopf does with the outcome depends on the handler. The startup and cleanup activities are
retried after the delay, and a permanent error fails them (at startup the operator exits 1). An
`on.event` handler is never retried: kopf logs the outcome, and the resync repairs whatever the
event left undone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import kopf

from aidetect.core.errors import PermanentError, TransientError

log = logging.getLogger("aidetect.operator")

# kopf's own delay for a TemporaryError and for any other exception: retries keep today's pace.
RETRY_DELAY_SECONDS = 60.0

P = ParamSpec("P")
R = TypeVar("R")


def kopf_errors(
    delay: float = RETRY_DELAY_SECONDS,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A handler decorator: core's errors (and unforeseen ones) raised as kopf's."""

    def decorate(handler: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(handler)
        def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return handler(*args, **kwargs)
            except TransientError as e:
                raise kopf.TemporaryError(str(e), delay=delay) from e
            except PermanentError as e:
                raise kopf.PermanentError(str(e)) from e
            except (kopf.TemporaryError, kopf.PermanentError):
                raise  # the handler chose kopf's outcome itself
            except Exception as e:  # a bug: say where, then let kopf retry as it would anyway
                log.exception("handler %s failed unexpectedly", handler.__name__)
                raise kopf.TemporaryError(f"{type(e).__name__}: {e}", delay=delay) from e

        return mapped

    return decorate
