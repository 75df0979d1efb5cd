"""The list cursors of both backends: the order values of the last item a page returned
(on DynamoDB its index sort key, the part of its LastEvaluatedKey the filters do not
already fix), as base64url JSON, unpadded. Opaque to clients."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from dataops.domain.errors import ValidationFailed


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int, *, blank: bool = True) -> list[str]:
    """The `width` strings `cursor` holds; `ValidationFailed` for anything else, and with
    `blank=False` for an empty string too (no DynamoDB key holds one)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.one("cursor", "is not a valid cursor") from exc
    if (
        not isinstance(values, list)
        or len(values) != width
        or not all(isinstance(v, str) and (blank or v) for v in values)
    ):
        raise ValidationFailed.one("cursor", "is not a valid cursor")
    return values
