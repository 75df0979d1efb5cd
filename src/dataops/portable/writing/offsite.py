"""Offsite export archives: `dataops export --to-s3` puts the `.tar.gz` into
DATAOPS_EXPORT_ARCHIVE_BUCKET under
`<prefix>/<environment>/<YYYY-MM-DD>/dataops-execution-<generated-at>.tar.gz`.
The key carries no private data; S3 verifies the SHA-256 sent with the object and never
overwrites an existing key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataops.blobs.port import BlobStore, StoredBlob, valid_key
from dataops.domain.errors import ConfigurationError
from dataops.portable.writing.export import download_name


def archive_key(prefix: str, environment: str, manifest: dict[str, Any]) -> str:
    day = str(manifest["generated_at"])[:10]
    key = f"{prefix.strip('/')}/{environment}/{day}/{download_name(manifest).lower()}"
    if not valid_key(key):
        raise ConfigurationError(
            f"DATAOPS_EXPORT_ARCHIVE_PREFIX={prefix!r} gives an invalid object key {key!r}: "
            "use lower-case letters, digits, '-', '_' and '/'"
        )
    return key


def upload_archive(
    blobs: BlobStore, archive: Path, manifest: dict[str, Any], prefix: str, environment: str
) -> StoredBlob:
    """Upload one finished archive; the stored object's URI, checksum, size and version."""
    key = archive_key(prefix, environment, manifest)
    with archive.open("rb") as stream:
        return blobs.put(
            key, stream, content_type="application/gzip", max_bytes=archive.stat().st_size
        )
