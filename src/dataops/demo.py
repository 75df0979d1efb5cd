"""`dataops serve --demo`: a podcast workflow with every proof kind and artifacts in
several review states, loaded once (idempotent: found again by its template name). The
assistant's outputs are registered by a user of the `assistant` role (CONTRACT §7) and
reviewed by the admin."""

from __future__ import annotations

import io
import secrets
from datetime import date, timedelta
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    DataClass,
    FileCategory,
    ProofType,
    Role,
    SourceType,
    TaskStatus,
)
from dataops.domain.models import (
    BundleLink,
    Phase,
    ProofRequirement,
    Task,
    TaskDefinition,
    Template,
)
from dataops.domain.status import ReviewAction
from dataops.services import artifact_review, artifacts, files, tasks, workflow
from dataops.services.context import Workspace
from dataops.store.port import PageRequest

DEMO_TEMPLATE = "Podcast episode (demo)"
DEMO_ASSISTANT = "podcast-assistant@demo.dataops.invalid"
_TRANSCRIPT = """[00:00] Host: Welcome to episode 42. Today: Ada Lovelace.
[00:07] Ada: Thank you for having me.
[00:12] Host: Let's start with the Analytical Engine...
"""


def _definitions() -> list[TaskDefinition]:
    return [
        TaskDefinition(
            "book-guest",
            "Confirm the guest and the recording slot",
            -14,
            proof_requirement=ProofRequirement(ProofType.COMMENT, "Booking note"),
            phase="prep",
        ),
        TaskDefinition(
            "prep-doc",
            "Review the guest prep document",
            -7,
            proof_requirement=ProofRequirement(
                ProofType.ARTIFACT, "Approved prep document", artifact_type=ArtifactType.PODCAST_DOC
            ),
            phase="prep",
        ),
        TaskDefinition(
            "record",
            "Record the episode",
            0,
            proof_requirement=ProofRequirement(ProofType.EXTERNAL_STATUS, "Recording status"),
            phase="production",
            stage_on_complete="recorded",
        ),
        TaskDefinition(
            "transcript",
            "Approve the transcript",
            2,
            proof_requirement=ProofRequirement(
                ProofType.ARTIFACT, "Approved transcript", artifact_type=ArtifactType.TRANSCRIPT
            ),
            phase="production",
        ),
        TaskDefinition(
            "event-page",
            "Publish the episode page",
            5,
            required_link_name="Episode page",
            proof_requirement=ProofRequirement(ProofType.URL, "Public URL"),
            phase="publish",
            stage_on_complete="published",
        ),
        TaskDefinition(
            "invoice", "File the guest invoice", 10, requires_file=True, phase="publish"
        ),
    ]


def load_demo(ws: Workspace) -> bool:
    """Create the demo once; False when it is already there."""
    existing = workflow.list_templates(ws, PageRequest(limit=500)).items
    if any(t.name == DEMO_TEMPLATE for t in existing):
        return False
    actor = _demo_actor(ws)
    assistant = _demo_assistant(ws)
    owned = ws.blobs.name != "disabled"
    template = _demo_template(ws, actor)
    anchor = (date.today() + timedelta(days=3)).isoformat()
    bundle, created = workflow.instantiate_template(
        ws, actor, template.id, "Episode 42 — Ada Lovelace", anchor
    )
    by_ref = {t.template_task_ref: t for t in created}
    tasks.update_task(
        ws,
        actor,
        by_ref["book-guest"].id,
        {"status": TaskStatus.DONE, "comment": "Ada confirmed for Thursday 10:00."},
        None,
    )
    _demo_assistant_outputs(ws, actor, assistant, by_ref, owned)
    _demo_operator_artifacts(ws, actor, bundle.id, by_ref)
    _demo_invoice(ws, actor, by_ref["invoice"].id, owned)
    return True


def _demo_template(ws: Workspace, actor: Actor) -> Template:
    return workflow.create_template(
        ws,
        actor,
        {
            "name": DEMO_TEMPLATE,
            "type": "podcast",
            "description": "Guest episode: booking, prep, recording, transcript, publishing.",
            "phases": [
                Phase("prep", "Preparation", "prep"),
                Phase("production", "Production", "production"),
                Phase("publish", "Publishing", "publish"),
            ],
            "bundle_link_definitions": [BundleLink("Episode page"), BundleLink("Recording folder")],
            "task_definitions": _definitions(),
        },
    )


def _demo_assistant_outputs(
    ws: Workspace, actor: Actor, assistant: Actor, by_ref: dict[str | None, Task], owned: bool
) -> None:
    """The assistant's prep doc, approved, and its transcript, waiting for review."""
    prep = artifacts.register_artifact(
        ws,
        assistant,
        {
            "type": ArtifactType.PODCAST_DOC,
            "title": "Guest prep: Ada Lovelace",
            "storage_uri": "https://docs.google.com/document/d/1demoPrepDocument/edit",
            "status": ArtifactStatus.NEEDS_REVIEW,
            "task_id": by_ref["prep-doc"].id,
            "source_type": SourceType.ASSISTANT_OUTPUT,
            "data_class": DataClass.INTERNAL,
        },
    )
    artifact_review.review_artifact(ws, actor, prep.id, ReviewAction.APPROVE)
    artifacts.register_artifact(
        ws,
        assistant,
        {
            "type": ArtifactType.TRANSCRIPT,
            "title": "Transcript draft (assistant)",
            **_transcript_location(ws, owned),
            "filename": "episode-42-transcript.txt",
            "content_type": "text/plain",
            "status": ArtifactStatus.NEEDS_REVIEW,
            "task_id": by_ref["transcript"].id,
            "source_type": SourceType.ASSISTANT_OUTPUT,
            "assistant_job_id": "job-demo-42",
            "data_class": DataClass.PRIVATE,
        },
    )


def _demo_operator_artifacts(
    ws: Workspace, actor: Actor, bundle_id: str, by_ref: dict[str | None, Task]
) -> None:
    """The raw recording (a draft) and the first episode page, rejected."""
    artifacts.register_artifact(
        ws,
        actor,
        {
            "type": ArtifactType.RECORDING,
            "title": "Raw recording",
            "storage_uri": "https://www.dropbox.com/scl/fi/demo42/ep42.wav?rlkey=demo&dl=0",
            "bundle_id": bundle_id,
            "data_class": DataClass.PRIVATE,
        },
    )
    rejected = artifacts.register_artifact(
        ws,
        actor,
        {
            "type": ArtifactType.EVENT_PAGE,
            "title": "Episode page (first draft)",
            "storage_uri": "https://example.com/podcast/episode-42-draft",
            "status": ArtifactStatus.NEEDS_REVIEW,
            "task_id": by_ref["event-page"].id,
            "data_class": DataClass.PUBLIC,
        },
    )
    artifact_review.review_artifact(
        ws, actor, rejected.id, ReviewAction.REJECT, reason="Guest name misspelled in the headline."
    )


def _demo_invoice(ws: Workspace, actor: Actor, task_id: str, owned: bool) -> None:
    """The guest invoice: uploaded when binary storage is on, else a Drive link."""
    invoice = b"Invoice EP42: 1 guest appearance, 0.00 EUR (demo)\n"
    if owned:
        files.upload_file(
            ws,
            actor,
            files.Upload(
                filename="invoice-ep42.txt",
                content_type="text/plain",
                stream=io.BytesIO(invoice),
                task_id=task_id,
                category=FileCategory.INVOICE,
            ),
        )
    else:  # no binary storage configured: the invoice is kept in Drive
        files.register_file(
            ws,
            actor,
            {
                "task_id": task_id,
                "filename": "invoice-ep42.pdf",
                "storage_uri": "https://drive.google.com/file/d/1demoInvoice/view",
                "category": FileCategory.INVOICE,
            },
        )


def _transcript_location(ws: Workspace, owned: bool) -> dict[str, Any]:
    """A DataOps-owned object when binary storage is on, else a Drive document."""
    if not owned:
        return {"storage_uri": "https://docs.google.com/document/d/1demoTranscript/edit"}
    transcript = _TRANSCRIPT.encode()
    stored = ws.blobs.put(
        f"files/{new_id('dem')}",
        io.BytesIO(transcript),
        content_type="text/plain",
        max_bytes=len(transcript),
    )
    return {"storage_uri": stored.uri, "checksum": stored.checksum, "size_bytes": stored.size_bytes}


def _demo_assistant(ws: Workspace) -> Actor:
    """The podcast assistant's user (role `assistant`), made once. It works with API tokens
    (`dataops tokens create --user podcast-assistant@demo.dataops.invalid ...`); its
    password is random and never shown."""
    from dataops.services import people

    with ws.store.unit_of_work() as uow:
        user = people.find_user_by_email(uow, DEMO_ASSISTANT)
    if user is None:
        user = people.add_user(
            ws,
            people.SYSTEM,
            DEMO_ASSISTANT,
            "Podcast assistant",
            Role.ASSISTANT,
            secrets.token_urlsafe(32),
        )
    return Actor(user.id, user.email, user.role, user.name)


def _demo_actor(ws: Workspace) -> Actor:
    from dataops.services.people import list_users

    for user in list_users(ws, PageRequest(limit=500)).items:
        if user.role == Role.ADMIN:
            return Actor(user.id, user.email, user.role, user.name)
    raise RuntimeError("the demo needs an admin user (dataops serve creates one)")
