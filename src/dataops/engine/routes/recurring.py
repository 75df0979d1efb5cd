"""Recurring configs (CONTRACT §8): readers read them, operators change them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from dataops.domain.clock import now
from dataops.domain.codec import to_dict
from dataops.domain.models import RecurringConfig
from dataops.domain.recurrence import next_anchor
from dataops.engine.deps import (
    IfMatch,
    Operator,
    PageDep,
    Reader,
    WorkspaceDep,
    expected_version,
    read,
)
from dataops.engine.present import Json
from dataops.engine.routing import api_router
from dataops.engine.schemas import (
    RecurringConfigCreate,
    RecurringConfigPreview,
    RecurringConfigUpdate,
    SkipOccurrence,
)
from dataops.services import recurring as svc

router = api_router(prefix="/api/recurring-configs", tag="recurring")


def shown(config: RecurringConfig) -> dict[str, Any]:
    """The config as the API shows it: its fields and the computed `nextAnchorDate`."""
    body: dict[str, Any] = to_dict(config)
    upcoming = next_anchor(config) if config.deleted_at is None else None
    body["nextAnchorDate"] = upcoming.isoformat() if upcoming else None
    return body


def _one(config: RecurringConfig, status: int = 200) -> JSONResponse:
    return Json(shown(config), status_code=status, headers={"ETag": f'"{config.version}"'})


@router.post("", status_code=201)
def create(body: RecurringConfigCreate, ws: WorkspaceDep, actor: Operator) -> JSONResponse:
    return _one(svc.create_config(ws, actor, body.changes(RecurringConfig)), 201)


@router.post("/preview")
def preview(body: RecurringConfigPreview, ws: WorkspaceDep, _: Operator) -> JSONResponse:
    """The next five occurrences of a config before it is saved (nothing is stored)."""
    found = svc.preview(ws, body.changes(RecurringConfig), now(), body.config_id)
    return Json({"occurrences": [to_dict(o) for o in found]})


@router.get("")
async def list_configs(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    template_id: Annotated[str | None, Query(alias="templateId", max_length=200)] = None,
) -> JSONResponse:
    page = await read(ws, svc.list_configs, ws, template_id, paging)
    return Json({"items": [shown(c) for c in page.items], "nextCursor": page.next_cursor})


@router.get("/{config_id}")
async def get(config_id: str, ws: WorkspaceDep, _: Reader) -> JSONResponse:
    return _one(await read(ws, svc.get_config, ws, config_id))


@router.patch("/{config_id}")
def update(
    config_id: str,
    body: RecurringConfigUpdate,
    ws: WorkspaceDep,
    actor: Operator,
    if_match: IfMatch,
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    changes = body.changes(RecurringConfig)
    return _one(svc.update_config(ws, actor, config_id, changes, version))


@router.delete("/{config_id}", status_code=204)
def delete(config_id: str, ws: WorkspaceDep, actor: Operator, if_match: IfMatch) -> Response:
    svc.delete_config(ws, actor, config_id, if_match)
    return Response(status_code=204)


@router.post("/{config_id}/skip")
def skip(
    config_id: str, body: SkipOccurrence, ws: WorkspaceDep, actor: Operator, if_match: IfMatch
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    return _one(svc.skip_occurrence(ws, actor, config_id, body.anchor_date, version))
