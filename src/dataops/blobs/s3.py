"""S3 blob store: a private, versioned bucket (DATAOPS_ARTIFACTS_BUCKET).

- Keys are the server's (`files/<id>`), checked by `valid_key`; nothing private is in them.
- `put` spools the stream (hashing and counting it, refusing past `max_bytes` before
  anything reaches S3), then sends one PutObject with `ChecksumSHA256` — S3 recomputes
  the digest and refuses a mismatch — and `IfNoneMatch="*"`, so an existing key is a
  `Conflict` decided by S3 itself, not by a check-then-write.
- `upload_target` presigns a PUT whose signature covers Content-Type, Content-Length and
  `x-amz-checksum-sha256`: S3 accepts only exactly the announced bytes.
- `inspect` is a HeadObject with `ChecksumMode=ENABLED`. When the store kept no full-object
  SHA-256 (an S3-compatible server without checksum support, such as moto), the object
  version that was seen is read and hashed instead, so a mismatch is still caught.
- `download_url` presigns a GET of at most `MAX_PRESIGN_SECONDS`, pinned to the recorded
  version, always as an attachment. Presigned URLs are returned, never stored or logged.

boto3 is imported here only, when the store is built; botocore errors are translated at
this edge (missing → `NotFound`, access, bucket and endpoint problems →
`StorageUnavailable`) and never cross the port.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn

from dataops.aws_extra import require_aws
from dataops.blobs.port import MAX_PRESIGN_SECONDS, StoredBlob, UploadTarget, valid_key
from dataops.domain.errors import (
    Conflict,
    DataOpsError,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
    ValidationFailed,
)

SCHEME = "s3://"
_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_CHECKSUM = re.compile(r"^sha256:([0-9a-f]{64})$")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")
_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})
_EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
    }
)


def checksum_b64(checksum: str) -> str:
    """`sha256:<hex>` as the base64 digest S3 expects in `x-amz-checksum-sha256`."""
    match = _CHECKSUM.fullmatch(checksum)
    if match is None:
        raise ValidationFailed.one("checksum", "must be sha256: followed by 64 hex digits")
    return base64.b64encode(bytes.fromhex(match.group(1))).decode("ascii")


def checksum_hex(value: str) -> str | None:
    """S3's base64 SHA-256 as `sha256:<hex>`; None for a composite (multipart) value."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return "sha256:" + raw.hex() if len(raw) == 32 else None


class S3Blobs:
    """Objects in one private bucket, addressed as s3://<bucket>/<key>."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self._prefix = f"{SCHEME}{bucket}/"
        self._client = client if client is not None else _client(endpoint_url, region)

    # -- writes ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, *, content_type: str, max_bytes: int) -> StoredBlob:
        self._check(key)
        uri = self.uri_for(key)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            digest = hashlib.sha256()
            size = 0
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes")
                digest.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            checksum = "sha256:" + digest.hexdigest()
            digest_b64 = checksum_b64(checksum)
            try:
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=spool,
                    ContentLength=size,
                    ContentType=content_type,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=digest_b64,
                    IfNoneMatch="*",
                )
            except Exception as exc:
                if _code(exc) in _EXISTS:
                    raise Conflict(f"blob {key!r} already exists") from exc
                self._raise(exc, uri)
        return StoredBlob(uri, checksum, size, _version(response))

    def delete(self, uri: str) -> None:
        """Remove every version of the object (and any delete marker): an undone upload
        leaves no bytes behind, also not as a noncurrent version."""
        key = self.key_of(uri)
        if key is None:
            return
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=key
            )
            for page in pages:
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if entry["Key"] == key:
                        self._client.delete_object(
                            Bucket=self.bucket, Key=key, VersionId=entry["VersionId"]
                        )
        except Exception as exc:
            if _code(exc) not in _MISSING:
                self._raise(exc, uri)

    # -- reads -----------------------------------------------------------------------

    def read(self, uri: str) -> Iterator[bytes]:
        key = self.key_of(uri)
        if key is None:
            raise NotFound("blob", uri)
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            self._raise(exc, uri)
        return self._chunks(body, uri)

    def owns(self, uri: str) -> bool:
        return uri.startswith(self._prefix)

    def uri_for(self, key: str) -> str:
        return self._prefix + key

    def inspect(self, key: str) -> StoredBlob | None:
        self._check(key)
        uri = self.uri_for(key)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None
            self._raise(exc, uri)
        version = _version(head)
        stored = head.get("ChecksumSHA256")
        checksum = None
        if isinstance(stored, str) and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
            checksum = checksum_hex(stored)
        if checksum is None:
            checksum = self._hash(key, version, uri)
        return StoredBlob(uri, checksum, int(head["ContentLength"]), version)

    def upload_target(
        self,
        key: str,
        *,
        upload_id: str,
        content_type: str,
        size_bytes: int,
        checksum: str,
        expires_in: int,
    ) -> UploadTarget:
        """A presigned PUT bound to the announced type, size and SHA-256, valid no longer
        than the upload itself (`expires_in`)."""
        self._check(key)
        digest = checksum_b64(checksum)
        try:
            url = self._client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": size_bytes,
                    "ChecksumSHA256": digest,
                },
                ExpiresIn=max(1, expires_in),
                HttpMethod="PUT",
            )
        except Exception as exc:
            self._raise(exc, self.uri_for(key))
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(size_bytes),
            "x-amz-checksum-sha256": digest,
        }
        return UploadTarget("PUT", str(url), headers)

    def download_url(
        self, uri: str, *, filename: str, expires_in: int, version: str | None = None
    ) -> str | None:
        key = self.key_of(uri)
        if key is None:
            raise NotFound("blob", uri)
        pinned = {"VersionId": version} if version else {}
        try:
            # A missing object (or version) is our 404, not a redirect to S3's error page.
            self._client.head_object(Bucket=self.bucket, Key=key, **pinned)
            url = self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    **pinned,
                    "ResponseContentDisposition": _attachment(filename),
                },
                ExpiresIn=max(1, min(expires_in, MAX_PRESIGN_SECONDS)),
                HttpMethod="GET",
            )
        except Exception as exc:
            self._raise(exc, uri)
        return str(url)

    # -- helpers ---------------------------------------------------------------------

    def _hash(self, key: str, version: str | None, uri: str) -> str:
        pinned = {"VersionId": version} if version else {}
        digest = hashlib.sha256()
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key, **pinned)["Body"]
        except Exception as exc:
            self._raise(exc, uri)
        for chunk in self._chunks(body, uri):
            digest.update(chunk)
        return "sha256:" + digest.hexdigest()

    def _chunks(self, body: Any, uri: str) -> Iterator[bytes]:
        try:
            for chunk in body.iter_chunks(_CHUNK):
                yield bytes(chunk)
        except DataOpsError:
            raise
        except Exception as exc:
            self._raise(exc, uri)
        finally:
            body.close()

    def key_of(self, uri: str) -> str | None:
        """The key of a URI in this bucket, or None for anything else (never a bad key)."""
        if not self.owns(uri):
            return None
        key = uri[len(self._prefix) :]
        return key if valid_key(key) else None

    @staticmethod
    def _check(key: str) -> None:
        if not valid_key(key):
            raise NotFound("blob", key)

    def _raise(self, exc: Exception, uri: str) -> NoReturn:
        """Translate a botocore error into ours (and re-raise anything else)."""
        from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
            BotoCoreError,
            ClientError,
        )

        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _MISSING:
                raise NotFound("blob", uri) from exc
            if code == "NoSuchBucket":
                raise StorageUnavailable(
                    f"the S3 bucket {self.bucket!r} does not exist; check DATAOPS_ARTIFACTS_BUCKET"
                ) from exc
            if code in _DENIED:
                raise StorageUnavailable(
                    f"access to the S3 bucket {self.bucket!r} was refused ({code}); check the "
                    f"function's IAM role and DATAOPS_ARTIFACTS_BUCKET"
                ) from exc
            raise StorageUnavailable(
                f"S3 refused the request ({code}); nothing was changed"
            ) from exc
        if isinstance(exc, BotoCoreError):
            raise StorageUnavailable(
                f"S3 could not be reached ({type(exc).__name__}); check DATAOPS_S3_ENDPOINT, "
                f"the network and the AWS credentials"
            ) from exc
        raise exc

    def __repr__(self) -> str:
        return f"S3Blobs(bucket={self.bucket!r})"


def _client(endpoint_url: str | None, region: str | None) -> Any:
    require_aws("S3 storage")
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]

    config = Config(
        signature_version="s3v4",
        # An endpoint override (moto, MinIO) is addressed by path; AWS by virtual host.
        s3={"addressing_style": "path" if endpoint_url else "virtual"},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _version(response: dict[str, Any]) -> str | None:
    version = response.get("VersionId")
    # An unversioned bucket answers "null" (or nothing): there is no version to pin.
    return str(version) if version and version != "null" else None


def _attachment(filename: str) -> str:
    safe = _UNSAFE_FILENAME.sub("_", filename)[:200] or "download"
    return f'attachment; filename="{safe}"'
