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

import dataclasses
import functools
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson

from dataops.domain.codec import camel, to_dict
from dataops.domain.enums import StorageProvider
from dataops.domain.errors import FieldError

ALLOWED_SCHEMES = ("s3", "https", "http", "local-dev")
MAX_URI_LENGTH = 2048
MAX_METADATA_BYTES = 4096
CHECKSUM_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")

# Query parameters that make a URL temporary or carry a credential. Matched as whole
# parameter names (case-insensitive), so stable share links such as Dropbox `rlkey=` or
# Drive `resourcekey=` stay allowed.
_SIGNED_PARAMS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "signature",
        "sig",
        "token",
        "access_token",
        "id_token",
        "refresh_token",
        "auth_token",
        "api_key",
        "apikey",
        "key",
        "jwt",
        "password",
        "client_secret",
    }
)
_PARAM = re.compile(r"[?&;#]([A-Za-z0-9_.\-]+)=")
_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s?#@:]*:[^/\s?#@]*@")
_SPACE = re.compile(r"\s")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What `json.dumps(value, separators=(",", ":"), ensure_ascii=False)` uses, made once."""
_MARKER_HINT = re.compile(rb"-(?:amz|goog)-", re.IGNORECASE)  # see may_hold_signed_url
_SIGNED_MARKERS = re.compile(r"x-amz-signature|x-amz-credential|x-goog-signature", re.IGNORECASE)

# Values that look like credentials whatever key they sit under.
_SECRET_VALUES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bsk-[A-Za-z0-9_\-]{20,}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"
    r"|\bBearer\s+[A-Za-z0-9._\-]{16,}"
)

_SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "authorization",
        "apikey",
        "signature",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signed", "url"),
        ("session", "id"),
        ("client", "secret"),
    }
)
# `token` followed by one of these words is a count, not a credential (assistant usage).
_TOKEN_COUNT_WORDS = frozenset({"count", "counts", "usage", "limit", "total", "used"})
_WORD_SPLIT = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def key_words(key: str) -> list[str]:
    """Split camelCase, snake_case and kebab-case keys into lowercase words."""
    return [w.lower() for w in _WORD_SPLIT.findall(key)]


@functools.lru_cache(maxsize=8192)  # keys repeat: field names, metadata keys
def is_secret_key(key: str) -> bool:
    words = key_words(key)
    compact = "".join(words)
    if compact in {"signedurl", "privatekey", "apikey", "accesskey", "secretkey", "sessionid"}:
        return True
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else None
        if word == "token" and following in _TOKEN_COUNT_WORDS:
            continue
        if word in _SECRET_WORDS:
            return True
        if following is not None and (word, following) in _SECRET_PAIRS:
            return True
    return False


def signed_url_problem(text: str) -> str | None:
    """Why a string holds a signed/tokenised URL or embedded credentials, or None."""
    # Each pattern needs a literal character first looked for in C: "@", "-", "=".
    if "@" in text and _USERINFO.search(text):
        return "must not embed credentials (user:password@) in a URL"
    if "-" in text and _SIGNED_MARKERS.search(text):
        return "must not contain a signed URL"
    if "=" in text:
        for match in _PARAM.finditer(text):
            if match.group(1).lower() in _SIGNED_PARAMS:
                return f"must not contain a signed or tokenised URL ({match.group(1)}=)"
    return None


def may_hold_signed_url(data: bytes) -> bool:
    """False only if no string in the UTF-8 JSON text `data` can hold what
    `signed_url_problem` flags: the cheap negative test of the scans.

    Every flagged string contains "@" (credentials), "=" (a parameter) or, in any letter
    case, "-amz-" / "-goog-" (inside the markers; no non-ASCII character matches these
    letters under `re.IGNORECASE`, so ASCII case-folding over bytes is enough). A JSON
    `\\u` escape may spell any of them, so it counts as a hit.
    """
    return (
        b"@" in data
        or b"=" in data
        or (b"\\" in data and b"\\u" in data)
        or _MARKER_HINT.search(data) is not None
    )


def _fields(value: Any) -> Any:
    """Every attribute of a dataclass instance (orjson alone skips `_`-prefixed fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "__dict__"):
            return vars(value)
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _may_hold_signed_url_value(value: Any) -> bool:
    """`may_hold_signed_url` over every string in `value` (JSON data, enums, entities),
    keys included; True when orjson cannot serialize it (lone surrogates, big integers,
    non-string keys, other types)."""
    try:
        data = orjson.dumps(value, default=_fields, option=orjson.OPT_PASSTHROUGH_DATACLASS)
    except TypeError:  # orjson.JSONEncodeError too
        return True
    return may_hold_signed_url(data)


def secret_value_problem(text: str) -> str | None:
    if _SECRET_VALUES.search(text):
        return "must not contain a secret (key, token or password)"
    return signed_url_problem(text)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """Yield (path, node, is_key) for every key and scalar below `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, key, True
            yield from _walk(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value, False


def scan_for_signed_urls(record: Any, path: str = "") -> list[FieldError]:
    """Every string anywhere in `record` that holds a signed URL or credentials."""
    if not _may_hold_signed_url_value(record):
        return []
    return _located_signed_urls(record, path)


def _located_signed_urls(record: Any, path: str) -> list[FieldError]:
    """The full scan, with the path of each finding."""
    errors = []
    for where, node, is_key in _walk(record, path):
        if isinstance(node, str) and not is_key:
            problem = signed_url_problem(node)
            if problem:
                errors.append(FieldError(where, problem))
    return errors


def scan_entity_for_signed_urls(entity: Any, skip: tuple[str, ...] = ()) -> list[FieldError]:
    """`scan_for_signed_urls(to_dict(entity))` without the fields `skip` (attribute
    names); the entity is only converted when one of its strings may be flagged."""
    values = dict(_fields(entity))
    for name in skip:
        values.pop(name, None)
    if not _may_hold_signed_url_value(values):
        return []
    record = to_dict(entity)
    for name in skip:
        record.pop(camel(name), None)
    return _located_signed_urls(record, "")


def scan_for_secrets(value: Any, path: str) -> list[FieldError]:
    """Secret-like keys and values at any depth, arrays included."""
    errors = []
    for where, node, is_key in _walk(value, path):
        if is_key and isinstance(node, str) and is_secret_key(node):
            errors.append(FieldError(where, "secret-like keys are not allowed"))
        elif not is_key and isinstance(node, str):
            problem = secret_value_problem(node)
            if problem:
                errors.append(FieldError(where, problem))
    return errors


def check_metadata(metadata: Any, path: str = "metadata") -> list[FieldError]:
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [FieldError(path, "must be a JSON object")]
    size = len(_COMPACT.encode(metadata).encode("utf-8", "surrogatepass"))
    if size > MAX_METADATA_BYTES:
        return [FieldError(path, f"must be at most {MAX_METADATA_BYTES} bytes (is {size})")]
    return scan_for_secrets(metadata, path)


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
