"""Build the FastAPI app (`create_app`) and serve it with uvicorn (`run`, for `aidetect api`).

The app refuses default secrets outside dev mode, and a tenants file that does not parse at all,
before it serves anything. Its long-lived clients (the kube ApiClient and the lazily connected
database) are made in the lifespan and closed at shutdown; the routes reach them through `deps.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from aidetect import __version__
from aidetect.api.auth import refuse_insecure_defaults
from aidetect.api.errors import register_error_handlers
from aidetect.api.lazy_db import LazyDatabase
from aidetect.api.limits import BodySizeLimit
from aidetect.api.metrics import ApiMetrics, CountRequests
from aidetect.api.readiness import ReadinessChecker
from aidetect.api.routes import health, page, profiles, stats, tasks
from aidetect.api.tenants import TenantRegistry
from aidetect.core import k8s
from aidetect.core.config import Settings, get_settings
from aidetect.core.logs import configure_logging

DESCRIPTION = """Submit texts for AI-generated-text detection and read the results.

`POST /predict` creates a `DetectionTask` custom resource, exactly as `kubectl apply` would;
`GET /status/{taskId}` reads the task from the database. Send `Authorization: Bearer <token>`:
a tenant's token reaches the namespaces it is given, an admin's every namespace.
Every error has the shape `{"error": {"code", "message", "details"}}`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.kube = k8s.api_client(settings.kube.kubeconfig)
    app.state.database = LazyDatabase(settings.db)  # connects on first use, not here
    app.state.readiness = ReadinessChecker()
    try:
        yield
    finally:
        app.state.database.close()
        app.state.kube.close()
        app.state.readiness.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app for `settings` (default: the process settings)."""
    settings = settings or get_settings()
    refuse_insecure_defaults(settings)
    # /docs and /redoc from assets vendored in the fastapi-offline package: no CDN, so they
    # render on an air-gapped cluster too
    app = FastAPIOffline(
        title="aidetect",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Read here, not in the lifespan: a tenants file that does not parse stops the start.
    app.state.tenants = TenantRegistry(
        settings.api.tenants_file, settings.api.token.get_secret_value()
    )
    app.state.profiles = settings.profiles()
    app.state.requests = ApiMetrics()
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    # Added last, so outermost: it also counts what BodySizeLimit answers itself.
    app.add_middleware(CountRequests, counter=app.state.requests)
    app.include_router(tasks.router)
    app.include_router(profiles.router)
    app.include_router(stats.router)
    app.include_router(stats.open_router)
    app.include_router(health.router)
    page.mount(app)
    return app


def run(settings: Settings | None = None) -> None:
    """Serve the API on settings.api.host:port until SIGTERM."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,  # keep configure_logging's handler
        log_level=settings.log_level.lower(),
        server_header=False,
    )
