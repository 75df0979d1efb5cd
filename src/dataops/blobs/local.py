"""Local-disk blob store for development and tests only (guarded to DATAOPS_ENV local/test)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dataops.blobs.port import StoredBlob, StoredEntry, UploadTarget, valid_key
from dataops.domain.errors import Conflict, NotFound, PayloadTooLarge, StorageUnavailable
from dataops.localfs import private_dir

SCHEME = "local-dev://"
_CHUNK = 1024 * 1024
_TEMP_PREFIX = ".upload-"


class LocalDevBlobs:
    """Files under `root`, addressed as local-dev://<key>. Keys are server-generated and
    checked against a strict pattern, so no key can leave `root`."""

    name = "local-dev"

    def __init__(self, root: Path, *, allowed: bool) -> None:
        self._root = root.resolve()
        self._allowed = allowed

    def put(self, key: str, stream: BinaryIO, *, content_type: str, max_bytes: int) -> StoredBlob:
        target = self._path(key)
        private_dir(target.parent)  # blobs themselves are 0600 (mkstemp)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, target)  # fails if the key exists: never clobber
            except FileExistsError as exc:
                raise Conflict(f"blob {key!r} already exists") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return StoredBlob(SCHEME + key, "sha256:" + digest.hexdigest(), size)

    def read(self, uri: str) -> Iterator[bytes]:
        if not self.owns(uri):
            raise NotFound("blob", uri)
        path = self._path(uri[len(SCHEME) :])
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise NotFound("blob", uri) from exc
        return self._chunks(handle)

    def owns(self, uri: str) -> bool:
        return uri.startswith(SCHEME)

    def uri_for(self, key: str) -> str:
        return SCHEME + key

    def key_of(self, uri: str) -> str | None:
        key = uri[len(SCHEME) :]
        return key if self.owns(uri) and valid_key(key) else None

    def delete(self, uri: str) -> None:
        if self.owns(uri):
            with contextlib.suppress(FileNotFoundError):
                self._path(uri[len(SCHEME) :]).unlink()

    def entries(self) -> Iterator[StoredEntry]:
        if not self._root.is_dir():
            return
        self._path("probe")  # refuses when local storage is not allowed
        for folder, _, names in os.walk(self._root):
            for name in names:
                path = Path(folder, name)
                if path.is_symlink() or not path.is_file():
                    continue
                relative = path.relative_to(self._root).as_posix()
                if name.startswith(_TEMP_PREFIX):
                    key = None
                elif valid_key(relative):
                    key = relative
                else:
                    continue  # not written by this store: never touched
                yield StoredEntry(relative, key, path.stat().st_mtime)

    def remove(self, entry: StoredEntry) -> None:
        if entry.key is not None:
            self.delete(self.uri_for(entry.key))
            return
        path = (self._root / entry.name).resolve()
        if self._root in path.parents and path.name.startswith(_TEMP_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

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
        """The portal route that receives the bytes (authenticated like any API call)."""
        self._path(key)  # refuses when local storage is not allowed
        return UploadTarget(
            "PUT", f"/work/api/uploads/{upload_id}/content", {"Content-Type": content_type}
        )

    def inspect(self, key: str) -> StoredBlob | None:
        path = self._path(key)
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return StoredBlob(SCHEME + key, "sha256:" + digest.hexdigest(), size)

    def download_url(
        self, uri: str, *, filename: str, expires_in: int, version: str | None = None
    ) -> str | None:
        return None

    @staticmethod
    def _chunks(handle: BinaryIO) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def _path(self, key: str) -> Path:
        if not self._allowed:
            raise StorageUnavailable(
                "local-dev blob storage is allowed only when DATAOPS_ENV is local or test; "
                "set DATAOPS_BLOB_STORE=s3 for durable storage"
            )
        if not valid_key(key):
            raise NotFound("blob", key)
        path = (self._root / key).resolve()
        if self._root not in path.parents:
            raise NotFound("blob", key)
        return path


class DisabledBlobs:
    """No binary storage configured: every operation is refused, nothing is written."""

    name = "disabled"

    def put(self, key: str, stream: BinaryIO, *, content_type: str, max_bytes: int) -> StoredBlob:
        raise self._refusal()

    def read(self, uri: str) -> Iterator[bytes]:
        raise self._refusal()

    def owns(self, uri: str) -> bool:
        return False

    def uri_for(self, key: str) -> str:
        raise self._refusal()

    def key_of(self, uri: str) -> str | None:
        return None

    def delete(self, uri: str) -> None:
        raise self._refusal()

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
        raise self._refusal()

    def inspect(self, key: str) -> StoredBlob | None:
        raise self._refusal()

    def download_url(
        self, uri: str, *, filename: str, expires_in: int, version: str | None = None
    ) -> str | None:
        raise self._refusal()

    @staticmethod
    def _refusal() -> StorageUnavailable:
        return StorageUnavailable(
            "binary storage is disabled (DATAOPS_BLOB_STORE=disabled); set DATAOPS_BLOB_STORE=s3 "
            "with DATAOPS_ARTIFACTS_BUCKET, or local-dev in a local/test environment"
        )
