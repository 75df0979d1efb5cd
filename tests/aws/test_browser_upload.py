"""Upload as artifact from the browser (issue 19 item 3), on local-dev and on S3 (moto):
the portal's CSP lets the browser reach where a presigned PUT points (and nothing else),
and the browser's API sequence — announce, PUT the bytes to the returned URL, complete,
register the artifact naming the file — gives a needs-review artifact whose checksum and
size come from the stored object. (The browser itself runs it in
tests/e2e/test_planning_ui.py; here the PUT goes to the presigned URL with httpx.)"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dataops.blobs.s3 import S3Blobs
from dataops.portal.app import content_security_policy
from tests.aws import test_upload_round_trip as round_trip
from tests.aws.test_upload_round_trip import (
    Deployment,
    announce,
    complete,
    new_task,
    send,
)
from tests.conftest import make_settings

deployment = round_trip.deployment  # the local-dev and S3 (moto) deployments, a fixture
DATA = b"Transcript of episode 44\n" * 40
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}


def connect_sources(csp: str) -> list[str]:
    directive = next(d.strip() for d in csp.split(";") if d.strip().startswith("connect-src"))
    return directive.split()[1:]


@pytest.mark.parametrize(
    ("bucket", "region"),
    [
        ("dataops-artifacts", "eu-central-1"),
        ("dataops-artifacts", "us-east-1"),
        ("dataops.artifacts", "eu-west-1"),  # a dotted name: addressed by path
    ],
)
def test_connect_src_allows_where_aws_presigned_puts_point(
    bucket: str, region: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    settings = make_settings(
        tmp_path,
        DATAOPS_BLOB_STORE="s3",
        DATAOPS_ARTIFACTS_BUCKET=bucket,
        AWS_REGION=region,
    )
    blobs = S3Blobs(bucket, region=settings.aws_region)  # as runtime builds it
    target = blobs.upload_target(
        "files/upl_1",
        upload_id="upl_1",
        content_type="text/plain",
        size_bytes=3,
        checksum="sha256:" + "0" * 64,
        expires_in=60,
    )
    url = urlsplit(target.url)
    assert f"{url.scheme}://{url.netloc}" in connect_sources(content_security_policy(settings))


def test_connect_src_is_the_portal_alone_without_s3(tmp_path: Path) -> None:
    csp = content_security_policy(make_settings(tmp_path))  # local-dev blobs
    assert connect_sources(csp) == ["'self'"]
    assert "script-src 'self';" in csp  # the rest of the policy is unchanged


def test_portal_serves_the_csp_for_its_blob_store(deployment: Deployment) -> None:
    sources = connect_sources(deployment.api.get("/work").headers["content-security-policy"])
    if deployment.endpoint is None:
        assert sources == ["'self'"]
    else:
        assert sources == ["'self'", deployment.endpoint]  # moto: path-style, one origin


def test_upload_as_artifact_sequence(deployment: Deployment) -> None:
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id, DATA, filename="episode-44.txt", contentType="text/plain")
    if deployment.endpoint is not None:
        assert ticket["url"].startswith(deployment.endpoint + "/")  # the browser goes there
    assert send(api, ticket, DATA).status_code in (200, 204)
    done = complete(api, ticket)
    assert done.status_code == 201, done.text
    record = done.json()
    again = complete(api, ticket)  # a retried completion returns the same file
    assert (again.status_code, again.json()["id"]) == (200, record["id"])

    body = {
        "type": "transcript",
        "title": "Episode 44 transcript",
        "storageUri": record["storageUri"],
        "fileId": record["id"],
        "filename": record["filename"],
        "contentType": record["contentType"],
        "taskId": task_id,
        "status": "needs-review",
        "sourceType": "manual-upload",
    }
    key = {"Idempotency-Key": f"upload-artifact-{ticket['uploadId']}"}
    first = api.post("/work/api/artifacts", json=body, headers=key)
    assert first.status_code == 201, first.text
    artifact = first.json()
    retry = api.post("/work/api/artifacts", json=body, headers=key)
    assert retry.json()["id"] == artifact["id"]  # a retried step registers nothing new
    assert artifact["status"] == "needs-review"
    assert artifact["checksum"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert artifact["sizeBytes"] == len(DATA)
    assert artifact["storageProvider"] == ("s3" if deployment.bucket else "local-dev")
    listed = api.get("/work/api/artifacts", params={"taskId": task_id}).json()["items"]
    assert [a["id"] for a in listed] == [artifact["id"]]


def test_a_claimed_checksum_that_is_not_the_stored_objects_is_refused(
    deployment: Deployment,
) -> None:
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id, DATA, filename="e.txt", contentType="text/plain")
    send(api, ticket, DATA)
    record = complete(api, ticket).json()
    response = api.post(
        "/work/api/artifacts",
        json={
            "type": "transcript",
            "title": "Wrong",
            "storageUri": record["storageUri"],
            "fileId": record["id"],
            "checksum": "sha256:" + "1" * 64,
            "taskId": task_id,
            "status": "needs-review",
        },
    )
    assert response.status_code == 422
    assert api.get("/work/api/artifacts", params={"taskId": task_id}).json()["items"] == []
