"""Helpers for the AWS tests: Function URL events as AWS sends them, a Lambda client that
runs an invoke through a handler in its own "container" thread, and a bucket factory."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.response import StreamingBody

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def function_url_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """A Lambda Function URL event (payload format 2.0), written out from the AWS
    documentation's example rather than from our own event builder."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "203.0.113.7",
            "user-agent": "pytest",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1795629600000,
        },
        "isBase64Encoded": bool(body),
    }
    if body:
        event["body"] = base64.b64encode(body).decode()
    if cookies:
        event["cookies"] = cookies
    return event


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body", "")
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class HandlerLambdaClient:
    """What `lambda:Invoke` does, minus the network: the payload goes through `handler`
    in one dedicated thread with its own event loop (one warm Lambda container)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._container = ThreadPoolExecutor(
            max_workers=1, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
        )
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        event = json.loads(kwargs["Payload"])
        result = self._container.submit(self._handler, event, None).result()
        data = json.dumps(result).encode()
        return {"StatusCode": 200, "Payload": streaming(data), "ExecutedVersion": "$LATEST"}

    def close(self) -> None:
        self._container.shutdown(wait=True)
