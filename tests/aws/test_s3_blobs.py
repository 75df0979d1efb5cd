"""S3Blobs beyond the shared contract: the exact requests it sends (botocore Stubber), how
S3's own checksum is used, error translation at the edge, presigned URL bounds, and
version pinning against the moto server."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.stub import ANY, Stubber

from dataops.blobs.s3 import S3Blobs, checksum_b64, checksum_hex
from dataops.domain.errors import DataOpsError, NotFound, StorageUnavailable, ValidationFailed
from tests.aws.support import streaming

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

BUCKET = "dataops-artifacts-test"
DATA = b"episode 42 transcript"
HEX = hashlib.sha256(DATA).hexdigest()
B64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[S3Blobs, Stubber]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    blobs = S3Blobs(BUCKET, region="eu-west-1")  # its own client: SigV4, virtual-hosted
    return blobs, Stubber(blobs._client)


def test_checksum_conversions() -> None:
    assert checksum_b64("sha256:" + HEX) == B64
    assert checksum_hex(B64) == "sha256:" + HEX
    assert checksum_hex(B64[:-4] + "-3") is None  # a composite (multipart) value
    assert checksum_hex("not base64!") is None
    for bad in ("sha256:" + HEX.upper(), "md5:" + HEX, "sha256:" + HEX + "\n", ""):
        with pytest.raises(ValidationFailed):
            checksum_b64(bad)


def test_put_sends_the_checksum_and_never_overwrites(stubbed: tuple[S3Blobs, Stubber]) -> None:
    blobs, stubber = stubbed
    stubber.add_response(
        "put_object",
        {"VersionId": "v1", "ChecksumSHA256": B64},
        {
            "Bucket": BUCKET,
            "Key": "files/fil_1",
            "Body": ANY,
            "ContentLength": len(DATA),
            "ContentType": "text/plain",
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": B64,
            "IfNoneMatch": "*",
        },
    )
    with stubber:
        stored = blobs.put(
            "files/fil_1", io.BytesIO(DATA), content_type="text/plain", max_bytes=1000
        )
    assert stored.uri == f"s3://{BUCKET}/files/fil_1"
    assert stored.checksum == "sha256:" + HEX
    assert (stored.size_bytes, stored.version) == (len(DATA), "v1")


def test_inspect_trusts_the_checksum_s3_verified(stubbed: tuple[S3Blobs, Stubber]) -> None:
    blobs, stubber = stubbed
    stubber.add_response(
        "head_object",
        {
            "ContentLength": len(DATA),
            "ChecksumSHA256": B64,
            "ChecksumType": "FULL_OBJECT",
            "VersionId": "v7",
        },
        {"Bucket": BUCKET, "Key": "files/upl_1", "ChecksumMode": "ENABLED"},
    )
    with stubber:  # one HEAD, no GET: the bytes are not read again
        seen = blobs.inspect("files/upl_1")
    assert seen is not None
    assert (seen.checksum, seen.size_bytes, seen.version) == ("sha256:" + HEX, len(DATA), "v7")
    stubber.assert_no_pending_responses()


def test_inspect_hashes_the_seen_version_when_s3_kept_no_full_checksum(
    stubbed: tuple[S3Blobs, Stubber],
) -> None:
    blobs, stubber = stubbed
    stubber.add_response(
        "head_object",
        {"ContentLength": len(DATA), "ChecksumSHA256": B64[:-4] + "-2", "VersionId": "v2"},
        {"Bucket": BUCKET, "Key": "files/upl_1", "ChecksumMode": "ENABLED"},
    )
    stubber.add_response(
        "get_object",
        {"Body": streaming(DATA), "ContentLength": len(DATA)},
        {"Bucket": BUCKET, "Key": "files/upl_1", "VersionId": "v2"},  # pinned to what HEAD saw
    )
    with stubber:
        seen = blobs.inspect("files/upl_1")
    assert seen is not None
    assert seen.checksum == "sha256:" + HEX


def test_inspect_of_nothing_is_none(stubbed: tuple[S3Blobs, Stubber]) -> None:
    blobs, stubber = stubbed
    stubber.add_client_error("head_object", service_error_code="404", http_status_code=404)
    with stubber:
        assert blobs.inspect("files/upl_1") is None


@pytest.mark.parametrize(
    ("code", "status", "error", "named"),
    [
        ("AccessDenied", 403, StorageUnavailable, "DATAOPS_ARTIFACTS_BUCKET"),
        ("NoSuchBucket", 404, StorageUnavailable, "DATAOPS_ARTIFACTS_BUCKET"),
        ("InternalError", 500, StorageUnavailable, "InternalError"),
        ("NoSuchKey", 404, NotFound, "does not exist"),
    ],
)
def test_botocore_errors_are_translated_at_the_edge(
    stubbed: tuple[S3Blobs, Stubber], code: str, status: int, error: type, named: str
) -> None:
    blobs, stubber = stubbed
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    with stubber, pytest.raises(DataOpsError) as raised:
        list(blobs.read(f"s3://{BUCKET}/files/fil_1"))
    assert type(raised.value) is error
    assert named in str(raised.value)


def test_an_unreachable_endpoint_is_storage_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    blobs = S3Blobs(BUCKET, endpoint_url="http://127.0.0.1:9", region="us-east-1")
    with pytest.raises(StorageUnavailable, match="DATAOPS_S3_ENDPOINT"):
        blobs.inspect("files/fil_1")
    with pytest.raises(StorageUnavailable, match="DATAOPS_S3_ENDPOINT"):
        blobs.put("files/fil_1", io.BytesIO(b"x"), content_type="x/y", max_bytes=5)


def test_presigned_put_signs_type_size_and_checksum(stubbed: tuple[S3Blobs, Stubber]) -> None:
    blobs, _ = stubbed
    target = blobs.upload_target(
        "files/upl_1",
        upload_id="upl_1",
        content_type="audio/mpeg",
        size_bytes=len(DATA),
        checksum="sha256:" + HEX,
        expires_in=1800,
    )
    parts = urlsplit(target.url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https"
    assert parts.netloc.startswith(BUCKET + ".s3.")  # virtual-hosted on AWS
    assert parts.path == "/files/upl_1"
    assert query["X-Amz-Expires"] == ["1800"]
    assert query["X-Amz-SignedHeaders"] == [
        "content-length;content-type;host;x-amz-checksum-sha256"
    ]
    assert target.headers == {
        "Content-Type": "audio/mpeg",
        "Content-Length": str(len(DATA)),
        "x-amz-checksum-sha256": B64,
    }


def test_presigned_get_is_capped_pinned_and_an_attachment(
    stubbed: tuple[S3Blobs, Stubber],
) -> None:
    blobs, stubber = stubbed
    stubber.add_response(
        "head_object",
        {"ContentLength": 1},
        {"Bucket": BUCKET, "Key": "files/fil_1", "VersionId": "v3"},
    )
    with stubber:
        url = blobs.download_url(
            f"s3://{BUCKET}/files/fil_1",
            filename='Ada "Lovelace"\r\n.pdf',
            expires_in=86400,
            version="v3",
        )
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["versionId"] == ["v3"]
    assert query["response-content-disposition"] == ['attachment; filename="Ada _Lovelace___.pdf"']


def test_foreign_and_malformed_uris_are_not_found(stubbed: tuple[S3Blobs, Stubber]) -> None:
    blobs, stubber = stubbed
    with stubber:  # no request is made for any of them
        for uri in (
            "s3://another-bucket/files/fil_1",
            f"s3://{BUCKET}/../files/fil_1",
            f"s3://{BUCKET}/Files/X",
            "https://example.org/files/fil_1",
        ):
            with pytest.raises(NotFound):
                list(blobs.read(uri))
            with pytest.raises(NotFound):
                blobs.download_url(uri, filename="a", expires_in=60)
            blobs.delete(uri)  # ignored
    assert not blobs.owns("s3://another-bucket/files/fil_1")


# --- against the moto server ---------------------------------------------------------------


def moto_bucket(moto: MotoServer) -> tuple[S3Blobs, Any]:
    bucket = f"dataops-pin-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3Blobs(bucket, endpoint_url=moto.endpoint), client


def test_a_pinned_url_serves_the_recorded_version(moto: MotoServer) -> None:
    blobs, client = moto_bucket(moto)
    stored = blobs.put("files/fil_1", io.BytesIO(DATA), content_type="text/plain", max_bytes=99)
    # Someone with bucket access writes over the key behind DataOps' back.
    client.put_object(Bucket=blobs.bucket, Key="files/fil_1", Body=b"tampered")
    pinned = blobs.download_url(
        stored.uri, filename="t.txt", expires_in=300, version=stored.version
    )
    assert pinned is not None
    assert httpx.get(pinned).content == DATA
    latest = blobs.download_url(stored.uri, filename="t.txt", expires_in=300)
    assert latest is not None
    assert httpx.get(latest).content == b"tampered"
    with pytest.raises(NotFound):
        blobs.download_url(stored.uri, filename="t.txt", expires_in=300, version="no-such-version")


def test_a_missing_bucket_is_storage_unavailable(moto: MotoServer) -> None:
    blobs = S3Blobs(f"dataops-missing-{uuid.uuid4().hex[:8]}", endpoint_url=moto.endpoint)
    with pytest.raises(StorageUnavailable, match="DATAOPS_ARTIFACTS_BUCKET"):
        blobs.put("files/fil_1", io.BytesIO(b"x"), content_type="x/y", max_bytes=5)
    with pytest.raises(StorageUnavailable, match="DATAOPS_ARTIFACTS_BUCKET"):
        list(blobs.read(blobs.uri_for("files/fil_1")))
