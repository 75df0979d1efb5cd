"""The portable export format, version 1 (CONTRACT §6): entity files, record mapping and
the manifest.

Layout: `manifest.json` plus one `<entity>.jsonl` per exported entity; an archive holds
the same files at its root. Entities that are not implemented are listed in
`omitted_entities` and have no file.

Record mapping (entity ↔ export record):

- The entity's own `id` becomes `<entity>_id` (`task_id`, `artifact_id`,
  `audit_event_id`, ...). Every other top-level field is the snake_case form of its
  runtime camelCase name; relationship IDs are explicit (`task_id`, `bundle_id`,
  `file_id`, `assistant_job_id`, ...).
- Nested values keep their runtime shape and key names: `metadata`, `artifact_refs`
  items (`{"artifactId", ...}`), `proof_requirement`, `completion_proof`, audit
  `before`/`after`, template `task_definitions`... are never rewritten, so free-form
  data survives a round trip exactly.
- Top-level nulls and empty lists are omitted (`false`, `0` and `{}` are kept); read
  back, a null is an absent field (the entity's default).
- Files always carry `storage_uri`; a legacy record that only has `storagePath` is
  exported as `local-dev://<path>` (backslashes turned into `/`, leading `/` removed)
  and `storage_path` itself is not exported.
- Never exported: credentials (password hashes), sessions and API tokens; nor the
  transient operational records (upload tickets, idempotency replays, login throttles),
  which are not entities of the format.

Determinism: one compact JSON object per line, keys sorted at every depth, records in
`id` order, UTF-8 (a string that cannot be UTF-8 encoded is written with `\\u` escapes),
a trailing newline after every record. The manifest is 2-space indented JSON with
sorted keys and a trailing newline; it is the only file not checksummed.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops.domain import accounts, messages, models
from dataops.domain.codec import builder, camel, constructor, record_plan, snake
from dataops.domain.models import legacy_uri as legacy_uri  # (the export's rule too)

SCHEMA_VERSION = "dataops.execution.v1"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SYSTEM_ACTOR = accounts.SYSTEM_ACTOR_ID
"""The actor id relationships may name without a user record."""


@dataclass(frozen=True)
class EntitySpec:
    name: str
    id_field: str
    model: type[Any] | None = None
    """The runtime entity; None for entities this version does not implement."""

    @property
    def file_name(self) -> str:
        return f"{self.name}.jsonl"

    @property
    def versioned(self) -> bool:
        return self.model is not None and "version" in _field_names(self.model)


SPECS: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("users", "user_id", accounts.User),
        EntitySpec("tasks", "task_id", models.Task),
        EntitySpec("bundles", "bundle_id", models.Bundle),
        EntitySpec("templates", "template_id", models.Template),
        EntitySpec("recurring_configs", "recurring_config_id", models.RecurringConfig),
        EntitySpec("files", "file_id", models.FileRecord),
        EntitySpec("notifications", "notification_id", messages.Notification),
        EntitySpec("artifacts", "artifact_id", models.Artifact),
        EntitySpec("assistant_jobs", "assistant_job_id"),
        EntitySpec("audit_events", "audit_event_id", messages.AuditEvent),
        EntitySpec("settings", "settings_id", accounts.WorkspaceSettings),
    )
}
ENTITY_NAMES = tuple(SPECS)
"""Every entity of the format, in the manifest's order."""

EXPORTED = (
    "users",
    "settings",
    "templates",
    "recurring_configs",
    "bundles",
    "tasks",
    "files",
    "artifacts",
    "notifications",
    "audit_events",
)
"""What this version exports, in dependency order (the import writes in this order)."""

OMITTED = ("assistant_jobs", "sessions")
"""Listed in `omitted_entities`: not implemented yet, or (sessions) never exported."""

REDACTIONS = ("users.password_hash", "sessions", "api_tokens", "webhooks", "outbox")
REQUIRED_REDACTIONS = ("users.password_hash", "sessions")
"""Markers every valid export declares (`api_tokens` came later, so it is optional)."""

_FILE_NAME = re.compile(r"^[a-z_]+\.jsonl$")
_GIT_SHA = re.compile(r"^[0-9a-f]{40}$")


def _field_names(model: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(model))


@functools.cache
def known_fields(spec: EntitySpec) -> frozenset[str]:
    """Top-level field names an export record of `spec` may carry."""
    if spec.model is None:
        return frozenset()
    names = {spec.id_field if name == "id" else name for name in _field_names(spec.model)}
    return frozenset(names)


@functools.cache
def required_fields(spec: EntitySpec) -> tuple[str, ...]:
    """Fields every record of `spec` must carry (the entity's fields without a default)."""
    if spec.model is None:
        return (spec.id_field,)
    names = [
        spec.id_field if f.name == "id" else f.name
        for f in dataclasses.fields(spec.model)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if spec.name == "files":
        names.append("storage_uri")
    return tuple(names)


def with_storage_uri(record: dict[str, Any]) -> None:
    """A file's export record: `storage_uri` always (a legacy `storage_path` as its
    `local-dev://` URI), `storage_path` never."""
    path = record.pop("storage_path", None)
    if "storage_uri" not in record and isinstance(path, str) and path:
        record["storage_uri"] = legacy_uri(path)


_FIELD_NAMES: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def _names(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    """(attribute, camelCase name) of every field of a dataclass."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple((f.name, camel(f.name)) for f in dataclasses.fields(cls))
    return names


def _runtime(value: Any) -> Any:
    """A field value in its runtime JSON shape: what `codec.to_dict` gives, without copying
    free-form values (`metadata`, `validation`, audit states...), which hold JSON only."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_runtime(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _runtime(getattr(value, name)) for name, key in _names(type(value))}
    return value


def to_record(spec: EntitySpec, entity: Any) -> dict[str, Any]:
    """Entity → export record (see the module docstring)."""
    record: dict[str, Any] = {}
    for name, _ in _names(type(entity)):
        value = getattr(entity, name)
        if value is None or (isinstance(value, list) and not value):
            continue
        record[spec.id_field if name == "id" else name] = _runtime(value)
    if spec.name == "files":
        with_storage_uri(record)
    return record


def runtime_dict(spec: EntitySpec, record: Mapping[str, Any]) -> dict[str, Any]:
    """Export record → the entity's camelCase runtime dict (nested values untouched)."""
    return {("id" if key == spec.id_field else camel(key)): value for key, value in record.items()}


_RECORD_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {}


def _record_builder(spec: EntitySpec) -> Callable[[Mapping[str, Any]], Any]:
    """The codec's builder of the entity by export names, with a fast path for the usual
    record (known keys, no nulls): export names are the attribute names but for the id,
    so the record itself is the keyword arguments once the few non-JSON values are
    converted."""
    found = _RECORD_BUILDERS.get(spec.name)
    if found is None:
        assert spec.model is not None
        cls, id_key = spec.model, spec.id_field
        general = builder(cls, ("id", id_key), absent_nulls=True)
        construct = constructor(cls)
        plan = record_plan(cls, ("id", id_key))
        keys = frozenset(plan)
        conversions = [
            (name, convert)
            for name, convert in plan.values()
            if name != "id" and convert is not None
        ]

        def build(data: Mapping[str, Any]) -> Any:
            if not data.keys() <= keys or None in data.values():
                return general(data)
            kwargs = dict(data)
            if id_key in kwargs:
                kwargs["id"] = kwargs.pop(id_key)
            for name, convert in conversions:
                if name in kwargs:
                    kwargs[name] = convert(kwargs[name])
            return construct(kwargs)

        found = _RECORD_BUILDERS[spec.name] = build
    return found


def from_record(spec: EntitySpec, record: Mapping[str, Any]) -> Any:
    """Export record → entity. The record must have passed the schema check."""
    if spec.model is None:
        raise ValueError(f"{spec.name} has no runtime model in this version")
    return _record_builder(spec)(record)


def export_field(spec: EntitySpec, runtime_path: str) -> str:
    """A rule's camelCase field path as the export names it: only the top-level name
    changes (`storageUri` → `storage_uri`, `bundleLinks[0].url` → `bundle_links[0].url`,
    `id` → `task_id`)."""
    cut = len(runtime_path)
    for mark in (".", "["):
        index = runtime_path.find(mark)
        if index != -1:
            cut = min(cut, index)
    head, rest = runtime_path[:cut], runtime_path[cut:]
    return (spec.id_field if head == "id" else snake(head)) + rest


def canonical_line(record: Mapping[str, Any]) -> str:
    """One record as its export line (without the newline)."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return line


def is_entity_file_name(name: str) -> bool:
    return bool(_FILE_NAME.match(name))


@dataclass(frozen=True)
class SourceInfo:
    """Where an export comes from (manifest `source_*` and `app_git_sha`)."""

    environment: str = "local"
    stack: str = "local"
    region: str = "local"
    git_sha: str = "unknown"

    @classmethod
    def from_environment(
        cls, environment: str, environ: Mapping[str, str] | None = None
    ) -> SourceInfo:
        env = os.environ if environ is None else environ
        return cls(
            environment=environment,
            stack=env.get("AWS_STACK_NAME") or "local",
            region=env.get("AWS_REGION") or "local",
            git_sha=env.get("APP_GIT_SHA") or _git_head() or "unknown",
        )


@functools.cache
def _git_head() -> str | None:
    """The commit of the running code when it runs from a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 (git from PATH, as any developer tool)
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and _GIT_SHA.match(sha) else None


@dataclass(frozen=True)
class EntityFile:
    name: str
    count: int
    checksum: str


def build_manifest(
    info: SourceInfo, generated_at: str, files: list[EntityFile], omitted: tuple[str, ...]
) -> dict[str, Any]:
    """The manifest of CONTRACT §6, exactly."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at,
        "source_environment": info.environment,
        "source_stack": info.stack,
        "source_region": info.region,
        "app_git_sha": info.git_sha,
        "export_format_version": FORMAT_VERSION,
        "entity_files": {f.name: SPECS[f.name].file_name for f in files},
        "entity_counts": {f.name: f.count for f in files},
        "checksums": {SPECS[f.name].file_name: f.checksum for f in files},
        "redactions": list(REDACTIONS),
        "omitted_entities": list(omitted),
    }


def manifest_text(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
