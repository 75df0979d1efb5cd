"""The blob-store port: where DataOps-owned binaries live.

Writes are all-or-nothing: a failed or oversized `put` leaves no object behind.
`put` never overwrites: keys are chosen by the caller from server-generated IDs, and a
key that already exists is a `Conflict`. A backend that is not allowed in the current
environment refuses every operation with `StorageUnavailable` naming the setting to
change, and writes nothing.

Two-step uploads: `upload_target` says where a client sends the bytes (S3: a presigned
PUT bound to the size, content type and checksum; local-dev: a portal route that calls
`put`); `inspect` then reports what actually arrived so the caller can verify it before
registering anything. Presigned URLs are handed to the client and never stored.

Keys are chosen by DataOps from server-generated IDs (`files/<id>`), never from titles,
filenames or emails, so an object's name says nothing private; `valid_key` is the one
rule every backend applies (a key that breaks it is `NotFound`, and nothing is written).

Versions: a backend that keeps object versions (S3) reports the version `put` and
`inspect` saw in `StoredBlob.version`; the caller records it (the file record's
`storageVersion`) and passes it back to `download_url`, which then serves exactly that
version. The version travels beside the URI rather than inside it, so `storageUri`
stays the plain `s3://bucket/key` of CONTRACT §5.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredBlob:
    uri: str
    checksum: str
    size_bytes: int
    version: str | None = None


@dataclass(frozen=True)
class UploadTarget:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEntry:
    """One file of a store that keeps objects as files (local-dev)."""

    name: str  # its path below the store's root, `/`-separated
    key: str | None  # the object's key; None for an unfinished write's temp file
    modified: float  # when it was last written, in seconds since the epoch


MAX_PRESIGN_SECONDS = 300
"""Presigned downloads live at most five minutes (CONTRACT §4)."""

_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-.]*)*$")


def valid_key(key: str) -> bool:
    """Lower-case ASCII segments joined by `/`: no `..`, no absolute or empty segments."""
    return bool(_KEY.fullmatch(key)) and ".." not in key


class BlobStore(Protocol):
    name: str

    def put(self, key: str, stream: BinaryIO, *, content_type: str, max_bytes: int) -> StoredBlob:
        """Store the stream under `key`, computing its SHA-256 and size as it is read.
        `PayloadTooLarge` past `max_bytes` (nothing kept)."""

    def read(self, uri: str) -> Iterator[bytes]:
        """Stream the bytes stored at `uri` (`NotFound` if missing)."""

    def owns(self, uri: str) -> bool:
        """True when `uri` points into this store."""

    def uri_for(self, key: str) -> str:
        """The durable URI an object stored under `key` has."""

    def key_of(self, uri: str) -> str | None:
        """The key of `uri` in this store (the inverse of `uri_for`), or None for a URI
        this store does not hold or whose key breaks `valid_key`. Never raises."""

    def delete(self, uri: str) -> None:
        """Remove an object this store wrote, to undo a `put` or a failed upload whose
        metadata is not recorded. Missing objects are ignored."""

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
        """Where a client PUTs the bytes of a two-step upload."""

    def inspect(self, key: str) -> StoredBlob | None:
        """What is stored under `key` (size, SHA-256, version), or None if nothing is."""

    def download_url(
        self, uri: str, *, filename: str, expires_in: int, version: str | None = None
    ) -> str | None:
        """A short-lived URL (at most `MAX_PRESIGN_SECONDS`, whatever `expires_in` says)
        the client may be redirected to, or None when the bytes are streamed through
        DataOps instead. `version` (as recorded from `StoredBlob.version`) pins the URL to
        that object version; `NotFound` when the object (or that version) is missing."""


@runtime_checkable
class ListableBlobs(Protocol):
    """A store that can list what it holds (local-dev), so objects that no record names
    (a crash between writing the bytes and the record) can be swept
    (`services/blobsweep.py`). S3 is not listed: a bucket lifecycle rule is its sweeper."""

    def entries(self) -> Iterator[StoredEntry]:
        """Every object file, and every temp file an interrupted `put` left, once each;
        files that are neither (not written by this store) are not listed."""

    def remove(self, entry: StoredEntry) -> None:
        """Delete the file `entry` names (missing files are ignored)."""
