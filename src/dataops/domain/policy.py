"""Storage policy and redaction rules: one module used by the API, the importer and
the export validator alike.

- Durable locations are absolute URIs: `s3://bucket/key`, `https://…`, `http://…`, or
  `local-dev://key` (local/test only). Every other scheme (`javascript:`, `data:`,
  `file:`, …) is refused.
- The provider is inferred from the URI; an explicit provider must agree with it.
- Signed or tokenised URLs and embedded credentials are refused anywhere in a record,
  because they expire (not durable) and grant access (a secret).
- Free-form `metadata` is a small JSON object (≤ 4 KiB as UTF-8) with no secret-like
  keys or values at any depth, arrays included.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from dataops.domain.enums import StorageProvider
from dataops.domain.errors import FieldError
from dataops.domain.secret_scan import (
    scan_for_secrets,
    signed_url_problem,
)

ALLOWED_SCHEMES = ("s3", "https", "http", "local-dev")
MAX_URI_LENGTH = 2048
MAX_METADATA_BYTES = 4096
MAX_FREE_FORM_BYTES = 20_000
"""A free-form value other than metadata (a task's `validation`), as compact JSON."""
MAX_DEPTH = 32
"""How deeply any free-form value (metadata, validation, extra fields) may nest."""
CHECKSUM_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")

_SPACE = re.compile(r"\s")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What `json.dumps(value, separators=(",", ":"), ensure_ascii=False)` uses, made once."""


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply `value` nests objects and arrays (a scalar 0, `{}` 1), counted up to
    `limit` + 1 at most: iterative, and it stops below the limit."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
            items = node.values() if isinstance(node, dict) else node
            stack.extend((item, depth) for item in items if isinstance(item, dict | list))
    return deepest


def check_depth(value: Any, path: str, limit: int = MAX_DEPTH) -> list[FieldError]:
    """A free-form value nests at most `limit` levels of objects and arrays."""
    if nesting_depth(value, limit) > limit:
        return [FieldError(path, f"must be nested at most {limit} levels deep")]
    return []


def json_size(value: Any) -> int:
    """The size in bytes of `value` as compact UTF-8 JSON."""
    return len(_COMPACT.encode(value).encode("utf-8", "surrogatepass"))


def check_free_form(
    value: Any, path: str, max_bytes: int = MAX_FREE_FORM_BYTES
) -> list[FieldError]:
    """A free-form JSON value (task `validation`, extra fields of refs): at most
    `MAX_DEPTH` levels deep, at most `max_bytes` as compact JSON, no secret-like keys or
    values anywhere in it."""
    if value is None or (type(value) in (list, dict) and not value):
        return []  # (nothing nested, nothing to measure or scan: the common case)
    errors = check_depth(value, path)
    if errors:
        return errors  # (measured and scanned only once its depth is known to be small)
    size = json_size(value)
    if size > max_bytes:
        return [FieldError(path, f"must be at most {max_bytes} bytes as JSON (is {size})")]
    return scan_for_secrets(value, path)


def check_metadata(metadata: Any, path: str = "metadata") -> list[FieldError]:
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [FieldError(path, "must be a JSON object")]
    return check_free_form(metadata, path, MAX_METADATA_BYTES)


def infer_provider(uri: str) -> StorageProvider:
    """Provider from the URI's scheme and host (case-insensitive; hosts, not substrings)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        return StorageProvider.S3
    if scheme == "local-dev":
        return StorageProvider.LOCAL_DEV
    if scheme not in ("http", "https"):
        return StorageProvider.UNKNOWN
    host = (parts.hostname or "").lower()

    def under(*domains: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in domains)

    if under("github.com", "githubusercontent.com"):
        return StorageProvider.GITHUB
    if under("dropbox.com", "dropboxusercontent.com"):
        return StorageProvider.DROPBOX
    if host in ("drive.google.com", "docs.google.com"):
        return StorageProvider.GOOGLE_DRIVE
    return StorageProvider.EXTERNAL_URL


def check_storage_uri(uri: str, path: str = "storageUri") -> list[FieldError]:
    """An absolute URI with an allowed scheme and the parts that scheme needs."""
    if not uri.strip():
        return [FieldError(path, "must not be blank")]
    if _SPACE.search(uri):  # `\s` matches exactly what str.isspace() does
        return [FieldError(path, "must not contain spaces")]
    if len(uri) > MAX_URI_LENGTH:
        return [FieldError(path, f"must be at most {MAX_URI_LENGTH} characters")]
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES or "://" not in uri:
        allowed = ", ".join(f"{s}://" for s in ALLOWED_SCHEMES)
        return [FieldError(path, f"must be an absolute URI with one of the schemes {allowed}")]
    if scheme in ("http", "https") and not parts.hostname:
        return [FieldError(path, "must name a host")]
    if scheme == "s3" and (not parts.netloc or len(parts.path) < 2):
        return [FieldError(path, "must be s3://bucket/key")]
    if scheme == "local-dev":
        key = uri[len("local-dev://") :]
        if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
            return [FieldError(path, "must be local-dev://<relative key> without '..'")]
    problem = signed_url_problem(uri)
    if problem:
        return [FieldError(path, problem)]
    return []


def check_link(url: str, path: str) -> list[FieldError]:
    """A task or bundle link: an http(s) URL that is durable (not signed)."""
    errors = check_storage_uri(url, path)
    if errors:
        return errors
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return [FieldError(path, "must be an http:// or https:// URL")]
    return []


def provider_conflict(uri: str, explicit: StorageProvider) -> str | None:
    """Why `explicit` contradicts the URI, or None. `external-url` fits any http(s) URI."""
    inferred = infer_provider(uri)
    if explicit == inferred:
        return None
    if explicit == StorageProvider.EXTERNAL_URL and inferred in (
        StorageProvider.GITHUB,
        StorageProvider.DROPBOX,
        StorageProvider.GOOGLE_DRIVE,
    ):
        return None
    return f"{explicit.value} contradicts the storage URI (which is {inferred.value})"


def check_checksum(value: str, path: str = "checksum") -> list[FieldError]:
    if CHECKSUM_PATTERN.fullmatch(value):
        return []
    return [FieldError(path, "must be sha256:<64 lowercase hex digits>")]
