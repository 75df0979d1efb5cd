"""Item mapping for DynamoDB: one table per entity holding the record as JSON plus the
attributes every list filter, lookup and index needs. Key formats, attribute names and
every global secondary index live here and nowhere else (the CreateTable parameters built
from them: `provisioning.table_definitions`).

Item layout (every table):

- `id` (S, the table's partition key): the record key (credentials: the user ID);
- `data` (S): the whole record as compact camelCase JSON; `version` (N);
- `entity` (S): the entity name, the constant partition of the `all` index;
- one attribute per filterable field, camelCase, holding the raw value (`taskId`,
  `status`, ...), written only when the value is a non-empty string that fits a key;
- one attribute per composite index partition (`taskId_status`, ...): the values
  joined by `#`, every part but the last with `%` and `#` escaped (so it is injective);
- the sort attribute of the entity's list order: `id` itself, or `date_id` /
  `expiresAt_id` (the order values joined by `#`; `#` sorts below every character a
  date or timestamp uses, so the string order is the tuple order);
- on the tables of entities that expire (sessions, idempotency records, login
  throttles), `expiresAtEpoch` (N): `expires_at` in Unix seconds, the table's TTL
  attribute, so DynamoDB deletes the item once it has expired (`ttl_specification`).

Uniqueness (SQLite's UNIQUE indexes: users.email, api_tokens.token_hash,
bundles.occurrence_key — one bundle per recurring occurrence) is kept by a
claim item in the same table, `id` = `#unique#<field>#<value>` with `owner` = the record
key; claims carry no `data` and no index attributes, so no read or index sees them. A
unique field no index covers (notifications.dedupe_key) is found through its claim: a
strongly consistent read of the claim, then of its owner.

Search (tables of tasks, bundles and artifacts): one word item per (word, record),
`id` = `#search#<word>#<record key>` (a word is letters and digits only, so the key is
injective), `owner` = the record key, `searchWord` = the word, `searchId` = the record
key; the `by-search-word` index (searchWord, searchId; keys only) lists the records
holding a word, newest first when read backwards. Word items are written and deleted in
the record's own transaction (`transactions.py`); like claims they carry no `data` and no
`entity`, so no other read or index sees them.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from dataops.domain import accounts, messages, models
from dataops.domain.clock import parse_ts
from dataops.domain.codec import camel, from_dict, to_dict
from dataops.domain.errors import ValidationFailed
from dataops.domain.search import SEARCHED_ENTITIES

KEY = "id"
DATA = "data"
VERSION = "version"
ENTITY = "entity"
OWNER = "owner"
SEPARATOR = "#"
UNIQUE_PREFIX = "#unique#"
ALL_INDEX = "all"
SEARCH_PREFIX = "#search#"
SEARCH_INDEX = "by-search-word"
SEARCH_WORD = "searchWord"
SEARCH_ID = "searchId"
TTL_ATTRIBUTE = "expiresAtEpoch"
MAX_PARTITION_BYTES = 2048  # DynamoDB's limit for a partition key value
MAX_SORT_BYTES = 1024  # ... and for a sort key value
MAX_KEY_BYTES = 1000  # record keys: leaves room for the composite sort values

AttributeValue = dict[str, str]
Item = dict[str, AttributeValue]


@dataclass(frozen=True)
class Index:
    """A global secondary index: equality on `fields` (the partition), sorted by the
    entity's list order. No fields: the constant-partition `all` index."""

    name: str
    fields: tuple[str, ...] = ()

    @property
    def partition_attribute(self) -> str:
        return "_".join(camel(f) for f in self.fields) if self.fields else ENTITY


@dataclass(frozen=True)
class Spec:
    entity: str
    cls: type[Any]
    filters: tuple[str, ...] = ()
    order: tuple[str, ...] = ("id",)
    key: str = "id"
    versioned: bool = True
    indexes: tuple[Index, ...] = ()
    unique: tuple[str, ...] = ()
    expires: str | None = None
    """The field whose time, as `TTL_ATTRIBUTE`, has DynamoDB delete the item."""

    @property
    def searched(self) -> bool:
        """Whether search finds records of this entity (its table holds word items)."""
        return self.entity in SEARCHED_ENTITIES

    @property
    def all_indexes(self) -> tuple[Index, ...]:
        return (Index(ALL_INDEX), *self.indexes)

    @property
    def sort_attribute(self) -> str:
        return KEY if self.order == (self.key,) else "_".join(camel(f) for f in self.order)

    # --- records <-> items ---------------------------------------------------------------

    def key_of(self, record: Any) -> str:
        return str(getattr(record, self.key))

    def version_of(self, record: Any) -> int:
        return int(getattr(record, "version", 1))

    def values(self, record: Any, fields: tuple[str, ...]) -> list[str | None]:
        return [_text(getattr(record, f)) for f in fields]

    def order_values(self, record: Any) -> list[str]:
        return [v or "" for v in self.values(record, self.order)]

    def to_item(self, record: Any) -> Item:
        key = self.key_of(record)
        if not key or len(key.encode()) > MAX_KEY_BYTES:
            raise ValidationFailed.one(camel(self.key), "is empty or too long for this store")
        data = json.dumps(to_dict(record), separators=(",", ":"), ensure_ascii=False)
        item: Item = {
            KEY: {"S": key},
            DATA: {"S": data},
            VERSION: {"N": str(self.version_of(record))},
            ENTITY: {"S": self.entity},
        }
        if self.sort_attribute != KEY:
            item[self.sort_attribute] = {"S": compose(self.order_values(record))}
        if self.expires is not None:
            moment = parse_ts(getattr(record, self.expires))
            # rounded up: DynamoDB may delete an item once this second has passed
            item[TTL_ATTRIBUTE] = {"N": str(math.ceil(moment.timestamp()))}
        for name in self.filters:
            value = _text(getattr(record, name))
            if fits(value, MAX_PARTITION_BYTES):
                item[camel(name)] = {"S": value}
        for index in self.indexes:
            if len(index.fields) > 1:
                parts = self.values(record, index.fields)
                if all(fits(p, MAX_PARTITION_BYTES) for p in parts):
                    value = compose([p or "" for p in parts])
                    if fits(value, MAX_PARTITION_BYTES):
                        item[index.partition_attribute] = {"S": value}
        return item

    def from_item(self, item: Mapping[str, AttributeValue]) -> Any:
        record = from_dict(self.cls, json.loads(item[DATA]["S"]))
        if self.versioned:
            record.version = int(item[VERSION]["N"])
        return record

    def stored_row(self, item: Mapping[str, AttributeValue]) -> tuple[str, bytes, int | None]:
        """The item as a `StoredRow` of the store port: key, data (UTF-8), version."""
        version = int(item[VERSION]["N"]) if self.versioned else None
        return item[KEY]["S"], item[DATA]["S"].encode("utf-8"), version

    def matches(self, record: Any, filters: Mapping[str, str]) -> bool:
        return all(_text(getattr(record, f)) == v for f, v in filters.items())

    # --- queries --------------------------------------------------------------------------

    def indexed(self, name: str) -> bool:
        """Whether an index has `name` in its partition."""
        return any(name in index.fields for index in self.indexes)

    def choose_index(self, filters: Mapping[str, str]) -> tuple[Index, dict[str, str]]:
        """The index whose partition covers the most filters (first declared on a tie);
        the filters it does not cover are left for a FilterExpression."""
        best = Index(ALL_INDEX)
        for index in self.indexes:
            if set(index.fields) <= filters.keys() and len(index.fields) > len(best.fields):
                best = index
        rest = {f: v for f, v in filters.items() if f not in best.fields}
        return best, rest

    def partition_value(self, index: Index, filters: Mapping[str, str]) -> str | None:
        """The partition key value for `filters`; None when no item can have it."""
        if not index.fields:
            return self.entity
        parts = [filters[f] for f in index.fields]
        if not all(fits(p, MAX_PARTITION_BYTES) for p in parts):
            return None
        value = compose(parts)
        return value if fits(value, MAX_PARTITION_BYTES) else None

    def sort_value(self, order_values: list[str]) -> str:
        return compose(order_values) if self.sort_attribute != KEY else order_values[-1]


def compose(parts: list[str]) -> str:
    """Join with `#`, escaping `%` and `#` in every part but the last (injective, and for
    sort values order-preserving: the escaped parts are dates and timestamps)."""
    head = [p.replace("%", "%25").replace(SEPARATOR, "%23") for p in parts[:-1]]
    return SEPARATOR.join([*head, parts[-1]])


def fits(value: str | None, limit: int) -> TypeGuard[str]:
    """A non-empty string whose UTF-8 form is at most `limit` bytes (a storable key)."""
    return value is not None and 0 < len(value.encode()) <= limit


def unique_key(field: str, value: str) -> str:
    return f"{UNIQUE_PREFIX}{camel(field)}{SEPARATOR}{value}"


def search_key(word: str, record_key: str) -> str:
    return f"{SEARCH_PREFIX}{word}{SEPARATOR}{record_key}"


def search_item(word: str, record_key: str) -> Item:
    return {
        KEY: {"S": search_key(word, record_key)},
        OWNER: {"S": record_key},
        SEARCH_WORD: {"S": word},
        SEARCH_ID: {"S": record_key},
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value if isinstance(value, enum.Enum) else value)


SPECS: dict[str, Spec] = {
    spec.entity: spec
    for spec in (
        Spec(
            "users",
            accounts.User,
            filters=("email", "role", "digest_key"),
            indexes=(
                Index("by-email", ("email",)),
                Index("by-role", ("role",)),
                Index("by-digest", ("digest_key",)),
            ),
            unique=("email",),
        ),
        Spec(
            "credentials", accounts.Credential, key="user_id", order=("user_id",), versioned=False
        ),
        Spec(
            "sessions",
            accounts.Session,
            filters=("user_id",),
            indexes=(Index("by-user", ("user_id",)),),
            expires="expires_at",
        ),
        Spec(
            "api_tokens",
            accounts.ApiToken,
            filters=("user_id", "token_hash"),
            indexes=(Index("by-token-hash", ("token_hash",)), Index("by-user", ("user_id",))),
            unique=("token_hash",),
        ),
        Spec("idempotency", accounts.IdempotencyRecord, expires="expires_at"),
        Spec("login_throttles", accounts.LoginThrottle, expires="expires_at"),
        Spec("settings", accounts.WorkspaceSettings),
        Spec(
            "uploads",
            models.Upload,
            filters=("status", "expires_at"),
            order=("expires_at", "id"),
            indexes=(Index("by-status", ("status",)),),
        ),
        Spec("templates", models.Template),
        Spec(
            "recurring_configs",
            models.RecurringConfig,
            filters=("template_id", "enabled_key", "listed_key"),
            indexes=(
                Index("by-template", ("template_id",)),
                Index("by-enabled", ("enabled_key",)),
                Index("by-listed", ("listed_key",)),
            ),
        ),
        Spec(
            "bundles",
            models.Bundle,
            filters=("status", "template_id", "recurring_config_id", "occurrence_key"),
            indexes=(
                Index("by-status", ("status",)),
                Index("by-template", ("template_id",)),
                Index("by-recurring-config", ("recurring_config_id",)),
            ),
            unique=("occurrence_key",),
        ),
        Spec(
            "tasks",
            models.Task,
            filters=(
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
            indexes=(
                Index("by-bundle", ("bundle_id",)),
                Index("by-assignee", ("assignee_id",)),
                Index("by-date", ("date",)),
                Index("by-status", ("status",)),
                Index("by-withdrawn", ("withdrawn_key",)),
                Index("by-proof-expiry", ("proof_expires_on",)),
                Index("by-assignee-open", ("assignee_id", "open_key")),
                Index("by-completer-withdrawn", ("completed_by", "withdrawn_key")),
                Index("by-open", ("open_key",)),
                Index("by-blocked", ("blocked_key",)),
            ),
        ),
        Spec(
            "files",
            models.FileRecord,
            filters=("task_id", "bundle_id", "location"),
            versioned=False,
            indexes=(
                Index("by-task", ("task_id",)),
                Index("by-bundle", ("bundle_id",)),
                Index("by-location", ("location",)),
            ),
        ),
        Spec(
            "artifacts",
            models.Artifact,
            filters=(
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
            indexes=(
                Index("by-task", ("task_id",)),
                Index("by-task-status", ("task_id", "status")),
                Index("by-task-status-type", ("task_id", "status", "type")),
                Index("by-bundle", ("bundle_id",)),
                Index("by-bundle-status", ("bundle_id", "status")),
                Index("by-bundle-status-type", ("bundle_id", "status", "type")),
                Index("by-assistant-job", ("assistant_job_id",)),
                Index("by-file", ("file_id",)),
                Index("by-status", ("status",)),
                Index("by-status-type", ("status", "type")),
                Index("by-type", ("type",)),
                Index("by-storage-uri", ("storage_uri",)),
                Index("by-valid-until", ("valid_until",)),
                Index("by-valid-until-status", ("valid_until", "status")),
                Index("by-creator-status", ("created_by", "status")),
            ),
        ),
        Spec(
            "audit_events",
            messages.AuditEvent,
            filters=("entity_type", "entity_id"),
            versioned=False,
            indexes=(
                Index("by-entity-type", ("entity_type",)),
                Index("by-entity", ("entity_type", "entity_id")),
            ),
        ),
        Spec(
            "notifications",
            messages.Notification,
            filters=("user_id", "task_id", "unread_key", "dedupe_key"),
            indexes=(
                Index("by-user", ("user_id",)),
                Index("by-task", ("task_id",)),
                Index("by-user-unread", ("user_id", "unread_key")),
            ),
            unique=("dedupe_key",),
        ),
        Spec(
            "webhooks",
            messages.Webhook,
            filters=("enabled_key", "listed_key"),
            indexes=(Index("by-enabled", ("enabled_key",)), Index("by-listed", ("listed_key",))),
        ),
        Spec(
            "outbox",
            messages.OutboxMessage,
            filters=("target_id", "due_key", "next_attempt_at"),
            order=("next_attempt_at", "id"),
            indexes=(Index("by-target", ("target_id",)), Index("by-due", ("due_key",))),
        ),
    )
}
