from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.domain.enums import TaskStatus
from dataops.domain.models import Task
from dataops.engine import present
from dataops.engine.deps import (
    IfMatch,
    Operator,
    PageDep,
    Reader,
    WorkspaceDep,
    expected_version,
    read,
)
from dataops.engine.routing import api_router
from dataops.engine.schemas import DateStr, TaskCreate, TaskUpdate
from dataops.services import tasks as svc

router = api_router("/api/tasks", "tasks")


@router.post("", status_code=201)
def create(body: TaskCreate, ws: WorkspaceDep, actor: Operator) -> JSONResponse:
    return present.one(svc.create_task(ws, actor, body.changes(Task)), 201)


@router.get("")
async def list_tasks(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    bundle_id: Annotated[str | None, Query(alias="bundleId", max_length=200)] = None,
    status: TaskStatus | None = None,
    date: DateStr | None = None,
    assignee_id: Annotated[str | None, Query(alias="assigneeId", max_length=200)] = None,
    proof_withdrawn: Annotated[
        Literal["true", "false"] | None, Query(alias="proofWithdrawn")
    ] = None,
    due: svc.Due | None = None,
    blocked: Literal["true", "false"] | None = None,
    include: Annotated[str | None, Query(max_length=100)] = None,
    count: Literal["true", "false"] | None = None,
) -> JSONResponse:
    """Tasks by filters; `due` a date lane of the open tasks, `blocked=true` those whose
    proof is missing, `count=true` the list's size, `include=proof,bundles` each open
    task's proof summary and the page's bundles (by ID: title)."""
    filters = {
        "bundle_id": bundle_id,
        "status": status.value if status else None,
        "date": date,
        "assignee_id": assignee_id,
        "withdrawn_key": "true" if proof_withdrawn == "true" else None,
    }
    wanted = present.includes(include, ("proof", "bundles"))
    query = svc.TaskQuery(
        filters,
        due=due,
        blocked=blocked == "true",
        include_proof="proof" in wanted,
        include_bundles="bundles" in wanted,
        count=count == "true",
    )
    result = await read(ws, svc.task_list, ws, query, paging)
    return present.Json(present.task_list(result, query))


TASK_INCLUDES = ("proof", "bundle", "files", "artifacts")


@router.get("/{task_id}")
async def get(
    task_id: str,
    ws: WorkspaceDep,
    _: Reader,
    include: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    """The task; `include=proof,bundle,files,artifacts` adds, under `included`, what the
    task page shows: the proof verdict (as `/proof` gives it), the bundle, and the first
    page of the task's files, its artifacts and its bundle's artifacts."""
    wanted = present.includes(include, TASK_INCLUDES)
    if not wanted:
        return present.one(await read(ws, svc.get_task, ws, task_id))
    return present.Json(present.task_view(await read(ws, svc.task_view, ws, task_id, wanted)))


@router.patch("/{task_id}")
def update(
    task_id: str, body: TaskUpdate, ws: WorkspaceDep, actor: Operator, if_match: IfMatch
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    return present.one(svc.update_task(ws, actor, task_id, body.changes(Task), version))


@router.get("/{task_id}/proof")
async def proof(task_id: str, ws: WorkspaceDep, _: Reader) -> JSONResponse:
    verdict = await read(ws, svc.proof_state, ws, task_id)
    return present.Json(
        {"canComplete": verdict.can_complete, "requirements": to_dict(verdict.requirements)}
    )
