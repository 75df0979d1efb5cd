"""The portal's broker transport on AWS: each engine request is one synchronous
`lambda:Invoke` (RequestResponse) of the private engine function.

The request becomes a Lambda Function URL (API Gateway HTTP API 2.0) event — the shape
Mangum in the engine function reads — and Mangum's answer becomes the `httpx.Response`
the broker streams back. The broker has already built the headers (trusted identity,
shared secret, allow-listed client headers); this transport adds nothing and drops
nothing.

Failures never leak the engine's payload: a `FunctionError` (crash, timeout, response
over the 6 MB invoke limit) is a 502 problem naming the request ID, and only the error
type is logged. A request over the invoke limit is 413 with a hint to use `/api/uploads`;
throttling is 503 with `Retry-After`; an unreachable Lambda service raises `httpx`
transport errors, which the broker turns into 502/504.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import httpx

from dataops.aws_extra import require_aws
from dataops.http_problems import problem

log = logging.getLogger("dataops.portal")

INVOKE_TIMEOUT_SECONDS = 35.0
"""A little over the engine function's 30 s timeout, so Lambda reports it first."""
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
)
"""Framing of the broker's own HTTP request; an invoke carries the whole body instead."""


class LambdaInvokeTransport(httpx.AsyncBaseTransport):
    def __init__(self, function_name: str, *, client: Any = None) -> None:
        if not function_name:
            raise ValueError("the engine function name is empty")
        self._function_name = function_name
        self._client = client if client is not None else _lambda_client()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        event = request_event(request, body)
        request_id = request.headers.get("x-request-id", event["requestContext"]["requestId"])
        try:
            result = await asyncio.to_thread(
                self._client.invoke,
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except Exception as exc:
            return _invoke_failure(exc, request, request_id)
        if result.get("FunctionError"):
            return _function_error(result, request_id)
        try:
            payload = json.loads(result["Payload"].read())
        except (KeyError, ValueError):
            payload = None
        return engine_response(payload, request_id)


def request_event(request: httpx.Request, body: bytes) -> dict[str, Any]:
    """A Function URL (payload 2.0) event for `request`; the body is always base64."""
    raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
    headers: dict[str, str] = {}
    for name, value in request.headers.multi_items():
        key = name.lower()
        if key in _HOP_BY_HOP:
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = time.time()
    # The broker's request ID, so the two functions' log lines can be matched.
    request_id = headers.get("x-request-id") or uuid.uuid4().hex
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "dataops-portal-broker",
            "domainName": request.url.host,
            "domainPrefix": request.url.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", "dataops-portal"),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def engine_response(payload: Any, request_id: str) -> httpx.Response:
    """The `httpx.Response` for Mangum's answer (payload 2.0, or 1.0 with
    multiValueHeaders); anything malformed is a 502 problem."""
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        log.error(json.dumps({"requestId": request_id, "brokerError": "invalid-response"}))
        return _problem(
            502,
            "engine-invalid-response",
            "Work-engine returned an invalid response",
            f"the work-engine's answer could not be read (request {request_id})",
        )
    assert isinstance(payload, dict)
    headers: list[tuple[str, str]] = []
    for name, value in (payload.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in payload.get("cookies") or [])
    raw = payload.get("body") or ""
    try:
        if payload.get("isBase64Encoded"):
            content = base64.b64decode(raw, validate=True)
        else:
            content = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    except ValueError:
        return _problem(
            502,
            "engine-invalid-response",
            "Work-engine returned an invalid response",
            f"the work-engine's body could not be decoded (request {request_id})",
        )
    # A stream, not `content=`: the broker streams the body back (`aiter_raw`).
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))


def _function_error(result: dict[str, Any], request_id: str) -> httpx.Response:
    error_type = "Unhandled"
    with contextlib.suppress(KeyError, ValueError, AttributeError):
        error_type = str(json.loads(result["Payload"].read()).get("errorType", error_type))[:100]
    # The payload (message, stack trace) stays in the engine's own logs; only its type here.
    log.error(
        json.dumps(
            {
                "requestId": request_id,
                "brokerError": "function-error",
                "functionError": str(result.get("FunctionError"))[:50],
                "errorType": error_type,
            }
        )
    )
    too_large = "ResponseSizeTooLarge" in error_type
    detail = (
        "the work-engine's response was larger than a Lambda invocation can return"
        if too_large
        else "the work-engine failed while handling the request"
    )
    return _problem(502, "engine-failed", "Work-engine failed", f"{detail} (request {request_id})")


def _invoke_failure(exc: Exception, request: httpx.Request, request_id: str) -> httpx.Response:
    """Translate an Invoke that did not reach the engine; botocore stays in here."""
    from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        raise httpx.ReadTimeout(f"engine invoke timed out ({request_id})", request=request)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        log.error(json.dumps({"requestId": request_id, "brokerError": "invoke", "code": code}))
        if code == "RequestEntityTooLargeException":
            return _problem(
                413,
                "payload-too-large",
                "Payload too large",
                "the request is larger than a Lambda invocation carries (6 MB); send files "
                "with POST /api/uploads",
            )
        if code in ("TooManyRequestsException", "EC2ThrottledException"):
            return _problem(
                503,
                "engine-busy",
                "Work-engine busy",
                f"the work-engine is at its concurrency limit; retry shortly "
                f"(request {request_id})",
                headers={"Retry-After": "1"},
            )
        raise httpx.ConnectError(f"engine invoke refused ({code})", request=request)
    if isinstance(exc, BotoCoreError):
        raise httpx.ConnectError(f"engine invoke failed ({type(exc).__name__})", request=request)
    raise exc


def _problem(
    status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    response = problem(status, slug, title, detail, headers=headers)
    return httpx.Response(
        status,
        headers=list(response.headers.items()),
        stream=httpx.ByteStream(bytes(response.body)),
    )


def _lambda_client() -> Any:
    require_aws("the engine invoke (WORK_ENGINE_FUNCTION_NAME)")
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    # No retries: an Invoke that timed out may have run, and a retried POST would run twice.
    config = Config(
        read_timeout=INVOKE_TIMEOUT_SECONDS,
        connect_timeout=5,
        retries={"mode": "standard", "max_attempts": 1},
    )
    return boto3.client("lambda", config=config)
