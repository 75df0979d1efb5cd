"""Two of the broker's ways to reach the engine (`broker.EngineConnector`; the third,
`http1.Http1Engine`, serves `dataops portal serve --engine-url`).

- `AsgiEngine`: the engine app in this process, called directly as ASGI (`dataops serve`,
  tests): no HTTP client, no socket, no copy of either body.
- `HttpEngine`: the engine behind an httpx transport at a URL: `LambdaInvokeTransport`
  on AWS, a mock in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Send

from dataops.portal.broker import (
    TIMEOUT_SECONDS,
    EngineRequest,
    EngineTimeout,
    EngineUnavailable,
    InvalidTarget,
)

log = logging.getLogger("dataops.portal")
ENGINE_HOST = "engine.internal"


class AsgiEngine:
    """Call the engine's ASGI app with a scope built from the broker's request.

    The scope holds what an ASGI server would put there for the same HTTP request:
    method, decoded and raw path, query string, and only the broker's headers (plus
    `host` and the client's `content-length`, the body being passed through unchanged).
    The engine reads the body from the portal's own `receive`, so its size limit counts
    bytes as they arrive, and its answer goes to the portal's `send` as it is produced.

    Timeouts: the answer must start within `request.timeout`; a body already streaming is
    not cut. The engine's code runs in the request's task, so a timeout cancels it at its
    next `await` (a sync route already in the thread pool finishes there, unanswered).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._host = (b"host", ENGINE_HOST.encode())

    async def call(self, request: EngineRequest, receive: Receive, send: Send) -> None:
        scope = self._scope(request)
        deadline = asyncio.timeout(request.timeout)
        started = finished = False

        async def answer(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            async with deadline:
                await self._app(scope, receive, answer)
        except Exception as exc:
            if finished:
                # Starlette re-raises after it has sent its 500 problem (and the engine has
                # logged the error): the answer is complete, so it stands.
                log.warning(
                    "engine raised %s after answering (request %s)",
                    type(exc).__name__,
                    request.request_id,
                )
                return
            if started:
                raise
            if isinstance(exc, TimeoutError) and deadline.expired():
                raise EngineTimeout(request.request_id) from None
            log.error(
                "engine failed before answering: %s (request %s)",
                type(exc).__name__,
                request.request_id,
            )
            raise EngineUnavailable(request.request_id) from exc
        if not started:
            raise EngineUnavailable(f"the engine returned no answer ({request.request_id})")

    def _scope(self, request: EngineRequest) -> dict[str, Any]:
        """The engine's scope for `request`, as an ASGI server would build it."""
        headers = [self._host, *request.headers]
        if request.content_length is not None:
            headers.append((b"content-length", request.content_length))
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.raw_path,
            "query_string": request.query,
            "root_path": "",
            "headers": headers,
            "server": (ENGINE_HOST, 80),
            "client": None,
        }

    async def aclose(self) -> None:
        return None


class HttpEngine:
    """Send each request through an httpx client on `transport` to `base_url`.

    httpx adds its framing headers (`host`, `content-length` or `transfer-encoding`,
    `user-agent`, `accept-encoding`, `connection`); the timeout is httpx's, per read.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, base_url: str) -> None:
        self._client = httpx.AsyncClient(
            transport=transport, base_url=base_url, timeout=TIMEOUT_SECONDS, follow_redirects=False
        )

    async def call(self, request: EngineRequest, receive: Receive, send: Send) -> None:
        target = request.raw_path.decode("latin-1")
        if request.query:
            target += "?" + request.query.decode("latin-1")
        try:
            outgoing = self._client.build_request(
                request.method,
                target,
                headers=request.headers,
                content=_body(receive),
                timeout=request.timeout,
            )
        except httpx.InvalidURL:
            raise InvalidTarget(target[:200]) from None
        try:
            upstream = await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            raise EngineTimeout(request.request_id) from None
        except httpx.HTTPError as exc:
            raise EngineUnavailable(request.request_id) from exc
        try:
            start = {"status": upstream.status_code, "headers": upstream.headers.raw}
            await send({"type": "http.response.start", **start})
            async for chunk in upstream.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The portal request's body as it arrives."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
