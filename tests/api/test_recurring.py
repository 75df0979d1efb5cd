"""Recurring work (CONTRACT §8, issue 17 items 1-3) on both stores: configs through the
API, each occurrence exactly one bundle whatever passes race, crash or catch up, and the
runner's edges (CLI, background loop, Lambda scheduler event)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import lambda_handlers, runtime, scheduler
from dataops.config import Settings
from dataops.domain.clock import parse_ts
from dataops.domain.codec import fields_from_dict
from dataops.domain.enums import Role
from dataops.domain.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from dataops.domain.models import Bundle, RecurringConfig, Task, Template
from dataops.domain.recurrence import next_anchor
from dataops.services import people, recurring, recurring_pass, workflow
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login, make_settings

API = "/work/api"
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


def template(ws: Workspace, tasks: int = 2) -> str:
    """A template whose task i is due i - 1 days after the anchor."""
    definitions = [
        {"refId": f"t{i}", "description": f"Step {i}", "offsetDays": i - 1} for i in range(tasks)
    ]
    data = fields_from_dict(Template, {"name": "Episode", "taskDefinitions": definitions})
    return workflow.create_template(ws, SYSTEM, data).id


def config(ws: Workspace, template_id: str, **fields: Any) -> RecurringConfig:
    data: dict[str, Any] = {
        "template_id": template_id,
        "title": "Episode {n} ({date})",
        "start_date": "2025-01-07",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "lead_days": 0,
    }
    data.update(fields)
    return recurring.create_config(ws, SYSTEM, data)


def run(ws: Workspace, moment: str) -> list[recurring_pass.Occurrence]:
    result = recurring_pass.run_due(ws, parse_ts(moment))
    assert result.failed == []
    return result.created


def bundles_of(ws: Workspace, config_id: str) -> list[Bundle]:
    found: list[Bundle] = []
    cursor = None
    with ws.store.unit_of_work() as uow:
        while True:
            page = uow.bundles.find(
                Filters({"recurring_config_id": config_id}), PageRequest(500, cursor)
            )
            found += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        # the list index may lag on DynamoDB: read each as stored
        return uow.bundles.get_many([b.id for b in found])


def tasks_of(ws: Workspace, bundle_id: str) -> list[Task]:
    with ws.store.unit_of_work() as uow:
        return uow.tasks.find(Filters({"bundle_id": bundle_id}), PageRequest(500)).items


def stored(ws: Workspace, config_id: str) -> RecurringConfig:
    with ws.store.unit_of_work() as uow:
        found = uow.recurring_configs.get(config_id)
    assert found is not None
    return found


def weekly(start: str, count: int, step: int = 7) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=step * i)).isoformat() for i in range(count)]


# --- exactly once ----------------------------------------------------------------------------


def test_catch_up_of_six_missed_weeks_makes_six_bundles_once(ws: Workspace) -> None:
    made = config(ws, template(ws))
    created = run(ws, "2025-02-11T12:00:00Z")  # six Tuesdays since 2025-01-07
    assert [o.occurrence_date for o in created] == weekly("2025-01-07", 6)
    assert [o.sequence for o in created] == [1, 2, 3, 4, 5, 6]
    assert run(ws, "2025-02-11T12:00:00Z") == []  # idempotent
    assert run(ws, "2025-02-12T12:00:00Z") == []

    bundles = bundles_of(ws, made.id)
    assert sorted(b.occurrence_date or "" for b in bundles) == weekly("2025-01-07", 6)
    first = next(b for b in bundles if b.occurrence_date == "2025-01-07")
    assert first.title == "Episode 1 (2025-01-07)"
    assert first.anchor_date == "2025-01-07"
    assert first.template_id == made.template_id
    assert [t.date for t in tasks_of(ws, first.id)] == ["2025-01-06", "2025-01-07"]
    after = stored(ws, made.id)
    assert (after.last_occurrence_date, after.occurrence_count) == ("2025-02-11", 6)
    assert next_anchor(after) == date(2025, 2, 18)


def test_an_occurrence_is_made_lead_days_before_its_anchor_in_the_configs_zone(
    ws: Workspace,
) -> None:
    made = config(ws, template(ws), timezone="Europe/Berlin", lead_days=3)
    # The first anchor is Tuesday 2025-01-07: due from Saturday 2025-01-04 in Berlin,
    # which begins at 2025-01-03T23:00Z.
    assert run(ws, "2025-01-03T22:59:00Z") == []
    created = run(ws, "2025-01-03T23:00:00Z")
    assert [o.occurrence_date for o in created] == ["2025-01-07"]
    assert [b.occurrence_date for b in bundles_of(ws, made.id)] == ["2025-01-07"]


def test_stepping_now_day_by_day_for_two_months_makes_each_occurrence_once(
    ws: Workspace,
) -> None:
    """A weekday cron in Berlin across the spring DST change, two days' lead."""
    made = config(
        ws,
        template(ws, tasks=1),
        rrule=None,
        cron_expression="0 9 * * 1-5",
        timezone="Europe/Berlin",
        start_date="2025-03-03",
        lead_days=2,
    )
    seen: list[str] = []
    moment = datetime.fromisoformat("2025-03-01T06:00:00+00:00")
    while moment < datetime.fromisoformat("2025-05-01T00:00:00+00:00"):
        for occurrence in recurring_pass.run_due(ws, moment).created:
            anchor = date.fromisoformat(occurrence.occurrence_date)
            assert anchor - timedelta(days=2) <= moment.date()  # never early
            seen.append(occurrence.occurrence_date)
        moment += timedelta(days=1)
    expected = []
    day = date(2025, 3, 3)
    while day <= date(2025, 5, 2):  # the last step, 2025-04-30, sees two days ahead
        if day.weekday() < 5:
            expected.append(day.isoformat())
        day += timedelta(days=1)
    assert seen == expected
    assert sorted(b.occurrence_date or "" for b in bundles_of(ws, made.id)) == expected


def test_runners_racing_make_each_occurrence_once(ws: Workspace) -> None:
    made = config(ws, template(ws))
    barrier = threading.Barrier(4)
    created: list[recurring_pass.Occurrence] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            barrier.wait()
            created.extend(recurring_pass.run_due(ws, parse_ts("2025-02-11T12:00:00Z")).created)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(o.occurrence_date for o in created) == weekly("2025-01-07", 6)
    bundles = bundles_of(ws, made.id)
    assert Counter(b.occurrence_date for b in bundles) == Counter(weekly("2025-01-07", 6))
    assert all(len(tasks_of(ws, b.id)) == 2 for b in bundles)
    assert stored(ws, made.id).occurrence_count == 6


def test_a_pass_killed_before_its_commit_leaves_nothing_and_the_next_completes_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = config(ws, template(ws))
    original = recurring_pass.add_instance

    def killed(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)  # the bundle, its claim, tasks and audit are in the unit
        raise RuntimeError("killed between the claim and the commit")

    monkeypatch.setattr(recurring_pass, "add_instance", killed)
    with pytest.raises(RuntimeError, match="killed"):
        recurring_pass.run_due(ws, parse_ts("2025-01-07T12:00:00Z"))
    assert bundles_of(ws, made.id) == []
    with ws.store.unit_of_work() as uow:
        assert uow.tasks.find(Filters(), PageRequest(10)).items == []
        assert uow.bundles.find(Filters(), PageRequest(10)).items == []
    assert stored(ws, made.id).last_occurrence_date is None

    monkeypatch.setattr(recurring_pass, "add_instance", original)
    created = run(ws, "2025-01-07T12:00:00Z")
    assert [o.occurrence_date for o in created] == ["2025-01-07"]
    assert [len(tasks_of(ws, b.id)) for b in bundles_of(ws, made.id)] == [2]


def test_a_lost_cursor_update_is_repaired_by_the_next_pass(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundle committed but the pass died before recording it on the config: the
    next pass finds the occurrence claimed, makes no second bundle, and records it."""
    made = config(ws, template(ws))
    monkeypatch.setattr(recurring_pass, "_advance", lambda *args: None)
    assert len(run(ws, "2025-01-14T12:00:00Z")) == 2
    assert stored(ws, made.id).last_occurrence_date is None
    monkeypatch.undo()
    assert run(ws, "2025-01-14T12:00:00Z") == []
    after = stored(ws, made.id)
    assert (after.last_occurrence_date, after.occurrence_count) == ("2025-01-14", 2)
    assert len(bundles_of(ws, made.id)) == 2
    created = run(ws, "2025-01-21T12:00:00Z")
    assert [(o.occurrence_date, o.sequence) for o in created] == [("2025-01-21", 3)]


def test_cursors_of_a_page_are_recorded_together_and_edits_meanwhile_stay(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass records the cursors of a page of configs in one unit of work, read as
    stored then: an edit made while the pass served the others stays."""
    first, second = config(ws, template(ws)), config(ws, template(ws))
    units = {"batched": 0, "alone": 0}
    batched, alone = recurring_pass._advance, recurring_pass._advance_one

    def count_batched(*args: Any) -> None:
        units["batched"] += 1
        batched(*args)

    def count_alone(*args: Any) -> None:
        units["alone"] += 1
        alone(*args)

    monkeypatch.setattr(recurring_pass, "_advance", count_batched)
    monkeypatch.setattr(recurring_pass, "_advance_one", count_alone)
    assert len(run(ws, "2025-01-14T12:00:00Z")) == 4

    def edit_the_first_meanwhile(*args: Any) -> None:
        version = stored(ws, first.id).version  # after the pass read and served it
        recurring.update_config(ws, SYSTEM, first.id, {"title": "Renamed {n}"}, version)
        count_batched(*args)

    monkeypatch.setattr(recurring_pass, "_advance", edit_the_first_meanwhile)
    assert len(run(ws, "2025-01-21T12:00:00Z")) == 2
    assert units == {"batched": 2, "alone": 0}
    for made in (first, second):
        after = stored(ws, made.id)
        assert (after.last_occurrence_date, after.occurrence_count) == ("2025-01-21", 3)
    assert stored(ws, first.id).title == "Renamed {n}"


@pytest.mark.parametrize("ws", ["dynamodb"], indirect=True)
def test_a_cursor_unit_that_loses_a_race_records_each_cursor_alone(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DynamoDB a unit is sent at commit, so an edit can land between the batched
    unit's reads and its commit: it then fails on the version and each cursor is
    recorded alone (on SQLite the write unit holds the lock: no edit can land there)."""
    first, second = config(ws, template(ws)), config(ws, template(ws))
    moved = recurring_pass._move
    edited: list[str] = []

    def edit_during_the_unit(uow: Any, current: Any, move: Any) -> None:
        if not edited:  # once: a competing write commits before the unit does
            version = stored(ws, first.id).version
            recurring.update_config(ws, SYSTEM, first.id, {"title": "Renamed {n}"}, version)
            edited.append(first.id)
        moved(uow, current, move)

    monkeypatch.setattr(recurring_pass, "_move", edit_during_the_unit)
    assert len(run(ws, "2025-01-14T12:00:00Z")) == 4
    assert edited == [first.id]
    for made in (first, second):
        after = stored(ws, made.id)
        assert (after.last_occurrence_date, after.occurrence_count) == ("2025-01-14", 2)
    assert stored(ws, first.id).title == "Renamed {n}"


def test_occurrences_share_a_unit_of_work_where_the_store_allows(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite (units of any size are atomic) a pass makes its occurrences in groups of
    `_GROUP`, one commit each; on DynamoDB (100 writes per transaction) one at a time.
    Either way each is made once, with its tasks."""
    monkeypatch.setattr(recurring_pass, "_GROUP", 3)
    made = [config(ws, template(ws)) for _ in range(2)]
    groups: list[int] = []
    original = recurring_pass._make_group

    def counted(ws: Workspace, group: list[Any], now: datetime) -> Any:
        groups.append(len(group))
        return original(ws, group, now)

    monkeypatch.setattr(recurring_pass, "_make_group", counted)
    assert len(run(ws, "2025-01-21T12:00:00Z")) == 6
    assert groups == ([3, 3] if ws.store.atomic_write_limit is None else [])
    for each in made:
        bundles = bundles_of(ws, each.id)
        assert sorted(b.occurrence_date or "" for b in bundles) == weekly("2025-01-07", 3)
        assert all(len(tasks_of(ws, b.id)) == 2 for b in bundles)


def test_a_pass_makes_at_most_max_per_config_and_the_next_continues(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = config(ws, template(ws, tasks=1))
    monkeypatch.setattr(recurring_pass, "MAX_PER_CONFIG", 4)
    assert len(run(ws, "2025-02-25T12:00:00Z")) == 4  # eight are due
    assert len(run(ws, "2025-02-25T12:00:00Z")) == 4
    assert run(ws, "2025-02-25T12:00:00Z") == []
    assert sorted(b.occurrence_date or "" for b in bundles_of(ws, made.id)) == weekly(
        "2025-01-07", 8
    )


def test_occurrences_found_made_count_towards_the_bound(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After lost cursor updates, a pass walks at most MAX_PER_CONFIG occurrences even
    when it makes none of them (each costs a unit of work)."""
    made = config(ws, template(ws, tasks=1))
    monkeypatch.setattr(recurring_pass, "_advance", lambda *args: None)
    assert len(run(ws, "2025-02-25T12:00:00Z")) == 8
    monkeypatch.undo()
    monkeypatch.setattr(recurring_pass, "MAX_PER_CONFIG", 3)
    attempts: list[str] = []
    original = recurring_pass._due

    def counted(config: RecurringConfig, now: datetime) -> Any:
        due, move = original(config, now)
        attempts.extend(item.anchor.isoformat() for item in due)
        return due, move

    monkeypatch.setattr(recurring_pass, "_due", counted)
    assert run(ws, "2025-02-25T12:00:00Z") == []
    assert attempts == weekly("2025-01-07", 3)
    assert stored(ws, made.id).last_occurrence_date == "2025-01-21"


def test_skip_one_occurrence(ws: Workspace) -> None:
    made = config(ws, template(ws))
    skipped = recurring.skip_occurrence(ws, SYSTEM, made.id, "2025-01-14", None)
    assert skipped.skipped_dates == ["2025-01-14"]
    assert next_anchor(skipped) == date(2025, 1, 7)
    created = run(ws, "2025-01-21T12:00:00Z")
    assert [(o.occurrence_date, o.sequence) for o in created] == [
        ("2025-01-07", 1),
        ("2025-01-21", 2),
    ]
    with pytest.raises(Conflict):  # already passed
        recurring.skip_occurrence(ws, SYSTEM, made.id, "2025-01-21", None)
    with pytest.raises(ValidationFailed) as raised:  # a Wednesday
        recurring.skip_occurrence(ws, SYSTEM, made.id, "2025-01-29", None)
    assert raised.value.errors[0].field == "anchorDate"


def test_an_edit_changes_future_occurrences_only(ws: Workspace) -> None:
    made = config(ws, template(ws))
    assert len(run(ws, "2025-01-14T12:00:00Z")) == 2
    before = {b.id: b for b in bundles_of(ws, made.id)}
    current = stored(ws, made.id)
    recurring.update_config(
        ws,
        SYSTEM,
        made.id,
        {"rrule": "FREQ=WEEKLY;BYDAY=TH", "title": "Show {n}"},
        current.version,
    )
    created = run(ws, "2025-01-30T12:00:00Z")
    assert [(o.occurrence_date, o.bundle.title) for o in created] == [
        ("2025-01-16", "Show 3"),
        ("2025-01-23", "Show 4"),
        ("2025-01-30", "Show 5"),
    ]
    after = {b.id: b for b in bundles_of(ws, made.id)}
    for bundle_id, bundle in before.items():  # made before the edit: untouched
        assert after[bundle_id] == bundle
    # Moving the start back does not bring back occurrences before the last one made.
    current = stored(ws, made.id)
    recurring.update_config(ws, SYSTEM, made.id, {"start_date": "2024-06-01"}, current.version)
    assert run(ws, "2025-01-31T12:00:00Z") == []


def test_disabled_and_deleted_configs_make_nothing(ws: Workspace) -> None:
    tpl = template(ws)
    paused = config(ws, tpl, enabled=False)
    gone = config(ws, tpl)
    recurring.delete_config(ws, SYSTEM, gone.id, None)
    assert run(ws, "2025-02-11T12:00:00Z") == []
    with pytest.raises(NotFound):
        recurring.get_config(ws, gone.id)
    recurring.update_config(ws, SYSTEM, paused.id, {"enabled": True}, None)
    assert len(run(ws, "2025-02-11T12:00:00Z")) == 6


@pytest.mark.parametrize(
    ("stored_change", "reason"),
    [
        ({"template_id": "tpl_gone"}, "tpl_gone"),  # (templates cannot be deleted today)
        ({"timezone": "Atlantis/Capital"}, "timezone"),  # e.g. gone from a newer tzdata
    ],
)
def test_a_config_that_cannot_be_served_fails_alone(
    ws: Workspace, stored_change: dict[str, str], reason: str
) -> None:
    tpl = template(ws)
    broken = config(ws, tpl)
    healthy = config(ws, tpl)
    with ws.store.unit_of_work(write=True) as uow:
        current = uow.recurring_configs.get(broken.id)
        assert current is not None
        for name, value in stored_change.items():
            setattr(current, name, value)
        current.version += 1
        uow.recurring_configs.update(current, current.version - 1)
        uow.commit()
    result = recurring_pass.run_due(ws, parse_ts("2025-01-07T12:00:00Z"))
    assert [o.config_id for o in result.created] == [healthy.id]
    assert [config_id for config_id, _ in result.failed] == [broken.id]
    assert reason in result.failed[0][1]


def test_a_template_beyond_one_dynamodb_transaction_is_still_made_once(ws: Workspace) -> None:
    """60 tasks: bundle + claim + 121 audit events and tasks, more than one DynamoDB
    transaction holds (100); an inserts-only unit is sent in chunks, the bundle and its
    claim in the first, so racing passes still make one bundle."""
    made = config(ws, template(ws, tasks=60))
    barrier = threading.Barrier(2)
    created: list[recurring_pass.Occurrence] = []

    def runner() -> None:
        barrier.wait()
        created.extend(recurring_pass.run_due(ws, parse_ts("2025-01-07T12:00:00Z")).created)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o.task_count for o in created] == [60]
    bundles = bundles_of(ws, made.id)
    assert len(bundles) == 1
    assert len(tasks_of(ws, bundles[0].id)) == 60


# --- the API ---------------------------------------------------------------------------------


@pytest.fixture
def admin(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(ws)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def body(template_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "templateId": template_id,
        "title": "Episode {n}",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "startDate": "2025-01-07",
        **fields,
    }


def test_the_api_creates_reads_lists_edits_skips_and_deletes(
    ws: Workspace, admin: TestClient
) -> None:
    tpl = template(ws)
    created = ok(admin.post(f"{API}/recurring-configs", json=body(tpl)), 201)
    assert created["timezone"] == "UTC"
    assert created["leadDays"] == 7
    assert created["enabled"] is True
    assert created["nextAnchorDate"] == "2025-01-07"
    assert created["version"] == 1
    url = f"{API}/recurring-configs/{created['id']}"
    assert ok(admin.get(url)) == created
    listed = ok(admin.get(f"{API}/recurring-configs", params={"templateId": tpl}))
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert listed["items"][0]["nextAnchorDate"] == "2025-01-07"

    stale = admin.patch(url, json={"leadDays": 1}, headers={"If-Match": '"7"'})
    assert stale.status_code == 409
    edited = ok(admin.patch(url, json={"cronExpression": "0 9 * * 1", "expectedVersion": 1}))
    assert edited["rrule"] is None  # one syntax at a time
    assert edited["cronExpression"] == "0 9 * * 1"
    assert edited["nextAnchorDate"] == "2025-01-13"
    skipped = ok(admin.post(f"{url}/skip", json={"anchorDate": "2025-01-13"}))
    assert skipped["skippedDates"] == ["2025-01-13"]
    assert skipped["nextAnchorDate"] == "2025-01-20"

    events = ok(
        admin.get(
            f"{API}/audit-events",
            params={"entityType": "recurring-config", "entityId": created["id"]},
        )
    )
    assert [e["action"] for e in events["items"]] == ["create", "update", "skip"]

    assert admin.delete(url, headers={"If-Match": '"1"'}).status_code == 409
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404
    assert ok(admin.get(f"{API}/recurring-configs"))["items"] == []


def test_a_config_or_bundle_read_can_be_sent_back_as_an_edit(
    ws: Workspace, admin: TestClient
) -> None:
    """The server-managed fields of a GET (nextAnchorDate, lastOccurrenceDate, ...; a
    bundle's recurringConfigId and occurrenceDate) are ignored when echoed back."""
    made = config(ws, template(ws))
    run(ws, "2025-01-14T12:00:00Z")
    url = f"{API}/recurring-configs/{made.id}"
    read = ok(admin.get(url))
    assert read["lastOccurrenceDate"] == "2025-01-14"
    edited = ok(admin.patch(url, json={**read, "leadDays": 2, "occurrenceCount": 99}))
    assert (edited["leadDays"], edited["occurrenceCount"]) == (2, 2)
    assert edited["nextAnchorDate"] == "2025-01-21"
    bundle = ok(admin.get(f"{API}/bundles", params={"recurringConfigId": made.id}))["items"][0]
    changed = ok(
        admin.patch(
            f"{API}/bundles/{bundle['id']}",
            json={
                "title": "Renamed",
                "recurringConfigId": "rcf_other",
                "occurrenceDate": "2030-01-01",
            },
        )
    )
    assert (changed["title"], changed["occurrenceDate"]) == ("Renamed", bundle["occurrenceDate"])
    assert changed["recurringConfigId"] == made.id


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "BYDAY"),
        ({"rrule": None, "cronExpression": "0 9 * *"}, "cronExpression", "5 fields"),
        ({"cronExpression": "0 9 * * *"}, "rrule", "exactly one"),
        ({"rrule": None}, "rrule", "exactly one"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "IANA"),
        ({"leadDays": 400}, "leadDays", "365"),
        ({"endDate": "2024-01-01"}, "endDate", "startDate"),
    ],
)
def test_invalid_configs_are_422_naming_the_field(
    ws: Workspace, admin: TestClient, fields: dict[str, Any], field: str, reason: str
) -> None:
    response = admin.post(f"{API}/recurring-configs", json=body(template(ws), **fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert reason.lower() in errors[0]["message"].lower()
    assert ok(admin.get(f"{API}/recurring-configs"))["items"] == []


def test_unknown_template_or_assignee_is_404(ws: Workspace, admin: TestClient) -> None:
    missing = admin.post(f"{API}/recurring-configs", json=body("tpl_missing"))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Template ID: template 'tpl_missing' does not exist"
    nobody = admin.post(f"{API}/recurring-configs", json=body(template(ws), assigneeId="usr_x"))
    assert nobody.status_code == 404


def test_viewers_read_operators_write(ws: Workspace, admin: TestClient) -> None:
    tpl = template(ws)
    created = ok(admin.post(f"{API}/recurring-configs", json=body(tpl)), 201)
    people.add_user(ws, SYSTEM, "viewer@example.com", "Vi", Role.VIEWER, PASSWORD)
    with TestClient(runtime.build_single_process(ws)) as viewer:
        login(viewer, "viewer@example.com", PASSWORD)
        assert viewer.get(f"{API}/recurring-configs/{created['id']}").status_code == 200
        assert viewer.post(f"{API}/recurring-configs", json=body(tpl)).status_code == 403
        url = f"{API}/recurring-configs/{created['id']}"
        assert viewer.patch(url, json={"enabled": False}).status_code == 403
        assert viewer.delete(url).status_code == 403


def test_bundles_list_by_recurring_config(ws: Workspace, admin: TestClient) -> None:
    made = config(ws, template(ws))
    run(ws, "2025-01-14T12:00:00Z")
    listed = ok(admin.get(f"{API}/bundles", params={"recurringConfigId": made.id}))
    assert sorted(b["occurrenceDate"] for b in listed["items"]) == ["2025-01-07", "2025-01-14"]
    assert {b["recurringConfigId"] for b in listed["items"]} == {made.id}


# --- the runner's edges ----------------------------------------------------------------------


def test_the_lambda_handler_runs_a_pass_for_the_scheduler_event(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An end date keeps the pass at the current time (below) to the rest of the series:
    # without one it would make every Tuesday since 2025, a hundred bundles and more.
    made = config(ws, template(ws), end_date="2025-01-28")
    # What EventBridge Scheduler sends: the schedule's Input with its placeholders filled.
    event = {
        "source": "dataops.scheduler",
        "action": "run-due",
        "scheduledTime": "2025-01-14T12:00:00Z",
        "executionId": "c7f2d3f4-0b5e-4a8f-9a9e-3c2d1e0f4a5b",
    }
    assert lambda_handlers.is_scheduler_event(event)
    assert not lambda_handlers.is_scheduler_event({"version": "2.0", "rawPath": "/api/health"})
    assert not lambda_handlers.is_scheduler_event({"source": "aws.events"})
    monkeypatch.setattr(lambda_handlers, "_engine_workspace", lambda: ws)
    result = lambda_handlers.engine_handler(event, None)
    assert [c["occurrenceDate"] for c in result["created"]] == ["2025-01-07", "2025-01-14"]
    assert {c["recurringConfigId"] for c in result["created"]} == {made.id}
    assert result["failed"] == []
    assert lambda_handlers.engine_handler(event, None)["created"] == []
    # Without a readable scheduledTime the pass runs at the current time, past the end.
    unfilled = dict(event, scheduledTime="<aws.scheduler.scheduled-time>")
    now = lambda_handlers.engine_handler(unfilled, None)
    assert [c["occurrenceDate"] for c in now["created"]] == ["2025-01-21", "2025-01-28"]
    assert now["failed"] == []


def test_the_background_runner_makes_due_occurrences_until_stopped(ws: Workspace) -> None:
    made = config(ws, template(ws), start_date="2020-01-07", end_date="2020-01-21")
    runner = scheduler.BackgroundRunner(ws, 0.05).start()
    try:
        for _ in range(400):  # until the first pass has run (not a timing assertion)
            if stored(ws, made.id).occurrence_count == 3:
                break
            time.sleep(0.05)
    finally:
        runner.stop()
    assert sorted(b.occurrence_date or "" for b in bundles_of(ws, made.id)) == [
        "2020-01-07",
        "2020-01-14",
        "2020-01-21",
    ]


@pytest.mark.slow
def test_the_cli_runs_one_pass(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(tmp_path),
        "DATAOPS_STORE": "sqlite",
    }
    settings = make_settings(tmp_path)
    workspace = runtime.build_workspace(settings)
    made = config(workspace, template(workspace), timezone="Europe/Berlin")
    workspace.store.close()

    def run_due(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dataops", "scheduler", "run-due", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = run_due("--now", "2025-01-14T08:00:00+01:00")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 2
    assert all(made.id in line for line in lines)
    assert "2025-01-07 #1" in lines[0]
    assert "2025-01-14 #2" in lines[1]
    assert "2 bundle(s) created" in first.stderr
    again = run_due("--now", "2025-01-14T08:00:00+01:00")
    assert again.returncode == 0
    assert again.stdout == ""
    bad = run_due("--now", "yesterday")
    assert bad.returncode == 2
    assert "ISO 8601" in bad.stderr
    workspace = runtime.build_workspace(settings)
    try:
        assert len(bundles_of(workspace, made.id)) == 2
    finally:
        workspace.store.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 60), ("0", 0), ("15", 15), ("86400", 86400)],
)
def test_the_scheduler_interval_setting(value: str | None, expected: int) -> None:
    env = {} if value is None else {"DATAOPS_SCHEDULER_INTERVAL_SECONDS": value}
    assert Settings.from_env(env).scheduler_interval_seconds == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "86401", "٣"])
def test_a_bad_scheduler_interval_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError, match="DATAOPS_SCHEDULER_INTERVAL_SECONDS"):
        Settings.from_env({"DATAOPS_SCHEDULER_INTERVAL_SECONDS": value})


@pytest.mark.slow
def test_cli_passes_racing_as_processes_against_dynamodb(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Three `dataops scheduler run-due` processes at once against one DynamoDB (the
    moto server): six missed weeks become six bundles, each printed by one process."""
    from tests.contract.dynamo import dynamo_env, endpoint_for

    env = {**os.environ, **dynamo_env(endpoint_for(request)), "DATAOPS_ENV": "test"}
    env["DATAOPS_HOME"] = str(tmp_path)
    workspace = runtime.build_workspace(Settings.from_env(env))
    try:
        made = config(workspace, template(workspace))
        command = [sys.executable, "-m", "dataops", "scheduler", "run-due"]
        command += ["--now", "2025-02-11T12:00:00Z"]
        runners = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        outputs = [runner.communicate(timeout=180) for runner in runners]
        assert [runner.returncode for runner in runners] == [0, 0, 0], outputs
        lines = [line for out, _ in outputs for line in out.splitlines()]
        assert sorted(line.split()[2] for line in lines) == weekly("2025-01-07", 6)
        bundles = bundles_of(workspace, made.id)
        assert sorted(b.occurrence_date or "" for b in bundles) == weekly("2025-01-07", 6)
        assert stored(workspace, made.id).occurrence_count == 6
    finally:
        workspace.store.close()
