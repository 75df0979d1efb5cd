from __future__ import annotations

import tempfile
from typing import Annotated, BinaryIO, cast

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dataops.domain.models import Upload
from dataops.engine import present
from dataops.engine.deps import Contributor, WorkspaceDep
from dataops.engine.routing import api_router
from dataops.engine.schemas import UploadCreate
from dataops.services import uploads as svc

router = api_router("/api/uploads", "uploads")
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


@router.post("", status_code=201)
def create(
    body: UploadCreate,
    ws: WorkspaceDep,
    actor: Contributor,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    ticket = svc.create_upload(ws, actor, body.changes(Upload), idempotency_key)
    return JSONResponse(
        {
            "uploadId": ticket.upload.id,
            "method": ticket.target.method,
            "url": ticket.target.url,
            "headers": ticket.target.headers,
            "expiresAt": ticket.upload.expires_at,
            "status": ticket.upload.status.value,
            "fileId": ticket.upload.file_id,
        },
        status_code=201,
    )


@router.put("/{upload_id}/content", status_code=204)
async def receive(upload_id: str, request: Request, ws: WorkspaceDep, actor: Contributor) -> None:
    """Where local-dev uploads send their bytes (S3 uploads go to the presigned URL)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        await run_in_threadpool(svc.receive_content, ws, actor, upload_id, cast(BinaryIO, spool))


@router.post("/{upload_id}/complete")
def complete(upload_id: str, ws: WorkspaceDep, actor: Contributor) -> JSONResponse:
    record, created = svc.complete_upload(ws, actor, upload_id)
    return present.one(record, 201 if created else 200)
