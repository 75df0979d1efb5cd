"""ASGI pieces the engine's and the portal's outer layers share (neither app owns them):
a body limit counted as the bytes arrive, and the header every response carries."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")


def counted_body(receive: Receive, limit: int) -> Receive:
    """`receive`, raising 413 once more than `limit` body bytes have arrived, so a missing
    or false Content-Length does not help. FastAPI re-raises an HTTPException from body
    parsing unchanged (others become 400), so the limit surfaces as a 413 problem."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"the body is larger than {limit} bytes")
        return message

    return counted


def nosniff(send: Send) -> Send:
    """`send`, adding `X-Content-Type-Options: nosniff` to the answer unless it has one."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                message = {**message, "headers": [*headers, NOSNIFF]}
        await send(message)

    return sending


class Nosniff:
    """Every HTTP answer of `app` says `X-Content-Type-Options: nosniff`: browsers take
    its Content-Type as given and never sniff a JSON or text answer into HTML or script."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = nosniff(send)
        await self._app(scope, receive, send)
