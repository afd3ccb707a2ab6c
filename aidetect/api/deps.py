"""The route dependencies, as `Annotated` aliases: SettingsDep, DbDep, KubeDep, TenantDep.

Long-lived clients live on `app.state`, made in the app's lifespan (see `main.py`). The database
is connected lazily (`lazy_db.LazyDatabase`), so the API starts, and /healthz answers, while
Postgres is down. Tests swap any of these with `app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aidetect.api import readiness
from aidetect.api.auth import identify
from aidetect.api.lazy_db import LazyDatabase
from aidetect.api.routing import request_tenant
from aidetect.api.tenants import Tenant, TenantRegistry
from aidetect.core import k8s
from aidetect.core.config import Settings
from aidetect.core.seams import TaskReader


def _started(request: Request, name: str) -> object:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise RuntimeError(f"app.state.{name} is not set: was the app's lifespan started?")
    return value


def get_settings(request: Request) -> Settings:
    settings = _started(request, "settings")
    assert isinstance(settings, Settings)
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_database(request: Request) -> LazyDatabase:
    database = _started(request, "database")
    assert isinstance(database, LazyDatabase)
    return database


LazyDbDep = Annotated[LazyDatabase, Depends(get_database)]


def get_db(database: LazyDbDep) -> TaskReader:
    return database.get()


DbDep = Annotated[TaskReader, Depends(get_db)]


def get_kube(request: Request) -> k8s.KubeClient:
    return _started(request, "kube")


KubeDep = Annotated[k8s.KubeClient, Depends(get_kube)]

bearer = HTTPBearer(
    auto_error=False,
    description="A tenant's token (AIDETECT_API_TENANTS_FILE) or the admin token "
    "(AIDETECT_API_TOKEN).",
)


def require_tenant(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Tenant:
    """The caller's tenant, which `GuardedRoute` authenticated before the body; a 401 otherwise.

    `bearer` is here for the OpenAPI security scheme; the header is read once, by the route.
    """
    return request_tenant(request)


# Guarded routes take `TenantDep` and check what they touch with `tenant.may_use(namespace)`.
TenantDep = Annotated[Tenant, Depends(require_tenant)]


def get_tenants(request: Request) -> TenantRegistry:
    registry = _started(request, "tenants")
    assert isinstance(registry, TenantRegistry)
    return registry


def optional_tenant(settings: SettingsDep, request: Request) -> Tenant | None:
    """The caller's tenant on an open route; None without a valid token (never a 401)."""
    return identify(settings, get_tenants(request), request.headers.get("authorization"))


OptionalTenantDep = Annotated[Tenant | None, Depends(optional_tenant)]


def get_amqp_probe(settings: SettingsDep) -> readiness.Probe:
    """Opens and closes a broker connection (a seam, since the broker has no fake)."""
    return readiness.amqp_probe(settings.amqp.url)


AmqpProbeDep = Annotated[readiness.Probe, Depends(get_amqp_probe)]


def get_readiness(request: Request) -> readiness.ReadinessChecker:
    checker = _started(request, "readiness")
    assert isinstance(checker, readiness.ReadinessChecker)
    return checker


ReadinessDep = Annotated[readiness.ReadinessChecker, Depends(get_readiness)]
