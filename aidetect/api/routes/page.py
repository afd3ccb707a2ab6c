"""The web page at `/`: static files shipped in the package (no CDN, no build step).

The page asks for a token and sends it with each request to the API's own routes; the files
themselves need none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"
# The pages load nothing from elsewhere, and the browser is told so: ReDoc's bundle would
# otherwise fetch its sidebar logo from cdn.redoc.ly (an air-gapped cluster only loses the logo).
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)
PAGES = frozenset({"/", "/docs", "/redoc"})

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


def mount(app: FastAPI) -> None:
    """Serve `/` and the page's files under `/ui`; the HTML pages get a CSP that allows only
    this origin."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")

    @app.middleware("http")
    async def same_origin_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path in PAGES:
            response.headers["Content-Security-Policy"] = CSP
        return response
