"""Sweep DataOps-owned objects that no record names: the bytes of an upload whose file
record was never written (the process died in between) would otherwise stay forever.

Only a store that lists what it holds is swept (`ListableBlobs`: local-dev). An object is
kept when it is younger than the age given (its record may still be on its way) or when
any record names it: a file record's location (`storageUri`, or a legacy `storagePath`),
an artifact's `storageUri`, or a pending upload's key. Each check is an indexed lookup
per object, never a walk of the records. Temp files of interrupted writes are no object
of any record and go once they are as old."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from dataops.blobs.port import ListableBlobs
from dataops.domain.enums import UploadStatus
from dataops.domain.errors import ConfigurationError
from dataops.services.context import Workspace
from dataops.services.uploads import upload_id_of
from dataops.store.port import Filters, PageRequest, UnitOfWork

ORPHAN_AGE = timedelta(hours=1)
"""Objects younger than this are never swept: an upload's record is written within
seconds of its bytes, and a pending two-step upload names its key for its lifetime."""


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)  # names removed (dry run: would be)
    referenced: int = 0
    young: int = 0
    dry_run: bool = False


def sweep_blobs(
    ws: Workspace, *, older_than: timedelta = ORPHAN_AGE, dry_run: bool = False
) -> SweepReport:
    """Remove (or, on a dry run, list) every unreferenced object older than `older_than`."""
    blobs = ws.blobs
    if not isinstance(blobs, ListableBlobs):
        raise ConfigurationError(
            f"only the local-dev blob store is swept (DATAOPS_BLOB_STORE={blobs.name}); "
            "give an S3 bucket a lifecycle rule instead"
        )
    report = SweepReport(dry_run=dry_run)
    cutoff = time.time() - older_than.total_seconds()
    for entry in blobs.entries():
        if entry.modified > cutoff:
            report.young += 1
        elif entry.key is not None and _referenced(ws, entry.key):
            report.referenced += 1
        else:
            if not dry_run:
                blobs.remove(entry)
            report.removed.append(entry.name)
    return report


def _referenced(ws: Workspace, key: str) -> bool:
    uri = ws.blobs.uri_for(key)
    with ws.store.unit_of_work() as uow:
        return _named(uow, "files", {"location": uri}) or (
            _named(uow, "artifacts", {"storage_uri": uri}) or _pending_upload(uow, key)
        )


def _named(uow: UnitOfWork, entity: str, filters: dict[str, str | None]) -> bool:
    repository = getattr(uow, entity)
    return bool(repository.find(Filters(filters), PageRequest(limit=1)).items)


def _pending_upload(uow: UnitOfWork, key: str) -> bool:
    upload_id = upload_id_of(key)
    upload = uow.uploads.get(upload_id) if upload_id else None
    return upload is not None and upload.key == key and upload.status == UploadStatus.PENDING
