"""Field rules of each entity beyond JSON types: one place, used by the services on every
write and by the importer and export validator on every record."""

from __future__ import annotations

import re

from dataops.domain.accounts import User
from dataops.domain.clock import parse_date, parse_ts
from dataops.domain.enums import OWNED_PROVIDERS, ProofType, TaskStatus
from dataops.domain.errors import FieldError
from dataops.domain.models import (
    Artifact,
    Bundle,
    BundleLink,
    FileRecord,
    ProofRequirement,
    RecurringConfig,
    Reference,
    Task,
    TaskDefinition,
    Template,
)
from dataops.domain.policy import (
    check_checksum,
    check_free_form,
    check_link,
    check_metadata,
    check_storage_uri,
    provider_conflict,
)
from dataops.domain.recurrence import MAX_LEAD_DAYS, RecurrenceError, parse_recurrence, zone
from dataops.domain.secret_scan import scan_entity_for_secret_values

MAX_TITLE = 500
MAX_TEXT = 20_000
MAX_TAGS = 50
MAX_TAG = 100
MAX_CONTENT_TYPE = 200

# A media type as RFC 9110 §8.3.1 writes it: `type/subtype` then `; name=value`
# parameters (a token or a quoted string), spaces allowed around the `;`. Printable ASCII
# only: no control character (CR, LF, NUL, tab...) can reach a stored record and so the
# Content-Type header of a later download. Each space run and each parameter is bound to
# the `;` or token before it (no two parts can match the same text): linear in its input.
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS} *(?:; *(?:{_TCHARS}=(?:{_TCHARS}|{_QUOTED}) *)?)*")


def _text(
    value: str | None, field: str, *, required: bool = False, limit: int = MAX_TEXT
) -> list[FieldError]:
    if value is None:
        return [FieldError(field, "is required")] if required else []
    if required and not value.strip():
        return [FieldError(field, "must not be blank")]
    if len(value) > limit:
        return [FieldError(field, f"must be at most {limit} characters")]
    return []


def content_type_errors(value: str | None, field: str = "contentType") -> list[FieldError]:
    """A media type such as `text/plain; charset=utf-8`, without control characters."""
    if value is None:
        return []
    if len(value) > MAX_CONTENT_TYPE:
        return [FieldError(field, f"must be at most {MAX_CONTENT_TYPE} characters")]
    if _MEDIA_TYPE.fullmatch(value) is None:
        return [
            FieldError(
                field,
                "must be a media type such as application/pdf or text/plain; charset=utf-8 "
                "(printable ASCII, no control characters)",
            )
        ]
    return []


def _tags(tags: list[str], field: str = "tags") -> list[FieldError]:
    if len(tags) > MAX_TAGS:
        return [FieldError(field, f"must hold at most {MAX_TAGS} tags")]
    for index, tag in enumerate(tags):
        if not tag.strip() or len(tag) > MAX_TAG:
            return [FieldError(f"{field}[{index}]", f"must be 1 to {MAX_TAG} characters")]
    return []


def _date(value: str | None, field: str, *, required: bool = False) -> list[FieldError]:
    if value is None:
        return [FieldError(field, "is required")] if required else []
    try:
        parse_date(value)
    except ValueError:
        return [FieldError(field, "must be a real calendar date YYYY-MM-DD")]
    return []


def date_or_timestamp_errors(value: str | None, field: str) -> list[FieldError]:
    if value is None:
        return []
    try:
        if "T" in value:
            parse_ts(value)
        else:
            parse_date(value)
    except ValueError:
        return [FieldError(field, "must be YYYY-MM-DD or an ISO 8601 timestamp with a zone")]
    return []


def proof_requirement_errors(req: ProofRequirement | None, field: str) -> list[FieldError]:
    if req is None:
        return []
    errors = _text(req.label, f"{field}.label", limit=MAX_TITLE)
    if req.artifact_type is not None and req.type != ProofType.ARTIFACT:
        errors.append(
            FieldError(f"{field}.artifactType", "applies only to an artifact proof requirement")
        )
    if not 1 <= req.approvals <= 5:
        errors.append(FieldError(f"{field}.approvals", "must be 1 to 5"))
    elif req.approvals != 1 and req.type != ProofType.ARTIFACT:
        errors.append(
            FieldError(f"{field}.approvals", "applies only to an artifact proof requirement")
        )
    if req.independent_review and req.type != ProofType.ARTIFACT:
        errors.append(
            FieldError(
                f"{field}.independentReview", "applies only to an artifact proof requirement"
            )
        )
    return errors


def _links(links: list[BundleLink], field: str) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, link in enumerate(links):
        errors += _text(link.name, f"{field}[{index}].name", required=True, limit=MAX_TITLE)
        if link.name in seen:
            errors.append(FieldError(f"{field}[{index}].name", "is used twice"))
        seen.add(link.name)
        if link.url is not None:
            errors += check_link(link.url, f"{field}[{index}].url")
    return errors


def _references(refs: list[Reference], field: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, ref in enumerate(refs):
        errors += _text(ref.title, f"{field}[{index}].title", required=True, limit=MAX_TITLE)
        if ref.url is not None:
            errors += check_link(ref.url, f"{field}[{index}].url")
    return errors


def artifact_errors(artifact: Artifact, *, uri_changed: bool = True) -> list[FieldError]:
    """Every rule of CONTRACT §5 that a stored artifact must satisfy."""
    errors = _text(artifact.title, "title", required=True, limit=MAX_TITLE)
    errors += _text(artifact.description, "description")
    errors += _text(artifact.filename, "filename", limit=MAX_TITLE)
    errors += content_type_errors(artifact.content_type)
    errors += _text(artifact.review_reason, "reviewReason")
    errors += _date(artifact.valid_until, "validUntil")
    errors += _tags(artifact.tags)
    if uri_changed:
        uri_errors = check_storage_uri(artifact.storage_uri)
        errors += uri_errors
        if not uri_errors:
            conflict = provider_conflict(artifact.storage_uri, artifact.storage_provider)
            if conflict:
                errors.append(FieldError("storageProvider", conflict))
    if artifact.checksum is not None:
        errors += check_checksum(artifact.checksum)
    elif artifact.storage_provider in OWNED_PROVIDERS:
        errors.append(
            FieldError("checksum", "is required when DataOps owns the binary (s3, local-dev)")
        )
    errors += check_metadata(artifact.metadata)
    # storageUri is checked above, with a precise message; metadata by check_metadata
    errors += scan_entity_for_secret_values(artifact, skip=("metadata", "storage_uri"))
    return errors


def user_errors(user: User) -> list[FieldError]:
    """A user's name and email hold text, never a secret (every string of every exported
    record is scanned with one policy)."""
    errors = _text(user.name, "name", required=True, limit=MAX_TITLE)
    try:
        zone(user.timezone)
    except RecurrenceError as exc:
        errors.append(FieldError(exc.field, exc.message))
    errors += scan_entity_for_secret_values(user)
    return errors


def file_errors(record: FileRecord) -> list[FieldError]:
    errors = _text(record.filename, "filename", required=True, limit=MAX_TITLE)
    errors += content_type_errors(record.content_type)
    errors += _tags(record.tags)
    if record.storage_uri is not None:
        uri_errors = check_storage_uri(record.storage_uri)
        errors += uri_errors
        if not uri_errors and record.storage_provider is not None:
            conflict = provider_conflict(record.storage_uri, record.storage_provider)
            if conflict:
                errors.append(FieldError("storageProvider", conflict))
    if record.checksum is not None:
        errors += check_checksum(record.checksum)
    elif record.storage_provider in OWNED_PROVIDERS and record.storage_path is None:
        errors.append(
            FieldError("checksum", "is required when DataOps owns the binary (s3, local-dev)")
        )
    errors += scan_entity_for_secret_values(record)
    return errors


def task_errors(task: Task) -> list[FieldError]:
    errors = _text(task.description, "description", required=True)
    errors += _date(task.date, "date", required=True)
    errors += _text(task.comment, "comment")
    errors += _text(task.waiting_for, "waitingFor", limit=MAX_TITLE)
    errors += date_or_timestamp_errors(task.follow_up_at, "followUpAt")
    errors += _text(task.required_link_name, "requiredLinkName", limit=MAX_TITLE)
    errors += _text(task.external_status, "externalStatus", limit=MAX_TITLE)
    errors += _tags(task.tags)
    errors += proof_requirement_errors(task.proof_requirement, "proofRequirement")
    if task.link is not None and task.link.strip():
        errors += check_link(task.link, "link")
    if task.instructions_url is not None:
        errors += check_link(task.instructions_url, "instructionsUrl")
    if task.status == TaskStatus.WAITING:
        if task.waiting_for is None or not task.waiting_for.strip():
            errors.append(FieldError("waitingFor", "is required while the task is waiting"))
        if task.follow_up_at is None:
            errors.append(FieldError("followUpAt", "is required while the task is waiting"))
    errors += check_free_form(task.validation, "validation")
    errors += check_free_form(task.assistant_job_refs, "assistantJobRefs")
    # (the free-form fields are scanned by check_free_form, once their depth is known)
    errors += scan_entity_for_secret_values(task, skip=("validation", "assistant_job_refs"))
    return errors


def bundle_errors(bundle: Bundle) -> list[FieldError]:
    errors = _text(bundle.title, "title", required=True, limit=MAX_TITLE)
    errors += _text(bundle.description, "description")
    errors += _text(bundle.stage, "stage", limit=MAX_TITLE)
    errors += _date(bundle.anchor_date, "anchorDate")
    errors += _tags(bundle.tags)
    errors += _links(bundle.bundle_links, "bundleLinks")
    errors += _references(bundle.references, "references")
    errors += scan_entity_for_secret_values(bundle)
    return errors


def _definition_errors(definition: TaskDefinition, field: str) -> list[FieldError]:
    errors = _text(definition.ref_id, f"{field}.refId", required=True, limit=100)
    errors += _text(definition.description, f"{field}.description", required=True)
    if abs(definition.offset_days) > 3660:
        errors.append(FieldError(f"{field}.offsetDays", "must be within ±3660 days"))
    errors += _text(definition.required_link_name, f"{field}.requiredLinkName", limit=MAX_TITLE)
    errors += proof_requirement_errors(definition.proof_requirement, f"{field}.proofRequirement")
    if definition.instructions_url is not None:
        errors += check_link(definition.instructions_url, f"{field}.instructionsUrl")
    errors += _tags(definition.tags, f"{field}.tags")
    errors += check_free_form(definition.validation, f"{field}.validation")
    return errors


def template_errors(template: Template) -> list[FieldError]:
    errors = _text(template.name, "name", required=True, limit=MAX_TITLE)
    errors += _text(template.description, "description")
    errors += _tags(template.tags)
    errors += _links(template.bundle_link_definitions, "bundleLinkDefinitions")
    errors += _references(template.references, "references")
    seen: set[str] = set()
    for index, definition in enumerate(template.task_definitions):
        field = f"taskDefinitions[{index}]"
        errors += _definition_errors(definition, field)
        if definition.ref_id in seen:
            errors.append(FieldError(f"{field}.refId", "is used twice in this template"))
        seen.add(definition.ref_id)
    phase_ids: set[str] = set()
    for index, phase in enumerate(template.phases):
        errors += _text(phase.id, f"phases[{index}].id", required=True, limit=100)
        errors += _text(phase.name, f"phases[{index}].name", required=True, limit=MAX_TITLE)
        if phase.id in phase_ids:
            errors.append(FieldError(f"phases[{index}].id", "is used twice"))
        phase_ids.add(phase.id)
    errors += scan_entity_for_secret_values(template)
    return errors


MAX_TITLE_PATTERN = 400
"""Room for `{date}` and `{n}` to grow within a bundle title's `MAX_TITLE`."""


def recurring_config_errors(config: RecurringConfig) -> list[FieldError]:
    """Every field rule of a recurring config, the rule evaluated by its parser (whose
    reason a bad rule reports)."""
    errors = _text(config.template_id, "templateId", required=True, limit=200)
    errors += _text(config.title, "title", required=True, limit=MAX_TITLE_PATTERN)
    errors += _date(config.start_date, "startDate", required=True)
    errors += _date(config.end_date, "endDate")
    errors += _dates(config.skipped_dates, "skippedDates")
    errors += _date(config.last_occurrence_date, "lastOccurrenceDate")
    if not 0 <= config.lead_days <= MAX_LEAD_DAYS:
        errors.append(FieldError("leadDays", f"must be from 0 to {MAX_LEAD_DAYS}"))
    if config.occurrence_count < 0:
        errors.append(FieldError("occurrenceCount", "must not be negative"))
    if not errors:
        try:
            parse_recurrence(config)
        except RecurrenceError as exc:
            errors.append(FieldError(exc.field, exc.message))
    errors += scan_entity_for_secret_values(config)
    return errors


def _dates(values: list[str], field: str) -> list[FieldError]:
    errors = []
    for index, value in enumerate(values):
        errors += _date(value, f"{field}[{index}]", required=True)
    return errors
