"""One JSON shape for every error the API returns, and the mapping of core's error tree onto it.

Clients parse `{"error": {"code", "message", "details"}}` whatever went wrong: a validation error,
an HTTPException, a body over the limit, a dependency that is down or a bug. Core's tree is mapped
once, here: TransientError -> 503 (retry), PermanentError -> 4xx (the request is wrong). Two
permanent errors are not the client's: `KubeRefused` is the apiserver's own 4xx, which is the
client's only when it judged the input (400/422, with its field causes), and `DatabaseRefused` is
a statement Postgres refused, a bug (500).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aidetect.core.errors import (
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidInput,
    KubeRefused,
    KubeUnavailable,
    PermanentError,
    QueueUnavailable,
    TaskNotFound,
    TransientError,
    UnknownDetector,
)

logger = logging.getLogger("aidetect.api")

RETRY_AFTER_SECONDS = "5"

CODES_BY_STATUS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}

# Most specific first: the first class that matches decides the status and the code.
CORE_ERRORS: Sequence[tuple[type[Exception], int, str]] = (
    (TaskNotFound, 404, "task_not_found"),
    (InvalidInput, 422, "invalid_input"),
    (UnknownDetector, 422, "unknown_detector"),
    (PermanentError, 422, "invalid_request"),
    (DatabaseUnavailable, 503, "database_unavailable"),
    (QueueUnavailable, 503, "queue_unavailable"),
    (KubeUnavailable, 503, "kube_unavailable"),
    (TransientError, 503, "unavailable"),
)


class ApiError(StarletteHTTPException):
    """An HTTPException that carries its own error code and details."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.details = details


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> Any:
    """The JSON document of an error."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


def _default_code(status_code: int) -> str:
    return CODES_BY_STATUS.get(status_code, "client_error" if status_code < 500 else "server_error")


async def _http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, ApiError):
        code, message, details = exc.code, exc.message, exc.details
    else:
        code, details = _default_code(exc.status_code), None
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else ""
        message = message or HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, details=details, headers=exc.headers)


def field_name(loc: Sequence[int | str]) -> str:
    """`("body", "texts", 3)` -> `texts[3]`; the request part is dropped for the body only."""
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _detail(error: Any) -> dict[str, Any]:
    if error.get("type") == "json_invalid":  # its loc is ("body", <character position>)
        reason = (error.get("ctx") or {}).get("error", "")
        position = error.get("loc", ("body", "?"))[-1]
        message = f"the body is not valid JSON: {reason} (at character {position})"
        return {"field": "body", "message": message, "type": "json_invalid"}
    loc = error.get("loc", ())
    return {"field": field_name(loc), "message": error.get("msg", ""), "type": error.get("type")}


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without the input (which can be 100 000 characters long)."""
    return [_detail(e) for e in errors]


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    problems = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return error_response(
        422, "validation_error", f"invalid request: {problems}{more}", details=details
    )


def classify(exc: Exception) -> tuple[int, str] | None:
    """The status and code of one of core's errors; None if it is outside the tree's branches."""
    return next(((s, c) for cls, s, c in CORE_ERRORS if isinstance(exc, cls)), None)


async def _core_error(request: Request, exc: Exception) -> JSONResponse:
    classified = classify(exc)
    if classified is None:  # an AidetectError that is neither Transient nor Permanent is a bug
        return await _unexpected(request, exc)
    status_code, code = classified
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status_code == 503 else None
    if status_code >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(status_code, code, str(exc), headers=headers)


def apiserver_refusal(exc: KubeRefused) -> tuple[str, list[dict[str, Any]]]:
    """The apiserver's own message and field causes, as the error's message and details."""
    return exc.message, [{"field": c.field, "message": c.message} for c in exc.causes]


def named_namespace_refusal(exc: KubeRefused, namespace: str) -> ApiError | None:
    """The client's own error when the apiserver refuses a namespace the client named.

    A namespace that does not exist is a 422 on the `namespace` field; one the API's RBAC does
    not reach is a 403, as for a namespace the token may not use. Anything else: None.
    """
    if exc.status == 404 and exc.kind == "namespaces":
        message = f"the namespace {namespace!r} does not exist"
        return ApiError(
            422,
            "namespace_not_found",
            message,
            details=[{"field": "namespace", "message": message}],
        )
    if exc.status == 403:
        return ApiError(
            403,
            "namespace_forbidden",
            f"this deployment may not create tasks in the namespace {namespace!r} (its RBAC)",
            details=[{"field": "namespace", "message": "not reachable by the API's RBAC"}],
        )
    return None


async def _kube_refusal(request: Request, exc: Exception) -> JSONResponse:
    """A 4xx from the apiserver that core did not map: the input (400/422) or our own access."""
    assert isinstance(exc, KubeRefused)
    message, details = apiserver_refusal(exc)
    if exc.status in (400, 422):
        return error_response(422, "rejected_by_apiserver", message, details=details)
    if exc.status == 409:
        return error_response(409, "conflict", message, details=details)
    logger.error("%s %s: the apiserver refused: %s", request.method, request.url.path, message)
    return error_response(502, "apiserver_refused", f"the kube-apiserver refused: {message}")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred; it was logged")


def register_error_handlers(app: FastAPI) -> None:
    """Send every error through the one shape."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TransientError, _core_error)
    app.add_exception_handler(PermanentError, _core_error)
    app.add_exception_handler(KubeRefused, _kube_refusal)
    app.add_exception_handler(DatabaseRefused, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
