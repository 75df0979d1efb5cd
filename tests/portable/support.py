"""Helpers of the portable-export tests: a workspace holding every entity kind (built
through the services, as users build it), and an editor for exports on disk that can
tamper with one thing while keeping everything else consistent."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops.demo import load_demo
from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts, parse_ts
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    FileCategory,
    ProofType,
    ReviewPolicy,
    Role,
    SourceType,
    TaskStatus,
)
from dataops.domain.errors import ProofMissing
from dataops.domain.models import (
    BundleLink,
    FileRecord,
    Phase,
    ProofRequirement,
    Reference,
    TaskDefinition,
)
from dataops.domain.status import ReviewAction
from dataops.portable.format import MANIFEST, SPECS, canonical_line
from dataops.services import (
    artifact_reads,
    artifact_review,
    artifacts,
    auth,
    files,
    people,
    recurring,
    recurring_pass,
    tasks,
    workflow,
)
from dataops.services import settings as workspace_settings
from dataops.services.context import Workspace
from dataops.store.port import Filters, MetadataStore, PageRequest
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

LEGACY_PATH = "\\uploads\\legacy\\proof.txt"
LEGACY_URI = "local-dev://uploads/legacy/proof.txt"


@dataclass
class Rich:
    """IDs of the interesting records of the rich workspace."""

    admin: str
    operator: str
    viewer: str
    bundle: str
    url_task: str
    file_task: str
    artifact_task: str
    waiting_task: str
    blocked_task: str
    proof_artifact: str
    stale_ref_task: str
    stale_ref_artifact: str
    legacy_file: str
    session_hash: str
    token_hash: str


def _admin(ws: Workspace) -> Actor:
    for user in people.list_users(ws, PageRequest(limit=500)).items:
        if user.email == ADMIN_EMAIL:
            return Actor(user.id, user.email, user.role, user.name)
    raise AssertionError("no admin")


def build_rich_workspace(ws: Workspace) -> Rich:
    """Demo workflow plus every proof kind, review states, a superseded chain, notes,
    a legacy file, users with sessions and tokens (which must never be exported)."""
    load_demo(ws)
    admin = _admin(ws)
    system = people.SYSTEM
    operator = people.add_user(ws, system, "op@example.com", "Operator", Role.OPERATOR, PASSWORD)
    viewer = people.add_user(ws, system, "viewer@example.com", "Viewer", Role.VIEWER, PASSWORD)
    token, _secret = auth.create_token(ws, system, "op@example.com", "assistant")
    session = auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    template = workflow.create_template(
        ws,
        admin,
        {
            "name": "Event",
            "type": "event",
            "default_assignee_id": operator.id,
            "phases": [Phase("plan", "Planning", "planning")],
            "references": [Reference("Guide", "https://example.com/guide")],
            "bundle_link_definitions": [BundleLink("Page", "https://example.com/page")],
            "task_definitions": [
                TaskDefinition(
                    "venue",
                    "Book the venue",
                    -30,
                    assignee_id=operator.id,
                    instructions_url="https://example.com/how",
                    systems=["notion"],
                    validation={"rule": "venue-confirmed", "checks": [{"kind": "email"}]},
                    tags=["venue"],
                    phase="plan",
                ),
            ],
            "tags": ["events"],
        },
    )
    bundle, _ = workflow.instantiate_template(ws, admin, template.id, "Meetup", "2025-06-01")
    url_task = tasks.create_task(
        ws,
        admin,
        {
            "description": "Publish the page",
            "date": "2025-05-20",
            "proof_requirement": ProofRequirement(ProofType.URL, "Page URL"),
            "bundle_id": bundle.id,
            "assignee_id": operator.id,
        },
    )
    tasks.update_task(
        ws, admin, url_task.id, {"status": TaskStatus.DONE, "link": "https://example.com/p"}, None
    )
    waiting = tasks.create_task(
        ws,
        admin,
        {
            "description": "Wait for the sponsor",
            "date": "2025-05-21",
            "status": TaskStatus.WAITING,
            "waiting_for": "Sponsor",
            "follow_up_at": "2025-05-25T09:00:00.000Z",
            "assistant_job_refs": [{"assistantJobId": "job-77", "note": "drafted the email"}],
        },
    )
    file_task = tasks.create_task(
        ws,
        admin,
        {"description": "Upload the contract", "date": "2025-05-22", "requires_file": True},
    )
    kept = files.register_file(
        ws,
        admin,
        {
            "storage_uri": "https://www.dropbox.com/scl/fi/abc/contract.pdf?rlkey=x&dl=0",
            "filename": "contract.pdf",
            "task_id": file_task.id,
            "category": FileCategory.DOCUMENT,
        },
    )
    files.upload_file(
        ws,
        admin,
        files.Upload("photo.txt", "text/plain", io.BytesIO(b"bytes"), file_task.id),
    )
    tasks.update_task(ws, admin, file_task.id, {"status": TaskStatus.DONE}, None)
    artifact_task = tasks.create_task(
        ws,
        admin,
        {
            "description": "Approve the report",
            "date": "2025-05-23",
            "bundle_id": bundle.id,
            "proof_requirement": ProofRequirement(
                ProofType.ARTIFACT, artifact_type=ArtifactType.REPORT
            ),
        },
    )
    report = b"%PDF-1.7 report v1\n"
    stored = ws.blobs.put(
        "reports/v1", io.BytesIO(report), content_type="application/pdf", max_bytes=len(report)
    )
    proof = artifacts.register_artifact(
        ws,
        admin,
        {
            "type": ArtifactType.REPORT,
            "title": "Report v1",
            "storage_uri": stored.uri,  # DataOps-owned: checksum and size are the object's
            "checksum": stored.checksum,
            "size_bytes": stored.size_bytes,
            "status": ArtifactStatus.APPROVED,
            "task_id": artifact_task.id,
            "file_id": kept.id,
            "assistant_job_id": "job-77",
            "source_type": SourceType.ASSISTANT_OUTPUT,
            "tags": ["report"],
            "metadata": {"model": "m-1", "usage": {"tokenCount": 12}, "steps": [{"n": 1}]},
        },
    )
    tasks.update_task(ws, admin, artifact_task.id, {"status": TaskStatus.DONE}, None)
    successor = artifacts.register_artifact(
        ws,
        admin,
        {
            "type": ArtifactType.REPORT,
            "title": "Report v2",
            "storage_uri": "https://example.com/reports/v2",
            "status": ArtifactStatus.APPROVED,
            "bundle_id": bundle.id,
        },
    )
    artifact_review.review_artifact(
        ws, admin, proof.id, ReviewAction.SUPERSEDE, superseded_by=successor.id
    )  # the artifact task's completion proof is withdrawn: valid history all the same
    second = Actor(operator.id, operator.email, operator.role)
    artifact_review.review_artifact(ws, second, successor.id, ReviewAction.APPROVE)  # 2 approvals
    artifacts.update_artifact(ws, admin, successor.id, {"valid_until": "2099-12-31"}, None)

    archived = artifacts.register_artifact(
        ws,
        admin,
        {"type": ArtifactType.OTHER, "title": "Old notes", "storage_uri": "https://example.com/n"},
    )
    artifact_review.review_artifact(ws, admin, archived.id, ReviewAction.ARCHIVE)
    blocked = tasks.create_task(
        ws,
        admin,
        {
            "description": "Write the recap",
            "date": "2025-06-02",
            "proof_requirement": ProofRequirement(ProofType.COMMENT),
            "assignee_id": viewer.id,
        },
    )
    with contextlib.suppress(ProofMissing):  # leaves a missing-evidence notification
        tasks.update_task(ws, admin, blocked.id, {"status": TaskStatus.DONE}, None)
    demo_tasks = tasks.list_tasks(ws, {}, PageRequest(limit=500)).items
    record = next(t for t in demo_tasks if t.template_task_ref == "record")
    tasks.update_task(
        ws, admin, record.id, {"status": TaskStatus.DONE, "external_status": "recorded"}, None
    )  # stage change + notification
    reader = Actor(viewer.id, viewer.email, viewer.role)
    inbox = people.list_notifications(ws, reader, PageRequest())
    people.dismiss_notification(ws, reader, inbox.items[0].id)  # one's own only
    transcript_task = next(t for t in demo_tasks if t.template_task_ref == "transcript")
    transcript = artifact_reads.list_artifacts(
        ws, {"task_id": transcript_task.id}, PageRequest(limit=10)
    ).items[0]
    artifact_review.review_artifact(
        ws, admin, transcript.id, ReviewAction.APPROVE
    )  # ref goes stale
    legacy = FileRecord(
        id=new_id("fil"),
        filename="legacy-proof.txt",
        created_at=now_ts(),
        task_id=file_task.id,
        category=FileCategory.IMAGE,
        storage_path=LEGACY_PATH,
    )
    with ws.store.unit_of_work(write=True) as uow:
        uow.files.add(legacy)
        uow.commit()
    workspace_settings.update_settings(ws, admin, {"review_policy": ReviewPolicy.INDEPENDENT}, None)
    monthly = recurring.create_config(
        ws,
        admin,
        {
            "template_id": template.id,
            "title": "Meetup {n} ({date})",
            "rrule": "FREQ=MONTHLY;BYDAY=-1FR",
            "timezone": "Europe/Berlin",
            "start_date": "2025-01-01",
            "lead_days": 14,
            "assignee_id": operator.id,
        },
    )
    recurring.skip_occurrence(ws, admin, monthly.id, "2025-02-28", None)
    recurring_pass.run_due(ws, parse_ts("2025-03-20T09:00:00Z"))  # January and March
    return Rich(
        admin=admin.id,
        operator=operator.id,
        viewer=viewer.id,
        bundle=bundle.id,
        url_task=url_task.id,
        file_task=file_task.id,
        artifact_task=artifact_task.id,
        waiting_task=waiting.id,
        blocked_task=blocked.id,
        proof_artifact=proof.id,
        stale_ref_task=transcript_task.id,
        stale_ref_artifact=transcript.id,
        legacy_file=legacy.id,
        session_hash=auth.secret_hash(session.token),
        token_hash=token.token_hash,
    )


def password_hashes(ws: Workspace) -> list[str]:
    with ws.store.unit_of_work() as uow:
        users = uow.users.find(Filters(), PageRequest(limit=500)).items
        return [c.password_hash for c in uow.credentials.get_many([u.id for u in users])]


def copy_export(source: Path, target: Path) -> ExportDir:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return ExportDir(target)


class ExportDir:
    """An export directory to inspect and tamper with."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / MANIFEST).read_text())
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        (self.root / MANIFEST).write_text(json.dumps(manifest, indent=2))

    def path(self, entity: str) -> Path:
        return self.root / SPECS[entity].file_name

    def lines(self, entity: str) -> list[str]:
        return self.path(entity).read_text().split("\n")[:-1]

    def records(self, entity: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(entity)]

    def find(self, entity: str, record_id: str) -> tuple[int, dict[str, Any]]:
        """(1-based line, record) of the record with that id."""
        id_field = SPECS[entity].id_field
        for number, record in enumerate(self.records(entity), start=1):
            if record[id_field] == record_id:
                return number, record
        raise KeyError(record_id)

    def write_lines(self, entity: str, lines: list[str], *, reseal: bool = True) -> None:
        self.path(entity).write_text("".join(line + "\n" for line in lines))
        if reseal:
            self.reseal(entity)

    def write_records(self, entity: str, records: list[dict[str, Any]], **kw: bool) -> None:
        self.write_lines(entity, [canonical_line(r) for r in records], **kw)

    def edit(self, entity: str, record_id: str, **changes: Any) -> int:
        """Change fields of one record (None removes a field), keeping checksum and count
        right so only the intended problem shows; returns its line."""
        records = self.records(entity)
        line, _ = self.find(entity, record_id)
        record = records[line - 1]
        for key, value in changes.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        self.write_records(entity, records)
        return line

    def reseal(self, entity: str) -> None:
        """Make the manifest's count and checksum match the file again."""
        manifest = self.manifest()
        data = self.path(entity).read_bytes()
        manifest["checksums"][SPECS[entity].file_name] = (
            "sha256:" + hashlib.sha256(data).hexdigest()
        )
        manifest["entity_counts"][entity] = len(data.splitlines())
        self.write_manifest(manifest)


class HookedStore:
    """A store whose read units of work run `on_stored(entity)` as each `stored` read
    has begun (on SQLite the unit's snapshot is then taken) and `before_many(entity)`
    before each `stored_many` read: a write racing the export, a failing disk...;
    everything else is the real store's."""

    def __init__(
        self,
        store: MetadataStore,
        on_stored: Callable[[str], None] | None = None,
        before_many: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self.name = store.name
        self.snapshot_reads = store.snapshot_reads
        self._on_stored = on_stored
        self._before_many = before_many

    def unit_of_work(self, *, write: bool = False) -> Any:
        uow = self._store.unit_of_work(write=write)
        outer = self

        class Hooked:
            def __enter__(self) -> Any:
                opened = uow.__enter__()
                real_stored, real_many = opened.stored, opened.stored_many

                def stored(entity: str, batch_size: int = 500) -> Any:
                    result = real_stored(entity, batch_size)
                    if outer._on_stored is not None:
                        outer._on_stored(entity)
                    return result

                def stored_many(entity: str, keys: Any) -> Any:
                    if outer._before_many is not None:
                        outer._before_many(entity)
                    return real_many(entity, keys)

                opened.stored, opened.stored_many = stored, stored_many
                return opened

            def __exit__(self, *exc: Any) -> None:
                uow.__exit__(*exc)

        return Hooked()

    def is_empty(self) -> bool:
        return self._store.is_empty()

    def close(self) -> None:
        pass
