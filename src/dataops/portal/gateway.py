"""`/work/api/*` and `/work/health` as a plain ASGI layer in front of the portal's FastAPI
app (the outermost layer: those requests never enter FastAPI's middleware, routing or
dependency solving).

Every API call passes here, so this path builds no Request: it names the caller (bearer
token or session cookie), refuses a declared body over the limit and cross-site writes
made with a cookie, and hands the request to the broker. Everything else (login, the UI,
lifespan) goes on to FastAPI. Every HTTP request gets the portal's one log line
(`broker.log_request`): refusals here and the FastAPI routes' answers without a request
ID, since no engine call was made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops.domain.errors import DataOpsError, Unauthorized
from dataops.domain.models import User
from dataops.engine import problems
from dataops.portal.broker import EngineBroker, log_request
from dataops.services import auth
from dataops.services.context import Workspace

SESSION_COOKIE = "dataops_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

log = logging.getLogger("dataops.portal")
_T = TypeVar("_T")
_WANTED = frozenset({b"authorization", b"cookie", b"content-length", b"sec-fetch-site", b"origin"})


class Authenticator:
    """Who is calling: a bearer token (`Authorization: Bearer dop_...`) or the session
    cookie. Nothing is cached: every request reads its session or token, so a logout or a
    revocation holds from the next request on.

    Where the reads run: when `Workspace.local_reads` (SQLite: the session by primary key,
    the token by its unique hash index, then the user by primary key, in WAL mode, where
    readers do not wait for writers) they take a fraction of a millisecond and run on the
    event loop, which is cheaper than a hand-off to the thread pool. Otherwise (DynamoDB:
    a network call per read) they run in the thread pool, so the loop never waits on the
    network. Recording a token's last use is a write and always runs in the thread pool.
    """

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._inline = workspace.local_reads

    async def user(self, authorization: str | None, cookie: str | None) -> tuple[User, str]:
        """The caller and how they proved it (`token` or `cookie`), or Unauthorized."""
        if authorization is not None:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("Authorization must be 'Bearer <token>'")
            user, token = await self._read(auth.find_token_user, secret.strip())
            if auth.touch_due(token):
                await run_in_threadpool(auth.touch_token, self._ws, token)
            return user, "token"
        session = cookie_parser(cookie).get(SESSION_COOKIE) if cookie else None
        if not session:
            raise Unauthorized("log in first (no session cookie or bearer token)")
        return await self._read(auth.session_user, session), "cookie"

    async def _read(self, read: Callable[[Workspace, str], _T], secret: str) -> _T:
        if self._inline:
            return read(self._ws, secret)
        return await run_in_threadpool(read, self._ws, secret)


class ApiGateway:
    """The ASGI layer: `/work/api/*` and `/work/health` to the broker, the rest to `app`.

    Errors are answered as FastAPI's app would: a `DataOpsError` while naming the caller
    as its problem, anything unexpected as a bare 500 problem (logged, then re-raised so
    the server sees it too, as Starlette does)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        broker: EngineBroker,
        body_limit: int,
    ) -> None:
        self._app = app
        self._auth = authenticator
        self._broker = broker
        self._body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/work/api/"):
                await self._api(scope, receive, send)
                return
            if path == "/work/health" and scope["method"] in ("GET", "HEAD"):
                await self._broker.forward(scope, receive, send, None)
                return
            await self._app(scope, receive, _logged(scope, send))  # login, the UI, files
            return
        await self._app(scope, receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        user: User | None = None

        async def refuse(refusal: Response) -> None:
            log_request(None, scope, refusal.status_code, user)
            await refusal(scope, receive, send)

        method: str = scope["method"]
        if method not in API_METHODS:
            detail = f"{method} is not allowed on {scope['path']}"
            allow = {"Allow": ", ".join(API_METHODS)}
            await refuse(
                problems.problem(405, "method-not-allowed", "Method not allowed", detail, allow)
            )
            return
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            name = name.lower()
            if name in _WANTED and name not in found:  # the first of each, as Starlette
                found[name] = value
        authorization, cookie = found.get(b"authorization"), found.get(b"cookie")
        try:
            user, via = await self._auth.user(
                None if authorization is None else authorization.decode("latin-1"),
                None if cookie is None else cookie.decode("latin-1"),
            )
        except DataOpsError as exc:
            await refuse(problems.problem_for(exc))
            return
        except Exception:
            log.exception("unexpected error on %s %s", method, scope["path"])
            await refuse(problems.internal_error())
            raise
        declared = found.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._body_limit:  # ASCII digits only
            detail = f"the body is larger than {self._body_limit} bytes"
            await refuse(problems.problem(413, "payload-too-large", "Payload too large", detail))
            return
        if via == "cookie" and method in UNSAFE_METHODS and _cross_site(scope, found):
            detail = "cross-site requests with a session cookie are refused"
            await refuse(problems.problem(403, "cross-site", "Forbidden", detail))
            return
        await self._broker.forward(scope, receive, send, user)


def _logged(scope: Scope, send: Send) -> Send:
    """`send`, logging the request's line when its answer starts."""

    async def logging_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            log_request(None, scope, message["status"], None)
        await send(message)

    return logging_send


def _cross_site(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """True when Sec-Fetch-Site or Origin shows the request came from another site."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in (b"same-origin", b"none")
    origin = headers.get(b"origin")
    if origin is None:
        return False
    try:
        own, theirs = URL(scope=scope), URL(origin.decode("latin-1"))
        return (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc)
    except ValueError:  # an unparseable Origin or Host is no proof of the same site
        return True
