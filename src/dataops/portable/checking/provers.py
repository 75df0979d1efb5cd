"""The typed pre-filter's provers: the rule functions that need Python, run on a line
decoded into its `typed` Struct, and `Prover`, which decodes a line and proves it (or
says nothing). See `typed` for what the Structs hold and `fast` for the pass."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import Struct

from dataops.domain.enums import OWNED_PROVIDERS, ProofType, StorageProvider, TaskStatus
from dataops.domain.policy import (
    MAX_DEPTH,
    MAX_METADATA_BYTES,
    MAX_URI_LENGTH,
    check_checksum,
    check_link,
    check_metadata,
    check_storage_uri,
    json_size,
    provider_conflict,
)
from dataops.domain.rules import content_type_errors
from dataops.domain.secret_scan import may_hold_secret, text_known_clean
from dataops.domain.status import REVIEWED
from dataops.portable.checking.checks import (
    collect_strings,
    has_secret_key,
    secret_value,
)
from dataops.portable.checking.typed import (
    STRUCTS,
    Artifact,
    AuditEvent,
    Bundle,
    File,
    Notification,
    Task,
)

_SEGMENT = r"(?!\.\.(?:/|\Z))[A-Za-z0-9._~-]+"
_COMMON_URI = re.compile(
    rf"(?P<scheme>https?)://(?P<host>[a-z0-9][a-z0-9.-]*)(?:/[A-Za-z0-9._~/-]*)?"
    rf"|(?P<s3>s3)://[a-z0-9][a-z0-9.-]*/[A-Za-z0-9._~/-]+"
    rf"|(?P<local>local-dev)://{_SEGMENT}(?:/{_SEGMENT})*"
)
"""URIs in their common form, which `check_storage_uri` accepts on a line free of secret
candidates (no signed-URL marker, user information or parameter can be in it): an
allowed lower-case scheme, a lower-case host (its `hostname`), a path of plain characters
(no space, query, fragment or escape); local-dev keys relative, without `..`."""


@functools.lru_cache(maxsize=1024)
def _conflict(scheme: str, host: str, provider: str) -> bool:
    """`provider_conflict` depends on the URI's scheme and host only (`infer_provider`)."""
    return provider_conflict(f"{scheme}://{host}/", StorageProvider(provider)) is not None


def _ok_uri(uri: str, provider: str | None) -> bool:
    """The storage URI passes the storage policy and does not contradict its provider
    (on a line free of secret candidates)."""
    common = _COMMON_URI.fullmatch(uri) if len(uri) <= MAX_URI_LENGTH else None
    if common is None:
        if check_storage_uri(uri):
            return False
        return provider is None or provider_conflict(uri, StorageProvider(provider)) is None
    scheme = common["scheme"] or common["s3"] or common["local"]
    return provider is None or not _conflict(scheme, common["host"] or "", provider)


def _ok_checksum(checksum: str | None, provider: str | None, owned_needs_it: bool) -> bool:
    if checksum is not None:
        return not check_checksum(checksum)
    return not (owned_needs_it and provider in _OWNED)


_OWNED = frozenset(provider.value for provider in OWNED_PROVIDERS)


def _blank(tags: list[str]) -> bool:
    """Whether a tag is blank (each is at least one character)."""
    return any(map(str.isspace, tags))


_WAITING = TaskStatus.WAITING.value
_DONE = TaskStatus.DONE.value
_ARTIFACT = ProofType.ARTIFACT.value


def _plain(identifier: str, text: str, tags: list[str]) -> bool:
    """The record's ID is not blank, nor its required text, nor any of its tags."""
    return bool(identifier.strip()) and not text.isspace() and not (tags and _blank(tags))


def _ok_task(task: Task, clean: bool, raw: bytes, keys: bool) -> bool:
    if not clean or task.status == _WAITING:
        return False
    if not _plain(task.task_id, task.description, task.tags):
        return False
    if task.link is not None and task.link.strip() and check_link(task.link, "link"):
        return False
    if task.instructions_url is not None and check_link(task.instructions_url, "url"):
        return False
    requirement = task.proof_requirement
    if requirement is not None and requirement.type != _ARTIFACT:
        if requirement.artifactType is not None or requirement.approvals != 1:
            return False
        if requirement.independentReview:
            return False
    if task.completion_proof is not None:
        for verdict in task.completion_proof:
            by = verdict.satisfiedBy
            if by and not keys and has_secret_key(by):
                return False
            if not verdict.satisfied and task.status == _DONE:
                return False
    # A done task without a recorded proof needs the live proof rule: the rule code.
    return task.status != _DONE or bool(task.completion_proof)


def _ok_metadata(metadata: dict[str, Any], raw: bytes, keys: bool) -> bool:
    """`check_metadata` finds nothing, on a line free of secret candidates: it nests at
    most `MAX_DEPTH` levels (at most as many as the line opens objects and arrays), is
    small enough, and no key is secret-like; else `check_metadata` itself decides."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        if _may_exceed(raw) and json_size(metadata) > MAX_METADATA_BYTES:
            return False
        return keys or not has_secret_key(metadata)
    with text_known_clean():  # (the line holds no secret candidate)
        return not check_metadata(metadata)


_FLOAT_GROWTH = 21
"""The most bytes a number grows by when written again: a float is at least 3 bytes in
the line ("1e9", "0.5") and at most 24 as Python writes it ("-2.2250738585072014e-308")."""


def _may_exceed(raw: bytes) -> bool:
    """Whether a value decoded from the line `raw` may be larger than
    `MAX_METADATA_BYTES` as compact JSON. Written again, no part of it grows but floats:
    strings are as long or shorter (an escape is written as short or shorter), integers,
    literals and punctuation the same, whitespace dropped. Each float holds a `.`, `e`
    or `E`, so their count bounds the floats."""
    floats = raw.count(b".") + raw.count(b"e") + raw.count(b"E")
    return len(raw) + _FLOAT_GROWTH * floats > MAX_METADATA_BYTES


def _ok_artifact(artifact: Artifact, clean: bool, raw: bytes, keys: bool) -> bool:
    if not clean or not _plain(artifact.artifact_id, artifact.title, artifact.tags):
        return False
    if artifact.content_type is not None and content_type_errors(artifact.content_type):
        return False
    if artifact.status in _REVIEWED and artifact.reviewed_at is None:
        return False
    if artifact.metadata and not _ok_metadata(artifact.metadata, raw, keys):
        return False
    return _ok_uri(artifact.storage_uri, artifact.storage_provider) and _ok_checksum(
        artifact.checksum, artifact.storage_provider, owned_needs_it=True
    )


def _ok_file(record: File, clean: bool, raw: bytes, keys: bool) -> bool:
    if not clean or not _plain(record.file_id, record.filename, record.tags):
        return False
    if record.content_type is not None and content_type_errors(record.content_type):
        return False
    return _ok_uri(record.storage_uri, record.storage_provider) and _ok_checksum(
        record.checksum, record.storage_provider, owned_needs_it=record.storage_path is None
    )


def _ok_bundle(bundle: Bundle, clean: bool, raw: bytes, keys: bool) -> bool:
    return clean and _plain(bundle.bundle_id, bundle.title, bundle.tags)


def _strings_clean(record: Struct, raw: bytes, decoded: tuple[Any, ...] = ()) -> bool:
    """For an entity without field rules, on a line that may hold a secret: no string of
    the record is flagged (`checks.secret_value`, the redaction scan's own test).
    `decoded`: the values of its fields left undecoded (`typed.NULL`), decoded."""
    if b"\\u" in raw:
        return False  # (an escape may spell a lone surrogate: the rule code reads it)
    strings: list[str] = []
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if type(value) is not msgspec.Raw:
            collect_strings(value, strings)
    for value in decoded:
        collect_strings(value, strings)
    # A string `may_hold_secret` clears cannot be flagged: only the others are scanned.
    return not any(
        secret_value(text)
        for text in strings
        if may_hold_secret(text.encode("utf-8", "surrogatepass"))
    )


def _ok_notification(notification: Notification, clean: bool, raw: bytes, keys: bool) -> bool:
    if not notification.notification_id.strip():
        return False
    return clean or _strings_clean(notification, raw)


def _ok_audit_event(event: AuditEvent, clean: bool, raw: bytes, keys: bool) -> bool:
    """The states are decoded only when a rule needs their values: to look for secret-like
    keys (the line's flags could not rule them out), for their `metadata` (checked as an
    artifact's), or to scan their strings (the line may hold a secret)."""
    if not event.audit_event_id.strip():
        return False
    decoded = []
    for side, state in (("after", event.after), ("before", event.before)):
        text = bytes(state)
        if text == b"null":
            continue
        if text[:1] != b"{":
            return False  # (not an object: the rule code says what it is)
        if keys and clean and b'"metadata"' not in text:
            continue  # (no `metadata` key: a clean line holds no escape that could spell it)
        try:
            values = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError):  # pragma: no cover - read once already
            return False
        if not keys and has_secret_key(values):
            return False
        if "metadata" in values and check_metadata(values["metadata"], f"{side}.metadata"):
            return False
        decoded.append(values)
    return clean or _strings_clean(event, raw, tuple(decoded))


_REVIEWED = frozenset(status.value for status in REVIEWED)
_PROVERS: dict[str, Callable[[Any, bool, bytes, bool], bool]] = {
    "tasks": _ok_task,
    "artifacts": _ok_artifact,
    "files": _ok_file,
    "bundles": _ok_bundle,
    "notifications": _ok_notification,
    "audit_events": _ok_audit_event,
}


class Prover:
    """Decode and prove one entity's lines."""

    def __init__(self, entity: str) -> None:
        cls = STRUCTS[entity]
        self._decode = msgspec.json.Decoder(cls).decode
        self._prove = _PROVERS[entity]

    def __call__(self, raw: bytes, clean: bool, keys: bool = False) -> Any:
        """The decoded record when the line is proven free of problems, else None; for
        a line free of odd timestamps and dates of the first or last year (`flags`).
        `clean`: the line holds no secret candidate (`may_hold_secret` False); `keys`:
        no key of it can be secret-like (`flags.SECRET_KEY_WORDS` finds nothing)."""
        try:
            record = self._decode(raw)
        except Exception:
            return None  # (ValidationError, DecodeError, OverflowError of a far date...)
        return record if self._prove(record, clean, raw, keys) else None
