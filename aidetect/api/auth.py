"""Bearer-token auth for the API, and the refusal to run with default secrets outside dev mode.

One shared token (AIDETECT_API_TOKEN) guards every route that reads or changes tasks; the probes
and /metrics stay open so that kubelets and Prometheus need no secret. The wiring into FastAPI
(`TokenDep`) is in `deps.py`; the decisions are here, as plain functions.
"""

from __future__ import annotations

import secrets

from aidetect.api.errors import ApiError
from aidetect.core.config import Settings

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_bearer(settings: Settings, token: str | None) -> None:
    """Raise a 401 unless auth is off or `token` is the configured one.

    An empty configured token matches nothing: dev mode may run without one, but then every
    guarded route answers 401 until AIDETECT_API_TOKEN is set or AIDETECT_API_AUTH_ENABLED=false.
    """
    if not settings.api.auth_enabled:
        return
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token: send the header 'Authorization: Bearer <token>'",
            headers=CHALLENGE,
        )
    expected = settings.api.token.get_secret_value()
    # Bytes, because compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "invalid bearer token", headers=CHALLENGE)


def refuse_insecure_defaults(settings: Settings) -> None:
    """Raise RuntimeError if the settings hold default or missing secrets outside dev mode."""
    problems = settings.insecure_defaults()
    if problems and not settings.dev_mode:
        raise RuntimeError(
            "refusing to start the API with insecure defaults: "
            + "; ".join(problems)
            + " (fix them, or set AIDETECT_DEV_MODE=true on a development machine)"
        )
