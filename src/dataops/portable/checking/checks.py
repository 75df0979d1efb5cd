"""Per-record checks of the validator: the domain's field rules and storage policy,
applied to export records (one rule, one place), plus what only an export can get
wrong (timestamps, relationships, redaction)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from dataops.domain import rules
from dataops.domain.clock import parse_ts
from dataops.domain.enums import TaskStatus
from dataops.domain.errors import FieldError
from dataops.domain.policy import check_metadata
from dataops.domain.secret_scan import (
    is_secret_key,
    key_words,
    may_hold_secret,
    scan_for_secret_values,
    secret_value_problem,
    text_known_clean,
)
from dataops.domain.status import REVIEWED
from dataops.portable.format import EntitySpec, export_field, from_record
from dataops.portable.schema import FieldIssue, check_record

TIMESTAMPS = ("created_at", "updated_at", "reviewed_at", "completed_at", "due_at", "read_at")
_HASH_WORDS = frozenset({"hash", "hashed", "salt", "digest", "argon2", "bcrypt", "scrypt"})
_HASH_VALUES = re.compile(r"^\$(argon2(id|i|d)|2[abxy]?|scrypt|pbkdf2)[$-]|^pbkdf2_")

_RULES: dict[str, Callable[[Any], list[FieldError]]] = {
    "tasks": rules.task_errors,
    "bundles": rules.bundle_errors,
    "templates": rules.template_errors,
    "files": rules.file_errors,
    "artifacts": rules.artifact_errors,
    "recurring_configs": rules.recurring_config_errors,
    "users": rules.user_errors,
}

Relation = tuple[str, str, bool]
"""(field, target entity, whether the system actor id is allowed)."""

RELATIONS: dict[str, tuple[Relation, ...]] = {
    "tasks": (
        ("bundle_id", "bundles", False),
        ("template_id", "templates", False),
        ("assignee_id", "users", False),
        ("completed_by", "users", True),
    ),
    "bundles": (
        ("template_id", "templates", False),
        ("recurring_config_id", "recurring_configs", False),
    ),
    "templates": (("default_assignee_id", "users", False),),
    "recurring_configs": (
        ("template_id", "templates", False),
        ("assignee_id", "users", False),
    ),
    "files": (
        ("task_id", "tasks", False),
        ("bundle_id", "bundles", False),
        ("created_by", "users", True),
    ),
    "artifacts": (
        ("task_id", "tasks", False),
        ("bundle_id", "bundles", False),
        ("file_id", "files", False),
        ("created_by", "users", True),
        ("reviewed_by", "users", True),
        ("assistant_job_id", "assistant_jobs", False),
        ("supersedes", "artifacts", False),
        ("superseded_by", "artifacts", False),
    ),
    "audit_events": (("actor_id", "users", True),),
    "settings": (("updated_by", "users", True),),
    "notifications": (
        ("user_id", "users", False),
        ("task_id", "tasks", False),
        ("bundle_id", "bundles", False),
        ("template_id", "templates", False),
        ("artifact_id", "artifacts", False),
    ),
}

NESTED_RELATIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "tasks": (
        ("artifact_refs", "artifactId", "artifacts"),
        ("assistant_job_refs", "assistantJobId", "assistant_jobs"),
    ),
    "bundles": (("artifact_refs", "artifactId", "artifacts"),),
    "templates": (("task_definitions", "assigneeId", "users"),),
}
"""(list field, key inside each item, target entity)."""


def edges(spec: EntitySpec, record: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(field path, target entity, target id, system actor allowed) of every relationship
    the record holds, including the evidence its recorded completion proof names."""
    for field, target, actor in RELATIONS.get(spec.name, ()):
        value = record.get(field)
        if isinstance(value, str):
            yield field, target, value, actor
    for field, key, target in NESTED_RELATIONS.get(spec.name, ()):
        items = record.get(field)
        if isinstance(items, list):
            for index, item in enumerate(items):
                value = item.get(key) if isinstance(item, dict) else None
                if isinstance(value, str):
                    yield f"{field}[{index}].{key}", target, value, False
    if spec.name == "tasks":
        yield from _proof_edges(record.get("completion_proof"))


def _proof_edges(proof: Any) -> Iterator[tuple[str, str, str, bool]]:
    if not isinstance(proof, list):
        return
    for index, verdict in enumerate(proof):
        by = verdict.get("satisfiedBy") if isinstance(verdict, dict) else None
        if not isinstance(by, dict):
            continue
        for key, target in (("artifactId", "artifacts"), ("fileId", "files")):
            if isinstance(by.get(key), str):
                path = f"completion_proof[{index}].satisfiedBy.{key}"
                yield path, target, by[key], False


def record_issues(
    spec: EntitySpec, record: dict[str, Any], *, clean: bool = False
) -> tuple[list[FieldIssue], Any]:
    """Shape, field-rule and timestamp problems, and the entity when the record has a
    valid shape and the entity has field rules (else None). `clean`: the record's line
    holds no secret candidate (`may_hold_secret` is False on it), so the rules' scan of
    its strings is known to find nothing (`policy.text_known_clean`)."""
    if spec.model is None:
        value = record.get(spec.id_field)
        if not isinstance(value, str) or not value.strip():
            return [(spec.id_field, "is required (a non-empty string)")], None
        return [], None
    issues = check_record(spec, record)
    if issues:
        return issues, None
    for name in TIMESTAMPS:
        value = record.get(name)
        if isinstance(value, str):
            try:
                parse_ts(value)
            except ValueError:
                issues.append((name, "must be an ISO 8601 timestamp with a zone (…Z)"))
    rule = _RULES.get(spec.name)
    if rule is None:
        return issues, None
    entity = from_record(spec, record)
    if clean:
        with text_known_clean():
            errors = rule(entity)
    else:
        errors = rule(entity)
    issues += [(export_field(spec, e.field), e.message) for e in errors]
    if spec.name == "artifacts" and entity.status in REVIEWED and entity.reviewed_at is None:
        issues.append(("reviewed_at", f"is required for a {entity.status.value} artifact"))
    if spec.name == "tasks":
        issues += _proof_issues(record)
    return issues, entity


def _proof_issues(record: dict[str, Any]) -> list[FieldIssue]:
    proof = record.get("completion_proof")
    if record.get("status") != TaskStatus.DONE.value or not isinstance(proof, list):
        return []
    return [
        (f"completion_proof[{index}].satisfied", "a done task records an unmet requirement")
        for index, verdict in enumerate(proof)
        if isinstance(verdict, dict) and verdict.get("satisfied") is not True
    ]


def needs_live_proof(spec: EntitySpec, record: dict[str, Any]) -> bool:
    """A done task without a recorded proof is checked with the live rule."""
    return (
        spec.name == "tasks"
        and record.get("status") == TaskStatus.DONE.value
        and not record.get("completion_proof")
    )


secret_value = functools.lru_cache(maxsize=4096)(secret_value_problem)  # enum values, ids...
_CLEAN_KEYS: set[str] = set()
"""Keys already found not secret-like (a bounded cache: keys repeat, record after record)."""
_CLEAN_KEYS_MAX = 1 << 16


def _collect(value: Any, keys: list[str], strings: list[str]) -> None:
    """Every object key and string value below `value` (no paths: the fast path;
    iterative, so any depth)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict):
            keys.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def collect_strings(value: Any, strings: list[str]) -> None:
    """Every string value below `value` (any depth), into `strings`."""
    _collect(value, [], strings)


def has_secret_key(record: dict[str, Any]) -> bool:
    """Whether any object key at any depth of `record` is secret-like."""
    stack: list[Any] = [record]
    clean = _CLEAN_KEYS
    while stack:
        value = stack.pop()
        if type(value) is dict:
            if not value.keys() <= clean and _new_secret_key(value.keys() - clean):
                return True
            items = value.values()
        else:
            items = value
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append(item)
    return False


def _new_secret_key(keys: set[str]) -> bool:
    """Whether one of `keys` (not known clean) is secret-like; the others become known."""
    for key in keys:
        if is_secret_key(key):
            return True
        if len(_CLEAN_KEYS) < _CLEAN_KEYS_MAX:
            _CLEAN_KEYS.add(key)
    return False


def _nodes(value: Any, path: str) -> Iterator[tuple[str, Any, str | None]]:
    """(path, node, key) of every value below `value` in document order, `key` being the
    object key it sits under (None in arrays); iterative, so any depth."""
    stack: list[tuple[str, Any, str | None]] = [(path, value, None)]
    while stack:
        where, node, key = stack.pop()
        yield where, node, key
        if isinstance(node, dict):
            stack.extend(
                (f"{where}.{k}" if where else str(k), item, str(k))
                for k, item in reversed(node.items())
            )
        elif isinstance(node, list):
            stack.extend(
                (f"{where}[{index}]", item, None) for index, item in reversed(list(enumerate(node)))
            )


def _keys(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, key) of every object key below `value`, arrays included."""
    for where, _, key in _nodes(value, path):
        if key is not None:
            yield where, key


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    for where, node, _ in _nodes(value, path):
        if isinstance(node, str):
            yield where, node


def _hash_like_key(key: str) -> bool:
    return is_secret_key(key) or bool(_HASH_WORDS & set(key_words(key)))


def _suspicious(
    spec: EntitySpec,
    record: dict[str, Any],
    raw: bytes | None,
    *,
    rules_ran: bool,
    clean: bool = False,
) -> bool:
    """Whether the record may hold anything `_located` finds (exactly: False only when
    `_located` finds nothing)."""
    if spec.name == "users":  # a few records: every key and string, one by one
        keys: list[str] = []
        strings: list[str] = []
        _collect(record, keys, strings)
        return (
            any(_hash_like_key(k) for k in keys)
            or (not rules_ran and any(secret_value(s) for s in strings))
            or any(_HASH_VALUES.search(s) for s in strings)
        )
    if has_secret_key(record):
        return True
    if rules_ran or clean or (raw is not None and not may_hold_secret(raw)):
        return False  # the rules scanned the strings, or the line holds no candidate
    strings = []
    _collect(record, [], strings)
    return any(secret_value(s) for s in strings)


def redaction_issues(
    spec: EntitySpec,
    record: dict[str, Any],
    *,
    rules_ran: bool,
    raw: bytes | None = None,
    clean: bool = False,
) -> list[FieldIssue]:
    """What must never be in an export, with the same policy code as the API: signed or
    tokenised URLs anywhere, secret-like keys at any depth, secrets in metadata, and
    (users) anything that looks like a password or token hash. When the entity's field
    rules ran (`rules_ran`), they already scanned for signed URLs and metadata secrets.
    `raw`, the record's line, lets records without a candidate skip the string scan
    (`clean`: the caller knows the line has none)."""
    issues: list[FieldIssue] = []
    if _suspicious(spec, record, raw, rules_ran=rules_ran, clean=clean):
        issues += _located(spec, record, rules_ran=rules_ran)
    if spec.name == "artifacts" and not rules_ran:
        issues += [(e.field, e.message) for e in check_metadata(record.get("metadata"))]
    if spec.name == "audit_events":
        for side in ("before", "after"):
            state = record.get(side)
            if isinstance(state, dict) and "metadata" in state:
                found = check_metadata(state["metadata"], f"{side}.metadata")
                issues += [(e.field, e.message) for e in found]
    return issues


def _located(spec: EntitySpec, record: dict[str, Any], *, rules_ran: bool) -> list[FieldIssue]:
    """The slow path: the same checks, with the path of each finding."""
    issues: list[FieldIssue] = []
    if not rules_ran:
        issues += [(e.field, e.message) for e in scan_for_secret_values(record)]
    for path, key in _keys(record, ""):
        if spec.name == "users" and _hash_like_key(key):
            issues.append((path, "users must not carry password or token hashes (redacted)"))
        elif is_secret_key(key):
            issues.append((path, "secret-like keys are not allowed"))
    if spec.name == "users":
        for path, text in _strings(record, ""):
            if _HASH_VALUES.search(text):
                issues.append((path, "must not hold a password or token hash (redacted)"))
    return issues
