"""Refuse request bodies over `settings.api.max_body_bytes` with a 413, before they fill memory.

A declared Content-Length over the limit is refused when the route first asks for the body,
before a byte is read; a chunked body (no Content-Length) is counted while it is read and refused
as soon as it passes the limit. Refusing inside the route (not in front of the router) keeps the
route's name on the 413 in the metrics. Either way the client gets the one error shape, not a 500.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aidetect.api.errors import ApiError, error_response


class BodyTooLarge(ApiError):
    """The request body is larger than the configured limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            "payload_too_large",
            f"the request body is larger than the limit of {max_bytes} bytes "
            "(AIDETECT_API_MAX_BODY_BYTES); split the batch into smaller requests",
        )


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header, or None when there is none (or it is not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    """Pure ASGI middleware (no BaseHTTPMiddleware, so the body is never buffered twice)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body reading, so the app's handler
                    # answers; the except below covers anything that reads the body elsewhere.
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._refuse(scope, receive, send, exc)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
        response = error_response(exc.status_code, exc.code, exc.message)
        await response(scope, receive, send)
