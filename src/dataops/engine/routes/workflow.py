from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.domain.enums import BundleStatus
from dataops.domain.models import Bundle, Template
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
from dataops.engine.schemas import (
    BundleCreate,
    BundleUpdate,
    Instantiate,
    TemplateCreate,
    TemplateUpdate,
)
from dataops.services import counts as counts_svc
from dataops.services import workflow as svc

router = api_router(tag="workflow")


@router.post("/api/templates", status_code=201)
def create_template(body: TemplateCreate, ws: WorkspaceDep, actor: Operator) -> JSONResponse:
    return present.one(svc.create_template(ws, actor, body.changes(Template)), 201)


@router.get("/api/templates")
async def list_templates(ws: WorkspaceDep, _: Reader, paging: PageDep) -> JSONResponse:
    return present.page(await read(ws, svc.list_templates, ws, paging))


@router.get("/api/templates/{template_id}")
async def get_template(template_id: str, ws: WorkspaceDep, _: Reader) -> JSONResponse:
    return present.one(await read(ws, svc.get_template, ws, template_id))


@router.patch("/api/templates/{template_id}")
def update_template(
    template_id: str, body: TemplateUpdate, ws: WorkspaceDep, actor: Operator, if_match: IfMatch
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    template = svc.update_template(ws, actor, template_id, body.changes(Template), version)
    return present.one(template)


@router.post("/api/templates/{template_id}/instantiate", status_code=201)
def instantiate(
    template_id: str, body: Instantiate, ws: WorkspaceDep, actor: Operator
) -> JSONResponse:
    bundle, tasks = svc.instantiate_template(ws, actor, template_id, body.title, body.anchor_date)
    return JSONResponse({"bundle": to_dict(bundle), "tasks": to_dict(tasks)}, status_code=201)


@router.post("/api/templates/{template_id}/preview")
async def preview_instance(
    template_id: str, body: Instantiate, ws: WorkspaceDep, _: Operator
) -> JSONResponse:
    """The bundle and dated tasks `instantiate` would create from this body; nothing is
    stored (the IDs shown are not reserved)."""
    bundle, tasks = await read(
        ws, svc.preview_instance, ws, template_id, body.title, body.anchor_date
    )
    return JSONResponse({"bundle": to_dict(bundle), "tasks": to_dict(tasks)})


@router.post("/api/bundles", status_code=201)
def create_bundle(body: BundleCreate, ws: WorkspaceDep, actor: Operator) -> JSONResponse:
    return present.one(svc.create_bundle(ws, actor, body.changes(Bundle)), 201)


@router.get("/api/bundles")
async def list_bundles(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    status: BundleStatus | None = None,
    template_id: Annotated[str | None, Query(alias="templateId", max_length=200)] = None,
    recurring_config_id: Annotated[
        str | None, Query(alias="recurringConfigId", max_length=200)
    ] = None,
    include: Literal["artifactCount"] | None = None,
) -> JSONResponse:
    filters = {
        "status": status.value if status else None,
        "template_id": template_id,
        "recurring_config_id": recurring_config_id,
    }
    if include is None:
        return present.page(await read(ws, svc.list_bundles, ws, filters, paging))
    page, counts = await read(ws, counts_svc.list_bundles_counted, ws, filters, paging)
    body = present.collection(page)
    for item in body["items"]:
        item["artifactCount"] = counts[item["id"]]
    return present.Json(body)


@router.get("/api/bundles/{bundle_id}")
async def get_bundle(bundle_id: str, ws: WorkspaceDep, _: Reader) -> JSONResponse:
    return present.one(await read(ws, svc.get_bundle, ws, bundle_id))


@router.patch("/api/bundles/{bundle_id}")
def update_bundle(
    bundle_id: str, body: BundleUpdate, ws: WorkspaceDep, actor: Operator, if_match: IfMatch
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    return present.one(svc.update_bundle(ws, actor, bundle_id, body.changes(Bundle), version))
