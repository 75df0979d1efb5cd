"""Request schemas (camelCase on the wire, strict JSON types, unknown fields refused).
Responses are the entities rendered by `present`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from dataops.domain.clock import parse_date
from dataops.domain.codec import fields_from_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    BundleStatus,
    DataClass,
    EmailNotifications,
    FileCategory,
    ProofType,
    ReviewPolicy,
    Role,
    SourceType,
    StorageProvider,
    TaskStatus,
)

# Fields the server sets; a client echoing them back is not an error, they are ignored.
SERVER_FIELDS = frozenset(
    {
        "id",
        "createdAt",
        "updatedAt",
        "createdBy",
        "reviewedBy",
        "reviewedAt",
        "version",
        "completedBy",
        "completedAt",
        "completionProof",
        "artifactRefs",
        "auditEventRefs",
        # recurring work (CONTRACT §8): set by the runner, computed, or set by DELETE
        "recurringConfigId",
        "occurrenceDate",
        "nextAnchorDate",
        "lastOccurrenceDate",
        "occurrenceCount",
        "skippedDates",
        "deletedAt",
    }
)


def _date(value: str) -> str:
    try:
        parse_date(value)
    except ValueError:
        raise ValueError("must be a real calendar date YYYY-MM-DD") from None
    return value


DateStr = Annotated[StrictStr, AfterValidator(_date)]
Text = Annotated[StrictStr, Field(max_length=20_000)]
Short = Annotated[StrictStr, Field(max_length=500)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Tags = Annotated[list[Annotated[StrictStr, Field(max_length=100)]], Field(max_length=50)]
Size = Annotated[StrictInt, Field(ge=0, le=2**53)]
Url = Annotated[StrictStr, Field(max_length=2048)]  # (policy.MAX_URI_LENGTH)


def _few(limit: int) -> Any:
    """A list of at most `limit` items."""
    return Field(max_length=limit)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_server_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in SERVER_FIELDS}
        return data

    def changes(self, entity: type[Any]) -> dict[str, Any]:
        """The fields the client sent, snake_case, as the entity's types (None where it
        sent null)."""
        sent = self.model_dump(
            mode="json", by_alias=True, exclude_unset=True, exclude={"expected_version"}
        )
        return fields_from_dict(entity, sent)


class Versioned(In):
    expected_version: StrictInt | None = None


class ProofRequirementIn(In):
    type: ProofType
    label: Short | None = None
    required: StrictBool = True
    artifact_type: ArtifactType | None = None
    independent_review: StrictBool = False
    approvals: Annotated[StrictInt, Field(ge=1, le=5)] = 1


class LinkIn(In):
    name: Short
    url: Url | None = None


class ReferenceIn(In):
    title: Short
    url: Url | None = None


class PhaseIn(In):
    id: Annotated[StrictStr, Field(max_length=100)]
    name: Short
    stage: Short | None = None


class TaskDefinitionIn(In):
    ref_id: Annotated[StrictStr, Field(max_length=100)]
    description: Text
    offset_days: StrictInt = 0
    required_link_name: Short | None = None
    requires_file: StrictBool = False
    proof_requirement: ProofRequirementIn | None = None
    phase: Short | None = None
    stage_on_complete: Short | None = None
    assignee_id: Id | None = None
    instructions_url: Url | None = None
    instruction_doc_id: Short | None = None
    instruction_step_id: Short | None = None
    systems: Annotated[list[Short], _few(50)] = Field(default_factory=list)
    validation: Any = None
    tags: Tags = Field(default_factory=list)


class TemplateFields(In):
    description: Text | None = None
    type: Short | None = None
    default_assignee_id: Id | None = None
    phases: Annotated[list[PhaseIn], _few(100)] | None = None
    bundle_link_definitions: Annotated[list[LinkIn], _few(100)] | None = None
    task_definitions: Annotated[list[TaskDefinitionIn], Field(max_length=500)] | None = None
    references: Annotated[list[ReferenceIn], _few(100)] | None = None
    tags: Tags | None = None


class TemplateCreate(TemplateFields):
    name: Short


class TemplateUpdate(TemplateFields, Versioned):
    name: Short | None = None


class Instantiate(In):
    title: Short
    anchor_date: DateStr


class RecurringConfigFields(In):
    """Rules beyond types (the rule's syntax, the zone, 0-365 lead days) are checked by
    `rules.recurring_config_errors`, so each says which field and why."""

    title: Short | None = None
    rrule: Short | None = None
    cron_expression: Short | None = None
    timezone: Annotated[StrictStr, Field(max_length=100)] | None = None
    start_date: DateStr | None = None
    end_date: DateStr | None = None
    lead_days: StrictInt | None = None
    assignee_id: Id | None = None
    enabled: StrictBool | None = None


class RecurringConfigCreate(RecurringConfigFields):
    template_id: Id
    title: Short
    start_date: DateStr


class RecurringConfigPreview(RecurringConfigCreate):
    """A create body; `configId` previews that config edited to it."""

    config_id: Id | None = None


class RecurringConfigUpdate(RecurringConfigFields, Versioned):
    template_id: Id | None = None


class SkipOccurrence(Versioned):
    anchor_date: DateStr


class BundleFields(In):
    description: Text | None = None
    anchor_date: DateStr | None = None
    status: BundleStatus | None = None
    stage: Short | None = None
    references: Annotated[list[ReferenceIn], _few(100)] | None = None
    bundle_links: Annotated[list[LinkIn], _few(100)] | None = None
    tags: Tags | None = None


class BundleCreate(BundleFields):
    title: Short
    template_id: Id | None = None


class BundleUpdate(BundleFields, Versioned):
    title: Short | None = None


class AssistantJobRefIn(In):
    model_config = ConfigDict(extra="allow", alias_generator=to_camel)
    assistant_job_id: Id


class TaskFields(In):
    status: TaskStatus | None = None
    comment: Text | None = None
    waiting_for: Short | None = None
    follow_up_at: Annotated[StrictStr, Field(max_length=40)] | None = None
    link: Url | None = None
    required_link_name: Short | None = None
    requires_file: StrictBool | None = None
    proof_requirement: ProofRequirementIn | None = None
    external_status: Short | None = None
    bundle_id: Id | None = None
    assignee_id: Id | None = None
    stage_on_complete: Short | None = None
    instructions_url: Url | None = None
    instruction_doc_id: Short | None = None
    instruction_step_id: Short | None = None
    phase: Short | None = None
    systems: Annotated[list[Short], _few(50)] | None = None
    validation: Any = None
    assistant_job_refs: Annotated[list[AssistantJobRefIn], _few(100)] | None = None
    tags: Tags | None = None


class TaskCreate(TaskFields):
    description: Text
    date: DateStr


class TaskUpdate(TaskFields, Versioned):
    description: Text | None = None
    date: DateStr | None = None


class ArtifactFields(In):
    description: Text | None = None
    storage_provider: StorageProvider | None = None
    filename: Short | None = None
    content_type: Annotated[StrictStr, Field(max_length=200)] | None = None
    checksum: Annotated[StrictStr, Field(max_length=100)] | None = None
    size_bytes: Size | None = None
    data_class: DataClass | None = None
    visibility: DataClass | None = Field(default=None, exclude=True)
    assistant_job_id: Id | None = None
    file_id: Id | None = None
    source_type: SourceType | None = None
    tags: Tags | None = None
    metadata: dict[str, Any] | None = None
    task_id: Id | None = None
    bundle_id: Id | None = None
    valid_until: DateStr | None = None

    @field_validator("visibility")
    @classmethod
    def _agrees(cls, value: DataClass | None, info: ValidationInfo) -> DataClass | None:
        """`visibility` is an input alias of `dataClass`; both at once must agree."""
        data_class = info.data.get("data_class")
        if value is not None and data_class is not None and value != data_class:
            raise ValueError("disagrees with dataClass; send dataClass only")
        return value

    @model_validator(mode="after")
    def _alias(self) -> ArtifactFields:
        if self.visibility is not None and self.data_class is None:
            self.data_class = self.visibility
        return self


class ArtifactCreate(ArtifactFields):
    type: ArtifactType
    title: Short
    storage_uri: StrictStr
    status: ArtifactStatus | None = None


class ArtifactUpdate(ArtifactFields, Versioned):
    type: ArtifactType | None = None
    title: Short | None = None
    storage_uri: StrictStr | None = None
    status: ArtifactStatus | None = None
    review_reason: Text | None = None
    superseded_by: Id | None = None


class AttachIn(Versioned):
    task_id: Id | None = None
    bundle_id: Id | None = None


class ReviewIn(Versioned):
    reason: Text | None = None


class SupersedeIn(Versioned):
    superseded_by: Id


class FileRegister(In):
    task_id: Id
    filename: Short
    storage_uri: StrictStr
    bundle_id: Id | None = None
    storage_provider: StorageProvider | None = None
    category: FileCategory | None = None
    checksum: Annotated[StrictStr, Field(max_length=100)] | None = None
    size_bytes: Size | None = None
    content_type: Annotated[StrictStr, Field(max_length=200)] | None = None
    tags: Tags | None = None


class UploadCreate(In):
    filename: Short
    content_type: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    size_bytes: Annotated[StrictInt, Field(ge=1, le=2**53)]
    checksum: Annotated[StrictStr, Field(max_length=100)]
    task_id: Id | None = None
    bundle_id: Id | None = None
    category: FileCategory | None = None


class SettingsUpdate(Versioned):
    review_policy: ReviewPolicy | None = None


class UserCreate(In):
    email: Annotated[StrictStr, Field(max_length=254)]
    name: Short
    role: Role
    password: Annotated[StrictStr, Field(min_length=8, max_length=1024)]


class UserUpdate(Versioned):
    """`PATCH /api/users/{id}` (admin): role, display name, disabled."""

    role: Role | None = None
    name: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = None
    disabled: StrictBool | None = None


class TokenCreate(In):
    """`POST /api/tokens` (admin): a token for `userId`, living `expiresIn` days (0:
    never expires)."""

    user_id: Id
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    expires_in: Annotated[StrictInt, Field(ge=0, le=3650)] = 90


class MeUpdate(Versioned):
    """`PATCH /api/me`: the actor's own e-mail choice and time zone, nothing else."""

    email_notifications: EmailNotifications | None = None
    timezone: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None


class WebhookCreate(In):
    url: Url
    events: Annotated[list[Annotated[StrictStr, Field(max_length=100)]], _few(20)]
    enabled: StrictBool | None = None
    description: Short | None = None


class WebhookUpdate(Versioned):
    url: Url | None = None
    events: Annotated[list[Annotated[StrictStr, Field(max_length=100)]], _few(20)] | None = None
    enabled: StrictBool | None = None
    description: Short | None = None
