"""Forward `/work/api/{path}` to the engine's `/api/{path}` with trusted headers.

One broker, three ways to reach the engine (`EngineConnector`): the engine app in this
process, called as ASGI (`connectors.AsgiEngine`: `dataops serve`, tests); pooled HTTP/1.1
connections to a URL (`http1.Http1Engine`: `dataops portal serve --engine-url`); an
httpx transport (`connectors.HttpEngine`: a Lambda invoke on AWS).

Only allow-listed request headers pass; the client's Cookie, Authorization and any
`x-portal-*` / `x-user-*` / `x-request-id` header never do. Only allow-listed response
headers come back. The broker works on ASGI messages, so a body streams through both ways
without being buffered.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import orjson
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from dataops.domain.accounts import User
from dataops.http_problems import internal_error, problem

FORWARD_REQUEST = ("content-type", "accept", "if-match", "idempotency-key")
FORWARD_RESPONSE = (
    "content-type",
    "content-length",  # the body passes unchanged, so its length still holds
    "content-disposition",
    "etag",
    "location",
    "cache-control",
    "x-content-type-options",
    "x-request-id",
    "retry-after",
)
TIMEOUT_SECONDS = 30.0
EXPORT_TIMEOUT_SECONDS = 600.0  # the archive is built before its first byte is sent
log = logging.getLogger("dataops.portal")

_REQUEST_NAMES = frozenset(name.encode() for name in FORWARD_REQUEST)
_RESPONSE_NAMES = frozenset(name.encode() for name in FORWARD_RESPONSE)
_PREFIX = b"/work"


@dataclass(frozen=True)
class EngineRequest:
    """What the broker asks of the engine; the body is read from the portal's `receive`."""

    method: str
    path: str  # decoded, as an ASGI server puts it in `scope["path"]`
    raw_path: bytes  # percent-encoded as the client sent it
    query: bytes
    headers: list[tuple[bytes, bytes]]  # lower-case names: allow-listed and trusted only
    content_length: bytes | None  # the client's declared body length, if any
    timeout: float
    request_id: str


class EngineTimeout(Exception):
    """The engine did not start its answer within the request's timeout."""


class EngineUnavailable(Exception):
    """The engine could not be reached, or failed before it started answering."""


class EngineBusy(Exception):
    """The connector's limit of requests in flight to the engine was reached, and none
    finished within the request's timeout: the request was not sent."""


class InvalidTarget(Exception):
    """The request's path or query cannot be sent to the engine."""


class EngineConnector(Protocol):
    """How the broker reaches the engine."""

    async def call(self, request: EngineRequest, receive: Receive, send: Send) -> None:
        """Send `request` to the engine, its body read from `receive` (ASGI `http.request`
        messages, streamed), and pass the engine's answer to `send` as ASGI
        `http.response.start` and `http.response.body` messages, streamed.

        Raises `EngineTimeout` when the answer has not started within `request.timeout`,
        `EngineUnavailable` when the engine cannot be reached or fails before it starts
        answering, `EngineBusy` when it did not send the request because too many were
        in flight, and `InvalidTarget` when the path or query cannot be sent. Once the
        answer has started, a failure is raised as it is and the response is cut short.
        Adds only the framing headers its protocol needs; drops none of `request.headers`.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; called once when the portal shuts down."""
        ...


def engine_target(scope: Scope) -> tuple[str, bytes]:
    """`/work/api/<rest>` → `/api/<rest>` (`/work/health` → `/api/health`), decoded and
    still percent-encoded as the client sent it, so an encoded `/`, `?` or `#` inside an ID
    stays inside that ID."""
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if path == "/work/health":
        return "/api/health", b"/api/health"
    if isinstance(raw, bytes) and raw.startswith(b"/work/api/"):
        return path[len("/work") :], raw[len(_PREFIX) :]
    rest = path[len("/work/api/") :]
    return "/api/" + rest, ("/api/" + quote(rest)).encode("latin-1")


class EngineBroker:
    def __init__(
        self,
        engine: EngineConnector,
        secret: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        export_timeout: float = EXPORT_TIMEOUT_SECONDS,
    ) -> None:
        self._engine = engine
        self._trusted = [(b"x-portal-auth", b"true"), (b"x-portal-secret", secret.encode())]
        self._timeout = timeout
        self._export_timeout = export_timeout

    async def forward(self, scope: Scope, receive: Receive, send: Send, user: User | None) -> None:
        """Answer the portal request in `scope` with the engine's answer: its status, the
        allow-listed headers and the body, streamed; a problem when the engine cannot."""
        request = self._request(scope, user)
        started = False

        async def filtered(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                log_request(request.request_id, scope, message["status"], user)
                message = {
                    "type": "http.response.start",
                    "status": message["status"],
                    "headers": [
                        (name, value)
                        for name, value in message.get("headers", ())
                        if name.lower() in _RESPONSE_NAMES
                    ],
                }
            await send(message)

        try:
            await self._engine.call(request, receive, filtered)
        except Exception as exc:
            if started:
                raise  # the answer is cut short; the server closes the connection
            failure = _failure_problem(exc, request)
            if failure is None:
                log.exception("unexpected error on %s %s", scope["method"], scope["path"])
                log_request(request.request_id, scope, 500, user)
                await internal_error()(scope, receive, send)
                raise
            log_request(request.request_id, scope, failure.status_code, user)
            await failure(scope, receive, send)

    def _request(self, scope: Scope, user: User | None) -> EngineRequest:
        """The engine request: the allow-listed client headers (the first of each, as
        Starlette's `headers[name]`), then the broker's own."""
        request_id = os.urandom(16).hex()
        headers: list[tuple[bytes, bytes]] = []
        seen: set[bytes] = set()
        content_length: bytes | None = None
        for name, value in scope["headers"]:
            name = name.lower()
            if name in _REQUEST_NAMES and name not in seen:
                seen.add(name)
                headers.append((name, value))
            elif name == b"content-length" and content_length is None:
                content_length = value
        headers += self._trusted
        headers.append((b"x-request-id", request_id.encode()))
        if user is not None:
            headers += [
                (b"x-user-id", user.id.encode()),
                (b"x-user-email", user.email.encode()),
                (b"x-user-role", user.role.value.encode()),
            ]
        path, raw_path = engine_target(scope)
        return EngineRequest(
            method=scope["method"],
            path=path,
            raw_path=raw_path,
            query=scope.get("query_string", b""),
            headers=headers,
            content_length=content_length,
            timeout=self._export_timeout if path == "/api/export" else self._timeout,
            request_id=request_id,
        )

    async def aclose(self) -> None:
        await self._engine.aclose()


def _failure_problem(exc: Exception, request: EngineRequest) -> JSONResponse | None:
    """The problem for an engine call that failed before answering; None if unexpected.
    Details name the request ID, never the engine's address or error."""
    rid = request.request_id
    if isinstance(exc, InvalidTarget):
        return problem(400, "malformed-request", "Malformed request", "the URL is not valid")
    if isinstance(exc, EngineTimeout):
        detail = f"the work-engine did not answer within {request.timeout:g} s (request {rid})"
        return problem(504, "engine-timeout", "Work-engine timed out", detail)
    if isinstance(exc, EngineUnavailable):
        detail = f"the work-engine could not be reached (request {rid})"
        return problem(502, "engine-unavailable", "Work-engine unavailable", detail)
    if isinstance(exc, EngineBusy):
        detail = f"too many requests are waiting for the work-engine; retry shortly (request {rid})"
        return problem(503, "engine-busy", "Work-engine busy", detail, headers={"Retry-After": "1"})
    return None


def log_request(request_id: str | None, scope: Scope, status: int, user: User | None) -> None:
    """The portal's one line for a request: the engine's answer, the broker's problem
    when the engine could not answer, or the gateway's refusal (no request ID: it never
    reached the broker)."""
    if not log.isEnabledFor(logging.INFO):
        return
    line = {
        "requestId": request_id,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "userId": user.id if user else None,
    }
    log.info(orjson.dumps(line).decode())
