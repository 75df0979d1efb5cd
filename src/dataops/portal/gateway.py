"""`/work/api/*` and `/work/health` as a plain ASGI layer in front of the portal's FastAPI
app (the outermost layer: those requests never enter FastAPI's middleware, routing or
dependency solving).

Every API call passes here, so this path builds no Request: it names the caller (bearer
token or session cookie), refuses a declared body over the limit and cross-site writes
made with a cookie, and hands the request to the broker. Everything else (login, the UI,
lifespan) goes on to FastAPI, `/auth/*` with a 16 KiB body limit. Every answer says
`X-Content-Type-Options: nosniff`. Every HTTP request gets the portal's one log line
(`broker.log_request`): refusals here and the FastAPI routes' answers without a request
ID, since no engine call was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops import http_problems as problems
from dataops.domain.accounts import ApiToken, User
from dataops.domain.errors import DataOpsError, Unauthorized
from dataops.http_perimeter import counted_body, nosniff
from dataops.portal.broker import EngineBroker, log_request
from dataops.services import auth
from dataops.services.context import Workspace

SESSION_COOKIE = "dataops_session"
AUTH_BODY_LIMIT = 16 * 1024
"""Bytes an `/auth/*` request body may have: a login is a few hundred."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_DOCS = "/work/api/docs"
PUBLIC_API = frozenset({"/work/api/openapi.json", API_DOCS})
"""Under `/work/api/` but open without a session (CONTRACT §9): GET and HEAD only."""
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
    network. Recording a token's last use is a write: it runs in the thread pool, beside
    the request, which neither waits for it nor fails with it.
    """

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._inline = workspace.local_reads
        self._recording: set[str] = set()  # token IDs whose use is being recorded

    async def user(self, authorization: str | None, cookie: str | None) -> tuple[User, str]:
        """The caller and how they proved it (`token` or `cookie`), or Unauthorized; a
        token's use is recorded before this returns."""
        user, via, recording = await self.identify(authorization, cookie)
        if recording is not None:
            await recording
        return user, via

    async def identify(
        self, authorization: str | None, cookie: str | None
    ) -> tuple[User, str, asyncio.Task[None] | None]:
        """The caller, how they proved it and, when a token's use is due to be recorded,
        the task recording it, which runs beside the request: the caller awaits it once
        the request is answered. Recording is best effort: it never fails the request."""
        if authorization is not None:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("Authorization must be 'Bearer <token>'")
            user, token = await self._read(auth.find_token_user, secret.strip())
            recording = None
            if auth.touch_due(token) and token.id not in self._recording:
                self._recording.add(token.id)  # one recording at a time per token
                recording = asyncio.get_running_loop().create_task(self._record_use(token))
            return user, "token", recording
        session = cookie_parser(cookie).get(SESSION_COOKIE) if cookie else None
        if not session:
            raise Unauthorized("log in first (no session cookie or bearer token)")
        return await self._read(auth.session_user, session), "cookie", None

    async def _record_use(self, token: ApiToken) -> None:
        try:
            await run_in_threadpool(auth.touch_token, self._ws, token)
        except Exception:
            log.warning("the use of API token %s was not recorded", token.id, exc_info=True)
        finally:
            self._recording.discard(token.id)

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
            send = nosniff(send)  # every answer, whoever makes it
            path: str = scope["path"]
            if path in PUBLIC_API and scope["method"] in ("GET", "HEAD"):
                await self._public(scope, receive, send)
                return
            if path.startswith("/work/api/"):
                await self._api(scope, receive, send)
                return
            if path == "/work/health" and scope["method"] in ("GET", "HEAD"):
                await self._health(scope, receive, send)
                return
            if path.startswith("/auth/"):
                await self._auth_route(scope, receive, send)
                return
            await self._app(scope, receive, _logged(scope, send))  # the UI, files
            return
        await self._app(scope, receive, send)

    async def _public(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The API description (the engine's, forwarded with no user: it describes, it
        serves no data) and its reference page (the portal's own)."""
        if scope["path"] == API_DOCS:
            await self._app(scope, receive, _logged(scope, send))
            return
        await self._broker.forward(scope, receive, send, None)

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forwarded as the caller when they prove who they are (the engine then names
        its backends), else anonymously (it says only that it is up)."""
        found = _first_headers(scope)
        user, recording = None, None
        if b"authorization" in found or b"cookie" in found:
            with contextlib.suppress(DataOpsError):  # no reason to refuse a health check
                user, _, recording = await self._auth.identify(
                    _text(found.get(b"authorization")), _text(found.get(b"cookie"))
                )
        await self._broker.forward(scope, receive, send, user)
        if recording is not None:
            await recording

    async def _auth_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`/auth/*` to the app with a small body limit, checked on the declared length
        and counted as the bytes arrive (a login is a few hundred bytes)."""
        declared = _first_headers(scope).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > AUTH_BODY_LIMIT:  # ASCII digits only
            detail = f"the body is larger than {AUTH_BODY_LIMIT} bytes"
            refusal = problems.problem(413, "payload-too-large", "Payload too large", detail)
            log_request(None, scope, refusal.status_code, None)
            await refusal(scope, receive, send)
            return
        await self._app(scope, counted_body(receive, AUTH_BODY_LIMIT), _logged(scope, send))

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
        found = _first_headers(scope)
        try:
            user, via, recording = await self._auth.identify(
                _text(found.get(b"authorization")), _text(found.get(b"cookie"))
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
        if recording is not None:
            await recording  # the token's use, recorded while the request ran


def _first_headers(scope: Scope) -> dict[bytes, bytes]:
    """The wanted headers (lower-case names), the first of each, as Starlette reads them."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in _WANTED and name not in found:
            found[name] = value
    return found


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _logged(scope: Scope, send: Send) -> Send:
    """`send`, logging the request's line when its answer starts."""

    async def logging_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            log_request(None, scope, message["status"], None)
        await send(message)

    return logging_send


def cross_site(scope: Scope) -> bool:
    """True when the request in `scope` came from another site (Sec-Fetch-Site, Origin)."""
    return _cross_site(scope, _first_headers(scope))


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
