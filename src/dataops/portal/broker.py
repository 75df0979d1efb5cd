"""Forward `/work/api/{path}` to the engine's `/api/{path}` with trusted headers.

Only allow-listed request headers pass; the client's Cookie, Authorization and any
`x-portal-*` / `x-user-*` header never do. The transport is injected: in-process
(`httpx.ASGITransport`) for `dataops serve` and tests, HTTP for a split deployment.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import quote

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dataops.domain.models import User
from dataops.engine.problems import problem

FORWARD_REQUEST = ("content-type", "accept", "if-match", "idempotency-key")
FORWARD_RESPONSE = (
    "content-type",
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


def _engine_path(request: Request, path: str) -> str:
    """`/work/api/<rest>` → `/api/<rest>`, still percent-encoded as the client sent it, so an
    encoded `/`, `?` or `#` inside an ID stays inside that ID."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(b"/work/api/"):
        return raw[len(b"/work") :].decode("latin-1")
    return "/api/" + quote(path)


class EngineBroker:
    def __init__(self, transport: httpx.AsyncBaseTransport, base_url: str, secret: str) -> None:
        self._client = httpx.AsyncClient(
            transport=transport, base_url=base_url, timeout=TIMEOUT_SECONDS, follow_redirects=False
        )
        self._secret = secret

    async def forward(self, request: Request, path: str, user: User | None) -> Response:
        request_id = uuid.uuid4().hex
        headers = {
            name: request.headers[name] for name in FORWARD_REQUEST if name in request.headers
        }
        headers.update(
            {
                "x-portal-auth": "true",
                "x-portal-secret": self._secret,
                "x-request-id": request_id,
            }
        )
        if user is not None:
            headers.update(
                {"x-user-id": user.id, "x-user-email": user.email, "x-user-role": user.role.value}
            )
        query = request.url.query
        target = _engine_path(request, path) + (f"?{query}" if query else "")
        try:
            outgoing = self._client.build_request(
                request.method,
                target,
                headers=headers,
                content=request.stream(),
                timeout=EXPORT_TIMEOUT_SECONDS if path == "export" else TIMEOUT_SECONDS,
            )
        except httpx.InvalidURL:
            return problem(400, "malformed-request", "Malformed request", "the URL is not valid")
        try:
            upstream = await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            return problem(
                504,
                "engine-timeout",
                "Work-engine timed out",
                f"the work-engine did not answer within {TIMEOUT_SECONDS:.0f} s "
                f"(request {request_id})",
            )
        except httpx.HTTPError:
            return problem(
                502,
                "engine-unavailable",
                "Work-engine unavailable",
                f"the work-engine could not be reached (request {request_id})",
            )
        log.info(
            json.dumps(
                {
                    "requestId": request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "status": upstream.status_code,
                    "userId": user.id if user else None,
                }
            )
        )
        response_headers = {
            name: upstream.headers[name] for name in FORWARD_RESPONSE if name in upstream.headers
        }
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=response_headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
