"""Secret detection: signed or tokenised URLs, credential-looking values and secret-like
keys, anywhere in a record (`domain.policy` refuses them; the export validator and the
importer scan with the same rules).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
import re2  # type: ignore[import-untyped]

from dataops.domain.codec import camel, to_dict
from dataops.domain.errors import FieldError

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
        "x-goog-security-token",
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
# Every pattern below is linear in its input and starts with a literal, which the regex
# engine finds by a fast string search before it tries anything else: no nested
# quantifiers, unbounded runs only where nothing follows them or where they can only start
# at the start of a run of their characters (so no two attempts scan the same characters),
# word boundaries checked by a look-behind placed after the literal.
_PARAM = re.compile(r"[?&;#]([A-Za-z0-9_.\-]+)=")
_USERINFO = re.compile(r"://(?<=[A-Za-z0-9+.\-]://)[^/\s?#@]*@")
"""Any user information in a URL (`user:password@`, `token@`): after a scheme's `://`,
the authority up to the first `/`, `?`, `#`, `@` or white space ends in `@`."""
_SIGNED_MARKERS = re.compile(r"x-amz-signature|x-amz-credential|x-goog-signature", re.IGNORECASE)
_MARKER_PIECES = ("-amz-", "-goog-")
"""What `_SIGNED_MARKERS` needs in `str.lower()` of a string (no non-ASCII character
matches these letters under re.IGNORECASE, tested)."""
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPES = {
    f"%{hi}{lo}": chr(int(hi + lo, 16))
    for hi in "0123456789abcdefABCDEF"
    for lo in "0123456789abcdefABCDEF"
}
"""Every percent escape → its byte as a character (ASCII decodes as a server would read
it; the patterns look for ASCII only, so other bytes need no UTF-8 decoding)."""
_DECODE_ROUNDS = 3
"""Percent-decoding is repeated (`%2574oken` → `%74oken` → `token`) up to this often."""

# Values that look like credentials whatever key or field they sit in.
_SECRET_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----",
        r"AKIA(?<!\wAKIA)[0-9A-Z]{16}\b",  # AWS access key IDs
        r"ASIA(?<!\wASIA)[0-9A-Z]{16}\b",  # (temporary ones)
        r"gh[pousr]_(?<!\wgh._)[A-Za-z0-9]{30}",  # GitHub tokens
        r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{30}",
        r"xox[abposr]-(?<!\wxox.-)[A-Za-z0-9-]{10}",  # Slack
        r"sk-(?<!\wsk-)[A-Za-z0-9_\-]{20}",
        r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,}+\.eyJ[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]",
        r"Bearer(?<!\wBearer)\s{1,10}[A-Za-z0-9._\-]{16}",
        r"dop_(?<!\wdop_)[A-Za-z0-9_\-]{20}",  # DataOps' own API tokens
    )
)
_B64_CHARS = string.ascii_letters + string.digits + "/+"
_B64_RUN = str.maketrans({c: "b" for c in _B64_CHARS})
_FORTY = "b" * 40
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=._%\-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=._%\-])")
"""A bare AWS secret access key: exactly 40 base64 characters standing alone (not part of
a longer run, a host name or a path segment joined by dots or dashes), mixing upper case,
lower case and digits (a hex digest or a git SHA has no upper-case letter)."""
_HINTS: tuple[bytes, ...] = (b"-amz-", b"-goog-", b"private key", b"akia", b"asia", b"xox")
_HINTS += (b"github_pat_", b"sk-", b"eyj", b"bearer", b"dop_")
_GH_HINT = rb"gh[pousr]_"
HINT_PATTERN = b"[@=%\\\\]|" + b"|".join([*(re.escape(hint) for hint in _HINTS), _GH_HINT])
"""Every hint of `may_hold_secret` (to be matched case-insensitively)."""
_CANDIDATE = re2.compile(b"(?i)" + HINT_PATTERN)
"""Every hint of `may_hold_secret` in one pattern, matched in one pass (RE2: a DFA,
linear in the text; case-insensitive, so a superset of the ASCII-lowercased hints)."""
_B64_RUNS = re.compile(rb"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40,}")
"""In JSON text, each run of 40 or more base64 characters: a key the scan flags is a
whole run of the string, so it is the last 40 characters of a run of the text too,
whatever an escape put before it; it has an upper-case letter, a hex digest has none."""
_UPPER = re.compile(rb"[A-Z]")
_B64 = rb"[A-Za-z0-9/+]"
FORTY_PATTERN = _B64 + b"{40}"
_HINT_OR_FORTY = re2.compile(b"(?i:" + HINT_PATTERN + b")|" + FORTY_PATTERN)
"""A hint or a run of 40 base64 characters: the common text has neither, and one pass
(one DFA) tells."""
_UPPER_WINDOW = re2.compile(
    b"|".join(_B64 + b"{%d}[A-Z]" % k + _B64 + b"{%d}" % (39 - k) for k in range(40))
)
"""40 base64 characters in a row, one of them upper case (RE2, one pass): a superset of
what `_B64_RUNS` and `_UPPER` then look for exactly (an upper-case letter among the last
40 characters of a run)."""


def _has_aws_secret_key(text: str) -> bool:
    if _FORTY not in text.translate(_B64_RUN):  # no run of 40: the common case, fast
        return False
    for match in _AWS_SECRET_KEY.finditer(text):
        key = match.group()
        if (
            any(c.isupper() for c in key)
            and any(c.islower() for c in key)
            and any(c.isdigit() for c in key)
        ):
            return True
    return False


def _has_secret_value(text: str) -> bool:
    return any(p.search(text) for p in _SECRET_PATTERNS) or _has_aws_secret_key(text)


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


def _unescape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def _decodings(text: str) -> Iterator[str]:
    """`text`, then each distinct percent-decoding of it (a few rounds at most, so a name
    spelled `X%2DAmz%2DSignature` or `%2574oken` is seen as the server would read it)."""
    yield text
    for _ in range(_DECODE_ROUNDS):
        if "%" not in text or _ENCODED.search(text) is None:
            return
        decoded = _ENCODED.sub(_unescape, text)
        if decoded == text:
            return
        text = decoded
        yield text


def _signed_url_problem(text: str) -> str | None:
    # Each pattern needs a literal character first looked for in C: "@", "-", "=".
    if "@" in text and _USERINFO.search(text):
        return "must not embed credentials (user information before @) in a URL"
    if "-" in text:
        lower = text.lower()
        if any(piece in lower for piece in _MARKER_PIECES) and _SIGNED_MARKERS.search(text):
            return "must not contain a signed URL"
    if "=" in text:
        for match in _PARAM.finditer(text):
            if match.group(1).lower() in _SIGNED_PARAMS:
                return f"must not contain a signed or tokenised URL ({match.group(1)}=)"
    return None


def signed_url_problem(text: str) -> str | None:
    """Why a string holds a signed/tokenised URL or embedded credentials, or None; also
    when the string, percent-decoded, does."""
    for form in _decodings(text):
        problem = _signed_url_problem(form)
        if problem:
            return problem
    return None


def secret_value_problem(text: str) -> str | None:
    """Why a string holds a secret (a key, a token, a private key) or a signed URL, or
    None; percent-encoded forms included. Linear in the length of `text`."""
    for form in _decodings(text):
        if _has_secret_value(form):
            return "must not contain a secret (key, token or password)"
        problem = _signed_url_problem(form)
        if problem:
            return problem
    return None


def may_hold_secret(data: bytes) -> bool:
    """False only if no string in the UTF-8 JSON text `data` can be flagged by
    `secret_value_problem`: the cheap negative test of the scans.

    Every flagged string holds "@" (user information), "=" (a parameter), "%" (an
    encoded form), or the literal start of a secret pattern or signed-URL marker (ASCII
    letters, digits, `_`, `-` and spaces, which JSON never escapes; looked for in
    lower case, a superset), or a run of 40 base64 characters (JSON escapes none of
    them, though a writer may write `/` as `\\/`). A JSON `\\u` escape may spell any
    of them, so it counts as a hit, and so does `\\/`.
    """
    if _HINT_OR_FORTY.search(data) is None:
        return False
    if _CANDIDATE.search(data) is not None:
        return True  # ("\\": a `\\u` or `\\/` escape, or an escaped backslash)
    if _UPPER_WINDOW.search(data) is None:
        return False  # no run of 40 with an upper-case letter: the common case
    return any(
        _UPPER.search(run.group(), len(run.group()) - 40) for run in _B64_RUNS.finditer(data)
    )


def _fields(value: Any) -> Any:
    """Every attribute of a dataclass instance (orjson alone skips `_`-prefixed fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "__dict__"):
            return vars(value)
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _may_hold_secret_value(value: Any) -> bool:
    """`may_hold_secret` over every string in `value` (JSON data, enums, entities), keys
    included; True when orjson cannot serialize it (lone surrogates, big integers,
    non-string keys, values nested too deep, other types)."""
    try:
        data = orjson.dumps(value, default=_fields, option=orjson.OPT_PASSTHROUGH_DATACLASS)
    except TypeError:  # orjson.JSONEncodeError too
        return True
    return may_hold_secret(data)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """Yield (path, node, is_key) for every key and scalar below `value`, in document
    order (iteratively: any depth)."""
    stack: list[tuple[str, Any, bool]] = [(path, value, False)]
    while stack:
        where, node, is_key = stack.pop()
        if is_key:
            yield where, node, True
        elif isinstance(node, dict):
            children: list[tuple[str, Any, bool]] = []
            for key, item in node.items():
                child = f"{where}.{key}" if where else str(key)
                children += [(child, key, True), (child, item, False)]
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(
                (f"{where}[{index}]", item, False)
                for index, item in reversed(list(enumerate(node)))
            )
        else:
            yield where, node, False


def scan_for_secret_values(record: Any, path: str = "") -> list[FieldError]:
    """Every string value anywhere in `record` that holds a secret or a signed URL."""
    if not _may_hold_secret_value(record):
        return []
    return _located_secret_values(record, path)


def _located_secret_values(record: Any, path: str) -> list[FieldError]:
    """The full scan, with the path of each finding."""
    errors = []
    for where, node, is_key in _walk(record, path):
        if isinstance(node, str) and not is_key:
            problem = secret_value_problem(node)
            if problem:
                errors.append(FieldError(where, problem))
    return errors


_TEXT_CLEAN: ContextVar[bool] = ContextVar("text_clean", default=False)


@contextmanager
def text_known_clean() -> Iterator[None]:
    """Within it, `scan_entity_for_secret_values` finds nothing without looking, and
    `scan_for_secrets` looks at keys only: for a
    bulk reader (the export validator) that has proven the entities it checks hold no
    string the scan could flag — `may_hold_secret` was False on the JSON text each was
    read from, and their other strings (enum values, field defaults) are never flagged
    (tests/portable/test_validate_differential.py holds both to it)."""
    token = _TEXT_CLEAN.set(True)
    try:
        yield
    finally:
        _TEXT_CLEAN.reset(token)


def scan_entity_for_secret_values(entity: Any, skip: tuple[str, ...] = ()) -> list[FieldError]:
    """`scan_for_secret_values(to_dict(entity))` without the fields `skip` (attribute
    names): every free-text field of a record, with one policy; the entity is only
    converted when one of its strings may be flagged."""
    if _TEXT_CLEAN.get():
        return []
    values = dict(_fields(entity))
    for name in skip:
        values.pop(name, None)
    if not _may_hold_secret_value(values):
        return []
    record = to_dict(entity)
    for name in skip:
        record.pop(camel(name), None)
    return _located_secret_values(record, "")


def scan_for_secrets(value: Any, path: str) -> list[FieldError]:
    """Secret-like keys and values at any depth, arrays included."""
    errors = []
    values = not _TEXT_CLEAN.get()  # (within `text_known_clean`, no value can be flagged)
    for where, node, is_key in _walk(value, path):
        if is_key and isinstance(node, str) and is_secret_key(node):
            errors.append(FieldError(where, "secret-like keys are not allowed"))
        elif values and not is_key and isinstance(node, str):
            problem = secret_value_problem(node)
            if problem:
                errors.append(FieldError(where, problem))
    return errors
