"""Entities of CONTRACT §5 and §5b as plain dataclasses (snake_case in Python,
camelCase on the wire through `codec`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    BundleStatus,
    DataClass,
    FileCategory,
    ProofType,
    SourceType,
    StorageProvider,
    TaskStatus,
    UploadStatus,
)


@dataclass
class ArtifactRef:
    """A lightweight pointer kept on tasks and bundles; the artifact record is the truth."""

    artifact_id: str
    type: ArtifactType | None = None
    title: str | None = None
    storage_uri: str | None = None
    status: ArtifactStatus | None = None


R = TypeVar("R")


def refreshed(
    ref_lists: Sequence[Sequence[R]],
    artifact_id: Callable[[R], Any],
    live: Callable[[list[str]], Mapping[str, R]],
) -> list[list[R]]:
    """Each list of artifact refs (entities or stored dicts) with every ref to an artifact
    `live` finds replaced by that artifact's current ref (type, title, URI, status): the
    API's rule, a ref is a pointer and the artifact record is the truth. `live` is asked
    once, for every distinct ID."""
    wanted = dict.fromkeys(artifact_id(ref) for refs in ref_lists for ref in refs)
    ids = [i for i in wanted if isinstance(i, str)]
    found = live(ids) if ids else {}
    return [[found.get(artifact_id(ref), ref) for ref in refs] for refs in ref_lists]


REFS_PER_READ = 500
"""Artifacts read at once to refresh refs (a bound on one query's parameters)."""


def refresh_artifact_refs(
    holders: Sequence[Task | Bundle], read: Callable[[list[str]], Iterable[Artifact]]
) -> None:
    """Give the holders' refs their artifacts' current values (`refreshed`), reading the
    artifacts with `read` (a repository's `get_many`), `REFS_PER_READ` IDs at a time."""

    def live(ids: list[str]) -> dict[str, ArtifactRef]:
        found: dict[str, ArtifactRef] = {}
        for start in range(0, len(ids), REFS_PER_READ):
            found.update((a.id, a.ref()) for a in read(ids[start : start + REFS_PER_READ]))
        return found

    lists = refreshed([h.artifact_refs for h in holders], _ref_artifact_id, live)
    for holder, refs in zip(holders, lists, strict=True):
        holder.artifact_refs = refs


def _ref_artifact_id(ref: ArtifactRef) -> str:
    return ref.artifact_id


@dataclass
class ProofRequirement:
    type: ProofType
    label: str | None = None
    required: bool = True
    artifact_type: ArtifactType | None = None
    independent_review: bool = False
    """An artifact counts only when someone other than its creator approved it."""
    approvals: int = 1
    """An artifact counts only when this many distinct people approved it (1 to 5)."""


@dataclass
class Approval:
    """One person's approval of an artifact."""

    user_id: str
    at: str


@dataclass
class BundleLink:
    name: str
    url: str | None = None


@dataclass
class Reference:
    title: str
    url: str | None = None


@dataclass
class Phase:
    id: str
    name: str
    stage: str | None = None


@dataclass
class TaskDefinition:
    ref_id: str
    description: str
    offset_days: int = 0
    """The made task's date: this many days after the bundle's anchor date."""
    required_link_name: str | None = None
    requires_file: bool = False
    proof_requirement: ProofRequirement | None = None
    phase: str | None = None
    stage_on_complete: str | None = None
    """The bundle's stage once the made task is done."""
    assignee_id: str | None = None
    instructions_url: str | None = None
    instruction_doc_id: str | None = None
    instruction_step_id: str | None = None
    systems: list[str] = field(default_factory=list)
    validation: Any = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Template:
    id: str
    name: str
    created_at: str
    updated_at: str
    description: str | None = None
    type: str | None = None
    default_assignee_id: str | None = None
    phases: list[Phase] = field(default_factory=list)
    bundle_link_definitions: list[BundleLink] = field(default_factory=list)
    task_definitions: list[TaskDefinition] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    version: int = 1


@dataclass
class Bundle:
    id: str
    title: str
    created_at: str
    updated_at: str
    description: str | None = None
    anchor_date: str | None = None
    template_id: str | None = None
    status: BundleStatus = BundleStatus.ACTIVE
    stage: str | None = None
    references: list[Reference] = field(default_factory=list)
    bundle_links: list[BundleLink] = field(default_factory=list)
    artifact_refs: list[ArtifactRef] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    recurring_config_id: str | None = None
    occurrence_date: str | None = None
    """The anchor date of the recurring config's occurrence this bundle is."""
    version: int = 1

    @property
    def occurrence_key(self) -> str | None:
        """`<config id>#<anchor date>` for a bundle made by a recurring config: unique in
        the store, the claim that makes each occurrence exactly one bundle."""
        if self.recurring_config_id is None or self.occurrence_date is None:
            return None
        return f"{self.recurring_config_id}#{self.occurrence_date}"


@dataclass
class RecurringConfig:
    """A template instantiated on a schedule (CONTRACT §8): one bundle per occurrence."""

    id: str
    template_id: str
    title: str
    """Pattern of the bundles' titles: `{date}` the anchor date, `{n}` its number."""
    start_date: str
    created_at: str
    updated_at: str
    rrule: str | None = None
    cron_expression: str | None = None
    timezone: str = "UTC"
    end_date: str | None = None
    lead_days: int = 7
    assignee_id: str | None = None
    enabled: bool = True
    skipped_dates: list[str] = field(default_factory=list)
    last_occurrence_date: str | None = None
    """The latest occurrence the runner has made a bundle for (set by the runner): the
    rule is evaluated after it, so an edit changes future occurrences only."""
    occurrence_count: int = 0
    """How many occurrences have been made (`{n}` of the next one is this + 1)."""
    deleted_at: str | None = None
    """Set by DELETE: the config is gone from the API and makes no more bundles; the
    record stays so the bundles it made still name it (export relationships)."""
    version: int = 1

    @property
    def enabled_key(self) -> str | None:
        """The index value of a config the runner serves ("true"), else None (a sparse
        index: the runner reads only enabled configs)."""
        return "true" if self.enabled and self.deleted_at is None else None

    @property
    def listed_key(self) -> str | None:
        """The index value of a config the API lists ("true": not deleted)."""
        return "true" if self.deleted_at is None else None


@dataclass
class RequirementVerdict:
    """One proof requirement of a task and whether (and by what) it is met."""

    kind: str
    label: str
    satisfied: bool
    reason: str | None = None
    satisfied_by: dict[str, Any] | None = None


@dataclass
class Task:
    id: str
    description: str
    date: str
    created_at: str
    updated_at: str
    status: TaskStatus = TaskStatus.TODO
    comment: str | None = None
    waiting_for: str | None = None
    follow_up_at: str | None = None
    """When to chase a waiting task: a date or a timestamp."""
    link: str | None = None
    required_link_name: str | None = None
    requires_file: bool = False
    proof_requirement: ProofRequirement | None = None
    external_status: str | None = None
    bundle_id: str | None = None
    template_id: str | None = None
    template_task_ref: str | None = None
    assignee_id: str | None = None
    stage_on_complete: str | None = None
    instructions_url: str | None = None
    instruction_doc_id: str | None = None
    instruction_step_id: str | None = None
    phase: str | None = None
    systems: list[str] = field(default_factory=list)
    validation: Any = None
    artifact_refs: list[ArtifactRef] = field(default_factory=list)
    assistant_job_refs: list[dict[str, Any]] = field(default_factory=list)
    audit_event_refs: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    completed_by: str | None = None
    completed_at: str | None = None
    completion_proof: list[RequirementVerdict] | None = None
    proof_withdrawn: bool = False
    """Done, and an artifact its completion proof cites no longer satisfies it (rejected,
    archived, superseded, changed); kept up to date by the changes that withdraw it, and
    by the expiry sweep for evidence whose `validUntil` passed."""
    proof_withdrawn_reasons: list[str] = field(default_factory=list)
    proof_expires_on: str | None = None
    """The earliest `validUntil` of the evidence the stored proof state relies on: for a
    done task the artifacts its completion proof cites, for a todo task whose proof is
    complete the artifacts that complete it (the expiry sweep re-judges it that day)."""
    proof_blocked: bool = False
    """Todo, and its proof is not complete (`domain.proof.evaluate`): kept up to date by
    the task's own saves, the artifact and file writes its proof reads, and the expiry
    sweep (`services/proofs.py`); the Blocked lane is a range read of its index."""
    version: int = 1

    @property
    def withdrawn_key(self) -> str | None:
        """The index value of a task whose proof was withdrawn ("true"), else None (a
        sparse index: only such tasks are in it)."""
        return "true" if self.proof_withdrawn else None

    @property
    def open_key(self) -> str | None:
        """The index value of a task still to do ("true": todo or waiting), else None (a
        sparse index: with the assignee, the due list of "my work" reads only open tasks)."""
        return "true" if self.status in (TaskStatus.TODO, TaskStatus.WAITING) else None

    @property
    def blocked_key(self) -> str | None:
        """The index value of a todo task whose proof is not complete ("true"), else None
        (a sparse index: the Blocked lane and its count read only such tasks)."""
        return "true" if self.proof_blocked and self.status == TaskStatus.TODO else None


@dataclass
class FileRecord:
    """Metadata of a binary; the bytes live in a blob store or an external system."""

    id: str
    filename: str
    created_at: str
    task_id: str | None = None
    bundle_id: str | None = None
    category: FileCategory = FileCategory.DOCUMENT
    storage_provider: StorageProvider | None = None
    storage_uri: str | None = None
    storage_path: str | None = None
    storage_version: str | None = None
    content_type: str | None = None
    checksum: str | None = None
    size_bytes: int | None = None
    tags: list[str] = field(default_factory=list)
    created_by: str | None = None

    @property
    def location(self) -> str | None:
        """Where the bytes are: `storage_uri`, or for a legacy record that only has a
        `storage_path` its `local-dev://` URI (backslashes as `/`, no leading `/`)."""
        if self.storage_uri:
            return self.storage_uri
        if self.storage_path:
            return legacy_uri(self.storage_path)
        return None


def legacy_uri(storage_path: str) -> str:
    """The `local-dev://` URI of a legacy file record's `storagePath` (backslashes as
    `/`, no leading `/`): the one rule for the API, the store's index and the export."""
    return "local-dev://" + storage_path.replace("\\", "/").lstrip("/")


@dataclass
class Upload:
    """A two-step upload: announced (pending), then completed once the bytes that arrived
    match the announced size and checksum (which creates the file record)."""

    id: str
    key: str
    filename: str
    content_type: str
    size_bytes: int
    checksum: str
    created_at: str
    expires_at: str
    status: UploadStatus = UploadStatus.PENDING
    task_id: str | None = None
    bundle_id: str | None = None
    category: FileCategory = FileCategory.DOCUMENT
    created_by: str | None = None
    file_id: str | None = None
    version: int = 1


@dataclass
class Artifact:
    id: str
    type: ArtifactType
    title: str
    storage_uri: str
    storage_provider: StorageProvider
    created_at: str
    updated_at: str
    status: ArtifactStatus = ArtifactStatus.DRAFT
    description: str | None = None
    filename: str | None = None
    content_type: str | None = None
    checksum: str | None = None
    """`sha256:<hex>` of the bytes: required where DataOps owns them (s3, local-dev)."""
    size_bytes: int | None = None
    data_class: DataClass = DataClass.INTERNAL
    task_id: str | None = None
    bundle_id: str | None = None
    assistant_job_id: str | None = None
    file_id: str | None = None
    source_type: SourceType = SourceType.MANUAL_LINK
    supersedes: str | None = None
    superseded_by: str | None = None
    review_reason: str | None = None
    created_by: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    approvals: list[Approval] = field(default_factory=list)
    """Who approved it and when, reset when it leaves `approved`."""
    self_reviewed: bool = False
    """Its creator is among those who approved it."""
    valid_until: str | None = None
    """After this date (YYYY-MM-DD) it no longer satisfies proof for a completion."""
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    version: int = 1

    def approvers(self) -> list[str]:
        """The distinct people who approved it; an artifact approved before approvals were
        recorded counts its reviewer."""
        if self.status != ArtifactStatus.APPROVED:
            return []
        if not self.approvals:
            return [self.reviewed_by] if self.reviewed_by else []
        return list(dict.fromkeys(a.user_id for a in self.approvals))

    def ref(self) -> ArtifactRef:
        return ArtifactRef(
            artifact_id=self.id,
            type=self.type,
            title=self.title,
            storage_uri=self.storage_uri,
            status=self.status,
        )
