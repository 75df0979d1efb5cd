"""The two-step upload through the portal, on S3 (moto server) and on local-dev, with one
client code path: announce → PUT the bytes to the returned URL with the returned headers →
complete → file record (checksum, size, version) → content (307 to a presigned GET, or
streamed). Mismatches are 422 and register nothing; presigned URLs are never stored."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.client import DataOpsClient
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login, make_settings

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

BACKENDS = ("local-dev", "s3")
DATA = b"%PDF-1.7 guest notes for episode 42\n" * 50
FILENAME = "Ada Lovelace - private notes.pdf"

Client = TestClient | httpx.Client


@dataclass
class Deployment:
    """A logged-in portal client and where its data lands."""

    api: Client
    home: Path
    bucket: str | None
    endpoint: str | None

    def objects(self) -> list[str]:
        """Every object version in the bucket, or every blob file on local disk."""
        if self.bucket is None:
            root = self.home / "blobs"
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        client = boto3.client("s3", endpoint_url=self.endpoint)
        listing = client.list_object_versions(Bucket=self.bucket)
        entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
        return sorted(entry["Key"] for entry in entries)

    def metadata_bytes(self) -> bytes:
        """The SQLite database as stored on disk (main file, WAL, journal)."""
        return b"".join(p.read_bytes() for p in sorted(self.home.glob("dataops.db*")))


def new_bucket(moto: MotoServer) -> str:
    bucket = f"dataops-artifacts-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def s3_settings(moto: MotoServer, bucket: str) -> dict[str, str]:
    return {
        "DATAOPS_BLOB_STORE": "s3",
        "DATAOPS_ARTIFACTS_BUCKET": bucket,
        "DATAOPS_S3_ENDPOINT": moto.endpoint,
    }


@pytest.fixture(params=BACKENDS)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    bucket = endpoint = None
    overrides: dict[str, str] = {}
    if request.param == "s3":
        moto: MotoServer = request.getfixturevalue("moto")
        bucket, endpoint = new_bucket(moto), moto.endpoint
        overrides = s3_settings(moto, bucket)
    workspace = runtime.build_workspace(make_settings(tmp_path, **overrides))
    runtime.bootstrap_admin(workspace)
    with TestClient(runtime.build_single_process(workspace)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield Deployment(client, tmp_path, bucket, endpoint)
    workspace.store.close()


# --- the one client code path ----------------------------------------------------------------


def new_task(api: Client) -> str:
    response = api.post(
        "/work/api/tasks", json={"description": "Upload guest notes", "date": "2026-12-01"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def announce(api: Client, task_id: str, data: bytes = DATA, **overrides: Any) -> dict[str, Any]:
    body = {
        "filename": FILENAME,
        "contentType": "application/pdf",
        "sizeBytes": len(data),
        "checksum": "sha256:" + hashlib.sha256(data).hexdigest(),
        "taskId": task_id,
        **overrides,
    }
    response = api.post("/work/api/uploads", json=body)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def send(api: Client, ticket: dict[str, Any], data: bytes) -> httpx.Response:
    """PUT the bytes where the ticket says, with its headers. httpx computes Content-Length
    from the body itself, so a wrong body is sent as it is."""
    headers = {k: v for k, v in ticket["headers"].items() if k.lower() != "content-length"}
    assert ticket["method"] == "PUT"
    if ticket["url"].startswith("/"):  # local-dev: the portal, with the same session
        return api.put(ticket["url"], content=data, headers=headers)
    return httpx.put(ticket["url"], content=data, headers=headers)  # S3: the presigned URL


def complete(api: Client, ticket: dict[str, Any]) -> httpx.Response:
    return api.post(f"/work/api/uploads/{ticket['uploadId']}/complete")


def files_of(api: Client, task_id: str) -> list[dict[str, Any]]:
    response = api.get("/work/api/files", params={"taskId": task_id})
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_round_trip(deployment: Deployment) -> None:
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id)
    assert {"uploadId", "method", "url", "headers", "expiresAt"} <= set(ticket)
    if deployment.bucket is None:
        assert ticket["url"] == f"/work/api/uploads/{ticket['uploadId']}/content"
    else:
        query = parse_qs(urlsplit(ticket["url"]).query)
        assert int(query["X-Amz-Expires"][0]) <= 3600  # never past the upload's expiry
        signed = query["X-Amz-SignedHeaders"][0].split(";")
        assert {"content-length", "content-type", "x-amz-checksum-sha256"} <= set(signed)
        assert ticket["headers"]["x-amz-checksum-sha256"]
    put = send(api, ticket, DATA)
    assert put.status_code in (200, 204), put.text

    done = complete(api, ticket)
    assert done.status_code == 201, done.text
    record = done.json()
    assert record["checksum"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert record["sizeBytes"] == len(DATA)
    assert record["filename"] == FILENAME
    assert record["taskId"] == task_id
    assert FILENAME not in record["storageUri"]  # keys are server IDs only
    if deployment.bucket is None:
        assert record["storageUri"].startswith("local-dev://files/")
        assert record["storageVersion"] is None
    else:
        assert record["storageUri"].startswith(f"s3://{deployment.bucket}/files/upl_")
        assert record["storageVersion"]
    assert "X-Amz" not in done.text
    assert "http" not in done.text
    again = complete(api, ticket)  # a retried complete returns the same record
    assert again.status_code == 200
    assert again.json()["id"] == record["id"]
    assert [f["id"] for f in files_of(api, task_id)] == [record["id"]]

    content = api.get(f"/work/api/files/{record['id']}/content", follow_redirects=False)
    if deployment.bucket is None:
        assert content.status_code == 200
        assert content.content == DATA
        assert content.headers["content-disposition"].startswith("attachment")
    else:
        assert content.status_code == 307, content.text
        location = content.headers["location"]
        query = parse_qs(urlsplit(location).query)
        assert int(query["X-Amz-Expires"][0]) <= 300
        assert query["versionId"] == [record["storageVersion"]]
        fetched = httpx.get(location)
        assert fetched.status_code == 200
        assert fetched.content == DATA
        assert fetched.headers["content-disposition"].startswith("attachment")
        # Neither presigned URL (nor any signature) was written to the metadata store.
        stored = deployment.metadata_bytes()
        assert stored
        assert b"X-Amz-Signature" not in stored
        assert b"X-Amz-Credential" not in stored
        for url in (ticket["url"], location):
            signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
            assert signature.encode() not in stored


# --- tests --------------------------------------------------------------------------------


def test_upload_complete_content_round_trip(deployment: Deployment) -> None:
    assert_round_trip(deployment)


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        (DATA[:-1], "sizeBytes"),  # shorter than announced
        (DATA[:-1] + b"!", "checksum"),  # same size, other bytes
    ],
)
def test_a_mismatch_is_422_and_registers_nothing(
    deployment: Deployment, sent: bytes, field: str
) -> None:
    """On AWS, S3 itself refuses such a PUT (the signature covers the length and the
    checksum); moto does not, so this also proves the HEAD/hash check at completion."""
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id)
    assert send(api, ticket, sent).status_code in (200, 204)
    assert deployment.objects() == [f"files/{ticket['uploadId']}"]
    refused = complete(api, ticket)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in refused.json()["errors"]]
    assert files_of(api, task_id) == []
    assert deployment.objects() == []  # the wrong bytes are gone, every version of them
    audit = api.get("/work/api/audit-events", params={"entityType": "file"})
    assert audit.json()["items"] == []
    assert complete(api, ticket).status_code == 409  # the upload is spent


def test_complete_before_the_bytes_arrive_is_409(deployment: Deployment) -> None:
    api = deployment.api
    ticket = announce(api, new_task(api))
    response = complete(api, ticket)
    assert response.status_code == 409
    assert "PUT the bytes first" in response.json()["detail"]


def test_uploads_with_the_blob_store_disabled_are_503(tmp_path: Path) -> None:
    workspace = runtime.build_workspace(make_settings(tmp_path, DATAOPS_BLOB_STORE="disabled"))
    runtime.bootstrap_admin(workspace)
    try:
        with TestClient(runtime.build_single_process(workspace)) as api:
            login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
            task_id = new_task(api)
            response = api.post(
                "/work/api/uploads",
                json={
                    "filename": FILENAME,
                    "contentType": "application/pdf",
                    "sizeBytes": len(DATA),
                    "checksum": "sha256:" + hashlib.sha256(DATA).hexdigest(),
                    "taskId": task_id,
                },
            )
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "DATAOPS_BLOB_STORE" in response.json()["detail"]
            assert files_of(api, task_id) == []
    finally:
        workspace.store.close()
    assert not (tmp_path / "blobs").exists()


def api_token(home: Path, moto: MotoServer, bucket: str) -> str:
    """`dataops tokens create` for the admin, against the served process's store."""
    env = {
        **os.environ,
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(home),
        **s3_settings(moto, bucket),
    }
    created = subprocess.run(
        [sys.executable, "-m", "dataops", "tokens", "create", "--user", ADMIN_EMAIL, "--name", "t"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return created.stdout.strip()


@pytest.mark.slow
def test_round_trip_through_a_real_dataops_serve_on_s3(moto: MotoServer, tmp_path: Path) -> None:
    bucket = new_bucket(moto)
    served = ServedPortal(tmp_path, env=s3_settings(moto, bucket))
    try:
        with served.client() as client:
            login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
            health = client.get("/work/health").json()
            assert health["blobStore"] == "s3"
            deployment = Deployment(client, tmp_path, bucket, moto.endpoint)
            assert_round_trip(deployment)
            # The shipped client (`dataops artifacts register` uses it) on the same flow.
            task_id = new_task(client)
            path = tmp_path / "cut.mp3"
            path.write_bytes(DATA * 3)
            with DataOpsClient(served.base_url, api_token(tmp_path, moto, bucket)) as shipped:
                record = shipped.upload_file(path, task_id=task_id)
            assert record["checksum"] == "sha256:" + hashlib.sha256(DATA * 3).hexdigest()
            assert record["storageUri"].startswith(f"s3://{bucket}/files/")
            assert f"files/{record['storageUri'].rsplit('/', 1)[1]}" in deployment.objects()
    finally:
        served.stop()
    assert "X-Amz-Signature" not in (tmp_path / "serve.log").read_text()  # nor logged


def test_an_artifact_of_an_uploaded_file_serves_the_version_the_file_recorded(
    deployment: Deployment,
) -> None:
    """A later write to the key (anyone with bucket access can make one: the bucket is
    versioned) does not change what the artifact serves; one without `fileId` has no
    recorded version and serves the key's current bytes."""
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id)
    assert send(api, ticket, DATA).status_code in (200, 204)
    record = complete(api, ticket).json()
    common = {
        "type": "transcript",
        "title": "Guest notes",
        "storageUri": record["storageUri"],
        "checksum": record["checksum"],
    }
    pinned = api.post("/work/api/artifacts", json={**common, "fileId": record["id"]})
    loose = api.post("/work/api/artifacts", json=common)
    assert (pinned.status_code, loose.status_code) == (201, 201), (pinned.text, loose.text)
    later = b"%PDF-1.7 someone else's bytes\n"
    if deployment.bucket is not None:
        s3 = boto3.client("s3", endpoint_url=deployment.endpoint)
        key = record["storageUri"].removeprefix(f"s3://{deployment.bucket}/")
        s3.put_object(Bucket=deployment.bucket, Key=key, Body=later)

    def served(artifact_id: str) -> tuple[list[str] | None, bytes]:
        url = f"/work/api/artifacts/{artifact_id}/content"
        response = api.get(url, follow_redirects=False)
        if deployment.bucket is None:
            assert response.status_code == 200, response.text
            return None, response.content
        assert response.status_code == 307, response.text
        location = response.headers["location"]
        return parse_qs(urlsplit(location).query).get("versionId"), httpx.get(location).content

    if deployment.bucket is None:  # local-dev keeps no versions: the bytes are the file's
        assert served(pinned.json()["id"]) == (None, DATA)
    else:
        assert served(pinned.json()["id"]) == ([record["storageVersion"]], DATA)
        assert served(loose.json()["id"]) == (None, later)


def test_an_owned_artifact_takes_checksum_and_size_from_the_stored_object(
    deployment: Deployment,
) -> None:
    """An artifact of a DataOps-owned URI cannot vouch for bytes with a made-up checksum
    or size: the file record its `fileId` names (same URI), else the object itself
    (local-dev: the stored bytes; S3: a HEAD), is the truth. A claim that differs is 422
    naming the field, a key with no object is 422 on storageUri, nothing is stored; what
    is not claimed is filled in."""
    api = deployment.api
    task_id = new_task(api)
    ticket = announce(api, task_id)
    assert send(api, ticket, DATA).status_code in (200, 204)
    record = complete(api, ticket).json()
    uri, real, size = record["storageUri"], record["checksum"], record["sizeBytes"]
    made_up = "sha256:" + "ab" * 32
    base = {"type": "transcript", "title": "Guest notes", "taskId": task_id}
    refused = [
        ({"storageUri": uri, "checksum": made_up}, "checksum"),
        ({"storageUri": uri, "checksum": made_up, "fileId": record["id"]}, "checksum"),
        ({"storageUri": uri, "sizeBytes": size + 1}, "sizeBytes"),
        ({"storageUri": uri.replace(ticket["uploadId"], "upl_nothing_here")}, "storageUri"),
    ]
    for changes, field in refused:
        response = api.post("/work/api/artifacts", json={**base, **changes})
        assert response.status_code == 422, (changes, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], changes
    listed = api.get("/work/api/artifacts", params={"taskId": task_id}).json()["items"]
    assert listed == []
    # Nor can a file record vouch for it (an artifact would then trust its fileId).
    response = api.post(
        "/work/api/files/register",
        json={"taskId": task_id, "filename": "n.pdf", "storageUri": uri, "checksum": made_up},
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["checksum"]
    assert len(files_of(api, task_id)) == 1

    filled = api.post("/work/api/artifacts", json={**base, "storageUri": uri})
    assert filled.status_code == 201, filled.text
    assert (filled.json()["checksum"], filled.json()["sizeBytes"]) == (real, size)
    via_file = api.post(
        "/work/api/artifacts", json={**base, "storageUri": uri, "fileId": record["id"]}
    )
    assert via_file.status_code == 201, via_file.text
    assert (via_file.json()["checksum"], via_file.json()["sizeBytes"]) == (real, size)

    if deployment.bucket is not None:  # an object written to the bucket directly: a HEAD
        other = b"bytes that no file record describes\n"
        s3 = boto3.client("s3", endpoint_url=deployment.endpoint)
        s3.put_object(Bucket=deployment.bucket, Key="files/direct-object", Body=other)
        response = api.post(
            "/work/api/artifacts",
            json={**base, "storageUri": f"s3://{deployment.bucket}/files/direct-object"},
        )
        assert response.status_code == 201, response.text
        expected = ("sha256:" + hashlib.sha256(other).hexdigest(), len(other))
        assert (response.json()["checksum"], response.json()["sizeBytes"]) == expected

    # PATCH: moving the artifact to another object takes that object's facts, and a
    # claim about it that differs is refused.
    second = announce(api, task_id, DATA + b"v2")
    assert send(api, second, DATA + b"v2").status_code in (200, 204)
    moved_to = complete(api, second).json()
    artifact = filled.json()
    url = f"/work/api/artifacts/{artifact['id']}"
    response = api.patch(url, json={"storageUri": moved_to["storageUri"], "checksum": real})
    assert response.status_code == 422, response.text
    assert api.get(url).json() == artifact
    response = api.patch(url, json={"storageUri": moved_to["storageUri"]})
    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["checksum"], moved["sizeBytes"]) == (moved_to["checksum"], len(DATA) + 2)
