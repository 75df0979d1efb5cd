"""Build the public portal ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import Body, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dataops.domain.errors import DataOpsError, Unauthorized
from dataops.domain.models import User
from dataops.engine import problems
from dataops.portal.broker import EngineBroker
from dataops.portal.ratelimit import LoginLimiter
from dataops.services import auth
from dataops.services.context import Workspace

SESSION_COOKIE = "dataops_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role.value}


def _cross_site(request: Request) -> bool:
    """True when Sec-Fetch-Site or Origin shows the request came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = urlsplit(str(request.base_url))
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc)


def create_portal_app(
    workspace: Workspace, transport: httpx.AsyncBaseTransport, engine_url: str, portal_secret: str
) -> FastAPI:
    broker = EngineBroker(transport, engine_url, portal_secret)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await broker.aclose()

    app = FastAPI(
        title="DataOps portal", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    problems.install(app)
    secure = workspace.settings.secure_cookies

    limiter = LoginLimiter()
    body_limit = workspace.settings.max_upload_bytes + 1024 * 1024

    async def current_user(request: Request) -> tuple[User, str]:
        """The caller and how they proved it: a bearer token or the session cookie."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("Authorization must be 'Bearer <token>'")
            user = await run_in_threadpool(auth.token_user, workspace, secret.strip())
            return user, "token"
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthorized("log in first (no session cookie or bearer token)")
        return await run_in_threadpool(auth.session_user, workspace, token), "cookie"

    @app.post("/auth/login")
    async def login(
        request: Request,
        email: Annotated[str, Body(max_length=254, strict=True)],
        password: Annotated[str, Body(max_length=1024, strict=True)],
    ) -> JSONResponse:
        address = request.client.host if request.client else "unknown"
        account = " ".join(email.split()).lower()  # the account login() will look up
        wait = limiter.retry_after(account, address)
        if wait is not None:
            return problems.problem(
                429,
                "too-many-logins",
                "Too many login attempts",
                f"too many failed logins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        try:
            session = await run_in_threadpool(auth.login, workspace, email, password)
        except Unauthorized:
            limiter.failed(account, address)
            raise
        limiter.succeeded(account)
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

    @app.get("/auth/session")
    async def session(request: Request) -> JSONResponse:
        user, via = await current_user(request)
        return JSONResponse({"authenticated": True, "via": via, "user": _user_json(user)})

    @app.get("/work/health")
    async def health(request: Request) -> Response:
        return await broker.forward(request, "health", None)

    @app.api_route(
        "/work/api/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
    async def work_api(request: Request, path: str) -> Response:
        try:
            user, via = await current_user(request)
        except DataOpsError as exc:
            return problems.problem_for(exc)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body_limit:
            return problems.problem(
                413,
                "payload-too-large",
                "Payload too large",
                f"the body is larger than {body_limit} bytes",
            )
        if via == "cookie" and request.method in UNSAFE_METHODS and _cross_site(request):
            return problems.problem(
                403,
                "cross-site",
                "Forbidden",
                "cross-site requests with a session cookie are refused",
            )
        return await broker.forward(request, path, user)

    @app.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/work", status_code=302)

    @app.get("/work", response_class=HTMLResponse)
    @app.get("/work/{path:path}", response_class=HTMLResponse)
    async def shell(path: str = "") -> Response:
        if path.startswith("static/"):
            return _static(path.removeprefix("static/"))
        html = resources.files("dataops.portal").joinpath("static/index.html").read_text()
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
            },
        )

    return app


_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _static(name: str) -> Response:
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
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )
