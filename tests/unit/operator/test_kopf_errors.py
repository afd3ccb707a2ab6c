"""`kopf_errors`, the one mapping of core's error tree onto kopf's, and the handlers it wraps."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

from aidetect.core.config import Settings
from aidetect.core.errors import (
    DatabaseUnavailable,
    InvalidInput,
    KubeRefused,
    KubeUnavailable,
    PermanentError,
    TransientError,
)
from aidetect.operator import handlers
from aidetect.operator.kopf_errors import RETRY_DELAY_SECONDS, kopf_errors
from aidetect.operator.watching import Admitted


def raising(error: BaseException) -> Any:
    @kopf_errors(delay=7)
    def handler(**_: Any) -> None:
        raise error

    return handler


@pytest.mark.parametrize(
    "error",
    [TransientError("busy"), KubeUnavailable("503"), DatabaseUnavailable("connection refused")],
)
def test_a_transient_error_is_kopfs_temporary_error_with_the_delay(error: Exception) -> None:
    with pytest.raises(kopf.TemporaryError) as raised:
        raising(error)()

    assert raised.value.delay == 7
    assert str(raised.value) == str(error)
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("invalid spec"),
        InvalidInput("ConfigMap ns/x not found"),
        KubeRefused("remove the finalizer", status=403, reason="Forbidden", message="no"),
    ],
)
def test_a_permanent_error_is_kopfs_permanent_error(error: Exception) -> None:
    with pytest.raises(kopf.PermanentError) as raised:
        raising(error)()

    assert str(raised.value) == str(error)
    assert raised.value.__cause__ is error


def test_an_unforeseen_error_is_logged_whole_and_treated_as_temporary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.ERROR, "aidetect.operator"),
        pytest.raises(kopf.TemporaryError, match="KeyError: 'uid'") as raised,
    ):
        raising(KeyError("uid"))()

    assert raised.value.delay == 7
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert "handler handler failed unexpectedly" in caplog.text


@pytest.mark.parametrize("error", [kopf.TemporaryError("soon", delay=1), kopf.PermanentError("no")])
def test_kopfs_own_errors_pass_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as raised:
        raising(error)()

    assert raised.value is error


def test_a_handler_that_succeeds_returns_its_result_under_its_own_name() -> None:
    @kopf_errors()
    def named_handler(x: int, **_: Any) -> int:
        return x + 1

    assert named_handler(1, logger=None) == 2
    assert named_handler.__name__ == "named_handler"


def test_the_default_delay_is_kopfs_own() -> None:
    @kopf_errors()
    def busy() -> None:
        raise TransientError("busy")

    with pytest.raises(kopf.TemporaryError) as raised:
        busy()

    assert raised.value.delay == RETRY_DELAY_SECONDS == 60


def as_called_by_kopf(handler: Any) -> Any:
    """The registered handler, called with only the kwargs it reads (kopf passes them all)."""
    return handler


class ClosingDeps:
    def close(self) -> None:
        raise DatabaseUnavailable("connection lost while closing")


def test_the_cleanup_handler_maps_a_transient_error() -> None:
    memo = kopf.Memo(deps=ClosingDeps())

    with pytest.raises(kopf.TemporaryError, match="connection lost while closing"):
        as_called_by_kopf(handlers.cleanup)(memo=memo)


class RefusingDb:
    def find_task(self, _task_id: object) -> None:
        raise KubeRefused("read", status=403, reason="Forbidden", message="denied")


def test_the_event_handler_maps_a_permanent_error() -> None:
    # Given a CR being deleted whose cancellation fails permanently
    deps = SimpleNamespace(settings=Settings(), db=RefusingDb())
    memo = kopf.Memo(deps=deps, admitted=Admitted())
    body = {
        "metadata": {
            "uid": "7b6f3c1e-0000-4000-8000-000000000001",
            "namespace": "default",
            "name": "dt-1",
            "deletionTimestamp": "2025-01-01T00:00:00Z",
            "finalizers": ["aidetect.io/cancel-on-delete"],
        }
    }

    # Then kopf is told to give up on it
    with pytest.raises(kopf.PermanentError, match="403 Forbidden: denied"):
        as_called_by_kopf(handlers.task_event)(type="MODIFIED", body=body, memo=memo)
