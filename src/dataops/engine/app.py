"""Build the private work-engine ASGI app."""

from __future__ import annotations

import hmac
import logging
import os

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops import http_problems as problems
from dataops.domain.errors import PayloadTooLarge
from dataops.engine.openapi import public_openapi
from dataops.engine.routes import (
    artifacts,
    export,
    files,
    mywork,
    overview,
    people,
    recurring,
    search,
    settings,
    tasks,
    uploads,
    webhooks,
    workflow,
)
from dataops.http_perimeter import Nosniff, counted_body
from dataops.services import proofs
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from dataops.services.settings import ensure_settings

log = logging.getLogger("dataops.engine")
JSON_BODY_LIMIT = 1024 * 1024
_MULTIPART_OVERHEAD = 1024 * 1024


def _last_headers(scope: Scope, *names: bytes) -> dict[bytes, bytes]:
    """The value of each named header (lower-case names), the last one when it repeats, as
    a dict built from all of them would hold; a missing header reads as b""."""
    found = dict.fromkeys(names, b"")
    for name, value in scope["headers"]:
        name = name.lower()
        if name in found:
            found[name] = value
    return found


class PortalTrust:
    """Serve a request only when the portal vouches for it: `x-portal-auth: true` and the
    shared secret (compared in constant time). Everything else is 401."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        if not secret:
            raise ValueError("the engine needs a portal secret")
        self._app = app
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = _last_headers(scope, b"x-portal-auth", b"x-portal-secret")
        trusted = headers[b"x-portal-auth"] == b"true" and hmac.compare_digest(
            headers[b"x-portal-secret"], self._secret
        )
        if not trusted:
            response = problems.problem(
                401,
                "unauthorized",
                "Authentication required",
                "the work-engine is reachable only through the portal",
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


class BodyLimit:
    """413 for bodies over the limit (JSON 1 MiB; uploads the configured maximum), counted
    as they arrive so a missing or false Content-Length does not help."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self._app = app
        self._upload_limit = upload_limit + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = _last_headers(scope, b"content-type", b"content-length")
        content_type, declared = headers[b"content-type"], headers[b"content-length"]
        binary = content_type.startswith(b"multipart/form-data") or (
            scope["method"] == "PUT" and scope["path"].startswith("/api/uploads/")
        )
        limit = self._upload_limit if binary else JSON_BODY_LIMIT
        if declared.isdigit() and int(declared) > limit:
            response = problems.problem_for(
                PayloadTooLarge(f"the body is larger than {limit} bytes")
            )
            await response(scope, receive, send)
            return
        await self._app(scope, counted_body(receive, limit), send)


class RequestId:
    """Carry the portal's request ID (or make one) into the response and, when
    `log_requests`, into one log line per request."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self._app = app
        self._log = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = _last_headers(scope, b"x-request-id")[b"x-request-id"]
        request_id = given.decode("latin-1")[:100] or os.urandom(16).hex()

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
                if self._log and log.isEnabledFor(logging.INFO):
                    line = {
                        "requestId": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": message["status"],
                    }
                    log.info(orjson.dumps(line).decode())
            await send(message)

        await self._app(scope, receive, tagged)


_ROUTE_MODULES = (
    people,
    settings,
    workflow,
    recurring,
    tasks,
    files,
    uploads,
    artifacts,
    mywork,
    search,
    overview,
    webhooks,
    export,
)
"""The engine's route modules, each with its `router`, in the order they are mounted."""


def create_engine_app(
    workspace: Workspace, portal_secret: str, *, log_requests: bool = True
) -> FastAPI:
    """The engine's ASGI app. `log_requests=False` when the portal calls it in its own
    process (`dataops serve`): the portal's line for the request (same request ID, and
    the user) is then the one line per request."""
    app = FastAPI(
        title="DataOps work-engine",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # `/api/tasks/` is a 404 problem, not a 307 to the engine's own address (which
        # the broker would pass back to the client).
        redirect_slashes=False,
    )
    app.state.workspace = workspace
    ensure_settings(workspace)  # (the expiry sweep counts from its first day)
    proofs.index_blocked(workspace, SYSTEM)  # once: the todo tasks stored before it
    problems.install(app, log)
    for module in _ROUTE_MODULES:
        app.include_router(module.router)
    app.openapi = lambda: public_openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, upload_limit=workspace.settings.max_upload_bytes)
    app.add_middleware(PortalTrust, secret=portal_secret)
    app.add_middleware(RequestId, log_requests=log_requests)
    app.add_middleware(Nosniff)
    return app
