"""`GET /api/export`: the portable export as a `.tar.gz` download (admins only)."""

from __future__ import annotations

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from dataops.engine.deps import Admin, WorkspaceDep
from dataops.engine.routing import api_router
from dataops.portable.format import SourceInfo
from dataops.portable.writing.export import download_name, temporary_archive

router = api_router(tag="export")


@router.get("/api/export")
def export(ws: WorkspaceDep, _: Admin) -> FileResponse:
    """Written to a temporary file first (one consistent snapshot), then streamed; the
    file is deleted once the response is sent."""
    archive = temporary_archive(ws.store, SourceInfo.from_environment(ws.settings.env))
    return FileResponse(
        archive.path,
        media_type="application/gzip",
        filename=download_name(archive.manifest),
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        background=BackgroundTask(archive.remove),
    )
