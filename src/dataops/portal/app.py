"""Build the public portal ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dataops import http_problems as problems
from dataops.config import Settings
from dataops.portal import auth_routes
from dataops.portal.auth_routes import AuthContext
from dataops.portal.broker import EngineBroker, EngineConnector
from dataops.portal.gateway import API_DOCS, ApiGateway, Authenticator
from dataops.portal.logins import HashPool, Logins
from dataops.services.context import Workspace
from dataops.services.ratelimit import LoginLimiter

log = logging.getLogger("dataops.portal")


def content_security_policy(settings: Settings) -> str:
    """The UI's CSP: everything from the portal itself; `connect-src` adds the artifacts
    bucket's origins (`Settings.upload_origins`), where the browser PUTs upload bytes."""
    connect = " ".join(("'self'", *settings.upload_origins))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _page_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def create_portal_app(
    workspace: Workspace, engine: EngineConnector, portal_secret: str
) -> ApiGateway:
    """The portal: `/work/api/*` and `/work/health` through `ApiGateway` to the broker,
    which reaches the engine through `engine`; `/auth/*` (`auth_routes`) and the UI as
    FastAPI routes behind it."""
    broker = EngineBroker(engine, portal_secret)
    hashes = HashPool()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await broker.aclose()
        hashes.close()

    app = FastAPI(
        title="DataOps portal",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        redirect_slashes=False,  # `/auth/login/` is a 404, never a redirect
    )
    problems.install(app, log)
    authenticator = Authenticator(workspace)
    logins = Logins(workspace, LoginLimiter(workspace.store), hashes)
    app.state.auth = AuthContext(workspace, authenticator, logins, hashes)
    app.state.csp = content_security_policy(workspace.settings)
    app.include_router(auth_routes.router)
    app.include_router(pages)
    body_limit = workspace.settings.max_upload_bytes + 1024 * 1024
    return ApiGateway(app, authenticator=authenticator, broker=broker, body_limit=body_limit)


pages = APIRouter()
"""The UI: its shell page for every `/work` address, its static files, the API reference."""


def _csp(request: Request) -> str:
    csp: str = request.app.state.csp
    return csp


@pages.get(API_DOCS, response_class=HTMLResponse)
async def api_docs(request: Request) -> Response:
    """The API reference page: `apidocs.js` renders `/work/api/openapi.json`."""
    html = resources.files("dataops.portal").joinpath("static/apidocs.html").read_text()
    return HTMLResponse(html, headers=_page_headers(_csp(request)))


@pages.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/work", status_code=302)


@pages.get("/work", response_class=HTMLResponse)
@pages.get("/work/{path:path}", response_class=HTMLResponse)
async def shell(request: Request, path: str = "") -> Response:
    if path.startswith("static/"):
        return _static(path.removeprefix("static/"), _csp(request))
    html = resources.files("dataops.portal").joinpath("static/index.html").read_text()
    return HTMLResponse(html, headers=_page_headers(_csp(request)))


_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _static(name: str, csp: str) -> Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES:
        return problems.problem(404, "not-found", "Not found", f"no asset {name}")
    asset = resources.files("dataops.portal").joinpath("static", name)
    if not asset.is_file():
        return problems.problem(404, "not-found", "Not found", f"no asset {name}")
    return Response(
        asset.read_bytes(),
        media_type=_STATIC_TYPES[suffix],
        headers={
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )
