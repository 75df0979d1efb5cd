"""`/auth/*`: log in, log out, change one's own password, and who the caller is.

The routes find what they use on `app.state.auth` (`AuthContext`, set by
`create_portal_app`). Their bodies are limited to 16 KiB by the gateway
(`gateway.AUTH_BODY_LIMIT`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dataops import http_problems as problems
from dataops.domain.accounts import User
from dataops.portal.gateway import SESSION_COOKIE, Authenticator, cross_site
from dataops.portal.logins import HashPool, LoginRefused, Logins, client_address
from dataops.services import auth
from dataops.services.context import Workspace

router = APIRouter(prefix="/auth")


@dataclass(frozen=True)
class AuthContext:
    """What the `/auth/*` routes use: one per portal app, on `app.state.auth`."""

    workspace: Workspace
    authenticator: Authenticator
    logins: Logins
    hashes: HashPool


async def _context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


Context = Annotated[AuthContext, Depends(_context)]


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        # The UI shows every timestamp in the user's own zone, labelled.
        "timezone": user.timezone,
    }


async def _current_user(context: AuthContext, request: Request) -> tuple[User, str]:
    """The caller and how they proved it: a bearer token or the session cookie."""
    headers = request.headers
    return await context.authenticator.user(headers.get("authorization"), headers.get("cookie"))


@router.post("/login")
async def login(
    request: Request,
    context: Context,
    email: Annotated[str, Body(max_length=254, strict=True)],
    password: Annotated[str, Body(max_length=1024, strict=True)],
) -> JSONResponse:
    settings = context.workspace.settings
    address = client_address(request.scope, settings.trusted_proxies)
    try:
        session = await context.logins.login(email, password, address)
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
        secure=settings.secure_cookies,
        path="/",
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
    )
    return response


@router.post("/logout")
async def logout(request: Request, context: Context) -> JSONResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(auth.logout, context.workspace, token)
    response = JSONResponse({"loggedOut": True})
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=context.workspace.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/password")
async def change_password(
    request: Request,
    context: Context,
    current_password: Annotated[str, Body(alias="currentPassword", max_length=1024, strict=True)],
    new_password: Annotated[str, Body(alias="newPassword", max_length=1024, strict=True)],
) -> JSONResponse:
    """The caller changes their own password (current one required); their other
    sessions are revoked, the one they are using stays. Both hashes run on the login
    hash pool (no lock held, a full pool is 503 at once)."""
    user, via = await _current_user(context, request)
    if via == "cookie" and cross_site(request.scope):
        detail = "cross-site requests with a session cookie are refused"
        return problems.problem(403, "cross-site", "Forbidden", detail)
    cookie = request.cookies.get(SESSION_COOKIE) if via == "cookie" else None
    keep = auth.secret_hash(cookie) if cookie else None
    if not context.hashes.reserve():
        return problems.problem(
            503,
            "login-busy",
            "Too many logins at once",
            "too many passwords are being checked at once; try again in 1 s",
            headers={"Retry-After": "1"},
        )
    await context.hashes.run(
        auth.change_own_password, context.workspace, user, current_password, new_password, keep
    )
    return JSONResponse({"changed": True})


@router.get("/session")
async def session(request: Request, context: Context) -> JSONResponse:
    user, via = await _current_user(context, request)
    return JSONResponse({"authenticated": True, "via": via, "user": _user_json(user)})
