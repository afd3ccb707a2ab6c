"""How the operator gives up: after a dependency outage longer than its bound, exit non-zero.

A background thread cannot end kopf itself; it records why and sends the process SIGTERM, so
kopf shuts down as it would for the kubelet (cleanup handlers run), and `operator.main.run`
returns 1 instead of 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger("aidetect.operator")

gave_up = threading.Event()


def give_up(why: str) -> None:
    """Stop the operator because of `why`; its exit status will be 1."""
    log.error("giving up: %s; stopping the operator", why)
    gave_up.set()
    os.kill(os.getpid(), signal.SIGTERM)
