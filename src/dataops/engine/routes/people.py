from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from dataops.domain.enums import EntityType
from dataops.engine import present
from dataops.engine.deps import PageDep, Reader, WorkspaceDep
from dataops.services import people as svc

router = APIRouter(tags=["people"])


@router.get("/api/health")
def health(ws: WorkspaceDep) -> JSONResponse:
    return JSONResponse({"status": "ok", "store": ws.store.name, "blobStore": ws.blobs.name})


@router.get("/api/me")
def me(ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return JSONResponse(svc.describe_actor(ws, actor))


@router.get("/api/users")
def users(ws: WorkspaceDep, _: Reader, paging: PageDep) -> JSONResponse:
    return present.page(svc.list_users(ws, paging))


@router.get("/api/notifications")
def notifications(ws: WorkspaceDep, actor: Reader, paging: PageDep) -> JSONResponse:
    return present.page(svc.list_notifications(ws, actor, paging))


@router.post("/api/notifications/{notification_id}/dismiss")
def dismiss(notification_id: str, ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return present.one(svc.dismiss_notification(ws, actor, notification_id))


@router.get("/api/audit-events")
def audit_events(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    entity_type: Annotated[EntityType | None, Query(alias="entityType")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId", max_length=200)] = None,
) -> JSONResponse:
    return present.page(svc.list_audit_events(ws, entity_type, entity_id, paging))
