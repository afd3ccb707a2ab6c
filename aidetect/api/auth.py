"""Bearer-token auth: who the caller is, what it may touch, and no start with default secrets.

Each bearer token belongs to a tenant (`tenants.py`) with the namespaces it may create in, read
and cancel; an admin's reach every namespace. The probes and /metrics stay open so that kubelets
and Prometheus need no secret. `GuardedRoute` (`routing.py`) calls `authenticate` before the
body is read; the decisions are here, as plain functions.
"""

from __future__ import annotations

from aidetect.api.errors import ApiError
from aidetect.api.tenants import ANONYMOUS_ADMIN, Tenant, TenantRegistry
from aidetect.core.config import Settings

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate(settings: Settings, registry: TenantRegistry, authorization: str | None) -> Tenant:
    """The caller's tenant; an admin for everyone when auth is off; a 401 otherwise.

    A deployment with no tokens at all (dev mode may run so) answers 401 to every guarded route
    until AIDETECT_API_TOKEN or AIDETECT_API_TENANTS_FILE is set (or auth is turned off).
    """
    if not settings.api.auth_enabled:
        return ANONYMOUS_ADMIN
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token: send the header 'Authorization: Bearer <token>'",
            headers=CHALLENGE,
        )
    tenant = registry.find(token)
    if tenant is None:
        raise ApiError(401, "unauthorized", "invalid bearer token", headers=CHALLENGE)
    return tenant


def identify(
    settings: Settings, registry: TenantRegistry, authorization: str | None
) -> Tenant | None:
    """The caller's tenant on an open route, or None: a missing or wrong token is no error there."""
    try:
        return authenticate(settings, registry, authorization)
    except ApiError:
        return None


def namespace_forbidden(tenant: Tenant, namespace: str) -> ApiError:
    """The 403 for a namespace the caller may not use (the namespace is the caller's own word)."""
    return ApiError(
        403,
        "namespace_forbidden",
        f"this token may not use the namespace {namespace!r}",
        details=[
            {"field": "namespace", "message": f"allowed: {', '.join(tenant.namespaces or ())}"}
        ],
    )


def admin_only(tenant: Tenant, what: str) -> None:
    """Raise a 403 unless the caller is an admin (for what spans every namespace)."""
    if not tenant.is_admin:
        raise ApiError(403, "admin_only", f"{what} spans every namespace: it needs an admin token")


def refuse_insecure_defaults(settings: Settings) -> None:
    """Raise RuntimeError if the settings hold default or missing secrets outside dev mode."""
    problems = settings.insecure_defaults()
    if problems and not settings.dev_mode:
        raise RuntimeError(
            "refusing to start the API with insecure defaults: "
            + "; ".join(problems)
            + " (fix them, or set AIDETECT_DEV_MODE=true on a development machine)"
        )
