"""Legacy values read as today's: lenient timestamps and schedules (REFERENCE.md §5),
and the IDs of what the mapping makes for a legacy recurring config or trigger."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateutil_parser

from dataops.domain.clock import format_ts, parse_ts
from dataops.domain.models import RecurringConfig
from dataops.domain.recurrence import RecurrenceError, parse_recurrence

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(2000, 1, 1)
"""What a lenient timestamp's missing parts default to (`"2026"` → 2026-01-01)."""
_RATE = re.compile(r"^rate\(\s*(\d+)\s+days?\s*\)$")
_AWS_DAY = re.compile(r"(?<![#\d])([1-7])(?!\d)")


def lenient_timestamp(value: str) -> str | None:
    """`value` as today's timestamp (ISO 8601, UTC, milliseconds, `Z`) when the earlier
    system took it (any date or date-time JavaScript's `Date.parse` reads; one without a
    zone is read as UTC); None when it cannot be read (today's checks then report it)."""
    if _DAY.match(value):
        return f"{value}T00:00:00.000Z"
    try:
        parse_ts(value)
        return value
    except ValueError:
        pass
    try:
        parsed = dateutil_parser.parse(value, default=_EPOCH)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_ts(parsed.astimezone(UTC))


def config_template_id(config_id: str) -> str:
    return f"{config_id}-template"


def trigger_config_id(template_id: str) -> str:
    return f"{template_id}-schedule"


def map_schedule(text: str) -> tuple[str, str] | None:
    """A legacy schedule as today's (`cron_expression` or `rrule`, value); None when it
    has no equivalent. Today's rule code then judges the value itself."""
    text = text.strip()
    if text.upper().startswith(("FREQ=", "RRULE:")):
        return "rrule", text.split(":", 1)[1] if text.upper().startswith("RRULE:") else text
    rate = _RATE.match(text)
    if rate:
        days = int(rate.group(1))
        return ("rrule", f"FREQ=DAILY;INTERVAL={days}") if days > 0 else None
    if text.startswith("cron(") and text.endswith(")"):
        fields = text[5:-1].split()
        if len(fields) != 6 or fields[5] not in ("*", "?"):
            return None  # AWS: minute hour day month weekday year; only "every year" maps
        day = _AWS_DAY.sub(lambda m: str(int(m.group(1)) - 1), fields[4])  # 1-7 is SUN-SAT
        fields = [*fields[:4], day]
    else:
        fields = text.split()
        if len(fields) == 6:
            if fields[0] != "0":
                return None  # seconds first (node-cron); a schedule is a day's, not a second's
            fields = fields[1:]
    if len(fields) != 5:
        return None
    return "cron_expression", " ".join("*" if f == "?" else f for f in fields)


def schedule_problem(config: dict[str, Any]) -> str | None:
    """Why today's rule refuses the schedule of a config made here, or None."""
    try:
        parse_recurrence(
            RecurringConfig(
                id="check",
                template_id="check",
                title="check",
                start_date=config["start_date"],
                created_at="",
                updated_at="",
                rrule=config.get("rrule"),
                cron_expression=config.get("cron_expression"),
            )
        )
    except RecurrenceError as exc:
        return exc.message
    return None
