"""Time and identifiers: UTC timestamps with Z, time-sortable opaque IDs."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, date, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z suffix."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_ts() -> str:
    return format_ts(now())


def today() -> str:
    """Today's date in UTC, YYYY-MM-DD."""
    return now().date().isoformat()


def parse_ts(value: str) -> datetime:
    """Parse a strict ISO 8601 timestamp that carries a zone (Z or an offset)."""
    if "T" not in value:
        raise ValueError("timestamp needs a date and a time")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a zone (Z or an offset)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # (9999-12-31T23:00:00-12:00 is past the last UTC day)
        raise ValueError("timestamp is out of range") from None


def parse_date(value: str) -> date:
    """Parse exactly YYYY-MM-DD, a real calendar day."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("date must be YYYY-MM-DD")
    return date.fromisoformat(value)


_last = [0, 0]  # the last (milliseconds, random part) handed out by this process
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A 26-character time-sortable identifier behind a short entity prefix.

    Within one process IDs strictly increase, also within one millisecond (the random
    part is incremented, as in monotonic ULIDs), so ordering by ID is creation order.
    """
    with _lock:
        millis = int(time.time() * 1000)
        if millis <= _last[0]:
            millis, entropy = _last[0], _last[1] + 1
        else:
            entropy = int.from_bytes(os.urandom(10), "big") >> 1  # headroom to increment
        _last[0], _last[1] = millis, entropy
    number = (millis << 80) | entropy
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[number & 31])
        number >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
