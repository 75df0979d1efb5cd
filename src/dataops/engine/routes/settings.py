"""Workspace settings (CONTRACT §7): everyone reads them, admins change them."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from dataops.domain.accounts import WorkspaceSettings
from dataops.engine.deps import Admin, IfMatch, Reader, WorkspaceDep, expected_version, read
from dataops.engine.present import Json
from dataops.engine.routing import api_router
from dataops.engine.schemas import SettingsUpdate
from dataops.services import settings as svc

router = api_router(prefix="/api/settings", tag="settings")


def _shown(record: WorkspaceSettings) -> JSONResponse:
    body: dict[str, Any] = {
        "reviewPolicy": record.review_policy.value,
        "updatedAt": record.updated_at,
        "updatedBy": record.updated_by,
        "version": record.version,
    }
    return Json(body, headers={"ETag": f'"{record.version}"'})


@router.get("")
async def get(ws: WorkspaceDep, _: Reader) -> JSONResponse:
    return _shown(await read(ws, svc.get_settings, ws))


@router.patch("")
def update(body: SettingsUpdate, ws: WorkspaceDep, actor: Admin, if_match: IfMatch) -> JSONResponse:
    expected = expected_version(if_match, body.expected_version)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    return _shown(svc.update_settings(ws, actor, changes, expected))
