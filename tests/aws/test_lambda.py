"""Lambda: the portal's invoke transport (botocore Stubber pinning the Invoke request),
a round trip of the produced event through the real `engine_handler` (Mangum) and back,
the portal handler behind a Function URL event, and start-up refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient

from dataops import lambda_handlers, runtime
from dataops.domain.errors import ConfigurationError
from dataops.portal import lambda_invoke
from dataops.portal.app import create_portal_app
from dataops.portal.connectors import HttpEngine
from dataops.portal.lambda_invoke import LambdaInvokeTransport
from dataops.services.context import Workspace
from tests.aws.support import HandlerLambdaClient, body_of, function_url_event, streaming
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_settings

ENGINE_FUNCTION = "dataops-prod-EngineFunction-AbC123"
SECRET = "portal-secret-for-tests-0123456789"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def fresh_containers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with cold containers and AWS test credentials."""
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    lambda_handlers._engine.cache_clear()
    lambda_handlers._portal.cache_clear()
    yield
    lambda_handlers._engine.cache_clear()
    lambda_handlers._portal.cache_clear()


def lambda_client() -> Any:
    return boto3.client("lambda", region_name="us-east-1")


class EventPayload:
    """Matches the Invoke `Payload` bytes: a Function URL 2.0 event equal to `expected`
    once the per-request fields (request ID, time) are checked for type and removed."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected
        self.seen: dict[str, Any] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, bytes):
            return False
        event = json.loads(other)
        self.seen = json.loads(other)
        context = event["requestContext"]
        assert isinstance(context.pop("requestId"), str)
        assert isinstance(context.pop("timeEpoch"), int)
        assert isinstance(context.pop("time"), str)
        return bool(event == self.expected)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return f"EventPayload({self.expected!r})"


def engine_answer(status: int, body: dict[str, Any], **headers: str) -> bytes:
    """What Mangum returns for a payload 2.0 event."""
    return json.dumps(
        {
            "statusCode": status,
            "headers": {"content-type": "application/json", **headers},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
    ).encode()


@pytest.fixture
def stubbed(workspace: Workspace) -> Iterator[tuple[TestClient, Stubber]]:
    """The portal (real sessions, real broker) whose engine is a stubbed Lambda client."""
    client = lambda_client()
    stubber = Stubber(client)
    transport = LambdaInvokeTransport(ENGINE_FUNCTION, client=client)
    engine = HttpEngine(transport, lambda_handlers.ENGINE_URL)
    app = create_portal_app(workspace, engine, SECRET)
    with stubber, TestClient(app) as portal:
        login(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield portal, stubber
        stubber.assert_no_pending_responses()


def admin_id(workspace: Workspace) -> str:
    from dataops.services import people
    from dataops.store.port import PageRequest

    users = people.list_users(workspace, PageRequest(limit=10)).items
    return next(u.id for u in users if u.email == ADMIN_EMAIL)


# --- the Invoke request, pinned ----------------------------------------------------------


def test_invoke_request_is_pinned_exactly(
    stubbed: tuple[TestClient, Stubber], workspace: Workspace
) -> None:
    portal, stubber = stubbed
    body = json.dumps({"description": "Book guest", "date": "2026-12-01"}).encode()
    expected_event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/tasks",
        "rawQueryString": "x=1&y=a%20b",
        "headers": {
            "host": "engine.lambda.internal",
            "accept": "*/*",
            "accept-encoding": "gzip, deflate",
            "user-agent": "python-httpx/" + __import__("httpx").__version__,
            "content-type": "application/json",
            "idempotency-key": "key-1",
            "x-portal-auth": "true",
            "x-portal-secret": SECRET,
            "x-request-id": "<any>",
            "x-user-id": admin_id(workspace),
            "x-user-email": ADMIN_EMAIL,
            "x-user-role": "admin",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "dataops-portal-broker",
            "domainName": "engine.lambda.internal",
            "domainPrefix": "engine",
            "http": {
                "method": "POST",
                "path": "/api/tasks",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "python-httpx/" + __import__("httpx").__version__,
            },
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }

    class WithRequestId(EventPayload):
        def __eq__(self, other: object) -> bool:
            if not isinstance(other, bytes):
                return False
            event = json.loads(other)
            request_id = event["headers"].get("x-request-id", "")
            # The event's request ID is the broker's, so both functions log the same one.
            assert event["requestContext"]["requestId"] == request_id
            event["headers"]["x-request-id"] = "<any>"
            return super().__eq__(json.dumps(event).encode())

    payload = WithRequestId(expected_event)
    stubber.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "Payload": streaming(engine_answer(201, {"id": "tsk_1"}, etag='"1"')),
            "ExecutedVersion": "$LATEST",
        },
        {
            "FunctionName": ENGINE_FUNCTION,
            "InvocationType": "RequestResponse",
            "Payload": payload,
        },
    )
    response = portal.post(
        "/work/api/tasks?x=1&y=a%20b",
        content=body,
        headers={
            "content-type": "application/json",
            "idempotency-key": "key-1",
            "x-user-id": "usr_forged",
            "x-portal-secret": "forged",
            "authorization-extra": "dropped",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"id": "tsk_1"}
    assert response.headers["etag"] == '"1"'
    assert payload.seen is not None
    assert "cookie" not in payload.seen["headers"]  # the session cookie never reaches it


@pytest.mark.parametrize(
    ("error_payload", "detail"),
    [
        (
            {
                "errorMessage": "KeyError: 'password_hash' at /var/task/secret_module.py",
                "errorType": "KeyError",
                "stackTrace": ['  File "/var/task/dataops/engine.py", line 1'],
            },
            "failed while handling the request",
        ),
        (
            {
                "errorMessage": "Response payload size exceeded maximum allowed payload size",
                "errorType": "Function.ResponseSizeTooLarge",
            },
            "larger than a Lambda invocation can return",
        ),
    ],
)
def test_function_error_is_502_without_the_payload(
    stubbed: tuple[TestClient, Stubber],
    error_payload: dict[str, Any],
    detail: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    portal, stubber = stubbed
    stubber.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": streaming(json.dumps(error_payload).encode()),
        },
    )
    response = portal.get("/work/api/tasks")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:dataops:problem:engine-failed"
    assert detail in problem["detail"]
    assert error_payload["errorMessage"] not in response.text
    assert "stackTrace" not in response.text
    assert "/var/task" not in response.text
    assert error_payload["errorMessage"] not in caplog.text  # only the type is logged


@pytest.mark.parametrize(
    ("code", "http_status", "status", "slug"),
    [
        ("RequestEntityTooLargeException", 413, 413, "payload-too-large"),
        ("TooManyRequestsException", 429, 503, "engine-busy"),
        ("ResourceNotFoundException", 404, 502, "engine-unavailable"),
        ("AccessDeniedException", 403, 502, "engine-unavailable"),
    ],
)
def test_invoke_errors_become_problems(
    stubbed: tuple[TestClient, Stubber], code: str, http_status: int, status: int, slug: str
) -> None:
    portal, stubber = stubbed
    stubber.add_client_error(
        "invoke",
        service_error_code=code,
        service_message="arn:aws:lambda:secret",
        http_status_code=http_status,
    )
    response = portal.get("/work/api/tasks")
    assert response.status_code == status, response.text
    assert response.json()["type"] == f"urn:dataops:problem:{slug}"
    assert "arn:aws" not in response.text


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"statusCode": "200"}', b'{"statusCode": 99}', b'{"body": "x"}'],
)
def test_an_unreadable_engine_answer_is_502(
    stubbed: tuple[TestClient, Stubber], payload: bytes
) -> None:
    portal, stubber = stubbed
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": streaming(payload)})
    response = portal.get("/work/api/tasks")
    assert response.status_code == 502
    assert response.json()["type"] == "urn:dataops:problem:engine-invalid-response"


def test_binary_and_redirect_answers_pass_through(stubbed: tuple[TestClient, Stubber]) -> None:
    portal, stubber = stubbed
    binary = bytes(range(256))
    stubber.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "Payload": streaming(
                json.dumps(
                    {
                        "statusCode": 200,
                        "headers": {
                            "content-type": "application/octet-stream",
                            "content-disposition": 'attachment; filename="a.bin"',
                        },
                        "body": base64.b64encode(binary).decode(),
                        "isBase64Encoded": True,
                    }
                ).encode()
            ),
        },
    )
    stubber.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "Payload": streaming(
                json.dumps(
                    {"statusCode": 307, "headers": {"location": "https://example.org/x"}}
                ).encode()
            ),
        },
    )
    download = portal.get("/work/api/files/fil_1/content")
    assert download.content == binary
    assert download.headers["content-disposition"] == 'attachment; filename="a.bin"'
    redirect = portal.get("/work/api/files/fil_1/content", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "https://example.org/x"


# --- round trip through the real handlers -----------------------------------------------


@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The settings SAM gives both functions, with SQLite standing in for DynamoDB (the
    Lambda start-up refusals are tested below, with AWS_LAMBDA_FUNCTION_NAME set)."""
    for key, value in {
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(tmp_path),
        "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
        "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WORK_ENGINE_PORTAL_SECRET": SECRET,
        "WORK_ENGINE_FUNCTION_NAME": ENGINE_FUNCTION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    return tmp_path


def test_event_round_trip_through_the_real_engine_handler(lambda_env: Path) -> None:
    """Transport → event → `engine_handler` (Mangum, real engine, real store) → Mangum's
    answer → httpx.Response, driven by the portal behind a Function URL event."""
    engine = HandlerLambdaClient(lambda_handlers.engine_handler)
    transport = LambdaInvokeTransport(ENGINE_FUNCTION, client=engine)
    portal = lambda_handlers.build_portal(lambda_handlers.lambda_settings(), transport)
    try:
        login_response = portal(
            function_url_event(
                "POST",
                "/auth/login",
                body=json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode(),
                headers={"content-type": "application/json"},
            ),
            None,
        )
        assert login_response["statusCode"] == 200, login_response
        cookie = login_response["cookies"][0].split(";")[0]

        created = portal(
            function_url_event(
                "POST",
                "/work/api/tasks",
                body=json.dumps({"description": "Record episode", "date": "2026-12-01"}).encode(),
                headers={"content-type": "application/json", "sec-fetch-site": "same-origin"},
                cookies=[cookie],
            ),
            None,
        )
        assert created["statusCode"] == 201, body_of(created)
        task = json.loads(body_of(created))
        assert task["description"] == "Record episode"

        listed = portal(
            function_url_event("GET", "/work/api/tasks", query="date=2026-12-01", cookies=[cookie]),
            None,
        )
        assert listed["statusCode"] == 200
        assert [t["id"] for t in json.loads(body_of(listed))["items"]] == [task["id"]]

        me = portal(function_url_event("GET", "/work/api/me", cookies=[cookie]), None)
        assert json.loads(body_of(me))["email"] == ADMIN_EMAIL

        missing = portal(
            function_url_event("GET", "/work/api/tasks/tsk_missing", cookies=[cookie]), None
        )
        assert missing["statusCode"] == 404
        assert missing["headers"]["content-type"] == "application/problem+json"
    finally:
        engine.close()
    assert [c["FunctionName"] for c in engine.calls] == [ENGINE_FUNCTION] * 4
    assert {c["InvocationType"] for c in engine.calls} == {"RequestResponse"}
    for call in engine.calls:  # no cookie and no bearer token ever reach the engine
        headers = json.loads(call["Payload"])["headers"]
        assert "cookie" not in headers
        assert "authorization" not in headers


def test_engine_handler_refuses_events_without_the_portal_secret(lambda_env: Path) -> None:
    event = function_url_event("GET", "/api/tasks", headers={"x-portal-auth": "true"})
    answer = lambda_handlers.engine_handler(event, None)
    assert answer["statusCode"] == 401
    forged = function_url_event(
        "GET", "/api/tasks", headers={"x-portal-auth": "true", "x-portal-secret": "x" * 34}
    )
    assert lambda_handlers.engine_handler(forged, None)["statusCode"] == 401
    trusted = function_url_event(
        "GET", "/api/health", headers={"x-portal-auth": "true", "x-portal-secret": SECRET}
    )
    assert lambda_handlers.engine_handler(trusted, None)["statusCode"] == 200


def test_settings_are_read_once_per_container(
    lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusted = {"x-portal-auth": "true", "x-portal-secret": SECRET}
    event = function_url_event("GET", "/api/health", headers=trusted)
    assert lambda_handlers.engine_handler(event, None)["statusCode"] == 200
    monkeypatch.setenv("WORK_ENGINE_PORTAL_SECRET", "another-secret-0123456789")
    monkeypatch.setenv("DATAOPS_STORE", "not-a-store")  # would fail a new start-up
    assert lambda_handlers.engine_handler(event, None)["statusCode"] == 200


# --- start-up refusals --------------------------------------------------------------------


ON_LAMBDA = {
    "AWS_LAMBDA_FUNCTION_NAME": "dataops-engine",
    "DATAOPS_ENV": "production",
    "WORK_ENGINE_PORTAL_SECRET": SECRET,
    "WORK_ENGINE_FUNCTION_NAME": ENGINE_FUNCTION,
}


@pytest.mark.parametrize("handler", ["engine_handler", "portal_handler"])
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"DATAOPS_STORE": "sqlite", "DATAOPS_BLOB_STORE": "disabled"},
            "DATAOPS_STORE=sqlite keeps metadata on Lambda local disk",
        ),
        (  # SQLite is the default store
            {"DATAOPS_BLOB_STORE": "disabled"},
            "DATAOPS_STORE=sqlite keeps metadata on Lambda local disk",
        ),
        (
            {"DATAOPS_STORE": "dynamodb", "DATAOPS_BLOB_STORE": "local-dev"},
            "DATAOPS_BLOB_STORE=local-dev keeps binaries on local disk",
        ),
        (  # even in a test environment
            {"DATAOPS_ENV": "test", "DATAOPS_STORE": "dynamodb", "DATAOPS_BLOB_STORE": "local-dev"},
            "DATAOPS_BLOB_STORE=local-dev keeps binaries on local disk.*on AWS Lambda",
        ),
        ({"DATAOPS_STORE": "dynamodb", "DATAOPS_BLOB_STORE": "s3"}, "DATAOPS_ARTIFACTS_BUCKET"),
    ],
)
def test_lambda_start_up_refuses_local_disk_storage(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    handler: str,
    settings: dict[str, str],
    named: str,
) -> None:
    monkeypatch.setenv("DATAOPS_HOME", str(tmp_path / "home"))
    for key, value in {**ON_LAMBDA, **settings}.items():
        monkeypatch.setenv(key, value)
    event = function_url_event("GET", "/work/health")
    with pytest.raises(ConfigurationError, match=named):
        getattr(lambda_handlers, handler)(event, None)
    assert not (tmp_path / "home").exists()  # nothing was written to local disk


def test_portal_needs_the_engine_function_name(
    lambda_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORK_ENGINE_FUNCTION_NAME")
    with pytest.raises(ConfigurationError, match="WORK_ENGINE_FUNCTION_NAME"):
        lambda_handlers.portal_handler(function_url_event("GET", "/work/health"), None)


@pytest.mark.parametrize("handler", ["engine_handler", "portal_handler"])
def test_a_function_without_a_portal_secret_does_not_start(
    lambda_env: Path, monkeypatch: pytest.MonkeyPatch, handler: str
) -> None:
    monkeypatch.delenv("WORK_ENGINE_PORTAL_SECRET")
    with pytest.raises(ConfigurationError, match="WORK_ENGINE_PORTAL_SECRET_NAME"):
        getattr(lambda_handlers, handler)(function_url_event("GET", "/api/health"), None)


def test_no_generated_admin_password_on_lambda(
    lambda_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DATAOPS_ADMIN_PASSWORD")
    engine = HandlerLambdaClient(lambda_handlers.engine_handler)
    try:
        portal = lambda_handlers.build_portal(
            lambda_handlers.lambda_settings(), LambdaInvokeTransport(ENGINE_FUNCTION, client=engine)
        )
        assert "dataops users add" in caplog.text
        answer = portal(
            function_url_event(
                "POST",
                "/auth/login",
                body=json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode(),
                headers={"content-type": "application/json"},
            ),
            None,
        )
        assert answer["statusCode"] == 401
    finally:
        engine.close()
    workspace = runtime.build_workspace(make_settings(lambda_env))
    try:
        from dataops.services import people

        assert not people.has_users(workspace)
    finally:
        workspace.store.close()


def test_the_transport_needs_a_function_name() -> None:
    with pytest.raises(ValueError, match="engine function"):
        LambdaInvokeTransport("", client=object())
    assert lambda_invoke.INVOKE_TIMEOUT_SECONDS > 30  # the engine function's timeout
