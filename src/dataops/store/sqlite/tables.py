"""Row mapping for SQLite: one table per entity holding the record as JSON plus the
columns every list filter and lookup needs. Key formats and column names live here."""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from typing import Any

from dataops.domain import accounts, messages, models
from dataops.domain.codec import camel, from_dict, to_dict


@dataclass(frozen=True)
class Table:
    entity: str
    name: str
    cls: type[Any]
    columns: tuple[str, ...] = ()
    order: tuple[str, ...] = ("id",)
    key: str = "id"
    versioned: bool = True
    expires: str | None = None
    """The field stored in a column of its own for `purge_expired`; not a filter."""

    @property
    def written(self) -> tuple[str, ...]:
        """The columns written beside the key, version and data."""
        return self.columns if self.expires is None else (*self.columns, self.expires)

    def column_values(self, record: Any) -> list[Any]:
        return [_column(record, column) for column in self.written]

    def order_values(self, record: Any) -> list[Any]:
        """The record's values of the list order (what a cursor after it holds)."""
        return [_column(record, column) for column in self.order]

    def encode(self, record: Any) -> str:
        """The record's JSON: `to_dict`'s, written compact. Its values are written as
        they stand (`_json_ready`: no copy of free-form values such as audit states);
        where that is not JSON data (an entity inside a free-form value) or nests too
        deep, `to_dict` converts it first."""
        try:
            return _DUMP(_json_ready(record))
        except (TypeError, RecursionError):
            return _DUMP(to_dict(record))

    def decode(self, data: str) -> Any:
        return from_dict(self.cls, json.loads(data))


_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_FIELDS: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def _json_ready(entity: Any) -> dict[str, Any]:
    """`to_dict(entity)` as the JSON encoder writes it, without copies: nested entities
    become dicts, enums their values, and free-form values stay as they are (JSON data;
    an entity inside one makes the encoder raise TypeError)."""
    cls = type(entity)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple((f.name, camel(f.name)) for f in dataclasses.fields(cls))
    out: dict[str, Any] = {}
    for name, key in names:
        value = getattr(entity, name)
        if type(value) in _AS_IS:
            out[key] = value
        elif type(value) is list:
            out[key] = [item if type(item) in _AS_IS else _json_item(item) for item in value]
        else:
            out[key] = _json_item(value)
    return out


_AS_IS = frozenset({str, int, float, bool, type(None), dict})
"""Value types written as they stand (exact types: an enum member is not a str here)."""


def _json_item(item: Any) -> Any:
    if isinstance(item, enum.Enum):
        return item.value
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return _json_ready(item)
    return item


def _column(record: Any, column: str) -> Any:
    value = getattr(record, column)
    return value.value if isinstance(value, enum.Enum) else value


TABLES = {
    table.entity: table
    for table in (
        Table("users", "users", accounts.User, columns=("email", "role", "digest_key")),
        Table(
            "credentials",
            "credentials",
            accounts.Credential,
            key="user_id",
            order=("user_id",),
            versioned=False,
        ),
        Table("sessions", "sessions", accounts.Session, columns=("user_id",), expires="expires_at"),
        Table("api_tokens", "api_tokens", accounts.ApiToken, columns=("user_id", "token_hash")),
        Table("idempotency", "idempotency", accounts.IdempotencyRecord, expires="expires_at"),
        Table("login_throttles", "login_throttles", accounts.LoginThrottle, expires="expires_at"),
        Table(
            "uploads",
            "uploads",
            models.Upload,
            columns=("status", "expires_at"),
            order=("expires_at", "id"),
        ),
        Table("templates", "templates", models.Template),
        Table("settings", "settings", accounts.WorkspaceSettings),
        Table(
            "recurring_configs",
            "recurring_configs",
            models.RecurringConfig,
            columns=("template_id", "enabled_key", "listed_key"),
        ),
        Table(
            "bundles",
            "bundles",
            models.Bundle,
            columns=("status", "template_id", "recurring_config_id", "occurrence_key"),
        ),
        Table(
            "tasks",
            "tasks",
            models.Task,
            columns=(
                "bundle_id",
                "status",
                "date",
                "assignee_id",
                "withdrawn_key",
                "proof_expires_on",
                "open_key",
                "completed_by",
                "blocked_key",
            ),
            order=("date", "id"),
        ),
        Table(
            "files",
            "files",
            models.FileRecord,
            columns=("task_id", "bundle_id", "location"),
            versioned=False,
        ),
        Table(
            "artifacts",
            "artifacts",
            models.Artifact,
            columns=(
                "task_id",
                "bundle_id",
                "assistant_job_id",
                "file_id",
                "status",
                "type",
                "storage_uri",
                "valid_until",
                "created_by",
            ),
        ),
        Table(
            "audit_events",
            "audit_events",
            messages.AuditEvent,
            columns=("entity_type", "entity_id"),
            versioned=False,
        ),
        Table(
            "notifications",
            "notifications",
            messages.Notification,
            columns=("user_id", "task_id", "unread_key", "dedupe_key"),
        ),
        Table("webhooks", "webhooks", messages.Webhook, columns=("enabled_key", "listed_key")),
        Table(
            "outbox",
            "outbox",
            messages.OutboxMessage,
            columns=("target_id", "due_key", "next_attempt_at"),
            order=("next_attempt_at", "id"),
        ),
    )
}
