"""Rule evaluation of recurring configs (domain/recurrence.py): RRULE through dateutil,
cron through croniter, dates in the config's zone, never a horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise

import pytest

from dataops.domain.models import RecurringConfig
from dataops.domain.recurrence import (
    RecurrenceError,
    local_today,
    next_anchor,
    parse,
    title_for,
)
from dataops.domain.rules import recurring_config_errors


def d(text: str) -> date:
    return date.fromisoformat(text)


def first(
    count: int,
    *,
    rrule: str | None = None,
    cron: str | None = None,
    start: str = "2025-01-01",
    end: str | None = None,
    after: str | None = None,
) -> list[str]:
    recurrence = parse(rrule_text=rrule, cron_text=cron, start=d(start), end=end and d(end))
    found = recurrence.after(d(after) if after else None)
    return [day.isoformat() for day in islice(found, count)]


RULES = [
    pytest.param(
        {"rrule": "FREQ=WEEKLY;BYDAY=TU"},
        ["2025-01-07", "2025-01-14", "2025-01-21", "2025-01-28"],
        id="weekly-on-tuesday",
    ),
    pytest.param(
        {"rrule": "RRULE:FREQ=MONTHLY;BYDAY=-1FR"},
        ["2025-01-31", "2025-02-28", "2025-03-28", "2025-04-25", "2025-05-30"],
        id="monthly-last-friday",
    ),
    pytest.param(
        {"rrule": "FREQ=WEEKLY;INTERVAL=2", "start": "2025-01-06"},
        ["2025-01-06", "2025-01-20", "2025-02-03", "2025-02-17"],
        id="every-other-week-from-the-start",
    ),
    pytest.param(
        {"cron": "0 9 * * 1-5", "start": "2025-01-03"},  # a Friday
        ["2025-01-03", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10"],
        id="cron-weekdays-at-nine",
    ),
    pytest.param(
        {"cron": "0 9,17 * * *"},  # two fires a day are one occurrence
        ["2025-01-01", "2025-01-02", "2025-01-03"],
        id="cron-twice-a-day-is-one-date",
    ),
    pytest.param(
        {"rrule": "FREQ=WEEKLY;BYDAY=WE", "start": "2025-12-01"},
        ["2025-12-03", "2025-12-10", "2025-12-17", "2025-12-24", "2025-12-31", "2026-01-07"],
        id="weekly-across-the-year-end",
    ),
    pytest.param(
        {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"},
        ["2028-02-29", "2032-02-29", "2036-02-29"],
        id="leap-day-rrule",
    ),
    pytest.param(
        {"cron": "0 0 29 2 *"},
        ["2028-02-29", "2032-02-29"],
        id="leap-day-cron",
    ),
    pytest.param(
        {"rrule": "FREQ=MONTHLY;BYMONTHDAY=-1", "start": "2028-01-15"},
        ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"],
        id="last-day-of-the-month-in-a-leap-year",
    ),
    pytest.param(
        {"rrule": "FREQ=WEEKLY;BYDAY=TU", "end": "2025-01-21"},
        ["2025-01-07", "2025-01-14", "2025-01-21"],
        id="end-date-inclusive",
    ),
    pytest.param(
        {"rrule": "FREQ=WEEKLY;BYDAY=TU", "after": "2025-01-14"},
        ["2025-01-21", "2025-01-28"],
        id="after-the-last-made",
    ),
    # On 2025-03-30 Berlin skips 02:00-03:00 and on 2025-10-26 repeats 02:00-03:00: a
    # rule at 02:30 still has each of those days, exactly once.
    pytest.param(
        {"cron": "30 2 * * *", "start": "2025-03-29"},
        ["2025-03-29", "2025-03-30", "2025-03-31"],
        id="dst-spring-forward-cron",
    ),
    pytest.param(
        {"cron": "30 2 * * *", "start": "2025-10-25"},
        ["2025-10-25", "2025-10-26", "2025-10-27"],
        id="dst-fall-back-cron",
    ),
    pytest.param(
        {"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "start": "2025-03-29"},
        ["2025-03-29", "2025-03-30", "2025-03-31"],
        id="dst-spring-forward-rrule",
    ),
]


@pytest.mark.parametrize(("rule", "expected"), RULES)
def test_occurrences(rule: dict[str, str], expected: list[str]) -> None:
    assert first(len(expected) + 1, **rule)[: len(expected)] == expected
    if "end" in rule:
        assert first(10, **rule) == expected  # nothing after endDate


def test_a_weekly_series_never_stops_on_its_own() -> None:
    """No horizon: ten years out, the series still has every week (CISO Assistant #3134:
    a recurrence that silently ended at year end)."""
    days = first(530, rrule="FREQ=WEEKLY;BYDAY=TU", start="2025-01-01")
    assert len(days) == 530
    gaps = {(d(b) - d(a)).days for a, b in pairwise(days)}
    assert gaps == {7}
    assert days[-1] > "2035-01-01"


@pytest.mark.parametrize(
    ("moment", "zone", "today"),
    [
        # 23:30 UTC the evening before each Berlin change is already the next day there.
        ("2025-03-29T23:30:00Z", "Europe/Berlin", "2025-03-30"),  # CET, +1
        ("2025-03-30T21:59:00Z", "Europe/Berlin", "2025-03-30"),  # CEST, +2
        ("2025-03-30T22:00:00Z", "Europe/Berlin", "2025-03-31"),
        ("2025-10-25T22:30:00Z", "Europe/Berlin", "2025-10-26"),  # CEST, +2
        ("2025-10-26T22:59:00Z", "Europe/Berlin", "2025-10-26"),  # CET, +1
        ("2025-10-26T23:00:00Z", "Europe/Berlin", "2025-10-27"),
        ("2025-12-31T23:30:00Z", "UTC", "2025-12-31"),
        ("2025-12-31T15:00:00Z", "Pacific/Auckland", "2026-01-01"),
    ],
)
def test_today_is_the_zones_date(moment: str, zone: str, today: str) -> None:
    now = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    assert local_today(now, zone).isoformat() == today


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "invalid 'BYDAY'"),
        ({"rrule": "FREQ=WEEKLY;FOO=1"}, "rrule", "unknown parameter"),
        ({"rrule": "BYDAY=TU"}, "rrule", "freq"),
        ({"rrule": "FREQ=HOURLY"}, "rrule", "FREQ must be"),
        ({"rrule": "FREQ=WEEKLY;INTERVAL=0"}, "rrule", "INTERVAL"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "never falls"),
        ({"rrule": "DTSTART:20250101T000000\nRRULE:FREQ=DAILY"}, "rrule", "one RRULE"),
        ({"cron": "0 9 * *"}, "cronExpression", "5 fields"),
        ({"cron": "0 9 * * * *"}, "cronExpression", "5 fields"),
        ({"cron": "61 9 * * *"}, "cronExpression", "out of range"),
        ({"cron": "0 0 30 2 *"}, "cronExpression", "no occurrence"),
        ({}, "rrule", "exactly one"),
        ({"rrule": "FREQ=DAILY", "cron": "0 9 * * *"}, "rrule", "exactly one"),
        ({"rrule": "FREQ=DAILY", "end": "2024-12-31"}, "endDate", "before startDate"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO", "end": "2025-01-05"}, "rrule", "no occurrence"),
    ],
)
def test_a_bad_rule_names_its_field_and_says_why(
    rule: dict[str, str], field: str, reason: str
) -> None:
    end = rule.get("end")
    with pytest.raises(RecurrenceError) as raised:
        parse(
            rrule_text=rule.get("rrule"),
            cron_text=rule.get("cron"),
            start=d("2025-01-01"),
            end=d(end) if end else None,
        )
    assert raised.value.field == field
    assert reason.lower() in raised.value.message.lower()


def config(**fields: object) -> RecurringConfig:
    values: dict[str, object] = {
        "id": "rcf_1",
        "template_id": "tpl_1",
        "title": "Episode {n} on {date}",
        "start_date": "2025-01-01",
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
    }
    values.update(fields)
    return RecurringConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"lead_days": -1}, "leadDays"),
        ({"lead_days": 366}, "leadDays"),
        ({"title": ""}, "title"),
        ({"start_date": "2025-02-30"}, "startDate"),
        ({"rrule": None}, "rrule"),
        ({"rrule": "FREQ=MONTHLY;BYMONTH=13"}, "rrule"),
    ],
)
def test_config_rules_name_the_field(fields: dict[str, object], field: str) -> None:
    errors = recurring_config_errors(config(**fields))
    assert field in [e.field for e in errors], errors


def test_a_valid_config_has_no_errors_and_a_next_anchor() -> None:
    valid = config(timezone="Europe/Berlin", lead_days=0, end_date="2025-12-31")
    assert recurring_config_errors(valid) == []
    assert next_anchor(valid) == d("2025-01-07")


def test_next_anchor_passes_skips_and_what_was_made_and_ends_with_the_series() -> None:
    made = config(last_occurrence_date="2025-01-07", skipped_dates=["2025-01-14"])
    assert next_anchor(made) == d("2025-01-21")
    ended = config(end_date="2025-01-21", last_occurrence_date="2025-01-21")
    assert next_anchor(ended) is None


def test_title_pattern() -> None:
    assert title_for("Episode {n} on {date}", d("2025-01-07"), 12) == "Episode 12 on 2025-01-07"
    assert title_for("Weekly sync", d("2025-01-07"), 1) == "Weekly sync"


def test_local_today_needs_an_aware_moment() -> None:
    with pytest.raises(ValueError, match="zone"):
        local_today(datetime(2025, 1, 1), "UTC")
    assert local_today(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=1), "UTC") == d(
        "2025-01-01"
    )
