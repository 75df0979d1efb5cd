from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from dataops.domain.search import MAX_QUERY_CHARS
from dataops.engine import present
from dataops.engine.deps import PageDep, Reader, WorkspaceDep, read
from dataops.engine.routing import api_router
from dataops.services import search as svc

router = api_router("/api/search", "search")


@router.get("")
async def search(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
    kind: Literal["task", "bundle", "artifact"] | None = None,
) -> JSONResponse:
    return present.page(await read(ws, svc.search, ws, q, kind, paging))
