"""Which lines of a group the fast pass may decode as they are: free of secret
candidates, of odd timestamps and (audit events) of secret-key words. One pass of RE2
over a group of lines tells for the common group; a group where it finds anything is
tested exactly, as a whole and then line by line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import re2  # type: ignore[import-untyped]

from dataops.domain.secret_scan import FORTY_PATTERN, HINT_PATTERN
from dataops.portable.checking.scan import _may_hold_secret
from dataops.portable.lines import Line

_ODD_TIME = rb"[0-9]-[0-9]{2}[t ][0-9]{2}:|(?:0001|9999)-[0-9]{2}-[0-9]{2}"
"""A date and time joined by a lower-case `t` or a space, which msgspec reads as a
timestamp and `parse_ts` refuses, or a date of the first or last year, which an offset
may take past the first or last UTC day (msgspec reads it; `parse_ts` refuses): such a
line is left to the rule code. (A line with an escape, which could spell either, is not
proven by the pre-filter: `provers`.)"""
_SECRET_KEY_WORDS = (
    *("secret", "passw", "pwd", "passphrase", "token", "credential", "cookie"),
    *("authorization", "apikey", "signature", "privatekey", "accesskey", "signedurl"),
    "sessionid",
)
SECRET_KEY_WORDS = b"|".join(
    b"[^a-zA-Z0-9]*".join(letter.encode() for letter in word) for word in _SECRET_KEY_WORDS
)
"""What every secret-like key holds (`secret_scan.is_secret_key` looks at the ASCII
letters and digits of a key, lower-cased: each word it flags, and each pair or joined
form, holds one of these), letters apart by anything else: on a line without escapes,
no key is secret-like unless this matches (case-insensitively)."""


def _bytes_pattern(pattern: bytes) -> Any:
    """`pattern` matched byte by byte (RE2's Latin-1 mode): case-insensitivity folds
    ASCII letters only, as `bytes.lower` and `secret_scan.key_words` do (in UTF-8 mode
    the long s, U+017F, would fold to `s`, and no longer separate the words of a key)."""
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    return re2.compile(pattern, options)


_DOUBT = _bytes_pattern(b"(?i:" + HINT_PATTERN + b")|" + FORTY_PATTERN + b"|" + _ODD_TIME)
"""In one pass over a group of lines: a secret hint, a run of 40 base64 characters (the
start of `may_hold_secret`), or an odd timestamp."""
_DOUBT_OR_KEY = _bytes_pattern(
    b"(?i:" + HINT_PATTERN + b"|" + SECRET_KEY_WORDS + b")|" + FORTY_PATTERN + b"|" + _ODD_TIME
)
"""The same, or a secret-key word: for the entities whose free-form values are large
(audit states), where the key walk costs more than the pass."""
_ODD: Any = _bytes_pattern(_ODD_TIME)
_KEY_WORDS: Any = _bytes_pattern(b"(?i)" + SECRET_KEY_WORDS)
_GROUP = 32
LARGE_STATES = frozenset({"audit_events"})
Flags = tuple[Line, bool, bool, bool]
"""A line; free of secret candidates; of odd timestamps; of secret-key words (only
looked for with `keys`, else False)."""


def flagged(lines: Iterator[Line], keys: bool) -> Iterator[Flags]:
    """Each line with its flags; a group of lines tested at once, each line of a group
    where a test finds anything tested alone (secret-key words: by group only)."""
    group: list[Line] = []
    for line in lines:
        group.append(line)
        if len(group) >= _GROUP:
            yield from _group_flags(group, keys)
            group = []
    yield from _group_flags(group, keys)


def _group_flags(group: list[Line], keys: bool) -> Iterator[Flags]:
    raws = [line[1] for line in group]
    known = [raw for raw in raws if raw is not None]
    joined = b"\n".join(known)
    if len(known) == len(raws) and (_DOUBT_OR_KEY if keys else _DOUBT).search(joined) is None:
        for line in group:
            yield line, True, True, keys
        return
    clean = not _may_hold_secret(joined)  # (the exact tests, on the group, then per line)
    plain = _ODD.search(joined) is None
    keys = keys and clean and _KEY_WORDS.search(joined) is None  # (no escape in a key)
    for line, raw in zip(group, raws, strict=True):
        if raw is None:
            yield line, False, False, False
        else:
            free = clean or not _may_hold_secret(raw)
            yield line, free, plain or _ODD.search(raw) is None, keys
