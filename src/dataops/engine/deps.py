"""Dependencies shared by the routes: the workspace, the actor and what its role may do
(`domain/permissions.py`), paging, If-Match.

They are `async def` because they do no I/O: FastAPI runs a sync dependency in the
thread pool, and that hand-off costs more than the dependency itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from dataops.domain.accounts import Actor
from dataops.domain.enums import Role
from dataops.domain.errors import BadRequest, Unauthorized
from dataops.domain.permissions import Permission, require_permission
from dataops.services.context import Workspace
from dataops.store.port import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest


async def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


async def _actor(
    x_user_id: Annotated[str | None, Header()] = None,
    x_user_email: Annotated[str | None, Header()] = None,
    x_user_role: Annotated[str | None, Header()] = None,
) -> Actor:
    """The user the portal authenticated (the portal secret was checked by middleware)."""
    if not x_user_id or not x_user_role:
        raise Unauthorized("the portal did not name the user")
    try:
        role = Role(x_user_role)
    except ValueError:
        raise Unauthorized("the portal named an unknown role") from None
    return Actor(id=x_user_id, email=x_user_email or "", role=role)


def _require(permission: Permission) -> object:
    async def check(actor: Annotated[Actor, Depends(_actor)]) -> Actor:
        require_permission(actor.role, permission)
        return actor

    return check


async def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


async def _if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit():
        raise BadRequest("If-Match must be the record's integer version")
    return int(value)


P = ParamSpec("P")
T = TypeVar("T")


async def read(ws: Workspace, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a bounded read-only service call (a record, a page, a proof check): on the event
    loop when `ws.local_reads` (SQLite), which saves the thread-pool hand-off that costs
    more than the read itself; in the thread pool otherwise (DynamoDB), so the loop never
    waits on the network. Writes, exports and blob reads stay sync routes (thread pool)."""
    if ws.local_reads:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)


WorkspaceDep = Annotated[Workspace, Depends(_workspace)]
_GUARD = {permission: _require(permission) for permission in Permission}
GUARDS = {check: permission for permission, check in _GUARD.items()}
"""Each guard dependency and the permission it asks for (the perimeter tests walk every
route's dependencies with it)."""
Reader = Annotated[Actor, Depends(_GUARD[Permission.READ])]
Contributor = Annotated[Actor, Depends(_GUARD[Permission.CONTRIBUTE])]
Reviewer = Annotated[Actor, Depends(_GUARD[Permission.REVIEW])]
Operator = Annotated[Actor, Depends(_GUARD[Permission.OPERATE])]
Admin = Annotated[Actor, Depends(_GUARD[Permission.ADMINISTER])]
PageDep = Annotated[PageRequest, Depends(_page)]
IfMatch = Annotated[int | None, Depends(_if_match)]


def expected_version(if_match: int | None, body_version: int | None) -> int | None:
    """If-Match wins; a body `expectedVersion` that disagrees with it is malformed."""
    if if_match is not None and body_version is not None and if_match != body_version:
        raise BadRequest("If-Match and expectedVersion disagree")
    return if_match if if_match is not None else body_version
