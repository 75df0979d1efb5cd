"""Build the public portal ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dataops import http_problems as problems
from dataops.config import Settings
from dataops.domain.models import User
from dataops.portal.broker import EngineBroker, EngineConnector
from dataops.portal.gateway import (
    API_DOCS,
    SESSION_COOKIE,
    ApiGateway,
    Authenticator,
    cross_site,
)
from dataops.portal.logins import HashPool, LoginRefused, Logins, client_address
from dataops.portal.ratelimit import LoginLimiter
from dataops.services import auth
from dataops.services.context import Workspace

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


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        # The UI shows every timestamp in the user's own zone, labelled.
        "timezone": user.timezone,
    }


def create_portal_app(
    workspace: Workspace, engine: EngineConnector, portal_secret: str
) -> ApiGateway:
    """The portal: `/work/api/*` and `/work/health` through `ApiGateway` to the broker,
    which reaches the engine through `engine`; `/auth/*` and the UI as FastAPI routes
    behind it."""
    broker = EngineBroker(engine, portal_secret)
    authenticator = Authenticator(workspace)

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
    secure = workspace.settings.secure_cookies
    csp = content_security_policy(workspace.settings)
    page_headers = _page_headers(csp)

    hashes = HashPool()
    logins = Logins(workspace, LoginLimiter(workspace.store), hashes)
    body_limit = workspace.settings.max_upload_bytes + 1024 * 1024

    async def current_user(request: Request) -> tuple[User, str]:
        """The caller and how they proved it: a bearer token or the session cookie."""
        headers = request.headers
        return await authenticator.user(headers.get("authorization"), headers.get("cookie"))

    @app.post("/auth/login")
    async def login(
        request: Request,
        email: Annotated[str, Body(max_length=254, strict=True)],
        password: Annotated[str, Body(max_length=1024, strict=True)],
    ) -> JSONResponse:
        address = client_address(request.scope, workspace.settings.trusted_proxies)
        try:
            session = await logins.login(email, password, address)
        except LoginRefused as refused:
            return problems.problem(
                refused.status,
                refused.slug,
                refused.title,
                refused.detail,
                headers={"Retry-After": str(refused.retry_after)},
            )
        response = JSONResponse({"user": _user_json(session.user), "expiresAt": session.expires_at})
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        )
        return response

    @app.post("/auth/logout")
    async def logout(request: Request) -> JSONResponse:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await run_in_threadpool(auth.logout, workspace, token)
        response = JSONResponse({"loggedOut": True})
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax"
        )
        return response

    @app.post("/auth/password")
    async def change_password(
        request: Request,
        current_password: Annotated[
            str, Body(alias="currentPassword", max_length=1024, strict=True)
        ],
        new_password: Annotated[str, Body(alias="newPassword", max_length=1024, strict=True)],
    ) -> JSONResponse:
        """The caller changes their own password (current one required); their other
        sessions are revoked, the one they are using stays. Both hashes run on the login
        hash pool (no lock held, a full pool is 503 at once)."""
        user, via = await current_user(request)
        if via == "cookie" and cross_site(request.scope):
            detail = "cross-site requests with a session cookie are refused"
            return problems.problem(403, "cross-site", "Forbidden", detail)
        cookie = request.cookies.get(SESSION_COOKIE) if via == "cookie" else None
        keep = auth.secret_hash(cookie) if cookie else None
        if not hashes.reserve():
            return problems.problem(
                503,
                "login-busy",
                "Too many logins at once",
                "too many passwords are being checked at once; try again in 1 s",
                headers={"Retry-After": "1"},
            )
        await hashes.run(
            auth.change_own_password, workspace, user, current_password, new_password, keep
        )
        return JSONResponse({"changed": True})

    @app.get("/auth/session")
    async def session(request: Request) -> JSONResponse:
        user, via = await current_user(request)
        return JSONResponse({"authenticated": True, "via": via, "user": _user_json(user)})

    @app.get(API_DOCS, response_class=HTMLResponse)
    async def api_docs() -> Response:
        """The API reference page: `apidocs.js` renders `/work/api/openapi.json`."""
        html = resources.files("dataops.portal").joinpath("static/apidocs.html").read_text()
        return HTMLResponse(html, headers=page_headers)

    @app.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/work", status_code=302)

    @app.get("/work", response_class=HTMLResponse)
    @app.get("/work/{path:path}", response_class=HTMLResponse)
    async def shell(path: str = "") -> Response:
        if path.startswith("static/"):
            return _static(path.removeprefix("static/"), csp)
        html = resources.files("dataops.portal").joinpath("static/index.html").read_text()
        return HTMLResponse(html, headers=page_headers)

    return ApiGateway(app, authenticator=authenticator, broker=broker, body_limit=body_limit)


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
