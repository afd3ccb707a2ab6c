"""Bounded waits on real state: a CR's phase, a database row. Fail with what was seen last."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kubernetes import client

from aidetect.core import crd

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.2
) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def wait_for_phase(
    api: client.CustomObjectsApi,
    namespace: str,
    name: str,
    phases: Iterable[str],
    timeout: float = 60,
) -> dict[str, Any]:
    """The CR once its status.phase is one of `phases`."""
    wanted = set(phases)
    seen: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal seen
        seen = api.get_namespaced_custom_object(crd.GROUP, crd.VERSION, namespace, crd.PLURAL, name)
        return seen if seen.get("status", {}).get("phase") in wanted else None

    try:
        return eventually(probe, timeout=timeout, what=f"dt/{name} in {sorted(wanted)}")
    except AssertionError as e:
        raise AssertionError(f"{e}\nstatus: {seen.get('status')}") from None
