"""How a field error reads to a person. The API keeps the machine names (`errors[].field`
is `taskDefinitions[0].assigneeId`); the sentence a person reads — the problem's `detail`,
proof reasons — names the field in words ("Assignee ID (task definition 1) is required").
One mapping, used by every message that names a field."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that read better than their split camelCase.
_WORDS = {"id": "ID", "ids": "IDs", "url": "URL", "uri": "URI", "rrule": "RRULE", "sha": "SHA"}
_LABELS = {"sizeBytes": "Size in bytes"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# A message that continues the field's name as a sentence: "is required", "must be ...".
_PREDICATE = re.compile(
    r"^(is|are|was|must|cannot|can|may|should|applies|belongs|has|have|does|needs)\b"
)
# A message that is a whole sentence of its own: "a reason is required to ...".
_SELF_CONTAINED = re.compile(r"^(a|an|the|no|this|it)\b")


def _words(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name].lower()
    parts = _CAMEL.sub(" ", name).replace("_", " ").split()
    return " ".join(_WORDS.get(p.lower(), p.lower()) for p in parts)


def _singular(words: str) -> str:
    return words[:-1] if words.endswith("s") and not words.endswith("ss") else words


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def field_label(path: str) -> str:
    """`externalStatus` → "External status"; `taskDefinitions[0].assigneeId` →
    "Assignee ID (task definition 1)"; `tags[2]` → "Tag 3"."""
    named: list[str] = []
    for name, index in _SEGMENT.findall(path):
        if name:
            named.append(_words(name))
        elif named:
            named[-1] = f"{_singular(named[-1])} {int(index) + 1}"
    if not named:
        return path
    head, context = named[-1], [n for n in reversed(named[:-1])]
    label = _LABELS.get(path) or _capital(head)
    return f"{label} ({', '.join(context)})" if context else label


def field_sentence(field: str, message: str) -> str:
    """One field's error as a sentence: "External status is empty", "Checksum: announced
    sha256:…, received sha256:…", or the message alone when it is a sentence already."""
    message = message.strip()
    if _SELF_CONTAINED.match(message):
        return _capital(message)
    label = field_label(field)
    if _PREDICATE.match(message):
        return f"{label} {message}"
    return f"{label}: {message}"


def field_detail(errors: Iterable[tuple[str, str]]) -> str:
    """Every (field, message) as one detail text, each sentence once."""
    sentences: list[str] = []
    for field, message in errors:
        sentence = field_sentence(field, message)
        if sentence not in sentences:
            sentences.append(sentence)
    return "; ".join(sentences)
