"""The blob-store port: where DataOps-owned binaries live.

Writes are all-or-nothing: a failed or oversized `put` leaves no object behind.
`put` never overwrites: keys are chosen by the caller from server-generated IDs, and a
key that already exists is a `Conflict`. A backend that is not allowed in the current
environment refuses every operation with `StorageUnavailable` naming the setting to
change, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredBlob:
    uri: str
    checksum: str
    size_bytes: int
    version: str | None = None


class BlobStore(Protocol):
    name: str

    def put(self, key: str, stream: BinaryIO, *, content_type: str, max_bytes: int) -> StoredBlob:
        """Store the stream under `key`, computing its SHA-256 and size as it is read.
        `PayloadTooLarge` past `max_bytes` (nothing kept)."""

    def read(self, uri: str) -> Iterator[bytes]:
        """Stream the bytes stored at `uri` (`NotFound` if missing)."""

    def owns(self, uri: str) -> bool:
        """True when `uri` points into this store."""

    def delete(self, uri: str) -> None:
        """Remove an object this store wrote, to undo a `put` whose metadata could not be
        recorded. Missing objects are ignored."""
