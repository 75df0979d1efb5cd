"""The deployed shape, end to end on the moto server: both handlers in "Lambda" (AWS_LAMBDA_
FUNCTION_NAME set) with DynamoDB metadata, S3 blobs and the portal secret from Secrets
Manager. A Function URL event enters the portal; its broker invokes the engine handler;
an upload goes to S3 through a presigned PUT and comes back as a 307 to a presigned GET."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from dataops import lambda_handlers
from dataops.portal import lambda_invoke
from tests.aws.support import HandlerLambdaClient, body_of, function_url_event
from tests.aws.test_upload_round_trip import new_bucket
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.contract.dynamo import dynamo_env

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

pytestmark = pytest.mark.slow

ENGINE_FUNCTION = "dataops-test-EngineFunction"
DATA = b"final cut, episode 42\n" * 100


@pytest.fixture
def deployed(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HandlerLambdaClient, str]]:
    bucket = new_bucket(moto)
    secret_name = f"dataops-test/work-engine/portal-secret-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager", endpoint_url=moto.endpoint).create_secret(
        Name=secret_name, SecretString="g" * 48
    )
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "dataops-test-PortalFunction",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.endpoint,
        "DATAOPS_ENV": "test",  # auto-created tables are honoured only in local/test
        "DATAOPS_HOME": str(tmp_path / "must-stay-empty"),
        **dynamo_env(moto),
        "DATAOPS_BLOB_STORE": "s3",
        "DATAOPS_ARTIFACTS_BUCKET": bucket,
        "DATAOPS_S3_ENDPOINT": moto.endpoint,
        "WORK_ENGINE_PORTAL_SECRET_NAME": secret_name,
        "WORK_ENGINE_FUNCTION_NAME": ENGINE_FUNCTION,
        "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
        "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WORK_ENGINE_PORTAL_SECRET", raising=False)
    engine = HandlerLambdaClient(lambda_handlers.engine_handler)
    monkeypatch.setattr(lambda_invoke, "_lambda_client", lambda: engine)
    lambda_handlers._engine.cache_clear()
    lambda_handlers._portal.cache_clear()
    try:
        yield engine, bucket
    finally:
        engine.close()
        lambda_handlers._engine.cache_clear()
        lambda_handlers._portal.cache_clear()
    assert not (tmp_path / "must-stay-empty").exists()  # nothing on "Lambda" local disk


def call(
    method: str, path: str, cookie: str, body: Any = None, query: str = ""
) -> tuple[int, dict[str, Any], Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    answer = lambda_handlers.portal_handler(
        function_url_event(method, path, query=query, body=raw, headers=headers, cookies=[cookie]),
        None,
    )
    content = body_of(answer)
    parsed = json.loads(content) if content.startswith((b"{", b"[")) else content
    return answer["statusCode"], answer.get("headers", {}), parsed


def test_a_function_url_request_reaches_dynamodb_and_s3_through_both_handlers(
    deployed: tuple[HandlerLambdaClient, str],
) -> None:
    engine, bucket = deployed
    login = lambda_handlers.portal_handler(
        function_url_event(
            "POST",
            "/auth/login",
            body=json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode(),
            headers={"content-type": "application/json"},
        ),
        None,
    )
    assert login["statusCode"] == 200, body_of(login)
    assert "Secure" not in login["cookies"][0]  # DATAOPS_ENV=test; production sets Secure
    cookie = login["cookies"][0].split(";")[0]

    status, _, health = call("GET", "/work/api/health", cookie)
    assert (status, health["store"], health["blobStore"]) == (200, "dynamodb", "s3")

    status, _, task = call(
        "POST", "/work/api/tasks", cookie, {"description": "Publish", "date": "2026-12-01"}
    )
    assert status == 201, task
    checksum = "sha256:" + hashlib.sha256(DATA).hexdigest()
    status, _, ticket = call(
        "POST",
        "/work/api/uploads",
        cookie,
        {
            "filename": "final.mp3",
            "contentType": "audio/mpeg",
            "sizeBytes": len(DATA),
            "checksum": checksum,
            "taskId": task["id"],
        },
    )
    assert status == 201, ticket
    headers = {k: v for k, v in ticket["headers"].items() if k.lower() != "content-length"}
    assert httpx.put(ticket["url"], content=DATA, headers=headers).status_code == 200

    status, _, record = call("POST", f"/work/api/uploads/{ticket['uploadId']}/complete", cookie)
    assert status == 201, record
    assert record["storageUri"] == f"s3://{bucket}/files/{ticket['uploadId']}"
    assert (record["checksum"], record["sizeBytes"]) == (checksum, len(DATA))
    assert record["storageVersion"]

    status, headers, _ = call("GET", f"/work/api/files/{record['id']}/content", cookie)
    assert status == 307
    query = parse_qs(urlsplit(headers["location"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert query["versionId"] == [record["storageVersion"]]
    assert httpx.get(headers["location"]).content == DATA

    status, _, listed = call("GET", "/work/api/files", cookie, query=f"taskId={task['id']}")
    assert [f["id"] for f in listed["items"]] == [record["id"]]
    assert {c["InvocationType"] for c in engine.calls} == {"RequestResponse"}
    assert {c["FunctionName"] for c in engine.calls} == {ENGINE_FUNCTION}
