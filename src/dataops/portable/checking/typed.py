"""The validator's typed pre-filter: msgspec decodes a line of a large entity file into a
`Struct` that holds the entity's export shape (types, enum values, required fields, no
unknown field) and the field rules a schema can say (lengths, blank text, calendar
dates, strict timestamps); `prove` then runs the rule functions that need Python (storage
URIs, links, checksums, metadata, secret-like keys) on the decoded values.

It only ever says "clean": a line it cannot prove (any decode error, a rare shape such as
a waiting task, a string that may hold a secret) goes to the rule code of `checks`,
which gives every message. Where a `Struct` is stricter than the rules (timestamps in
their common form, no leap day, empty lists for rarely used nested parts), a valid line
only takes the slower path. The Structs are held to `schema.py`'s fields and enums at
import (`_held_to_schema`), and tests/portable/test_validate_fast.py runs both paths over
golden and generated exports, demanding identical reports.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from dataops.domain.enums import (
    OWNED_PROVIDERS,
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
from dataops.domain.policy import (
    MAX_DEPTH,
    MAX_METADATA_BYTES,
    MAX_URI_LENGTH,
    check_checksum,
    check_link,
    check_metadata,
    check_storage_uri,
    json_size,
    provider_conflict,
)
from dataops.domain.rules import MAX_TAG, MAX_TAGS, MAX_TEXT, MAX_TITLE, content_type_errors
from dataops.domain.secret_scan import is_secret_key, may_hold_secret, text_known_clean
from dataops.domain.status import REVIEWED
from dataops.portable.checking.checks import (
    TIMESTAMPS,
    collect_strings,
    has_secret_key,
    secret_value,
)
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
    after: dict[str, Any] | None = None
    before: dict[str, Any] | None = None


_SEGMENT = r"(?!\.\.(?:/|\Z))[A-Za-z0-9._~-]+"
_COMMON_URI = re.compile(
    rf"(?P<scheme>https?)://(?P<host>[a-z0-9][a-z0-9.-]*)(?:/[A-Za-z0-9._~/-]*)?"
    rf"|(?P<s3>s3)://[a-z0-9][a-z0-9.-]*/[A-Za-z0-9._~/-]+"
    rf"|(?P<local>local-dev)://{_SEGMENT}(?:/{_SEGMENT})*"
)
"""URIs in their common form, which `check_storage_uri` accepts on a line free of secret
candidates (no signed-URL marker, user information or parameter can be in it): an
allowed lower-case scheme, a lower-case host (its `hostname`), a path of plain characters
(no space, query, fragment or escape); local-dev keys relative, without `..`."""


@functools.lru_cache(maxsize=1024)
def _conflict(scheme: str, host: str, provider: str) -> bool:
    """`provider_conflict` depends on the URI's scheme and host only (`infer_provider`)."""
    return provider_conflict(f"{scheme}://{host}/", StorageProvider(provider)) is not None


def _ok_uri(uri: str, provider: str | None) -> bool:
    """The storage URI passes the storage policy and does not contradict its provider
    (on a line free of secret candidates)."""
    common = _COMMON_URI.fullmatch(uri) if len(uri) <= MAX_URI_LENGTH else None
    if common is None:
        if check_storage_uri(uri):
            return False
        return provider is None or provider_conflict(uri, StorageProvider(provider)) is None
    scheme = common["scheme"] or common["s3"] or common["local"]
    return provider is None or not _conflict(scheme, common["host"] or "", provider)


def _ok_checksum(checksum: str | None, provider: str | None, owned_needs_it: bool) -> bool:
    if checksum is not None:
        return not check_checksum(checksum)
    return not (
        owned_needs_it and provider is not None and StorageProvider(provider) in OWNED_PROVIDERS
    )


def _blank(tags: list[str]) -> bool:
    """Whether a tag is blank (each is at least one character)."""
    return any(map(str.isspace, tags))


_WAITING = TaskStatus.WAITING.value
_DONE = TaskStatus.DONE.value
_ARTIFACT = ProofType.ARTIFACT.value


def _ok_task(task: Task, clean: bool, keys: bool) -> bool:
    if not clean or not task.task_id.strip() or task.status == _WAITING:
        return False
    if task.description.isspace() or (task.tags and _blank(task.tags)):
        return False
    if task.link is not None and task.link.strip() and check_link(task.link, "link"):
        return False
    if task.instructions_url is not None and check_link(task.instructions_url, "url"):
        return False
    requirement = task.proof_requirement
    if requirement is not None and requirement.type != _ARTIFACT:
        if requirement.artifactType is not None or requirement.approvals != 1:
            return False
        if requirement.independentReview:
            return False
    if task.completion_proof is not None:
        for verdict in task.completion_proof:
            by = verdict.satisfiedBy
            if by and not keys and has_secret_key(by):
                return False
            if not verdict.satisfied and task.status == _DONE:
                return False
    # A done task without a recorded proof needs the live proof rule: the rule code.
    return task.status != _DONE or bool(task.completion_proof)


def _ok_metadata(metadata: dict[str, Any], raw: bytes, keys: bool) -> bool:
    """`check_metadata` finds nothing, on a line free of secret candidates: it nests at
    most `MAX_DEPTH` levels (at most as many as the line opens objects and arrays), is
    small enough, and no key is secret-like; else `check_metadata` itself decides."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        if json_size(metadata) > MAX_METADATA_BYTES:
            return False
        return keys or not has_secret_key(metadata)
    with text_known_clean():  # (the line holds no secret candidate)
        return not check_metadata(metadata)


def _ok_artifact(artifact: Artifact, clean: bool, raw: bytes, keys: bool) -> bool:
    if not clean or not artifact.artifact_id.strip() or artifact.title.isspace():
        return False
    if artifact.tags and _blank(artifact.tags):
        return False
    if artifact.content_type is not None and content_type_errors(artifact.content_type):
        return False
    if artifact.status in _REVIEWED and artifact.reviewed_at is None:
        return False
    if artifact.metadata and not _ok_metadata(artifact.metadata, raw, keys):
        return False
    return _ok_uri(artifact.storage_uri, artifact.storage_provider) and _ok_checksum(
        artifact.checksum, artifact.storage_provider, owned_needs_it=True
    )


def _ok_file(record: File, clean: bool) -> bool:
    if not clean or not record.file_id.strip() or record.filename.isspace():
        return False
    if record.tags and _blank(record.tags):
        return False
    if record.content_type is not None and content_type_errors(record.content_type):
        return False
    return _ok_uri(record.storage_uri, record.storage_provider) and _ok_checksum(
        record.checksum, record.storage_provider, owned_needs_it=record.storage_path is None
    )


def _ok_bundle(bundle: Bundle, clean: bool) -> bool:
    if not clean or not bundle.bundle_id.strip() or bundle.title.isspace():
        return False
    return not (bundle.tags and _blank(bundle.tags))


def _strings_clean(record: Struct, raw: bytes) -> bool:
    """For an entity without field rules, on a line that may hold a secret: no string of
    the record is flagged (`checks.secret_value`, the redaction scan's own test)."""
    if b"\\u" in raw:
        return False  # (an escape may spell a lone surrogate: the rule code reads it)
    strings: list[str] = []
    for name in record.__struct_fields__:
        collect_strings(getattr(record, name), strings)
    # A string `may_hold_secret` clears cannot be flagged: only the others are scanned.
    return not any(
        secret_value(text)
        for text in strings
        if may_hold_secret(text.encode("utf-8", "surrogatepass"))
    )


def _ok_notification(notification: Notification, clean: bool, raw: bytes, keys: bool) -> bool:
    if not notification.notification_id.strip():
        return False
    return clean or _strings_clean(notification, raw)


def _ok_audit_event(event: AuditEvent, clean: bool, raw: bytes, keys: bool) -> bool:
    if not event.audit_event_id.strip():
        return False
    for side, state in (("after", event.after), ("before", event.before)):
        if state is None:
            continue
        if not keys and has_secret_key(state):
            return False
        if "metadata" in state and check_metadata(state["metadata"], f"{side}.metadata"):
            return False
    return clean or _strings_clean(event, raw)


_REVIEWED = frozenset(status.value for status in REVIEWED)
_STRUCTS: dict[str, type[Struct]] = {
    "tasks": Task,
    "artifacts": Artifact,
    "files": File,
    "bundles": Bundle,
    "notifications": Notification,
    "audit_events": AuditEvent,
}
_PROVERS: dict[str, Callable[[Any, bool, bytes, bool], bool]] = {
    "tasks": lambda record, clean, raw, keys: _ok_task(record, clean, keys),
    "artifacts": _ok_artifact,
    "files": lambda record, clean, raw, keys: _ok_file(record, clean),
    "bundles": lambda record, clean, raw, keys: _ok_bundle(record, clean),
    "notifications": _ok_notification,
    "audit_events": _ok_audit_event,
}
TYPED = frozenset(_STRUCTS)
_TIMESTAMPS = frozenset(TIMESTAMPS)
"""The entities whose lines the pre-filter reads (the large ones)."""


class Prover:
    """Decode and prove one entity's lines."""

    def __init__(self, entity: str) -> None:
        cls = _STRUCTS[entity]
        self._decode = msgspec.json.Decoder(cls).decode
        self._prove = _PROVERS[entity]
        self._times = [name for name in cls.__struct_fields__ if name in _TIMESTAMPS]

    def __call__(self, raw: bytes, clean: bool, keys: bool = False) -> Any:
        """The decoded record when the line is proven free of problems, else None.
        `clean`: the line holds no secret candidate (`may_hold_secret` False); `keys`:
        no key of it can be secret-like (`flags.SECRET_KEY_WORDS` finds nothing)."""
        try:
            record = self._decode(raw)
        except Exception:
            return None  # (ValidationError, DecodeError, OverflowError of a far date...)
        for name in self._times:
            value = getattr(record, name)
            if value is not None and not 1 < value.year < 9999:
                return None  # (an offset may take it past the first or last UTC day)
        return record if self._prove(record, clean, raw, keys) else None


def _fields(cls: type[Struct]) -> Iterator[tuple[str, bool]]:
    """(name, required) of each field of `cls`."""
    required = len(cls.__struct_fields__) - len(cls.__struct_defaults__)
    for index, name in enumerate(cls.__struct_fields__):
        yield name, index < required


def _held_to_schema() -> None:
    """Every Struct names only fields of its entity, requires every required one, and no
    field name is secret-like (the redaction scan's keys are then the free-form ones)."""
    for entity, cls in _STRUCTS.items():
        spec = SPECS[entity]
        names = dict(_fields(cls))
        unknown = set(names) - known_fields(spec)
        missing = {name for name in required_fields(spec) if not names.get(name)}
        secret = [name for name in names if is_secret_key(name)]
        if unknown or missing or secret:  # pragma: no cover - a programming error
            raise AssertionError(f"typed {entity}: {unknown=} {missing=} {secret=}")


_held_to_schema()
