"""POST /api/recurring-configs/preview (issue 17 item 6): the next five occurrences of a
config before it is saved, by the runner's own rule evaluation, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.clock import parse_ts
from dataops.domain.enums import Role
from dataops.domain.errors import ValidationFailed
from dataops.domain.recurrence import MAX_PREVIEW_BEHIND, parse
from dataops.services import people, recurring
from dataops.services.context import Workspace
from tests.api.test_recurring import bundles_of, config, run, template
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login, make_settings

API = "/work/api"
PREVIEW = f"{API}/recurring-configs/preview"
SYSTEM = people.SYSTEM


@pytest.fixture(params=["sqlite", "dynamodb"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
    else:
        from tests.contract.dynamo import dynamo_settings, endpoint_for

        settings = dynamo_settings(endpoint_for(request), tmp_path)
    workspace = runtime.build_workspace(settings)
    runtime.bootstrap_admin(workspace)
    yield workspace
    workspace.store.close()


@pytest.fixture
def admin(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(ws)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


def body(template_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "templateId": template_id,
        "title": "Episode {n} ({date})",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "timezone": "Europe/Berlin",
        "startDate": "2030-03-19",
        **fields,
    }


def occurrences(response: Any) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.text
    found = response.json()["occurrences"]
    return [(o["anchorDate"], o["title"], o["createsOn"]) for o in found]


def stored_configs(admin: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = admin.get(f"{API}/recurring-configs").json()["items"]
    return items


def test_a_weekly_rule_across_a_dst_change_previews_five_occurrences(
    ws: Workspace, admin: TestClient
) -> None:
    """Berlin's clocks go forward on 2030-03-31: the Tuesdays stay Tuesdays, each bundle
    is created leadDays before its anchor, and nothing is stored."""
    tpl = template(ws)
    found = occurrences(admin.post(PREVIEW, json=body(tpl, leadDays=3)))
    assert found == [
        ("2030-03-19", "Episode 1 (2030-03-19)", "2030-03-16"),
        ("2030-03-26", "Episode 2 (2030-03-26)", "2030-03-23"),
        ("2030-04-02", "Episode 3 (2030-04-02)", "2030-03-30"),
        ("2030-04-09", "Episode 4 (2030-04-09)", "2030-04-06"),
        ("2030-04-16", "Episode 5 (2030-04-16)", "2030-04-13"),
    ]
    # The default lead is the create default (7 days).
    default = occurrences(admin.post(PREVIEW, json=body(tpl)))
    assert default[0] == ("2030-03-19", "Episode 1 (2030-03-19)", "2030-03-12")
    assert stored_configs(admin) == []


def test_the_preview_is_what_the_runner_then_makes(ws: Workspace, admin: TestClient) -> None:
    """Saved as previewed, stepping the runner's clock through the five creation days
    makes exactly the previewed bundles (anchor, title) — the same evaluation."""
    tpl = template(ws)
    fields = {"cronExpression": "30 2 * * 0", "rrule": None, "leadDays": 2}
    previewed = occurrences(admin.post(PREVIEW, json=body(tpl, **fields)))
    assert [anchor for anchor, _, _ in previewed] == [
        "2030-03-24",
        "2030-03-31",  # 02:30 does not exist in Berlin that night: the day still counts
        "2030-04-07",
        "2030-04-14",
        "2030-04-21",
    ]
    made = config(
        ws,
        tpl,
        title="Episode {n} ({date})",
        rrule=None,
        cron_expression="30 2 * * 0",
        timezone="Europe/Berlin",
        start_date="2030-03-19",
        lead_days=2,
    )
    for _, _, creates_on in previewed:
        run(ws, f"{creates_on}T00:30:00+01:00")
    bundles = sorted(bundles_of(ws, made.id), key=lambda b: b.anchor_date or "")
    assert [(b.anchor_date, b.title) for b in bundles] == [(a, t) for a, t, _ in previewed]


def test_skipped_dates_end_date_and_made_occurrences_of_an_edited_config(
    ws: Workspace, admin: TestClient
) -> None:
    """With `configId`: after the occurrences made, numbered on from them, its skipped
    dates left out; `endDate` ends the list early."""
    tpl = template(ws)
    made = config(ws, tpl, start_date="2030-01-01", title="Show {n}")  # Tuesdays, lead 0
    run(ws, "2030-01-08T12:00:00Z")  # #1 2030-01-01, #2 2030-01-08
    recurring.skip_occurrence(ws, SYSTEM, made.id, "2030-01-22", None)
    before = admin.get(f"{API}/recurring-configs/{made.id}").json()
    edit = body(tpl, title="Show {n}", timezone="UTC", startDate="2030-01-01", configId=made.id)
    assert occurrences(admin.post(PREVIEW, json=edit)) == [
        ("2030-01-15", "Show 3", "2030-01-08"),
        ("2030-01-29", "Show 4", "2030-01-22"),
        ("2030-02-05", "Show 5", "2030-01-29"),
        ("2030-02-12", "Show 6", "2030-02-05"),
        ("2030-02-19", "Show 7", "2030-02-12"),
    ]
    ended = occurrences(admin.post(PREVIEW, json={**edit, "endDate": "2030-02-01"}))
    assert [anchor for anchor, _, _ in ended] == ["2030-01-15", "2030-01-29"]
    # The edit preview stored nothing either.
    assert admin.get(f"{API}/recurring-configs/{made.id}").json() == before


def test_a_start_in_the_past_previews_from_today_numbered_after_the_past_ones(
    ws: Workspace,
) -> None:
    """From today in the config's zone on; the occurrences between startDate and today
    (which the first pass also makes) count for `{n}`."""
    tpl = template(ws)
    data = {
        "template_id": tpl,
        "title": "Day {n} {date}",
        "rrule": "FREQ=DAILY",
        "timezone": "Pacific/Auckland",  # already 2030-05-11 there at 13:00 UTC
        "start_date": "2030-05-01",
        "lead_days": 1,
    }
    found = recurring.preview(ws, data, parse_ts("2030-05-10T13:00:00Z"))
    assert [(p.anchor_date, p.title, p.creates_on) for p in found][:2] == [
        ("2030-05-11", "Day 11 2030-05-11", "2030-05-10"),
        ("2030-05-12", "Day 12 2030-05-12", "2030-05-11"),
    ]
    assert len(found) == 5


def test_a_start_too_far_back_to_count_is_422_naming_start_date(ws: Workspace) -> None:
    tpl = template(ws)
    start = date(2030, 5, 1) - timedelta(days=MAX_PREVIEW_BEHIND + 1)
    data = {
        "template_id": tpl,
        "title": "Day {n}",
        "rrule": "FREQ=DAILY",
        "start_date": start.isoformat(),
    }
    with pytest.raises(ValidationFailed) as raised:
        recurring.preview(ws, data, parse_ts("2030-05-01T12:00:00Z"))
    assert [e.field for e in raised.value.errors] == ["startDate"]
    data["start_date"] = (start + timedelta(days=1)).isoformat()  # exactly the bound: served
    found = recurring.preview(ws, data, parse_ts("2030-05-01T12:00:00Z"))
    assert found[0].title == f"Day {MAX_PREVIEW_BEHIND + 1}"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "BYDAY"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule", "FREQ"),
        ({"rrule": None, "cronExpression": "0 9 * *"}, "cronExpression", "5 fields"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "IANA"),
        ({"endDate": "2030-01-01"}, "endDate", "startDate"),
        ({"leadDays": -1}, "leadDays", "0 to 365"),
    ],
)
def test_a_bad_rule_is_422_naming_the_field(
    ws: Workspace, admin: TestClient, fields: dict[str, Any], field: str, reason: str
) -> None:
    response = admin.post(PREVIEW, json=body(template(ws), **fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert reason.lower() in errors[0]["message"].lower()


def test_unknown_template_assignee_or_config_is_404(ws: Workspace, admin: TestClient) -> None:
    tpl = template(ws)
    assert admin.post(PREVIEW, json=body("tpl_missing")).status_code == 404
    assert admin.post(PREVIEW, json=body(tpl, assigneeId="usr_missing")).status_code == 404
    missing = admin.post(PREVIEW, json=body(tpl, configId="rcf_missing"))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_only_operators_and_admins_preview(ws: Workspace) -> None:
    tpl = template(ws)
    for role in (Role.VIEWER, Role.ASSISTANT, Role.OPERATOR):
        email = f"{role.value}@example.com"
        people.add_user(ws, SYSTEM, email, role.value, role, PASSWORD)
        with TestClient(runtime.build_single_process(ws)) as client:
            login(client, email, PASSWORD)
            status = client.post(PREVIEW, json=body(tpl)).status_code
        assert status == (200 if role is Role.OPERATOR else 403), role


def test_a_cron_rule_at_the_ends_of_the_calendar_is_not_a_server_error(
    ws: Workspace, admin: TestClient
) -> None:
    """Was a 500 (OverflowError from croniter's datetime arithmetic) on create and preview:
    a cron rule starting on 0001-01-01, or whose fifth occurrence lies past 9999-12-31."""
    tpl = template(ws)
    cron = {"rrule": None, "cronExpression": "0 9 * * *", "timezone": "UTC"}
    first = admin.post(f"{API}/recurring-configs", json=body(tpl, startDate="0001-01-01", **cron))
    assert first.status_code == 201, first.text
    last = occurrences(admin.post(PREVIEW, json=body(tpl, startDate="9999-12-29", **cron)))
    assert [anchor for anchor, _, _ in last] == ["9999-12-29", "9999-12-30", "9999-12-31"]
    recurrence = parse(rrule_text=None, cron_text="0 9 * * *", start=date.min, end=None)
    assert recurrence.first_after(None) == date.min
