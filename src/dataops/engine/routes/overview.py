"""`GET /api/overview` (Home): every lane's first page with its count, in one call."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.domain.errors import ValidationFailed
from dataops.engine import present
from dataops.engine.deps import PageDep, Reader, WorkspaceDep, read
from dataops.engine.routing import api_router
from dataops.services import overview as svc

router = api_router(tag="overview")


@router.get("/api/overview")
async def overview(ws: WorkspaceDep, _: Reader, paging: PageDep) -> JSONResponse:
    """Lanes by name: task lanes as `GET /api/tasks` pages them (with `count`, `bundles`,
    and for `blocked` each task's `proof`), artifact lanes with `count`, `tasks` and
    `bundles` (ID: title)."""
    if paging.cursor is not None:
        raise ValidationFailed.one("cursor", "belongs to one lane: page it on its own route")
    result = await read(ws, svc.overview, ws, paging)
    body: dict[str, Any] = {
        lane.value: present.task_list(found, svc.TASK_LANES[lane])
        for lane, found in result.tasks.items()
    }
    for lane, artifacts in result.artifacts.items():
        body[lane.value] = {
            "items": to_dict(artifacts.page.items),
            "nextCursor": artifacts.page.next_cursor,
            "count": artifacts.count,
            "tasks": artifacts.task_titles,
            "bundles": artifacts.bundle_titles,
        }
    return present.Json(body)
