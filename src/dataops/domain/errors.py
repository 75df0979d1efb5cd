"""The one exception tree. The engine maps each class to an HTTP status in one table."""

from __future__ import annotations

from dataclasses import dataclass

from dataops.domain.wording import field_detail, field_label


@dataclass(frozen=True)
class FieldError:
    """One invalid field: a dotted path and a readable message."""

    field: str
    message: str


class DataOpsError(Exception):
    """Base of every error raised on purpose by DataOps code."""

    title = "Request failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DataOpsError):
    """The request itself is malformed (bad JSON, wrong content type, missing body)."""

    title = "Malformed request"


class Unauthorized(DataOpsError):
    title = "Authentication required"


class Forbidden(DataOpsError):
    title = "Forbidden"


class NotFound(DataOpsError):
    """An ID in the path, or a relationship ID in the body, does not exist."""

    title = "Not found"

    def __init__(self, entity: str, entity_id: str, field: str | None = None) -> None:
        missing = f"{entity} {entity_id!r} does not exist"
        # The field in words, like every detail (domain/wording.py); `field` keeps the name.
        super().__init__(f"{field_label(field)}: {missing}" if field else missing)
        self.entity = entity
        self.entity_id = entity_id
        self.field = field


class Conflict(DataOpsError):
    """The request is valid but conflicts with the current state."""

    title = "Conflict"


class VersionConflict(Conflict):
    """A conditional write found the record at another version."""

    title = "Version mismatch"


class IllegalTransition(Conflict):
    title = "Illegal status transition"


class ProofMissing(Conflict):
    """A task cannot be completed: one or more proof requirements are not met."""

    title = "Completion blocked by missing proof"

    def __init__(self, detail: str, missing: list[str]) -> None:
        super().__init__(detail)
        self.missing = missing


class ValidationFailed(DataOpsError):
    """One or more field values are invalid; every problem is listed."""

    title = "Invalid field values"

    def __init__(self, errors: list[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        # `errors` keeps the machine names; the detail names each field in words.
        detail = field_detail((e.field, e.message) for e in errors)
        super().__init__(detail)
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, message)])


class PayloadTooLarge(DataOpsError):
    title = "Payload too large"


class StorageUnavailable(DataOpsError):
    """The storage needed for the operation is disabled or unreachable; nothing was written."""

    title = "Storage unavailable"


class ConfigurationError(DataOpsError):
    """Settings are invalid; raised at start-up."""

    title = "Invalid configuration"
