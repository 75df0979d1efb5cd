"""`GET /api/my-work` (CONTRACT §8): the actor's due tasks, reviews, rejected artifacts
and withdrawn proofs; `?list=` pages through one of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import JSONResponse

from dataops.engine import present
from dataops.engine.deps import PageDep, Reader, WorkspaceDep, read
from dataops.engine.routing import api_router
from dataops.services import mywork as svc

router = api_router(tag="my-work")


@router.get("/api/my-work")
async def my_work(
    ws: WorkspaceDep,
    actor: Reader,
    paging: PageDep,
    which: Annotated[svc.WorkList | None, Query(alias="list")] = None,
) -> JSONResponse:
    """Every list's first page, or (`list=`) one page of one list."""
    if which is not None:
        return present.page(await read(ws, svc.my_work_list, ws, actor, which, paging))
    lists = await read(ws, svc.my_work, ws, actor, paging)
    return present.Json({which.value: present.collection(page) for which, page in lists.items()})
