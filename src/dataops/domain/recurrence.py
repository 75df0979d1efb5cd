"""Occurrences of a recurring config: the anchor dates (YYYY-MM-DD in the config's time
zone) its rule yields from `startDate` on, up to `endDate` if it has one.

One parser per syntax, never a hand-written one: RFC 5545 RRULE through python-dateutil's
`rrulestr`, 5-field cron through croniter. Both evaluate on the zone's wall clock (naive
local date-times), so an occurrence is the local date its rule names whatever the UTC
offset does that day: a rule at 02:30 still has its day when the clocks skip 02:00-03:00.
The zone decides only which local day `now` is (`local_today`).

A series never stops on its own: occurrences are computed on demand from the rule, after
the last one created; nothing is materialised ahead, so no horizon needs renewing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped]
from dateutil.rrule import rrule, rrulestr

from dataops.domain.models import RecurringConfig

SEARCH_YEARS = 50
"""A rule must occur at least once in any such span: the next occurrence is searched for
that far (an impossible cron date such as 30 February is found out within it)."""

MAX_LEAD_DAYS = 365

PREVIEW_COUNT = 5
"""Occurrences a preview shows."""
MAX_PREVIEW_BEHIND = 1000
"""Occurrences before today (not made yet) a preview counts to number the ones after it."""

_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: leap years


class RecurrenceError(ValueError):
    """A field of a recurring config that cannot be evaluated, and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`timezone` error if there is none by that name)."""
    if name not in _zones():
        raise RecurrenceError("timezone", f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)")
    return ZoneInfo(name)


def local_today(now: datetime, zone_name: str) -> date:
    """The date it is at `now` (an aware moment) in the zone."""
    if now.tzinfo is None:
        raise ValueError("now must carry a zone")
    return now.astimezone(zone(zone_name)).date()


@dataclass(frozen=True)
class Recurrence:
    """A validated rule with its start and optional end date."""

    start: date
    end: date | None
    rule: rrule | None = None
    cron: str | None = None

    def first_after(self, day: date | None) -> date | None:
        """The first occurrence after `day` (None: the first of the series), or None."""
        return next(self.after(day), None)

    def after(self, day: date | None) -> Iterator[date]:
        """Occurrences after `day` (None: from `start`), ascending, each date once."""
        first = self.start if day is None else max(self.start, day + timedelta(days=1))
        dates = self._rrule_dates(first) if self.rule is not None else self._cron_dates(first)
        for found in dates:
            if self.end is not None and found > self.end:
                return
            yield found

    def _rrule_dates(self, first: date) -> Iterator[date]:
        assert self.rule is not None
        last: date | None = None
        for moment in self.rule.xafter(datetime.combine(first, time()), inc=True):
            day = moment.date()
            if day != last:
                last = day
                yield day

    def _cron_dates(self, first: date) -> Iterator[date]:
        day = first
        while True:
            # From the last second of the previous day, so a fire at 00:00 counts (on the
            # calendar's first day, from its first moment).
            start = datetime.combine(day, time())
            if day > date.min:
                start -= timedelta(seconds=1)
            try:
                fire = croniter(self.cron, start, max_years_between_matches=SEARCH_YEARS).get_next(
                    datetime
                )
            except (CroniterBadDateError, OverflowError):  # OverflowError: past year 9999
                return
            found = fire.date()
            yield found
            if found == date.max:
                return
            day = found + timedelta(days=1)  # the day's other fires are the same occurrence


def parse(
    *, rrule_text: str | None, cron_text: str | None, start: date, end: date | None
) -> Recurrence:
    """The rule of a config; `RecurrenceError` naming the field and saying why not."""
    if (rrule_text is None) == (cron_text is None):
        raise RecurrenceError("rrule", "give exactly one of rrule and cronExpression")
    if end is not None and end < start:
        raise RecurrenceError("endDate", "must not be before startDate")
    if rrule_text is not None:
        recurrence = Recurrence(start, end, rule=_parse_rrule(rrule_text, start))
        field = "rrule"
    else:
        recurrence = Recurrence(start, end, cron=_parse_cron(cron_text or ""))
        field = "cronExpression"
    if recurrence.first_after(None) is None:
        raise RecurrenceError(field, "has no occurrence between startDate and endDate")
    return recurrence


def _parse_rrule(text: str, start: date) -> rrule:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body or any(c in body for c in "\r\n:"):
        raise RecurrenceError("rrule", "must be one RRULE value, e.g. FREQ=WEEKLY;BYDAY=TU")
    try:
        parsed = rrulestr(body, dtstart=datetime.combine(start, time()))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RecurrenceError("rrule", f"is not a valid RFC 5545 RRULE: {exc}") from exc
    if not isinstance(parsed, rrule):  # pragma: no cover - one RRULE value gives an rrule
        raise RecurrenceError("rrule", "must be one RRULE value")
    # dateutil accepted it, so each part is NAME=VALUE with well-formed values.
    parts = dict(part.split("=", 1) for part in body.upper().split(";") if part)
    if parts.get("FREQ") not in _FREQUENCIES:
        raise RecurrenceError("rrule", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    if parts.keys() & {"BYYEARDAY", "BYWEEKNO", "BYEASTER"}:
        raise RecurrenceError("rrule", "BYYEARDAY, BYWEEKNO and BYEASTER are not supported")
    if int(parts.get("INTERVAL", "1")) < 1:
        raise RecurrenceError("rrule", "INTERVAL must be at least 1")
    _check_month_days(_numbers(parts.get("BYMONTH")), _numbers(parts.get("BYMONTHDAY")))
    return parsed


def _numbers(value: str | None) -> list[int]:
    return [int(v) for v in value.split(",")] if value else []


def _check_month_days(months: list[int], days: list[int]) -> None:
    """Refuse a month/day pair that never exists (30 February): dateutil would search
    every year up to 9999 for it (seconds of work) and find nothing."""
    if any(not 1 <= month <= 12 for month in months):
        raise RecurrenceError("rrule", "BYMONTH values must be from 1 to 12")
    if any(not 1 <= abs(day) <= 31 for day in days):
        raise RecurrenceError("rrule", "BYMONTHDAY values must be from 1 to 31 or -31 to -1")
    if not days or any(day < 0 for day in days):  # -1, the last day, is in every month
        return
    longest = max(_DAYS_IN_MONTH[month - 1] for month in months or range(1, 13))
    if min(days) > longest:
        raise RecurrenceError("rrule", "BYMONTHDAY never falls in the months of BYMONTH")


def _parse_cron(text: str) -> str:
    fields = text.split()
    if len(fields) != 5:
        raise RecurrenceError(
            "cronExpression",
            f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
        )
    expression = " ".join(fields)
    try:
        croniter(expression, datetime(2000, 1, 1))
    except CroniterError as exc:
        raise RecurrenceError("cronExpression", f"is not a valid cron expression: {exc}") from exc
    return expression


def title_for(pattern: str, anchor: date, sequence: int) -> str:
    """The bundle title: `{date}` is the anchor date, `{n}` the occurrence's number."""
    return pattern.replace("{date}", anchor.isoformat()).replace("{n}", str(sequence))


@dataclass(frozen=True)
class Upcoming:
    """One occurrence a config will make: its anchor date and its number (`{n}`)."""

    anchor: date
    sequence: int


class TooFarBehind(RecurrenceError):
    """The occurrences between the last one made (or startDate) and today are too many to
    count for a preview (the runner would make every one of them)."""


def upcoming(config: RecurringConfig, today: date, count: int = PREVIEW_COUNT) -> list[Upcoming]:
    """The next `count` occurrences the runner will make on or after `today` (none before
    `startDate`), numbered as the runner numbers them: after the last one made
    (`lastOccurrenceDate`, `occurrenceCount`), skipped dates left out and not counted,
    `endDate` respected. The occurrences before `today` that are not made yet are counted
    for the numbering, at most `MAX_PREVIEW_BEHIND` of them (`TooFarBehind` beyond)."""
    skipped = set(config.skipped_dates)
    last = date.fromisoformat(config.last_occurrence_date) if config.last_occurrence_date else None
    sequence = config.occurrence_count
    found: list[Upcoming] = []
    behind = 0
    if count < 1:
        return found
    for anchor in parse_recurrence(config).after(last):
        if anchor.isoformat() in skipped:
            continue
        sequence += 1
        if anchor >= today:
            found.append(Upcoming(anchor, sequence))
            if len(found) == count:
                break
            continue
        behind += 1
        if behind > MAX_PREVIEW_BEHIND:
            raise TooFarBehind(
                "startDate",
                f"is more than {MAX_PREVIEW_BEHIND} occurrences before today: the first pass "
                "would make every one of them; choose a later startDate",
            )
    return found


def parse_recurrence(config: RecurringConfig) -> Recurrence:
    """The rule of a config record (its fields already checked as dates)."""
    zone(config.timezone)
    return parse(
        rrule_text=config.rrule,
        cron_text=config.cron_expression,
        start=date.fromisoformat(config.start_date),
        end=date.fromisoformat(config.end_date) if config.end_date else None,
    )


def next_anchor(config: RecurringConfig) -> date | None:
    """The next occurrence the runner will make a bundle for: the first after the last
    one made that is not skipped (None once the series has ended)."""
    skipped = set(config.skipped_dates)
    last = date.fromisoformat(config.last_occurrence_date) if config.last_occurrence_date else None
    for anchor in parse_recurrence(config).after(last):
        if anchor.isoformat() not in skipped:
            return anchor
    return None
