"""`GuardedRoute`: the token is checked before the request body is read, and the body is UTF-8.

FastAPI reads and parses the body before it runs any dependency, so a token check in a
dependency alone would let an anonymous client make the API read and parse megabytes. This
route class runs the check first, after routing (so the 401 is counted under its route) and
before the handler touches the body. Then it refuses a body that is not UTF-8 with a 400, the
one encoding JSON may travel in (RFC 8259), instead of FastAPI's guess or its bare 400.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from aidetect.api.auth import authenticate
from aidetect.api.errors import ApiError
from aidetect.api.tenants import Tenant, TenantRegistry
from aidetect.core.config import Settings

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def request_tenant(request: Request) -> Tenant:
    """Authenticate the request once; the tenant is kept on `request.state` for the route."""
    tenant = getattr(request.state, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    settings, registry = request.app.state.settings, request.app.state.tenants
    assert isinstance(settings, Settings) and isinstance(registry, TenantRegistry)
    tenant = authenticate(settings, registry, request.headers.get("authorization"))
    request.state.tenant = tenant
    return tenant


def not_utf8(error: UnicodeDecodeError) -> ApiError:
    return ApiError(
        400,
        "invalid_encoding",
        f"the body is not UTF-8 (invalid byte at offset {error.start}); send JSON encoded as UTF-8",
        details=[{"field": "body", "message": str(error.reason), "type": "invalid_encoding"}],
    )


class GuardedRoute(APIRoute):
    """An APIRoute that authenticates before the body, then checks the body's encoding."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        reads_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            request_tenant(request)
            if reads_body:
                body = await request.body()  # cached: the handler reads these same bytes
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise not_utf8(e) from e
            return await handler(request)

        return guarded
