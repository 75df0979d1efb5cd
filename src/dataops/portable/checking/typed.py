"""The validator's typed pre-filter: msgspec decodes a line of a large entity file into a
`Struct` that holds the entity's export shape (types, enum values, required fields, no
unknown field) and the field rules a schema can say (lengths, calendar dates, RFC 3339
timestamps read in C); `provers` then runs the rule functions that need Python (storage
URIs, links, checksums, blank text, metadata, secret-like keys) on the decoded values.

It only ever says "clean": a line it cannot prove (any decode error, a rare shape such as
a waiting task, a string that may hold a secret) goes to the rule code of `checks`,
which gives every message. Where a `Struct` is stricter than the rules (empty lists for
rarely used nested parts, a follow-up date's leap day), a valid line only takes the
slower path. The Structs are held to `schema.py`'s fields at import
(`_held_to_schema`); tests/portable/test_validate_typed.py holds the pre-filter to the
rule code line by line and test_validate_differential.py compares the two paths' reports
on golden and generated exports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any, Literal

from msgspec import Meta, Raw, Struct

from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    BundleStatus,
    DataClass,
    EntityType,
    FileCategory,
    NotificationType,
    ProofType,
    SourceType,
    StorageProvider,
    TaskStatus,
)
from dataops.domain.rules import MAX_TAG, MAX_TAGS, MAX_TEXT, MAX_TITLE
from dataops.domain.secret_scan import is_secret_key
from dataops.portable.format import SPECS, known_fields, required_fields


def _literal(enum: type[Enum]) -> Any:
    return Literal[tuple(member.value for member in enum)]


# Dates and timestamps as msgspec reads them in C: a calendar date YYYY-MM-DD, and an
# RFC 3339 timestamp with a zone. `parse_ts` also takes these, but not a lower-case `t`
# or a space between date and time, which msgspec takes: a line holding such a time is
# not decoded here (`flags._ODD_TIME`).
Date = dt.date
Ts = Annotated[dt.datetime, Meta(tz=True)]
DateOrTs = Annotated[
    str,
    Meta(
        pattern=r"^[12]\d{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])"
        r"|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
        r"(?:T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{3}|\.\d{6})?Z)?\Z"
    ),
]
"""A follow-up: a date, or a timestamp in UTC written with `Z` (no leap day)."""
Title = Annotated[str, Meta(min_length=1, max_length=MAX_TITLE)]
"""Required text, at most `MAX_TITLE` (and not blank: `_blank`)."""
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]
ShortText = Annotated[str, Meta(max_length=MAX_TITLE)]
LongText = Annotated[str, Meta(max_length=MAX_TEXT)]
Tags = Annotated[
    list[Annotated[str, Meta(min_length=1, max_length=MAX_TAG)]], Meta(max_length=MAX_TAGS)
]
Empty = Annotated[list[Any], Meta(max_length=0)]
"""A nested list the pre-filter leaves to the rule code when it holds anything."""


NULL = Raw(b"null")
"""A free-form value left undecoded, absent or null."""


class _Shape(Struct, forbid_unknown_fields=True, gc=False):
    pass


class ArtifactRef(_Shape):
    artifactId: str
    type: _literal(ArtifactType) | None = None  # type: ignore[valid-type]
    title: str | None = None
    storageUri: str | None = None
    status: _literal(ArtifactStatus) | None = None  # type: ignore[valid-type]


class Approval(_Shape):
    userId: str
    at: str


class Verdict(_Shape):
    kind: str
    label: str
    satisfied: bool
    reason: str | None = None
    satisfiedBy: dict[str, Any] | None = None


class ProofRequirement(_Shape):
    type: _literal(ProofType)  # type: ignore[valid-type]
    label: ShortText | None = None
    required: bool = True
    artifactType: _literal(ArtifactType) | None = None  # type: ignore[valid-type]
    independentReview: bool = False
    approvals: Annotated[int, Meta(ge=1, le=5)] = 1


class Task(_Shape):
    task_id: str
    description: Text
    date: Date
    created_at: Ts
    updated_at: Ts
    status: _literal(TaskStatus) = TaskStatus.TODO.value  # type: ignore[valid-type]
    assignee_id: str | None = None
    bundle_id: str | None = None
    template_id: str | None = None
    completed_at: Ts | None = None
    completed_by: str | None = None
    completion_proof: list[Verdict] | None = None
    comment: LongText | None = None
    waiting_for: ShortText | None = None
    follow_up_at: DateOrTs | None = None
    external_status: ShortText | None = None
    required_link_name: ShortText | None = None
    link: str | None = None
    instructions_url: str | None = None
    instruction_doc_id: str | None = None
    instruction_step_id: str | None = None
    phase: str | None = None
    stage_on_complete: str | None = None
    template_task_ref: str | None = None
    proof_expires_on: str | None = None
    proof_blocked: bool = False
    proof_withdrawn: bool = False
    proof_withdrawn_reasons: list[str] = []
    requires_file: bool = False
    systems: list[str] = []
    tags: Tags = []
    artifact_refs: list[ArtifactRef] = []
    assistant_job_refs: Empty = []
    audit_event_refs: Empty = []
    proof_requirement: ProofRequirement | None = None
    validation: None = None
    version: int = 1


class Artifact(_Shape):
    artifact_id: str
    title: Title
    type: _literal(ArtifactType)  # type: ignore[valid-type]
    storage_uri: str
    storage_provider: _literal(StorageProvider)  # type: ignore[valid-type]
    created_at: Ts
    updated_at: Ts
    status: _literal(ArtifactStatus) = ArtifactStatus.DRAFT.value  # type: ignore[valid-type]
    data_class: _literal(DataClass) = DataClass.INTERNAL.value  # type: ignore[valid-type]
    source_type: _literal(SourceType) = SourceType.MANUAL_LINK.value  # type: ignore[valid-type]
    description: LongText | None = None
    filename: ShortText | None = None
    content_type: str | None = None
    review_reason: LongText | None = None
    valid_until: Date | None = None
    checksum: str | None = None
    size_bytes: int | None = None
    metadata: dict[str, Any] | None = None
    reviewed_at: Ts | None = None
    reviewed_by: str | None = None
    self_reviewed: bool = False
    created_by: str | None = None
    task_id: str | None = None
    bundle_id: str | None = None
    file_id: str | None = None
    assistant_job_id: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    tags: Tags = []
    approvals: list[Approval] = []
    version: int = 1


class File(_Shape):
    file_id: str
    filename: Title
    storage_uri: str
    created_at: Ts
    category: _literal(FileCategory) = FileCategory.DOCUMENT.value  # type: ignore[valid-type]
    storage_provider: _literal(StorageProvider) | None = None  # type: ignore[valid-type]
    checksum: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    storage_path: str | None = None
    storage_version: str | None = None
    created_by: str | None = None
    task_id: str | None = None
    bundle_id: str | None = None
    tags: Tags = []


class Bundle(_Shape):
    bundle_id: str
    title: Title
    created_at: Ts
    updated_at: Ts
    status: _literal(BundleStatus) = BundleStatus.ACTIVE.value  # type: ignore[valid-type]
    description: LongText | None = None
    stage: ShortText | None = None
    anchor_date: Date | None = None
    occurrence_date: str | None = None
    recurring_config_id: str | None = None
    template_id: str | None = None
    tags: Tags = []
    artifact_refs: list[ArtifactRef] = []
    bundle_links: Empty = []
    references: Empty = []
    version: int = 1


class Notification(_Shape):
    notification_id: str
    type: _literal(NotificationType)  # type: ignore[valid-type]
    message: str
    created_at: Ts
    due_at: Ts | None = None
    read_at: Ts | None = None
    dismissed: bool = False
    dedupe_key: str | None = None
    user_id: str | None = None
    task_id: str | None = None
    bundle_id: str | None = None
    template_id: str | None = None
    artifact_id: str | None = None
    version: int = 1


class AuditEvent(_Shape):
    audit_event_id: str
    action: str
    entity_id: str
    entity_type: _literal(EntityType)  # type: ignore[valid-type]
    created_at: Ts
    actor_id: str | None = None
    summary: str | None = None
    after: Raw = NULL
    before: Raw = NULL
    """The states stay undecoded JSON (msgspec checks their syntax; `provers` decodes
    one only when a rule needs its values): most audit lines need neither."""


STRUCTS: dict[str, type[Struct]] = {
    "tasks": Task,
    "artifacts": Artifact,
    "files": File,
    "bundles": Bundle,
    "notifications": Notification,
    "audit_events": AuditEvent,
}
TYPED = frozenset(STRUCTS)
"""The entities whose lines the pre-filter reads (the large ones)."""


def _fields(cls: type[Struct]) -> Iterator[tuple[str, bool]]:
    """(name, required) of each field of `cls`."""
    required = len(cls.__struct_fields__) - len(cls.__struct_defaults__)
    for index, name in enumerate(cls.__struct_fields__):
        yield name, index < required


def _held_to_schema() -> None:
    """Every Struct names only fields of its entity, requires every required one, and no
    field name is secret-like (the redaction scan's keys are then the free-form ones)."""
    for entity, cls in STRUCTS.items():
        spec = SPECS[entity]
        names = dict(_fields(cls))
        unknown = set(names) - known_fields(spec)
        missing = {name for name in required_fields(spec) if not names.get(name)}
        secret = [name for name in names if is_secret_key(name)]
        if unknown or missing or secret:  # pragma: no cover - a programming error
            raise AssertionError(f"typed {entity}: {unknown=} {missing=} {secret=}")


_held_to_schema()
