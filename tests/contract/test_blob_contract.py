"""The BlobStore contract (blobs/port.py), run against every backend; the guards that keep
binaries off local disk outside local/test (settings, DisabledBlobs, the API's 503)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.blobs.local import DisabledBlobs, LocalDevBlobs
from dataops.blobs.port import MAX_PRESIGN_SECONDS, BlobStore
from dataops.blobs.s3 import S3Blobs
from dataops.config import Settings
from dataops.domain.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
)
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_settings

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

MIB = 1024 * 1024
BACKENDS = ("local-dev", "s3")


def versioned_bucket(moto: MotoServer) -> S3Blobs:
    """S3Blobs on a new private, versioned bucket of the session's moto server."""
    import boto3

    bucket = f"dataops-blobs-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3Blobs(bucket, endpoint_url=moto.endpoint)


@pytest.fixture(params=BACKENDS)
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        return versioned_bucket(request.getfixturevalue("moto"))
    return LocalDevBlobs(tmp_path / "blobs", allowed=True)


def objects_in(blobs: BlobStore) -> list[str]:
    """Every object version and delete marker in an S3 store's bucket (the local-dev
    equivalent is `files_under`)."""
    if not isinstance(blobs, S3Blobs):
        return []
    import boto3

    client = boto3.client("s3", endpoint_url=blobs._client.meta.endpoint_url)
    listing = client.list_object_versions(Bucket=blobs.bucket)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return sorted(entry["Key"] for entry in entries)


def uri(blobs: BlobStore, key: str) -> str:
    """The URI `key` would have in this store (built by hand: bad keys must reach `read`)."""
    good = blobs.uri_for("files/probe")
    return good[: -len("files/probe")] + key


def files_under(root: Path) -> list[Path]:
    """Every file (hidden temp files included) below `root`."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def payload(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


def put(blobs: BlobStore, key: str, data: bytes, max_bytes: int = 10 * MIB) -> str:
    return blobs.put(key, io.BytesIO(data), content_type="text/plain", max_bytes=max_bytes).uri


class FailingStream(io.RawIOBase):
    """Yields some bytes, then fails as a dropped upload would."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            raise OSError("connection reset by peer")
        n = min(len(buffer), self._left)
        buffer[:n] = b"x" * n
        self._left -= n
        return n


# --- put / read -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, MIB, 2 * MIB + 17])
def test_put_computes_checksum_and_size_and_read_streams_the_bytes(
    blobs: BlobStore, size: int
) -> None:
    data = payload(size)
    stored = blobs.put(
        f"files/fil_{size}", io.BytesIO(data), content_type="application/pdf", max_bytes=10 * MIB
    )
    assert stored.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    assert stored.size_bytes == size
    assert blobs.owns(stored.uri)
    chunks = list(blobs.read(stored.uri))
    assert all(isinstance(c, bytes) for c in chunks)
    assert b"".join(chunks) == data


def test_put_at_exactly_max_bytes_is_accepted(blobs: BlobStore) -> None:
    stored = blobs.put("files/edge", io.BytesIO(b"12345"), content_type="x/y", max_bytes=5)
    assert stored.size_bytes == 5


def test_put_of_an_existing_key_is_a_conflict_and_never_clobbers(
    blobs: BlobStore, tmp_path: Path
) -> None:
    stored = put(blobs, "files/fil_1", b"original bytes")
    with pytest.raises(Conflict):
        put(blobs, "files/fil_1", b"attacker bytes")
    assert b"".join(blobs.read(stored)) == b"original bytes"
    if isinstance(blobs, LocalDevBlobs):
        assert [p.name for p in files_under(tmp_path / "blobs")] == ["fil_1"]
    if isinstance(blobs, S3Blobs):  # no second version either
        assert objects_in(blobs) == ["files/fil_1"]


def test_put_past_max_bytes_keeps_nothing(blobs: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        put(blobs, "files/too_big", payload(3 * MIB), max_bytes=2 * MIB)
    with pytest.raises(PayloadTooLarge):
        put(blobs, "files/one_over", b"123456", max_bytes=5)
    assert files_under(tmp_path) == []
    assert objects_in(blobs) == []
    with pytest.raises(NotFound):
        list(blobs.read(uri(blobs, "files/too_big")))
    # The key is still free afterwards.
    assert b"".join(blobs.read(put(blobs, "files/too_big", b"ok"))) == b"ok"


def test_a_failed_stream_keeps_nothing(blobs: BlobStore, tmp_path: Path) -> None:
    stream: BinaryIO = io.BufferedReader(FailingStream(good=MIB + 5))
    with pytest.raises(OSError, match="reset"):
        blobs.put("files/dropped", stream, content_type="x/y", max_bytes=10 * MIB)
    assert files_under(tmp_path) == []
    assert objects_in(blobs) == []


def test_read_of_a_missing_blob_is_not_found(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        list(blobs.read(uri(blobs, "files/never_written")))
    with pytest.raises(NotFound):
        list(blobs.read("https://example.org/not-ours"))


BAD_KEYS = [
    "../escape",
    "files/../../escape",
    "files/..",
    "files/./x",
    "/etc/passwd",
    "/tmp/abs",
    "files\\evil",
    "..\\evil",
    "Files/Upper",
    "files/UPPER",
    "files/a b",
    "files/naïve",
    "files/x;rm",
    "files/x?y",
    "files/x%2e%2e",
    "files//double",
    "files/",
    "",
    ".hidden",
    "files/.hidden",
    "files/x\x00y",
    "files/x\ny",
    "files/trailing\n",
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=[repr(k) for k in BAD_KEYS])
def test_bad_keys_are_refused_and_nothing_is_written(
    blobs: BlobStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(NotFound):
        put(blobs, key, b"payload")
    with pytest.raises(NotFound):
        list(blobs.read(uri(blobs, key)))
    assert files_under(tmp_path) == []
    assert objects_in(blobs) == []
    assert not (tmp_path.parent / "escape").exists()


# --- uri_for / inspect / upload_target / download_url -----------------------------------


def test_uri_for_is_the_uri_put_returns(blobs: BlobStore) -> None:
    assert blobs.uri_for("files/fil_9") == put(blobs, "files/fil_9", b"x")
    assert blobs.owns(blobs.uri_for("files/other"))


def test_inspect_reports_what_is_stored(blobs: BlobStore) -> None:
    assert blobs.inspect("files/fil_1") is None
    data = payload(MIB + 3)
    stored = blobs.put("files/fil_1", io.BytesIO(data), content_type="x/y", max_bytes=10 * MIB)
    seen = blobs.inspect("files/fil_1")
    assert seen is not None
    assert (seen.uri, seen.checksum, seen.size_bytes, seen.version) == (
        stored.uri,
        "sha256:" + hashlib.sha256(data).hexdigest(),
        len(data),
        stored.version,
    )
    blobs.delete(stored.uri)
    assert blobs.inspect("files/fil_1") is None


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "files\\x", "Files/X"])
def test_inspect_refuses_bad_keys(blobs: BlobStore, key: str) -> None:
    with pytest.raises(NotFound):
        blobs.inspect(key)


def test_upload_target_hands_out_a_put_and_writes_nothing(blobs: BlobStore, tmp_path: Path) -> None:
    target = blobs.upload_target(
        "uploads/upl_1",
        upload_id="upl_1",
        content_type="audio/mpeg",
        size_bytes=10,
        checksum="sha256:" + "e" * 64,
        expires_in=300,
    )
    assert target.method == "PUT"
    assert target.url
    assert files_under(tmp_path) == []
    assert objects_in(blobs) == []
    assert blobs.inspect("uploads/upl_1") is None


@pytest.mark.parametrize("asked", [60, MAX_PRESIGN_SECONDS, 3600])
def test_download_url_is_short_lived_or_absent(blobs: BlobStore, asked: int) -> None:
    stored = blobs.put("files/fil_1", io.BytesIO(b"x"), content_type="text/plain", max_bytes=9)
    url = blobs.download_url(stored.uri, filename="a.txt", expires_in=asked, version=stored.version)
    if url is None:  # streamed through DataOps instead
        return
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) == min(asked, MAX_PRESIGN_SECONDS)
    assert query["versionId"] == [stored.version]
    fetched = httpx.get(url)
    assert fetched.content == b"x"
    assert fetched.headers["content-disposition"].startswith("attachment")


def test_download_url_of_a_missing_object_is_not_found(blobs: BlobStore) -> None:
    url = uri(blobs, "files/never_written")
    try:
        link = blobs.download_url(url, filename="a.txt", expires_in=60)
    except NotFound:
        return
    assert link is None  # a streaming store reports the missing object when read


# --- delete (undoing a put whose metadata could not be recorded) ------------------------


def test_delete_removes_what_put_wrote(blobs: BlobStore, tmp_path: Path) -> None:
    kept = put(blobs, "files/kept", b"keep me")
    gone = put(blobs, "files/gone", b"undo me")
    blobs.delete(gone)
    with pytest.raises(NotFound):
        list(blobs.read(gone))
    assert "files/gone" not in objects_in(blobs)  # no old version, no delete marker
    assert b"".join(blobs.read(kept)) == b"keep me"
    assert b"".join(blobs.read(put(blobs, "files/gone", b"again"))) == b"again"


def test_delete_ignores_missing_and_foreign_objects(blobs: BlobStore) -> None:
    kept = put(blobs, "files/kept", b"keep me")
    blobs.delete(uri(blobs, "files/never_written"))
    blobs.delete("https://example.org/files/kept")
    assert b"".join(blobs.read(kept)) == b"keep me"


@pytest.mark.parametrize("key", ["../escape", "files/../../escape", "/escape", "..\\escape"])
def test_delete_never_reaches_outside_the_store(blobs: BlobStore, tmp_path: Path, key: str) -> None:
    outside = [tmp_path / "escape", tmp_path.parent / "escape", Path("/escape")]
    for sentinel in outside[:2]:
        sentinel.write_text("not yours")
    try:
        with contextlib.suppress(NotFound):
            blobs.delete(uri(blobs, key))
        assert all(p.read_text() == "not yours" for p in outside[:2])
    finally:
        for sentinel in outside[:2]:
            sentinel.unlink(missing_ok=True)


# --- refusals: local-dev outside local/test, disabled -----------------------------------


STORAGE_OPERATIONS: dict[str, Callable[[BlobStore], object]] = {
    "put": lambda blobs: put(blobs, "files/fil_1", b"payload"),
    "read": lambda blobs: list(blobs.read("local-dev://files/fil_1")),
    "delete": lambda blobs: blobs.delete("local-dev://files/fil_1"),
    "inspect": lambda blobs: blobs.inspect("files/fil_1"),
    "upload_target": lambda blobs: blobs.upload_target(
        "uploads/upl_1",
        upload_id="upl_1",
        content_type="x/y",
        size_bytes=1,
        checksum="sha256:" + "e" * 64,
        expires_in=300,
    ),
}


@pytest.mark.parametrize("operation", list(STORAGE_OPERATIONS))
def test_local_dev_blobs_not_allowed_refuse_every_operation(tmp_path: Path, operation: str) -> None:
    (tmp_path / "blobs" / "files").mkdir(parents=True)
    (tmp_path / "blobs" / "files" / "fil_1").write_bytes(b"left from a local run")
    blobs = LocalDevBlobs(tmp_path / "blobs", allowed=False)
    with pytest.raises(StorageUnavailable) as error:
        STORAGE_OPERATIONS[operation](blobs)
    assert "DATAOPS_ENV" in str(error.value) or "DATAOPS_BLOB_STORE" in str(error.value)
    assert files_under(tmp_path) == [tmp_path / "blobs" / "files" / "fil_1"]
    assert (tmp_path / "blobs" / "files" / "fil_1").read_bytes() == b"left from a local run"


@pytest.mark.parametrize(
    "operation",
    [
        *STORAGE_OPERATIONS,
        "uri_for",
        "download_url",
    ],
)
def test_disabled_blobs_refuse_every_operation(tmp_path: Path, operation: str) -> None:
    blobs = DisabledBlobs()
    calls: dict[str, Callable[[BlobStore], object]] = {
        **STORAGE_OPERATIONS,
        "uri_for": lambda b: b.uri_for("files/fil_1"),
        "download_url": lambda b: b.download_url(
            "local-dev://files/fil_1", filename="a", expires_in=60
        ),
    }
    with pytest.raises(StorageUnavailable, match="DATAOPS_BLOB_STORE"):
        calls[operation](blobs)
    assert not blobs.owns("local-dev://files/fil_1")
    assert files_under(tmp_path) == []


# --- settings ---------------------------------------------------------------------------


def test_local_dev_blobs_in_production_are_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="DATAOPS_BLOB_STORE"):
        Settings.from_env({"DATAOPS_ENV": "production", "DATAOPS_BLOB_STORE": "local-dev"})


@pytest.mark.parametrize("env", ["staging", "production"])
def test_blob_store_defaults_to_disabled_outside_local_and_test(env: str) -> None:
    settings = Settings.from_env({"DATAOPS_ENV": env})
    assert settings.blob_store == "disabled"
    assert not settings.local_storage_allowed


@pytest.mark.parametrize("env", ["local", "test"])
def test_blob_store_defaults_to_local_dev_in_local_and_test(env: str) -> None:
    assert Settings.from_env({"DATAOPS_ENV": env}).blob_store == "local-dev"


def test_sqlite_on_lambda_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DATAOPS_STORE=sqlite"):
        Settings.from_env(
            {
                "AWS_LAMBDA_FUNCTION_NAME": "dataops-engine",
                "DATAOPS_ENV": "production",
                "DATAOPS_BLOB_STORE": "disabled",
            }
        )


def test_local_dev_blobs_on_lambda_are_refused_even_in_test() -> None:
    with pytest.raises(ConfigurationError, match="DATAOPS_BLOB_STORE"):
        Settings.from_env(
            {
                "AWS_LAMBDA_FUNCTION_NAME": "dataops-engine",
                "DATAOPS_ENV": "test",
                "DATAOPS_STORE": "dynamodb",
                "DATAOPS_BLOB_STORE": "local-dev",
            }
        )


def test_unknown_store_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env({"DATAOPS_STORE": "mongodb"})
    message = str(error.value)
    assert "DATAOPS_STORE" in message
    assert "mongodb" in message
    assert "sqlite" in message
    assert "dynamodb" in message


def test_unknown_blob_store_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env({"DATAOPS_BLOB_STORE": "ftp"})
    for name in ("DATAOPS_BLOB_STORE", "local-dev", "s3", "disabled"):
        assert name in str(error.value)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_auto_create_tables_is_refused_outside_local_and_test(env: str) -> None:
    with pytest.raises(ConfigurationError, match="DATAOPS_AUTO_CREATE_TABLES"):
        Settings.from_env({"DATAOPS_ENV": env, "DATAOPS_AUTO_CREATE_TABLES": "true"})
    assert Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_AUTO_CREATE_TABLES": "true"})


# --- through the API: production without a blob store -----------------------------------


@pytest.fixture
def production_api(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, DATAOPS_ENV="production")
    assert settings.blob_store == "disabled"
    ws = runtime.build_workspace(settings)
    runtime.bootstrap_admin(ws)
    # Production cookies are Secure: talk to the portal over https.
    with TestClient(runtime.build_single_process(ws), base_url="https://testserver") as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client
    ws.store.close()


def _new_task(api: TestClient) -> str:
    response = api.post("/work/api/tasks", json={"description": "Upload", "date": "2025-05-01"})
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_upload_in_production_without_a_blob_store_is_503_and_stores_nothing(
    production_api: TestClient, tmp_path: Path
) -> None:
    task_id = _new_task(production_api)
    response = production_api.post(
        "/work/api/files",
        data={"taskId": task_id},
        files={"file": ("notes.txt", b"secret bytes", "text/plain")},
    )
    body = _problem(response, 503)
    assert "DATAOPS_BLOB_STORE" in str(body["detail"])
    listed = production_api.get("/work/api/files", params={"taskId": task_id})
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert files_under(tmp_path / "blobs") == []
    audit = production_api.get("/work/api/audit-events", params={"entityType": "file"})
    assert audit.json()["items"] == []


def test_local_dev_artifact_in_production_is_503_and_stores_nothing(
    production_api: TestClient, tmp_path: Path
) -> None:
    task_id = _new_task(production_api)
    body = {
        "type": "report",
        "title": "Local file",
        "storageUri": "local-dev://files/fil_abc",
        "checksum": "sha256:" + "a" * 64,
        "taskId": task_id,
    }
    response = production_api.post("/work/api/artifacts", json=body)
    problem = _problem(response, 503)
    assert "local-dev" in str(problem["detail"])
    assert production_api.get("/work/api/artifacts").json()["items"] == []
    task = production_api.get(f"/work/api/tasks/{task_id}").json()
    assert task["artifactRefs"] == []
    assert task["version"] == 1
    audit = production_api.get("/work/api/audit-events", params={"entityType": "artifact"})
    assert audit.json()["items"] == []
    registered = production_api.post(
        "/work/api/files/register",
        json={
            "taskId": task_id,
            "filename": "a.txt",
            "storageUri": "local-dev://files/fil_x",
            "checksum": "sha256:" + "b" * 64,
        },
    )
    _problem(registered, 503)
    assert production_api.get("/work/api/files").json()["items"] == []
    assert files_under(tmp_path / "blobs") == []


def test_health_names_the_disabled_blob_store(production_api: TestClient) -> None:
    assert production_api.get("/work/health").json()["blobStore"] == "disabled"


def test_local_dev_blobs_write_only_under_their_root(tmp_path: Path) -> None:
    """What the portal's upload route relies on: keys built from server IDs stay in root."""
    root = tmp_path / "root"
    blobs = LocalDevBlobs(root, allowed=True)
    put(blobs, "files/fil_01", b"a")
    put(blobs, "artifacts/art_01/v1.bin", b"b")
    written = files_under(tmp_path)
    assert written == sorted([root / "files" / "fil_01", root / "artifacts/art_01/v1.bin"])
    assert all(os.path.commonpath([root, p]) == str(root) for p in written)


def test_key_of_is_the_inverse_of_uri_for(blobs: BlobStore) -> None:
    assert blobs.key_of(blobs.uri_for("files/fil_1")) == "files/fil_1"
    other_scheme = "local-dev://files/fil_1" if isinstance(blobs, S3Blobs) else "s3://b/files/f"
    for foreign in (
        "https://example.com/files/fil_1",
        other_scheme,
        uri(blobs, "../outside"),
        uri(blobs, "Files/Upper"),
        uri(blobs, ""),
    ):
        assert blobs.key_of(foreign) is None, foreign


def test_disabled_blobs_hold_no_uri() -> None:
    assert DisabledBlobs().key_of("local-dev://files/fil_1") is None
