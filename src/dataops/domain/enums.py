"""Every closed value set of the contract (CONTRACT §5, §5b)."""

from __future__ import annotations

from enum import StrEnum


class ArtifactType(StrEnum):
    PODCAST_DOC = "podcast-doc"
    TRANSCRIPT = "transcript"
    RECORDING = "recording"
    REPORT = "report"
    INVOICE = "invoice"
    EVENT_PAGE = "event-page"
    ASSISTANT_OUTPUT = "assistant-output"
    EXTERNAL_LINK = "external-link"
    OTHER = "other"


class ArtifactStatus(StrEnum):
    DRAFT = "draft"
    NEEDS_REVIEW = "needs-review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"
    SUPERSEDED = "superseded"


class StorageProvider(StrEnum):
    S3 = "s3"
    DROPBOX = "dropbox"
    GOOGLE_DRIVE = "google-drive"
    GITHUB = "github"
    EXTERNAL_URL = "external-url"
    LOCAL_DEV = "local-dev"
    UNKNOWN = "unknown"


OWNED_PROVIDERS = frozenset({StorageProvider.S3, StorageProvider.LOCAL_DEV})
"""Providers whose bytes DataOps itself stores: a checksum is required."""


class DataClass(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    PRIVATE = "private"
    SENSITIVE = "sensitive"


class SourceType(StrEnum):
    MANUAL_LINK = "manual-link"
    MANUAL_UPLOAD = "manual-upload"
    ASSISTANT_OUTPUT = "assistant-output"
    IMPORT = "import"
    MIGRATION = "migration"
    SYSTEM = "system"


class TaskStatus(StrEnum):
    TODO = "todo"
    WAITING = "waiting"
    DONE = "done"
    ARCHIVED = "archived"


class BundleStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    ARCHIVED = "archived"


class ProofType(StrEnum):
    URL = "url"
    FILE = "file"
    ARTIFACT = "artifact"
    COMMENT = "comment"
    EXTERNAL_STATUS = "external-status"


class UploadStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class FileCategory(StrEnum):
    IMAGE = "image"
    INVOICE = "invoice"
    DOCUMENT = "document"


class NotificationType(StrEnum):
    TASK_DUE = "task-due"
    TASK_OVERDUE = "task-overdue"
    FOLLOW_UP_DUE = "follow-up-due"
    MISSING_EVIDENCE = "missing-evidence"
    RECURRING_DUE = "recurring-due"
    STAGE_CHANGE = "stage-change"
    AUTOMATION_FAILURE = "automation-failure"
    REVIEW_REQUESTED = "review-requested"
    ARTIFACT_REJECTED = "artifact-rejected"
    PROOF_WITHDRAWN = "proof-withdrawn"


class EmailNotifications(StrEnum):
    """Which of a user's notifications are e-mailed (CONTRACT §8): none, each as it is
    made, or a daily digest at 08:00 in the user's time zone."""

    OFF = "off"
    IMMEDIATE = "immediate"
    DAILY = "daily"


class ReviewPolicy(StrEnum):
    """Who may review an artifact (a workspace setting, CONTRACT §7)."""

    SELF_ALLOWED = "self-allowed"
    INDEPENDENT = "independent"


class Role(StrEnum):
    """What each role may do is `domain/permissions.py`: the roles are not a ladder."""

    VIEWER = "viewer"
    ASSISTANT = "assistant"
    OPERATOR = "operator"
    ADMIN = "admin"


class EntityType(StrEnum):
    USER = "user"
    TEMPLATE = "template"
    BUNDLE = "bundle"
    TASK = "task"
    FILE = "file"
    ARTIFACT = "artifact"
    NOTIFICATION = "notification"
    SETTINGS = "settings"
    RECURRING_CONFIG = "recurring-config"
    WEBHOOK = "webhook"
