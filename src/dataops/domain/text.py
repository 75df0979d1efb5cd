"""Text every store can hold. JSON may escape a lone UTF-16 surrogate (`"\\ud800"`):
it parses into a Python `str` that is not Unicode text, which UTF-8, SQLite and
DynamoDB cannot hold. Such JSON is refused where it comes in: request bodies (400),
JSON form fields (422) and export lines (the validator)."""

from __future__ import annotations

import json
import re
from typing import Any

UNPAIRED_SURROGATE = "a string holds an unpaired UTF-16 surrogate escape (not Unicode text)"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""What a lone surrogate needs in JSON (a pair, or an escaped backslash before `u`, also
matches: the parsed value decides)."""


def has_unpaired_surrogate(raw: bytes, value: Any) -> bool:
    """Whether `value`, parsed from the JSON text `raw`, holds a lone surrogate in a string
    or an object key."""
    if _SURROGATE_ESCAPE.search(raw) is None:
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False
