"""The words search finds a record by (CONTRACT §9), one definition for every store.

A word is a run of letters and digits (Unicode categories L*, N* and Co: the characters
SQLite's FTS5 `unicode61` tokenizer also keeps in a token) after NFKC normalisation and
lower-casing, cut to `MAX_WORD_CHARS`. A record's words come from its title (a task's
description), its tags, the hosts of its URLs and its description, in that order, each
once, at most `MAX_RECORD_WORDS` of them (a store writes one index entry per word in the
same transaction as the record, and DynamoDB allows 100 writes per transaction). A query
matches the records holding every one of its words (AND), whole words, case-insensitive.

Both stores index exactly `record_words(...)` and look up exactly `query_words(...)`,
so they give the same results; the order is theirs to keep equal: by `KINDS` order, then
by ID newest first (IDs are time-sortable).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from dataops.domain.errors import ValidationFailed

MAX_WORD_CHARS = 64
MAX_RECORD_WORDS = 40
MAX_QUERY_WORDS = 8
MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 200

KINDS = ("artifact", "bundle", "task")
"""What search finds, in the order results come (then by ID, newest first); in
alphabetical order, so a store may compare kinds as strings."""
ENTITY_OF_KIND = {"artifact": "artifacts", "bundle": "bundles", "task": "tasks"}
KIND_OF_ENTITY = {entity: kind for kind, entity in ENTITY_OF_KIND.items()}

_URL_SCHEMES = ("http", "https", "s3")


def _word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


_ASCII_WORD = re.compile(r"[a-z0-9]+")
"""The words of lower-cased ASCII text: NFKC leaves ASCII as it is, and its only
letters and digits (categories L*, N*) are these."""


def words(text: str | None) -> list[str]:
    """The words of `text`, in order (repeats kept): one linear pass."""
    if not text:
        return []
    if text.isascii():  # the common text, in C
        found = _ASCII_WORD.findall(text.lower())
        if max(map(len, found), default=0) > MAX_WORD_CHARS:  # (rare: cut the long ones)
            found = [word[:MAX_WORD_CHARS] for word in found]
        return found
    return _unicode_words(text)


def _unicode_words(text: str) -> list[str]:
    """`words` of any text, character by character."""
    found: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFKC", text).lower():
        if _word_char(char):
            current.append(char)
        elif current:
            found.append("".join(current)[:MAX_WORD_CHARS])
            current = []
    if current:
        found.append("".join(current)[:MAX_WORD_CHARS])
    return found


_PLAIN_URL = re.compile(r"(https?|s3)://([a-z0-9.-]+)(?:[/?#]|\Z)", re.ASCII | re.IGNORECASE)
"""An http(s) or s3 URL whose host is ASCII letters, digits, dots and dashes only (no
user, port or brackets): its host is that text, lower-cased, as `urlsplit` reads it
(given no tab or line break, which `urlsplit` removes first)."""


def url_host(url: str | None) -> str | None:
    """The host of an http(s) or s3 URL (an s3 bucket), else None: `urlsplit`'s hostname,
    read by one regular expression for a plain URL (`_PLAIN_URL`)."""
    if not url:
        return None
    plain = _PLAIN_URL.match(url)
    if plain is not None and "\t" not in url and "\r" not in url and "\n" not in url:
        return plain.group(2).lower()
    return _url_host_split(url)


def _url_host_split(url: str) -> str | None:
    """`url_host` by `urlsplit` (any URL)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    return host if parts.scheme.lower() in _URL_SCHEMES and host else None


def _unique(texts: list[str | None]) -> list[str]:
    """The first `MAX_RECORD_WORDS` distinct words of `texts`, in order. Texts all ASCII
    (the common case) are read in one pass, in C: joined by spaces (a space ends a
    word, so no word spans two texts), lower-cased and split by one regular expression;
    `_unique_each` reads any texts word by word."""
    present = [text for text in texts if text]
    joined = " ".join(present)
    if not joined.isascii():
        return _unique_each(present)
    return list(dict.fromkeys(words(joined)))[:MAX_RECORD_WORDS]


def _unique_each(texts: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for word in words(text):
            if len(seen) >= MAX_RECORD_WORDS:
                return list(seen)
            seen.setdefault(word, None)
    return list(seen)


def _task_texts(task: Any) -> list[str | None]:
    return [
        task.description,
        *task.tags,
        url_host(task.link),
        url_host(task.instructions_url),
    ]


def _bundle_texts(bundle: Any) -> list[str | None]:
    return [
        bundle.title,
        *bundle.tags,
        *(url_host(link.url) for link in bundle.bundle_links),
        bundle.description,
    ]


def _artifact_texts(artifact: Any) -> list[str | None]:
    return [artifact.title, *artifact.tags, url_host(artifact.storage_uri), artifact.description]


_TEXTS: dict[str, Callable[[Any], list[str | None]]] = {
    "tasks": _task_texts,
    "bundles": _bundle_texts,
    "artifacts": _artifact_texts,
}
SEARCHED_ENTITIES = frozenset(_TEXTS)


def record_words(entity: str, record: Any) -> list[str]:
    """The words a record of `entity` (tasks, bundles, artifacts) is found by."""
    return _unique(_TEXTS[entity](record))


def query_words(q: str) -> list[str]:
    """The distinct words of a query; 422 (field `q`) for one too short, too long, with no
    word or with more than `MAX_QUERY_WORDS` words."""
    if len(q.strip()) < MIN_QUERY_CHARS:
        raise ValidationFailed.one("q", f"must be at least {MIN_QUERY_CHARS} characters")
    if len(q) > MAX_QUERY_CHARS:
        raise ValidationFailed.one("q", f"must be at most {MAX_QUERY_CHARS} characters")
    found = list(dict.fromkeys(words(q)))
    if not found:
        raise ValidationFailed.one("q", "has no letters or digits to search for")
    if len(found) > MAX_QUERY_WORDS:
        raise ValidationFailed.one("q", f"may hold at most {MAX_QUERY_WORDS} words")
    return found
