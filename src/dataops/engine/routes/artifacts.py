from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query
from fastapi.responses import JSONResponse, StreamingResponse

from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactStatus, ArtifactType, DataClass, StorageProvider
from dataops.domain.models import Artifact
from dataops.domain.status import ReviewAction
from dataops.engine import present
from dataops.engine.deps import (
    Contributor,
    IfMatch,
    PageDep,
    Reader,
    Reviewer,
    WorkspaceDep,
    expected_version,
    read,
)
from dataops.engine.routes.content import stream
from dataops.engine.routing import api_router
from dataops.engine.schemas import (
    ArtifactCreate,
    ArtifactUpdate,
    AttachIn,
    DateStr,
    ReviewIn,
    SupersedeIn,
)
from dataops.services import artifact_reads, artifact_review
from dataops.services import artifacts as svc
from dataops.services.context import Workspace
from dataops.services.files import artifact_content

router = api_router("/api/artifacts", "artifacts")
Filter = Annotated[str | None, Query(max_length=200)]
EXPIRING_MAX_DAYS = 60
"""`expiringWithinDays` runs one indexed query per day: at most this many (+1)."""


@router.post("", status_code=201)
def register(
    body: ArtifactCreate,
    ws: WorkspaceDep,
    actor: Contributor,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    artifact = svc.register_artifact(ws, actor, body.changes(Artifact), idempotency_key)
    return present.one(artifact, 201)


@router.get("")
async def list_artifacts(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    task_id: Annotated[str | None, Query(alias="taskId", max_length=200)] = None,
    bundle_id: Annotated[str | None, Query(alias="bundleId", max_length=200)] = None,
    assistant_job_id: Annotated[str | None, Query(alias="assistantJobId", max_length=200)] = None,
    file_id: Annotated[str | None, Query(alias="fileId", max_length=200)] = None,
    status: ArtifactStatus | None = None,
    type: ArtifactType | None = None,
    expiring_within_days: Annotated[
        int | None, Query(alias="expiringWithinDays", ge=1, le=EXPIRING_MAX_DAYS)
    ] = None,
    data_class: Annotated[DataClass | None, Query(alias="dataClass")] = None,
    provider: StorageProvider | None = None,
    created_by: Annotated[str | None, Query(alias="createdBy", max_length=200)] = None,
    created_from: Annotated[DateStr | None, Query(alias="createdFrom")] = None,
    created_to: Annotated[DateStr | None, Query(alias="createdTo")] = None,
    include: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    """Artifacts by filters; `include=context` adds the page's tasks (ID: description)
    and bundles (ID: title), so a list names each artifact's context in the same call."""
    wanted = present.includes(include, ("context",))
    filters = {
        "task_id": task_id,
        "bundle_id": bundle_id,
        "assistant_job_id": assistant_job_id,
        "file_id": file_id,
        "status": status.value if status else None,
        "type": type.value if type else None,
    }
    narrowing = artifact_reads.Narrowing(
        data_class=data_class.value if data_class else None,
        storage_provider=provider.value if provider else None,
        created_by=created_by,
        created_from=created_from,
        created_to=created_to,
    )
    page = await read(
        ws, artifact_reads.list_artifacts, ws, filters, paging, expiring_within_days, narrowing
    )
    if "context" not in wanted:
        return present.page(page)
    titles = await read(ws, artifact_reads.context_titles, ws, page.items)
    body = present.collection(page)
    return present.Json({**body, "tasks": titles.tasks, "bundles": titles.bundles})


ARTIFACT_INCLUDES = ("task", "bundle", "audit", "chain")


@router.get("/{artifact_id}")
async def get(
    artifact_id: str,
    ws: WorkspaceDep,
    _: Reader,
    include: Annotated[str | None, Query(max_length=100)] = None,
) -> JSONResponse:
    """The artifact; `include=task,bundle,audit,chain` adds, under `included`, what the
    artifact page shows: its task, its bundle, the first page of its history and its
    supersede chain (`items` oldest first, at most 10 links each way; `earlier`/`later`
    name the next link beyond that, `missing` links that could not be read)."""
    wanted = present.includes(include, ARTIFACT_INCLUDES)
    if not wanted:
        return present.one(await read(ws, svc.get_artifact, ws, artifact_id))
    view = await read(ws, artifact_reads.artifact_view, ws, artifact_id, wanted)
    return present.Json(present.artifact_view(view))


@router.patch("/{artifact_id}")
def update(
    artifact_id: str, body: ArtifactUpdate, ws: WorkspaceDep, actor: Contributor, if_match: IfMatch
) -> JSONResponse:
    version = expected_version(if_match, body.expected_version)
    return present.one(svc.update_artifact(ws, actor, artifact_id, body.changes(Artifact), version))


@router.post("/{artifact_id}/attach")
def attach(
    artifact_id: str, body: AttachIn, ws: WorkspaceDep, actor: Contributor, if_match: IfMatch
) -> JSONResponse:
    artifact = svc.attach_artifact(
        ws,
        actor,
        artifact_id,
        task_id=body.task_id,
        bundle_id=body.bundle_id,
        expected_version=expected_version(if_match, body.expected_version),
    )
    return present.one(artifact)


def _decide(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    action: ReviewAction,
    if_match: int | None,
    body: ReviewIn | None,
) -> JSONResponse:
    body = body or ReviewIn()
    artifact = artifact_review.review_artifact(
        ws,
        actor,
        artifact_id,
        action,
        reason=body.reason,
        expected_version=expected_version(if_match, body.expected_version),
    )
    return present.one(artifact)


@router.post("/{artifact_id}/submit", name="artifact_submit")
def submit(
    artifact_id: str,
    ws: WorkspaceDep,
    actor: Contributor,
    if_match: IfMatch,
    body: ReviewIn | None = None,
) -> JSONResponse:
    return _decide(ws, actor, artifact_id, ReviewAction.SUBMIT, if_match, body)


def _review(action: ReviewAction) -> object:
    """A review decision's route: only a reviewer (operator, admin) decides."""

    def decide(
        artifact_id: str,
        ws: WorkspaceDep,
        actor: Reviewer,
        if_match: IfMatch,
        body: ReviewIn | None = None,
    ) -> JSONResponse:
        return _decide(ws, actor, artifact_id, action, if_match, body)

    return decide


for _action in (ReviewAction.APPROVE, ReviewAction.REJECT, ReviewAction.ARCHIVE):
    router.add_api_route(
        f"/{{artifact_id}}/{_action.value}",
        _review(_action),  # type: ignore[arg-type]
        methods=["POST"],
        name=f"artifact_{_action.value}",
    )


@router.post("/{artifact_id}/supersede")
def supersede(
    artifact_id: str, body: SupersedeIn, ws: WorkspaceDep, actor: Reviewer, if_match: IfMatch
) -> JSONResponse:
    artifact = artifact_review.review_artifact(
        ws,
        actor,
        artifact_id,
        ReviewAction.SUPERSEDE,
        superseded_by=body.superseded_by,
        expected_version=expected_version(if_match, body.expected_version),
    )
    return present.one(artifact)


@router.get("/{artifact_id}/content")
def content(artifact_id: str, ws: WorkspaceDep, _: Reader) -> StreamingResponse:
    return stream(artifact_content(ws, artifact_id))
