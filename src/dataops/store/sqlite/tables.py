"""Row mapping for SQLite: one table per entity holding the record as JSON plus the
columns every list filter and lookup needs. Key formats and column names live here."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, not_
from typing import Any

import orjson

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
        return [
            value._value_ if isinstance(value, enum.Enum) else value
            for value in _getter(self.written)(record)
        ]

    def order_values(self, record: Any) -> list[Any]:
        """The record's values of the list order (what a cursor after it holds)."""
        return [_column(record, column) for column in self.order]

    def encode(self, record: Any) -> str:
        """The record's JSON: `to_dict`'s, written compact. Its values are written as
        they stand (`_json_ready`: no copy of free-form values such as audit states);
        where that is not JSON data (an entity inside a free-form value) or nests too
        deep, `to_dict` converts it first.

        orjson writes it when its bytes are provably those of `json`: no float anywhere
        (the two write some differently: `1e-05` and `0.00001`, NaN and null), no other
        type than str, int, bool, None, list and dict (enums and entities converted), and
        orjson refusing (TypeError) the rest: integers beyond 64 bits, lone surrogates,
        keys that are not strings, subclasses, nesting deeper than 254."""
        try:
            seen = [False]
            ready = _json_ready(record, seen)
            if not seen[0]:
                try:
                    return orjson.dumps(ready, option=_ORJSON_SAFE).decode()
                except TypeError:
                    pass  # (orjson.JSONEncodeError) what orjson refuses, `json` writes
            return _DUMP(ready)
        except (TypeError, RecursionError):
            return _DUMP(to_dict(record))

    def decode(self, data: str) -> Any:
        return from_dict(self.cls, json.loads(data))


_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_ORJSON_SAFE = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson refuses (TypeError) what `json` would write otherwise, or refuse."""
_SCALARS = frozenset({str, int, bool, type(None)})
_IS_SCALAR = _SCALARS.__contains__
_PLANS: dict[type[Any], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}
_GETTERS: dict[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] = {}


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The function reading the attributes `names` of an object, as a tuple."""
    found = _GETTERS.get(names)
    if found is None:
        if not names:
            found = _GETTERS[names] = lambda record: ()
        elif len(names) == 1:
            name = names[0]
            found = _GETTERS[names] = lambda record: (getattr(record, name),)
        else:
            found = _GETTERS[names] = attrgetter(*names)
    return found


def _plan(cls: type[Any]) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The camelCase keys of the fields of `cls` and the reader of their values."""
    found = _PLANS.get(cls)
    if found is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        found = _PLANS[cls] = (tuple(camel(name) for name in names), _getter(names))
    return found


def _json_ready(entity: Any, seen: list[bool]) -> dict[str, Any]:
    """`to_dict(entity)` as the JSON encoder writes it, without copies: nested entities
    become dicts, enums their values, and free-form values stay as they are (JSON data;
    an entity inside one makes the encoder raise TypeError). `seen[0]` becomes True if a
    value is not plain JSON data (`_plain`)."""
    keys, values_of = _plan(type(entity))
    values = values_of(entity)
    out = dict(zip(keys, values, strict=True))
    scalar = list(map(_IS_SCALAR, map(type, values)))
    if all(scalar):
        return out
    for key, value in compress(zip(keys, values, strict=True), map(not_, scalar)):
        kind = type(value)
        if kind is list:
            if value and not _SCALARS.issuperset(map(type, value)):
                out[key] = [_json_item(item, seen) for item in value]
        elif kind is dict:
            if value and not seen[0] and not _plain(value):
                seen[0] = True
        else:
            out[key] = _json_item(value, seen)
    return out


def _json_item(item: Any, seen: list[bool]) -> Any:
    kind = type(item)
    if kind in _SCALARS:
        return item
    if kind is dict or kind is list:
        if item and not seen[0] and not _plain(item):
            seen[0] = True
        return item
    if isinstance(item, enum.Enum):
        value = item._value_  # (what `.value` reads, without the descriptor)
        if type(value) not in _SCALARS:
            seen[0] = True
        return value
    if kind in _PLANS or (dataclasses.is_dataclass(item) and not isinstance(item, type)):
        return _json_ready(item, seen)
    seen[0] = True  # a float, or anything else
    return item


def _plain(value: dict[Any, Any] | list[Any]) -> bool:
    """Whether `value` is JSON data without a float: str, int, bool and None values in
    dicts and lists (orjson refuses what else `json` would write differently)."""
    stack = [value]
    while stack:
        container = stack.pop()
        items: Iterable[Any] = container.values() if type(container) is dict else container
        if _SCALARS.issuperset(map(type, items)):
            continue
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append(item)
            elif kind not in _SCALARS:
                return False
    return True


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
