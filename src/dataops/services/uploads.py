"""Two-step uploads: announce (size, checksum), send the bytes where the blob store says,
complete (verify what arrived, then register the file record). One code path for S3
(presigned PUT) and local-dev (a portal route)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from dataops.blobs.port import StoredBlob, UploadTarget
from dataops.domain.accounts import Actor
from dataops.domain.clock import format_ts, new_id, now, now_ts, parse_ts
from dataops.domain.enums import FileCategory, UploadStatus
from dataops.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    PayloadTooLarge,
    ValidationFailed,
)
from dataops.domain.models import FileRecord, Upload
from dataops.domain.policy import check_checksum, infer_provider
from dataops.domain.rules import file_errors
from dataops.services import idempotency
from dataops.services.common import raise_if, require
from dataops.services.context import Workspace
from dataops.services.files import add_file
from dataops.store.port import Filters, PageRequest, UnitOfWork

UPLOAD_LIFETIME = timedelta(hours=1)
SWEEP_BATCH = 20


def upload_key(upload_id: str) -> str:
    """Where the bytes of an upload are stored."""
    return f"files/{upload_id}"


def upload_id_of(key: str) -> str | None:
    """The upload whose bytes `key` would hold (`upload_key`'s inverse), if any."""
    upload_id = key.removeprefix("files/")
    return upload_id if key != upload_id and "/" not in upload_id else None


@dataclass(frozen=True)
class UploadTicket:
    upload: Upload
    target: UploadTarget


def create_upload(
    ws: Workspace, actor: Actor, data: dict[str, Any], idempotency_key: str | None = None
) -> UploadTicket:
    """Announce an upload. With an idempotency key, a backend that lets two first claims
    race rejects the second insert; retrying once then replays the first ticket."""
    try:
        return _create_upload(ws, actor, data, idempotency_key)
    except Conflict:
        if idempotency_key is None:
            raise
        return _create_upload(ws, actor, data, idempotency_key)


def _create_upload(
    ws: Workspace, actor: Actor, data: dict[str, Any], idempotency_key: str | None
) -> UploadTicket:
    upload = _new_upload(ws, actor, data)
    claim = None
    if idempotency_key is not None:
        claim = (
            idempotency.record_id(actor, "create-upload", idempotency_key),
            idempotency.request_hash(data),
        )
    _sweep(ws)
    with ws.store.unit_of_work(write=True) as uow:
        if claim is not None:
            first = idempotency.replayed(uow, *claim)
            if first is not None:
                upload = require(uow.uploads, first["id"], "upload")
                return UploadTicket(upload, _target(ws, upload))
        if upload.task_id:
            task = require(uow.tasks, upload.task_id, "task", "taskId")
            upload.bundle_id = upload.bundle_id or task.bundle_id
        if upload.bundle_id:
            require(uow.bundles, upload.bundle_id, "bundle", "bundleId")
        target = _target(ws, upload)  # refuses (503) when binary storage is disabled
        uow.uploads.add(upload)
        if claim is not None:
            idempotency.remember(uow, *claim, upload.id, {"id": upload.id})
        uow.commit()
    return UploadTicket(upload, target)


def _new_upload(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Upload:
    """The upload a create body describes, checked (size limit, checksum, file name and
    type), not stored yet."""
    size = data["size_bytes"]
    if size > ws.settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"sizeBytes {size} is over the limit of {ws.settings.max_upload_bytes} bytes"
        )
    raise_if(check_checksum(data["checksum"], "checksum"))
    upload_id = new_id("upl")
    stamp = now()
    upload = Upload(
        id=upload_id,
        key=upload_key(upload_id),
        filename=data["filename"],
        content_type=data["content_type"],
        size_bytes=size,
        checksum=data["checksum"],
        created_at=format_ts(stamp),
        expires_at=format_ts(stamp + UPLOAD_LIFETIME),
        task_id=data.get("task_id"),
        bundle_id=data.get("bundle_id"),
        category=data.get("category") or FileCategory.DOCUMENT,
        created_by=actor.id,
    )
    raise_if(
        file_errors(
            FileRecord(
                id=upload_id,
                filename=upload.filename,
                created_at=upload.created_at,
                content_type=upload.content_type,
            )
        )
    )
    return upload


def _target(ws: Workspace, upload: Upload) -> UploadTarget:
    remaining = int((parse_ts(upload.expires_at) - now()).total_seconds())
    return ws.blobs.upload_target(
        upload.key,
        upload_id=upload.id,
        content_type=upload.content_type,
        size_bytes=upload.size_bytes,
        checksum=upload.checksum,
        expires_in=max(1, min(remaining, int(UPLOAD_LIFETIME.total_seconds()))),
    )


def receive_content(ws: Workspace, actor: Actor, upload_id: str, stream: BinaryIO) -> Upload:
    """The local-dev PUT target: store the bytes of a pending upload (at most its size)."""
    with ws.store.unit_of_work() as uow:
        upload = _pending(uow, actor, upload_id)
    ws.blobs.put(upload.key, stream, content_type=upload.content_type, max_bytes=upload.size_bytes)
    return upload


def complete_upload(ws: Workspace, actor: Actor, upload_id: str) -> tuple[FileRecord, bool]:
    """Verify what arrived and register the file record; (record, created). Completing a
    completed upload returns its record again."""
    with ws.store.unit_of_work() as uow:
        upload = require(uow.uploads, upload_id, "upload")
        if upload.status == UploadStatus.COMPLETED and upload.file_id:
            return require(uow.files, upload.file_id, "file"), False
        upload = _pending(uow, actor, upload_id)
    stored = _arrived(ws, upload)
    record = FileRecord(
        id=new_id("fil"),
        filename=upload.filename,
        created_at=now_ts(),
        task_id=upload.task_id,
        bundle_id=upload.bundle_id,
        category=upload.category,
        storage_provider=infer_provider(stored.uri),
        storage_uri=stored.uri,
        storage_version=stored.version,
        content_type=upload.content_type,
        checksum=stored.checksum,
        size_bytes=stored.size_bytes,
        created_by=upload.created_by,
    )
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.uploads, upload.id, "upload")
        if current.status != UploadStatus.PENDING:
            raise Conflict(f"upload {upload.id} is {current.status.value}")
        done = copy.deepcopy(current)
        done.status, done.file_id, done.version = (
            UploadStatus.COMPLETED,
            record.id,
            current.version + 1,
        )
        uow.uploads.update(done, current.version)
        add_file(
            uow, actor, record, "upload", f"{record.size_bytes} bytes verified (upload {upload.id})"
        )
        uow.commit()
    return record, True


def _arrived(ws: Workspace, upload: Upload) -> StoredBlob:
    """The object the upload announced, as it arrived; when its size or checksum is not
    what was announced, the object is deleted, the upload failed and ValidationFailed."""
    stored = ws.blobs.inspect(upload.key)
    if stored is None:
        raise Conflict("nothing has been uploaded for this upload yet; PUT the bytes first")
    problems = []
    if stored.size_bytes != upload.size_bytes:
        problems.append(
            FieldError(
                "sizeBytes", f"announced {upload.size_bytes} bytes, received {stored.size_bytes}"
            )
        )
    if stored.checksum != upload.checksum:
        problems.append(
            FieldError("checksum", f"announced {upload.checksum}, received {stored.checksum}")
        )
    if problems:
        ws.blobs.delete(stored.uri)
        _finish(ws, upload, UploadStatus.FAILED)
        raise ValidationFailed(problems)
    return stored


def _pending(uow: UnitOfWork, actor: Actor, upload_id: str) -> Upload:
    upload = require(uow.uploads, upload_id, "upload")
    if upload.created_by != actor.id:
        raise Forbidden("only the user who started an upload may send or complete it")
    if upload.status != UploadStatus.PENDING:
        raise Conflict(f"upload {upload.id} is {upload.status.value}")
    if parse_ts(upload.expires_at) <= now():
        raise Conflict(f"upload {upload.id} expired at {upload.expires_at}; start a new one")
    return upload


def _finish(ws: Workspace, upload: Upload, status: UploadStatus) -> None:
    with ws.store.unit_of_work(write=True) as uow:
        current = uow.uploads.get(upload.id)
        if current is None or current.status != UploadStatus.PENDING:
            return
        updated = copy.deepcopy(current)
        updated.status, updated.version = status, current.version + 1
        uow.uploads.update(updated, current.version)
        uow.commit()


def _sweep(ws: Workspace) -> None:
    """Expire a few stale pending uploads and drop whatever bytes they left behind."""
    with ws.store.unit_of_work() as uow:
        page = uow.uploads.find(
            Filters({"status": UploadStatus.PENDING.value}), PageRequest(limit=SWEEP_BATCH)
        )
    moment = now()
    for upload in page.items:
        if parse_ts(upload.expires_at) > moment:
            break
        ws.blobs.delete(ws.blobs.uri_for(upload.key))
        _finish(ws, upload, UploadStatus.EXPIRED)
