"""One legacy record → today's record (REFERENCE.md §5.4-5.7 → CONTRACT §5b, §6, §8).

Each legacy shape is mapped and reported as a warning naming the record (entity, line,
field); what cannot be mapped is an error naming the record, never dropped quietly.
Everything else passes through unchanged, so today's checks judge it as they judge any
export (an unknown field, a missing one, a bad value: each is an error there).

The mapping:

- users without `role` → `viewer`;
- notifications: `notification_type` → `type`;
- files whose `storage_uri` is a bare legacy path (`<task>/<file>`) →
  `local-dev://<path>` (spaces as `%20`), provider `local-dev` when it has a checksum (without
  one it stays unset, as for this system's own legacy files: a DataOps-owned provider
  needs a checksum);
- artifacts: `visibility` folds into `data_class` (the stricter of the two when they
  differ);
- tasks: `source` (how the task was made) is implied by its `template_id` or recurring
  config and not kept; `recurring_config_id` (a legacy config made tasks) → the
  `template_id` made for that config and its task definition's `template_task_ref`;
- free-form objects kept as JSON text (task `proof_requirement`, artifact `metadata`)
  → the object; plain-text `metadata` (the earlier system took a string) →
  `{"text": <it>}`, a `proof_requirement` that is a proof type alone → `{"type": <it>}`;
  a whole `size_bytes` written as a fraction (`10.0`) → the integer;
- bundles: empty `assistant_job_refs`/`audit_event_refs` dropped (bundles have none
  today; non-empty ones are an error);
- templates: `source_doc_ids` → `references` (`{"title": "Source document <id>"}`);
  trigger fields (`trigger_type`, `trigger_schedule`, `trigger_lead_days`) → a recurring
  config of the template (`<template id>-schedule`) when scheduled; task definitions'
  `artifactRefs` not kept (warning: the tasks made keep their copies), their job and
  event refs an error unless empty;
- recurring configs (a description and a cron that made one task each time) → a
  template made for the config (`<config id>-template`, one task definition) and
  today's config of it: `title` `<description> ({date})`, the cron (AWS
  `cron(m h dom mon dow year)`, six fields with seconds `0`, or `rate(N days)` mapped;
  else an error), `lead_days` 0, UTC, starting the day the export was written (the
  earlier system made every occurrence before it);
- a timestamp that is a date alone (the earlier validator took any date) → that day's
  midnight UTC; any other the earlier validator took (JavaScript's lenient `Date.parse`:
  `"June 1 2026"`, no zone) → read by dateutil, UTC when it names no zone;
- a missing `created_at`/`updated_at` (optional then, required today) → the other one,
  the completion time, or the day the export was written;
- the shared portal identity `portal-admin` (REFERENCE.md §10.18, no user record) as
  an actor → the system actor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from dataops.domain.enums import DataClass, ProofType, StorageProvider
from dataops.domain.rules import MAX_TITLE, MAX_TITLE_PATTERN
from dataops.portable.checking.checks import TIMESTAMPS
from dataops.portable.format import SYSTEM_ACTOR, legacy_uri
from dataops.portable.legacy.values import (
    config_template_id,
    lenient_timestamp,
    map_schedule,
    schedule_problem,
    trigger_config_id,
)
from dataops.portable.report import Problem

Note = Callable[[Problem, bool], None]
"""Where a finding goes: (problem, whether it is an error; else a warning)."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CLASS_ORDER = [c.value for c in DataClass]  # public < internal < private < sensitive
PORTAL_IDENTITY = "portal-admin"
METADATA_TEXT = "text"
"""The key under which an artifact's plain-text legacy `metadata` is kept."""
_ACTOR_FIELDS = {
    "tasks": ("completed_by",),
    "artifacts": ("created_by", "reviewed_by"),
    "files": ("created_by",),
}
_MANUAL_TRIGGERS = frozenset({"", "manual", "none"})
DEFINITION_REF = "task"
"""`refId` of the one task definition of a template made for a legacy recurring config."""


_STAMPED = frozenset({"tasks", "bundles", "templates", "recurring_configs", "artifacts"})
"""Entities whose records carry `created_at` and `updated_at` today (both required)."""


class LegacyMapper:
    """Maps the records of one legacy export, in `convert`'s order: recurring configs
    first (tasks and templates need them), then templates, then the rest."""

    def __init__(self, start_date: str, note: Note) -> None:
        self._start = start_date
        self._note = note
        self.config_ids: set[str] = set()
        self.made_templates: list[dict[str, Any]] = []
        """Templates made for legacy recurring configs (appended to templates.jsonl)."""
        self.made_configs: list[dict[str, Any]] = []
        """Recurring configs made from template triggers (appended to recurring_configs)."""
        self.shapes: dict[str, int] = {}
        """`<entity>.<field>` → records of that legacy shape."""

    def _warn(self, entity: str, line: int, field: str, message: str) -> None:
        key = f"{entity}.{field}"
        self.shapes[key] = self.shapes.get(key, 0) + 1
        self._note(Problem(entity, f"legacy: {message}", line, field), False)

    def _error(self, entity: str, line: int, field: str, message: str) -> None:
        self._note(Problem(entity, f"legacy record cannot be mapped: {message}", line, field), True)

    def map(self, entity: str, line: int, record: dict[str, Any]) -> dict[str, Any]:
        """Today's form of `record` (changed in place)."""
        for field in _ACTOR_FIELDS.get(entity, ()):
            if record.get(field) == PORTAL_IDENTITY:
                record[field] = SYSTEM_ACTOR
                self._warn(
                    entity,
                    line,
                    field,
                    f"{PORTAL_IDENTITY!r} (the shared portal identity, no user record) "
                    f"mapped to the system actor {SYSTEM_ACTOR!r}",
                )
        for field in TIMESTAMPS:
            value = record.get(field)
            if isinstance(value, str):
                read = lenient_timestamp(value)
                if read is not None and read != value:
                    record[field] = read
                    self._warn(entity, line, field, f"timestamp {value!r} read as {read!r}")
        self._stamps(entity, line, record)
        mapper = _MAPPERS.get(entity)
        if mapper is not None:
            mapper(self, line, record)
        return record

    def _stamps(self, entity: str, line: int, record: dict[str, Any]) -> None:
        """The earlier system's `created_at`/`updated_at` were optional; today's records
        that carry them need both: a missing one is the other (or the completion, or
        the export's day), said as a warning."""
        if entity not in _STAMPED:
            return
        fallbacks = {
            "created_at": ("updated_at", "completed_at"),
            "updated_at": ("completed_at", "created_at"),
        }
        for field, others in fallbacks.items():
            if record.get(field) is not None:
                continue
            source = next((o for o in others if isinstance(record.get(o), str)), None)
            value = record[source] if source else f"{self._start}T00:00:00.000Z"
            record[field] = value
            origin = f"its {source}" if source else "the day the export was written"
            self._warn(entity, line, field, f"missing; set to {value!r} ({origin})")

    # ------------------------------------------------------------------ entities

    def _users(self, line: int, record: dict[str, Any]) -> None:
        if record.get("role") is None:
            record["role"] = "viewer"
            self._warn("users", line, "role", "no role; imported as 'viewer'")

    def _notifications(self, line: int, record: dict[str, Any]) -> None:
        if "notification_type" not in record:
            return
        value = record.pop("notification_type")
        if "type" in record and record["type"] != value:
            self._error("notifications", line, "notification_type", "differs from type")
            return
        record["type"] = value
        self._warn("notifications", line, "notification_type", "mapped to type")

    def _files(self, line: int, record: dict[str, Any]) -> None:
        self._size("files", line, record)
        uri = record.get("storage_uri")
        if not isinstance(uri, str) or not uri.strip() or _SCHEME.match(uri):
            return
        record["storage_uri"] = legacy_uri(uri).replace(" ", "%20")
        message = f"bare path {uri!r} mapped to {record['storage_uri']!r}"
        if " " in uri:
            message += " (spaces as %20: a URI holds none; copy the bytes under that name)"
        if "storage_provider" not in record and isinstance(record.get("checksum"), str):
            record["storage_provider"] = StorageProvider.LOCAL_DEV.value
            message += ", provider 'local-dev'"
        elif "storage_provider" not in record:
            message += " (no checksum, so no provider: a DataOps-owned provider needs one)"
        self._warn("files", line, "storage_uri", message)

    def _size(self, entity: str, line: int, record: dict[str, Any]) -> None:
        size = record.get("size_bytes")
        if type(size) is float:
            if not size.is_integer() or size < 0:
                self._error(entity, line, "size_bytes", f"{size!r} is not a whole byte count")
            else:
                record["size_bytes"] = int(size)
                self._warn(entity, line, "size_bytes", f"{size!r} mapped to {int(size)}")

    def _json_text(self, entity: str, line: int, record: dict[str, Any], field: str) -> None:
        """A free-form object the earlier exporter kept as JSON text → the object."""
        text = record.get(field)
        if not isinstance(text, str):
            return
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            record[field] = value
            self._warn(entity, line, field, "JSON text mapped to its object")
        elif field == "metadata":
            record[field] = {METADATA_TEXT: text}
            self._warn(entity, line, field, f"text kept as metadata.{METADATA_TEXT}")
        elif field == "proof_requirement" and text in {t.value for t in ProofType}:
            record[field] = {"type": text}
            self._warn(entity, line, field, f"proof type {text!r} mapped to {{'type': {text!r}}}")
        else:
            self._error(entity, line, field, "text that is neither a JSON object nor a proof type")

    def _artifacts(self, line: int, record: dict[str, Any]) -> None:
        self._size("artifacts", line, record)
        self._json_text("artifacts", line, record, "metadata")
        if "visibility" not in record:
            return
        visibility = record.pop("visibility")
        data_class = record.get("data_class", visibility)
        if visibility not in _CLASS_ORDER or data_class not in _CLASS_ORDER:
            self._error("artifacts", line, "visibility", f"unknown data class {visibility!r}")
            return
        stricter = max(visibility, data_class, key=_CLASS_ORDER.index)
        record["data_class"] = stricter
        self._warn("artifacts", line, "visibility", f"folded into data_class {stricter!r}")

    def _tasks(self, line: int, record: dict[str, Any]) -> None:
        if "source" in record:
            source = record.pop("source")
            if not isinstance(source, str):
                self._error("tasks", line, "source", "must be a string")
            else:
                self._warn(
                    "tasks",
                    line,
                    "source",
                    f"{source!r} not kept: a task's origin is its template_id or recurring "
                    "config today",
                )
        if "recurring_config_id" in record:
            self._task_config(line, record, record.pop("recurring_config_id"))
        self._json_text("tasks", line, record, "proof_requirement")

    def _task_config(self, line: int, record: dict[str, Any], config_id: Any) -> None:
        if not isinstance(config_id, str) or config_id not in self.config_ids:
            message = f"references missing recurring_configs record {config_id!r}"
            self._error("tasks", line, "recurring_config_id", message)
            return
        template_id = config_template_id(config_id)
        if record.get("template_id") not in (None, template_id):
            message = f"has both template_id and recurring_config_id {config_id!r}"
            self._error("tasks", line, "recurring_config_id", message)
            return
        record["template_id"] = template_id
        record.setdefault("template_task_ref", DEFINITION_REF)
        message = f"{config_id!r} mapped to template_id {template_id!r} (the config's template)"
        self._warn("tasks", line, "recurring_config_id", message)

    def _bundles(self, line: int, record: dict[str, Any]) -> None:
        for field in ("assistant_job_refs", "audit_event_refs"):
            if field in record:
                refs = record.pop(field)
                if refs:
                    self._error("bundles", line, field, "bundles hold no such refs today")

    def _templates(self, line: int, record: dict[str, Any]) -> None:
        documents = record.pop("source_doc_ids", None)
        if documents:
            if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
                self._error("templates", line, "source_doc_ids", "must be an array of strings")
            else:
                references = record.setdefault("references", [])
                if isinstance(references, list):
                    references += [{"title": f"Source document {d}"} for d in documents]
                    self._warn("templates", line, "source_doc_ids", "mapped to references")
        definitions = record.get("task_definitions")
        if isinstance(definitions, list):
            for index, definition in enumerate(definitions):
                if not isinstance(definition, dict):
                    continue
                where = f"task_definitions[{index}]"
                if definition.pop("artifactRefs", None):
                    message = (
                        "artifactRefs not kept: a template names no artifacts today (one "
                        "approved artifact satisfied every instance, REFERENCE.md §10.15); the "
                        "tasks made from it keep their copies"
                    )
                    self._warn("templates", line, f"{where}.artifactRefs", message)
                for key in ("assistantJobRefs", "auditEventRefs"):
                    if definition.pop(key, None):
                        message = "templates hold no such refs today"
                        self._error("templates", line, f"{where}.{key}", message)
        self._trigger(line, record)

    def _trigger(self, line: int, record: dict[str, Any]) -> None:
        kind = record.pop("trigger_type", None)
        schedule = record.pop("trigger_schedule", None)
        lead = record.pop("trigger_lead_days", None)
        if kind is None and schedule is None and lead is None:
            return
        if not schedule:
            if isinstance(kind, str) and kind.strip().lower() in _MANUAL_TRIGGERS:
                self._warn("templates", line, "trigger_type", f"{kind!r}: started by hand")
            else:
                self._error("templates", line, "trigger_schedule", f"trigger {kind!r} has none")
            return
        mapped = map_schedule(schedule) if isinstance(schedule, str) else None
        if lead is not None and (type(lead) is not int or lead < 0):
            self._error("templates", line, "trigger_lead_days", f"{lead!r} is not a day count")
            return
        template_id, name = record.get("template_id"), record.get("name")
        if mapped is None or not isinstance(template_id, str) or not isinstance(name, str):
            self._error("templates", line, "trigger_schedule", f"no equivalent of {schedule!r}")
            return
        config = {
            "recurring_config_id": trigger_config_id(template_id),
            "template_id": template_id,
            **self._schedule_fields(name, mapped, 7 if lead is None else lead),
            "enabled": True,
            "created_at": record.get("created_at"),
            "updated_at": record.get("updated_at") or record.get("created_at"),
        }
        reason = schedule_problem(config)
        if reason is not None:
            self._error("templates", line, "trigger_schedule", f"{schedule!r}: {reason}")
            return
        self.made_configs.append(config)
        message = (
            f"trigger {kind!r} {schedule!r} mapped to recurring config "
            f"{config['recurring_config_id']!r} ({mapped[0]} {mapped[1]!r}, from {self._start})"
        )
        self._warn("templates", line, "trigger_schedule", message)

    def _schedule_fields(
        self, name: str, schedule: tuple[str, str], lead_days: int
    ) -> dict[str, Any]:
        """Today's schedule fields of a config made from a legacy schedule: named after
        `name`, UTC, starting the day the export was written."""
        return {
            "title": f"{name[: MAX_TITLE_PATTERN - 10]} ({{date}})",
            schedule[0]: schedule[1],
            "timezone": "UTC",
            "start_date": self._start,
            "lead_days": lead_days,
        }

    def _recurring_configs(self, line: int, record: dict[str, Any]) -> None:
        config_id = record.get("recurring_config_id")
        if isinstance(config_id, str):
            self.config_ids.add(config_id)
        if "template_id" in record or not isinstance(config_id, str):
            return  # today's shape (or no id: today's checks say so)
        description = record.pop("description", None)
        cron = record.pop("cron_expression", None)
        if not isinstance(description, str) or not description.strip():
            self._error("recurring_configs", line, "description", "no task description")
            description = config_id
        mapped = map_schedule(cron) if isinstance(cron, str) else None
        if mapped is None:
            self._error("recurring_configs", line, "cron_expression", f"no equivalent of {cron!r}")
            mapped = ("cron_expression", str(cron))
        template_id = config_template_id(config_id)
        definition: dict[str, Any] = {
            "refId": DEFINITION_REF,
            "description": description,
            "offsetDays": 0,
        }
        template: dict[str, Any] = {
            "template_id": template_id,
            "name": description[:MAX_TITLE],
            "created_at": record.get("created_at"),
            "updated_at": record.get("updated_at") or record.get("created_at"),
            "task_definitions": [definition],
        }
        if isinstance(record.get("assignee_id"), str):
            definition["assigneeId"] = template["default_assignee_id"] = record["assignee_id"]
        self.made_templates.append(template)
        record.update({"template_id": template_id, **self._schedule_fields(description, mapped, 0)})
        message = (
            f"task-making config mapped to template {template_id!r} (one task) and its "
            f"recurring config ({mapped[0]} {mapped[1]!r}, from {self._start})"
        )
        self._warn("recurring_configs", line, "cron_expression", message)


_MAPPERS: dict[str, Callable[[LegacyMapper, int, dict[str, Any]], None]] = {
    "users": LegacyMapper._users,
    "notifications": LegacyMapper._notifications,
    "files": LegacyMapper._files,
    "artifacts": LegacyMapper._artifacts,
    "tasks": LegacyMapper._tasks,
    "bundles": LegacyMapper._bundles,
    "templates": LegacyMapper._templates,
    "recurring_configs": LegacyMapper._recurring_configs,
}
