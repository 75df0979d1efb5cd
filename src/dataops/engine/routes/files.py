from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from dataops.domain.enums import FileCategory
from dataops.domain.errors import BadRequest, ValidationFailed
from dataops.domain.models import FileRecord
from dataops.domain.text import UNPAIRED_SURROGATE, has_unpaired_surrogate
from dataops.engine import present
from dataops.engine.deps import Contributor, PageDep, Reader, WorkspaceDep, read
from dataops.engine.routes.content import stream
from dataops.engine.routing import api_router
from dataops.engine.schemas import FileRegister
from dataops.services import files as svc

router = api_router("/api/files", "files")


async def _multipart(request: Request) -> None:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("Content-Type must be multipart/form-data")


def _tags(raw: str | None) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    try:
        tags = json.loads(raw)
    except ValueError:
        raise ValidationFailed.one("tags", "must be a JSON array of strings") from None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationFailed.one("tags", "must be a JSON array of strings")
    if has_unpaired_surrogate(raw.encode("utf-8", "surrogatepass"), tags):
        raise ValidationFailed.one("tags", UNPAIRED_SURROGATE)
    return tuple(tags)


@router.post("", status_code=201, dependencies=[Depends(_multipart)])
def upload(
    ws: WorkspaceDep,
    actor: Contributor,
    file: Annotated[UploadFile, File()],
    task_id: Annotated[str, Form(alias="taskId", min_length=1, max_length=200)],
    bundle_id: Annotated[str | None, Form(alias="bundleId", max_length=200)] = None,
    category: Annotated[FileCategory, Form()] = FileCategory.DOCUMENT,
    tags: Annotated[str | None, Form(max_length=10_000)] = None,
) -> JSONResponse:
    if not file.filename:
        raise ValidationFailed.one("file", "the file part needs a filename")
    record = svc.upload_file(
        ws,
        actor,
        svc.Upload(
            filename=file.filename,
            content_type=file.content_type or "application/octet-stream",
            stream=file.file,
            task_id=task_id,
            bundle_id=bundle_id or None,
            category=category,
            tags=_tags(tags),
        ),
    )
    return present.one(record, 201)


@router.post("/register", status_code=201)
def register(body: FileRegister, ws: WorkspaceDep, actor: Contributor) -> JSONResponse:
    return present.one(svc.register_file(ws, actor, body.changes(FileRecord)), 201)


@router.get("")
async def list_files(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    task_id: Annotated[str | None, Query(alias="taskId", max_length=200)] = None,
    bundle_id: Annotated[str | None, Query(alias="bundleId", max_length=200)] = None,
) -> JSONResponse:
    filters = {"task_id": task_id, "bundle_id": bundle_id}
    return present.page(await read(ws, svc.list_files, ws, filters, paging))


@router.get("/{file_id}")
async def get(file_id: str, ws: WorkspaceDep, _: Reader) -> JSONResponse:
    return present.one(await read(ws, svc.get_file, ws, file_id))


@router.get("/{file_id}/content")
def content(file_id: str, ws: WorkspaceDep, _: Reader) -> StreamingResponse:
    return stream(svc.file_content(ws, file_id))
