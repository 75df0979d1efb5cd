"""DataOps-owned objects (`s3`, `local-dev`): a record that names one takes its checksum
and size from the object, so it cannot vouch for bytes DataOps never saw."""

from __future__ import annotations

from dataops.domain.enums import OWNED_PROVIDERS, StorageProvider
from dataops.domain.errors import FieldError, ValidationFailed
from dataops.services.common import raise_if
from dataops.services.context import Workspace

Facts = tuple[str, int]
"""(checksum, sizeBytes) of a stored object."""

CHECKSUM_REQUIRED = "is required when DataOps owns the binary (s3, local-dev)"


def fillable(
    errors: list[FieldError], checksum: str | None, provider: StorageProvider | None
) -> list[FieldError]:
    """`errors` less the missing checksum of an owned object: `take_object_facts` fills
    that one in from the object itself."""
    if checksum is None and provider in OWNED_PROVIDERS:
        return [e for e in errors if e.field != "checksum"]
    return errors


def take_object_facts(
    ws: Workspace,
    uri: str,
    checksum: str | None,
    size_bytes: int | None,
    known: Facts | None = None,
) -> Facts:
    """The checksum and size of the owned object `uri` names: `known` (the caller's file
    record of the same URI, verified when its bytes arrived), else the blob store's
    (local-dev: the stored bytes; S3: a HEAD). A claimed `checksum` or `size_bytes` that
    differs, an object that does not exist, or a URI the configured store does not hold
    is 422 (nothing read is kept); the caller stores what this returns."""
    found = known if known is not None else _stored(ws, uri)
    if found is None:
        problems = [FieldError("storageUri", _missing_object(ws, uri))]
        if checksum is None:
            problems.append(FieldError("checksum", CHECKSUM_REQUIRED))
        raise ValidationFailed(problems)
    stored_checksum, stored_size = found
    problems = []
    if checksum is not None and checksum != stored_checksum:
        problems.append(
            FieldError("checksum", f"is not the stored object's checksum ({stored_checksum})")
        )
    if size_bytes is not None and size_bytes != stored_size:
        problems.append(
            FieldError("sizeBytes", f"is not the stored object's size ({stored_size} bytes)")
        )
    raise_if(problems)
    return found


def _stored(ws: Workspace, uri: str) -> Facts | None:
    key = ws.blobs.key_of(uri)
    stored = ws.blobs.inspect(key) if key is not None else None
    return None if stored is None else (stored.checksum, stored.size_bytes)


def _missing_object(ws: Workspace, uri: str) -> str:
    if ws.blobs.key_of(uri) is None:
        return (
            f"names no object this deployment stores (DATAOPS_BLOB_STORE={ws.blobs.name}); "
            "upload the bytes first, or link to where they are kept"
        )
    return "names no stored object; upload the bytes first"
