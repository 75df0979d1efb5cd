"""Record builders for the store contract suites: valid entities with explicit IDs, so
tests can reason about the stable order (by `id`; tasks by `date`, then `id`)."""

from __future__ import annotations

from dataops.domain.accounts import (
    ApiToken,
    Credential,
    IdempotencyRecord,
    LoginThrottle,
    Session,
    User,
    WorkspaceSettings,
)
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    BundleStatus,
    EntityType,
    NotificationType,
    ProofType,
    ReviewPolicy,
    Role,
    StorageProvider,
    TaskStatus,
    UploadStatus,
)
from dataops.domain.messages import AuditEvent, Notification, OutboxMessage, Webhook
from dataops.domain.models import (
    Artifact,
    ArtifactRef,
    Bundle,
    BundleLink,
    FileRecord,
    Phase,
    ProofRequirement,
    RecurringConfig,
    Task,
    TaskDefinition,
    Template,
    Upload,
)

STAMP = "2025-01-02T03:04:05.000Z"


def artifact(
    record_id: str,
    *,
    task_id: str | None = None,
    bundle_id: str | None = None,
    assistant_job_id: str | None = None,
    file_id: str | None = None,
    status: ArtifactStatus = ArtifactStatus.DRAFT,
    type: ArtifactType = ArtifactType.REPORT,
    title: str = "A report",
    storage_uri: str | None = None,
    created_by: str | None = None,
) -> Artifact:
    return Artifact(
        id=record_id,
        type=type,
        title=title,
        storage_uri=storage_uri or f"https://example.org/{record_id}",
        storage_provider=StorageProvider.EXTERNAL_URL,
        created_at=STAMP,
        updated_at=STAMP,
        status=status,
        task_id=task_id,
        bundle_id=bundle_id,
        assistant_job_id=assistant_job_id,
        file_id=file_id,
        created_by=created_by,
        tags=["contract"],
        metadata={"pages": 3, "nested": {"list": [1, "two", None]}},
    )


def task(
    record_id: str,
    *,
    date: str = "2025-01-01",
    bundle_id: str | None = None,
    status: TaskStatus = TaskStatus.TODO,
    assignee_id: str | None = None,
    completed_by: str | None = None,
    proof_withdrawn: bool = False,
) -> Task:
    return Task(
        id=record_id,
        description=f"Task {record_id}",
        date=date,
        created_at=STAMP,
        updated_at=STAMP,
        status=status,
        bundle_id=bundle_id,
        assignee_id=assignee_id,
        completed_by=completed_by,
        proof_withdrawn=proof_withdrawn,
        proof_requirement=ProofRequirement(ProofType.ARTIFACT, artifact_type=ArtifactType.REPORT),
        artifact_refs=[ArtifactRef("art_ref", ArtifactType.REPORT, "Ref", None, None)],
        systems=["crm"],
    )


def bundle(
    record_id: str,
    *,
    status: BundleStatus = BundleStatus.ACTIVE,
    template_id: str | None = None,
    recurring_config_id: str | None = None,
    occurrence_date: str | None = None,
) -> Bundle:
    return Bundle(
        id=record_id,
        title=f"Bundle {record_id}",
        created_at=STAMP,
        updated_at=STAMP,
        status=status,
        template_id=template_id,
        bundle_links=[BundleLink("Episode", "https://example.org/ep")],
        recurring_config_id=recurring_config_id,
        occurrence_date=occurrence_date,
    )


def template(record_id: str) -> Template:
    return Template(
        id=record_id,
        name=f"Template {record_id}",
        created_at=STAMP,
        updated_at=STAMP,
        phases=[Phase("p1", "Prepare", "prep")],
        task_definitions=[
            TaskDefinition("t1", "Record", offset_days=-3, requires_file=True),
        ],
    )


def file_record(
    record_id: str,
    *,
    task_id: str | None = None,
    bundle_id: str | None = None,
    storage_uri: str | None = None,
    storage_path: str | None = None,
) -> FileRecord:
    """A registered file; `storage_path` alone makes a legacy record (no URI)."""
    uri = storage_uri or (None if storage_path else f"https://example.org/{record_id}.pdf")
    return FileRecord(
        id=record_id,
        filename=f"{record_id}.pdf",
        created_at=STAMP,
        task_id=task_id,
        bundle_id=bundle_id,
        storage_provider=StorageProvider.EXTERNAL_URL if uri else None,
        storage_uri=uri,
        storage_path=storage_path,
        size_bytes=12,
    )


def audit_event(record_id: str, *, entity_type: EntityType, entity_id: str) -> AuditEvent:
    return AuditEvent(
        id=record_id,
        entity_type=entity_type,
        entity_id=entity_id,
        action="update",
        created_at=STAMP,
        actor_id="usr_1",
        before={"title": "old"},
        after={"title": "new"},
    )


def notification(
    record_id: str,
    *,
    user_id: str | None = None,
    task_id: str | None = None,
    read_at: str | None = None,
    dismissed: bool = False,
    dedupe_key: str | None = None,
) -> Notification:
    return Notification(
        id=record_id,
        type=NotificationType.TASK_DUE,
        message="Due today",
        created_at=STAMP,
        user_id=user_id,
        task_id=task_id,
        read_at=read_at,
        dismissed=dismissed,
        dedupe_key=dedupe_key,
    )


def user(record_id: str, *, email: str | None = None, role: Role = Role.OPERATOR) -> User:
    return User(
        id=record_id,
        email=email or f"{record_id}@example.com",
        name=f"User {record_id}",
        role=role,
        created_at=STAMP,
    )


def credential(user_id: str) -> Credential:
    return Credential(user_id=user_id, password_hash="$argon2id$not-a-real-hash", updated_at=STAMP)


def session(
    record_id: str, *, user_id: str, expires_at: str = "2025-01-03T03:04:05.000Z"
) -> Session:
    return Session(id=record_id, user_id=user_id, created_at=STAMP, expires_at=expires_at)


def _subsets(columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [
        tuple(c for i, c in enumerate(columns) if mask & (1 << i))
        for mask in range(1, 1 << len(columns))
    ]


ARTIFACT_FILTERS = ("task_id", "bundle_id", "assistant_job_id", "file_id", "status", "type")
TASK_FILTERS = ("bundle_id", "status", "date", "assignee_id")

ENGINE_FILTERS: dict[str, list[tuple[str, ...]]] = {
    # Every combination the HTTP API accepts, the lookups the services make, and () where
    # a list route or the export pages through the entity without a filter.
    # storage_uri / location: the blob sweeper's "does any record name this object?"
    # valid_until + status: the expiring-evidence list, one equality query per day.
    # created_by + status, assignee_id + open_key, completed_by + withdrawn_key: my work
    "artifacts": [
        (),
        *_subsets(ARTIFACT_FILTERS),
        ("storage_uri",),
        ("valid_until",),
        ("valid_until", "status"),
        ("created_by", "status"),
    ],
    "tasks": [
        (),
        *_subsets(TASK_FILTERS),
        ("assignee_id", "open_key"),
        ("completed_by", "withdrawn_key"),
    ],
    "files": [(), ("task_id",), ("bundle_id",), ("task_id", "bundle_id"), ("location",)],
    "bundles": [(), *_subsets(("status", "template_id", "recurring_config_id"))],
    # the API list (not deleted, by template) and the runner's pass (enabled ones)
    "recurring_configs": [("listed_key",), ("listed_key", "template_id"), ("enabled_key",)],
    "audit_events": [(), ("entity_type",), ("entity_type", "entity_id")],
    # the inbox (all, unread) and the dedupe lookup of every notification made
    "notifications": [(), ("user_id",), ("task_id",), ("user_id", "unread_key"), ("dedupe_key",)],
    "users": [(), ("email",), ("role",)],  # role: reviewers, operators to fall back to
    "templates": [()],
    "api_tokens": [("token_hash",), ("user_id",)],
    "uploads": [("status",)],  # the sweep: pending uploads, soonest expiry first
}
"""Filter combinations (snake_case columns) the engine can issue, per entity."""

STABLE_ORDER: dict[str, tuple[str, ...]] = {
    "tasks": ("date", "id"),
    "uploads": ("expires_at", "id"),
    "credentials": ("user_id",),
}
"""The order `find` returns records in, where it is not simply by `id`."""
"""Filter combinations (snake_case columns) the engine can issue, per entity."""


def api_token(record_id: str, *, user_id: str, token_hash: str | None = None) -> ApiToken:
    return ApiToken(
        id=record_id,
        user_id=user_id,
        name=f"Token {record_id}",
        token_hash=token_hash or f"{record_id:0>64}"[-64:],
        created_at=STAMP,
    )


def upload(
    record_id: str,
    *,
    status: UploadStatus = UploadStatus.PENDING,
    expires_at: str = "2025-01-02T03:09:05.000Z",
) -> Upload:
    return Upload(
        id=record_id,
        key=f"uploads/{record_id}",
        filename="clip.mp3",
        content_type="audio/mpeg",
        size_bytes=1234,
        checksum="sha256:" + "c" * 64,
        created_at=STAMP,
        expires_at=expires_at,
        status=status,
        task_id="tsk_1",
    )


def idempotency(
    record_id: str, *, expires_at: str = "2025-01-03T03:04:05.000Z"
) -> IdempotencyRecord:
    return IdempotencyRecord(
        id=record_id,
        request_hash="d" * 64,
        result_id="art_1",
        result={"id": "art_1", "status": "draft", "tags": ["a"]},
        created_at=STAMP,
        expires_at=expires_at,
    )


def login_throttle(
    record_id: str, *, expires_at: str = "2025-01-03T03:04:05.000Z"
) -> LoginThrottle:
    return LoginThrottle(
        id=record_id,
        failures=["2025-01-02T03:04:05.000Z", "2025-01-02T03:05:05.000Z"],
        expires_at=expires_at,
    )


def settings(record_id: str = "workspace") -> WorkspaceSettings:
    return WorkspaceSettings(
        id=record_id,
        updated_at=STAMP,
        review_policy=ReviewPolicy.INDEPENDENT,
        expiry_swept_through="2025-01-01",
        updated_by="usr_1",
    )


def recurring_config(
    record_id: str,
    *,
    template_id: str = "tpl_1",
    enabled: bool = True,
    deleted_at: str | None = None,
) -> RecurringConfig:
    return RecurringConfig(
        id=record_id,
        template_id=template_id,
        title="Episode {n} ({date})",
        start_date="2025-01-07",
        created_at=STAMP,
        updated_at=STAMP,
        rrule="FREQ=WEEKLY;BYDAY=TU",
        timezone="Europe/Berlin",
        end_date="2026-12-31",
        lead_days=3,
        assignee_id="usr_1",
        enabled=enabled,
        skipped_dates=["2025-01-14"],
        last_occurrence_date="2025-01-07",
        occurrence_count=1,
        deleted_at=deleted_at,
    )


def webhook(record_id: str) -> Webhook:
    return Webhook(
        id=record_id,
        url="https://hooks.example.com/dataops",
        events=["artifact.created", "bundle.created"],
        secret="whsec_" + "A" * 43,
        created_at=STAMP,
        updated_at=STAMP,
        description="the team's receiver",
    )


def outbox_message(record_id: str, *, target_id: str = "whk_1") -> OutboxMessage:
    return OutboxMessage(
        id=record_id,
        channel="webhook",
        target_id=target_id,
        event_type="bundle.created",
        body='{"type":"bundle.created","timestamp":"2025-01-02T03:04:05.000Z","data":{}}',
        created_at=STAMP,
        next_attempt_at=STAMP,
        give_up_at="2025-01-03T03:04:05.000Z",
    )
