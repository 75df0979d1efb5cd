"""File records: uploads into the blob store, and metadata for files kept elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from dataops.blobs.port import MAX_PRESIGN_SECONDS
from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts
from dataops.domain.enums import OWNED_PROVIDERS, EntityType, FileCategory, StorageProvider
from dataops.domain.errors import Conflict, StorageUnavailable
from dataops.domain.models import FileRecord, Task
from dataops.domain.policy import infer_provider
from dataops.domain.rules import file_errors
from dataops.services import owned, proofs
from dataops.services.common import audit, guard_local_storage, raise_if, require
from dataops.services.context import Workspace
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    stream: BinaryIO
    task_id: str
    bundle_id: str | None = None
    category: FileCategory = FileCategory.DOCUMENT
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Content:
    """Bytes streamed by DataOps, or a redirect to where they can be fetched."""

    filename: str
    content_type: str
    chunks: Iterator[bytes] | None = None
    redirect: str | None = None


def upload_file(ws: Workspace, actor: Actor, upload: Upload) -> FileRecord:
    """Store the bytes (checksum and size computed by the server), then the metadata."""
    file_id = new_id("fil")
    task = _upload_task(ws, upload, file_id)
    stored = ws.blobs.put(
        f"files/{file_id}",
        upload.stream,
        content_type=upload.content_type,
        max_bytes=ws.settings.max_upload_bytes,
    )
    record = FileRecord(
        id=file_id,
        filename=upload.filename,
        created_at=now_ts(),
        task_id=task.id,
        bundle_id=upload.bundle_id or task.bundle_id,
        category=upload.category,
        storage_provider=StorageProvider(ws.blobs.name) if ws.blobs.name != "disabled" else None,
        storage_uri=stored.uri,
        storage_version=stored.version,
        content_type=upload.content_type,
        checksum=stored.checksum,
        size_bytes=stored.size_bytes,
        tags=list(upload.tags),
        created_by=actor.id,
    )
    try:
        with ws.store.unit_of_work(write=True) as uow:
            require(uow.tasks, task.id, "task", "taskId")
            add_file(uow, actor, record, "upload", f"{record.size_bytes} bytes for task {task.id}")
            uow.commit()
    except BaseException:
        ws.blobs.delete(stored.uri)  # no metadata, so no bytes either
        raise
    return record


def _upload_task(ws: Workspace, upload: Upload, file_id: str) -> Task:
    """The task an upload is for, after checking its metadata and that its task and bundle
    exist (before any byte is stored)."""
    probe = FileRecord(
        id=file_id,
        filename=upload.filename,
        created_at=now_ts(),
        task_id=upload.task_id,
        content_type=upload.content_type,
        tags=list(upload.tags),
        category=upload.category,
    )
    raise_if(file_errors(probe))
    with ws.store.unit_of_work() as uow:
        task = require(uow.tasks, upload.task_id, "task", "taskId")
        if upload.bundle_id:
            require(uow.bundles, upload.bundle_id, "bundle", "bundleId")
    return task


def register_file(ws: Workspace, actor: Actor, data: dict[str, Any]) -> FileRecord:
    """Metadata for a file kept elsewhere (Dropbox, Drive, a public URL, an S3 object)."""
    uri = data["storage_uri"]
    record = FileRecord(
        id=new_id("fil"),
        filename=data["filename"],
        created_at=now_ts(),
        task_id=data["task_id"],
        bundle_id=data.get("bundle_id"),
        category=data.get("category") or FileCategory.DOCUMENT,
        storage_provider=data.get("storage_provider") or infer_provider(uri),
        storage_uri=uri,
        content_type=data.get("content_type"),
        checksum=data.get("checksum"),
        size_bytes=data.get("size_bytes"),
        tags=data.get("tags") or [],
        created_by=actor.id,
    )
    raise_if(owned.fillable(file_errors(record), record.checksum, record.storage_provider))
    guard_local_storage(ws, record.storage_provider)
    if record.storage_provider in OWNED_PROVIDERS:  # the object's own checksum and size
        record.checksum, record.size_bytes = owned.take_object_facts(
            ws, uri, record.checksum, record.size_bytes
        )
    with ws.store.unit_of_work(write=True) as uow:
        task = require(uow.tasks, record.task_id or "", "task", "taskId")
        if record.bundle_id:
            require(uow.bundles, record.bundle_id, "bundle", "bundleId")
        else:
            record.bundle_id = task.bundle_id
        add_file(uow, actor, record, "register")
        uow.commit()
    return record


def add_file(
    uow: UnitOfWork, actor: Actor, record: FileRecord, action: str, summary: str | None = None
) -> None:
    """Add a file record in `uow`, bring its task's proof up to date, and audit it."""
    uow.files.add(record)
    proofs.recheck_task(uow, actor, record.task_id)
    audit(uow, actor, EntityType.FILE, record.id, action, after=record, summary=summary)


def get_file(ws: Workspace, file_id: str) -> FileRecord:
    with ws.store.unit_of_work() as uow:
        return require(uow.files, file_id, "file")


def list_files(
    ws: Workspace, filters: dict[str, str | None], page: PageRequest
) -> Page[FileRecord]:
    with ws.store.unit_of_work() as uow:
        return uow.files.find(Filters(filters), page)


def storage_uri_of(record: FileRecord) -> str | None:
    """The record's URI; legacy records that only have storagePath map to local-dev://."""
    return record.location


def open_content(
    ws: Workspace,
    uri: str | None,
    filename: str,
    content_type: str | None,
    version: str | None = None,
) -> Content:
    """DataOps-owned bytes: a redirect to a short-lived URL (S3, pinned to the recorded
    `version` when there is one) or a stream (local-dev). Bytes kept elsewhere are not
    served through DataOps: open the storageUri."""
    if uri is None or infer_provider(uri) not in OWNED_PROVIDERS:
        raise Conflict("the bytes are not stored by DataOps; open the record's storageUri")
    if not ws.blobs.owns(uri):
        raise StorageUnavailable(
            f"the store holding {uri.split('://')[0]}:// objects is not configured here "
            f"(DATAOPS_BLOB_STORE={ws.blobs.name})"
        )
    url = ws.blobs.download_url(
        uri, filename=filename, expires_in=MAX_PRESIGN_SECONDS, version=version
    )
    if url is not None:
        return Content(filename, content_type or "application/octet-stream", redirect=url)
    chunks = ws.blobs.read(uri)
    return Content(filename, content_type or "application/octet-stream", chunks=chunks)


def file_content(ws: Workspace, file_id: str) -> Content:
    record = get_file(ws, file_id)
    return open_content(
        ws, storage_uri_of(record), record.filename, record.content_type, record.storage_version
    )


def artifact_content(ws: Workspace, artifact_id: str) -> Content:
    """An artifact's DataOps-owned bytes. An artifact has no version field of its own:
    when its `fileId` names the file record of the same `storageUri` (an uploaded file
    registered as an artifact, as `dataops artifacts register` and the assistant do), the
    file's recorded `storageVersion` pins them, so a later write to the key cannot
    change what the artifact, perhaps approved as proof, serves."""
    with ws.store.unit_of_work() as uow:
        artifact = require(uow.artifacts, artifact_id, "artifact")
        record = uow.files.get(artifact.file_id) if artifact.file_id else None
    version = None
    if record is not None and storage_uri_of(record) == artifact.storage_uri:
        version = record.storage_version
    filename = artifact.filename or artifact.id
    return open_content(ws, artifact.storage_uri, filename, artifact.content_type, version)
