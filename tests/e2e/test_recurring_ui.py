"""Recurring work in the UI (issue 17 item 6) in real Chromium against `dataops serve
--demo`: a weekly schedule made from the template page with its next five occurrences
previewed before the save, a bad rule shown next to its field, skip, pause/resume, an
edit previewed again, then a runner pass (`dataops scheduler run-due --now`, the CLI as
cron would run it) and the new bundle found in the UI."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import expect

from dataops.demo import DEMO_TEMPLATE
from tests.conftest import ServedPortal
from tests.e2e.conftest import UI, DemoData

pytestmark = pytest.mark.e2e

OPERATOR_EMAIL = "olga@example.com"
OPERATOR_PASSWORD = "operator-password-1"


def add_operator(admin_api: httpx.Client) -> None:
    created = admin_api.post(
        "/work/api/users",
        json={
            "email": OPERATOR_EMAIL,
            "name": "Olga Operator",
            "role": "operator",
            "password": OPERATOR_PASSWORD,
        },
    )
    assert created.status_code == 201, created.text


def run_due(demo: ServedPortal, now: str) -> list[str]:
    """One runner pass against the served workspace, as cron would run it."""
    env = {**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(demo.home)}
    done = subprocess.run(
        [sys.executable, "-m", "dataops", "scheduler", "run-due", "--now", now],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_weekly_schedule_is_previewed_saved_run_and_its_bundle_found(
    ui: UI, admin_api: httpx.Client, demo: ServedPortal, demo_data: DemoData
) -> None:
    add_operator(admin_api)
    ui.allow_http(422, "/work/api/recurring-configs/preview")  # the bad rule, on purpose
    ui.goto("/work")
    ui.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    page = ui.page

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name=DEMO_TEMPLATE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_TEMPLATE)
    recurring = page.locator("#recurring")
    expect(recurring).to_contain_text("No recurring schedule for this template yet.")

    recurring.get_by_text("Add a recurring schedule").click()
    form = page.get_by_role("form", name="Add a recurring schedule")
    form.get_by_label("Bundle title").fill("Weekly show {n} ({date})")
    form.get_by_label("Rule syntax").select_option("rrule")
    form.get_by_label("Rule", exact=True).fill("FREQ=WEEKLY;BYDAY=XX")
    form.get_by_label("Time zone").fill("Europe/Berlin")
    form.get_by_label("Start date").fill("2030-03-19")
    form.get_by_label("Lead days").fill("3")

    # A bad rule: the server's reason next to the field, focus on it, nothing saved.
    form.get_by_role("button", name="Preview the next five").click()
    rule = form.get_by_label("Rule", exact=True)
    expect(rule).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".field-error")).to_contain_text("BYDAY")
    expect(rule).to_be_focused()

    # The next five occurrences, across Berlin's DST change (2030-03-31), before saving.
    rule.fill("FREQ=WEEKLY;BYDAY=TU")
    form.get_by_role("button", name="Preview the next five").click()
    occurrences = form.locator(".occurrences li")
    expect(occurrences).to_have_count(5)
    expect(form.locator(".field-error")).to_have_count(0)
    expect(rule).not_to_have_attribute("aria-invalid", "true")
    expect(occurrences.nth(0)).to_contain_text("2030-03-19")
    expect(occurrences.nth(0)).to_contain_text("Weekly show 1 (2030-03-19)")
    expect(occurrences.nth(0)).to_contain_text("bundle created on 2030-03-16")
    expect(occurrences.nth(2)).to_contain_text("Weekly show 3 (2030-04-02)")
    expect(occurrences.nth(4)).to_contain_text("2030-04-16")
    expect(form.locator(".preview")).to_be_focused()
    ui.screenshot("recurring-preview")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator(".flash")).to_have_text("Schedule “Weekly show {n} ({date})” created.")
    expect(page.locator(".flash")).to_be_focused()

    config = recurring.locator(".config")
    expect(config).to_have_count(1)
    expect(config.locator(".next-anchor")).to_have_text("2030-03-19")
    expect(config).to_contain_text("RRULE FREQ=WEEKLY;BYDAY=TU (Europe/Berlin)")

    # Skip the second occurrence (the choices are the preview of the saved config).
    config.get_by_text("Skip an occurrence").click()
    choice = config.get_by_label("Occurrence", exact=True)
    expect(choice.locator("option")).to_have_count(5)
    choice.select_option("2030-03-26")
    config.get_by_role("button", name="Skip this occurrence").click()
    expect(page.locator(".flash")).to_have_text("The occurrence of 2030-03-26 will be skipped.")
    expect(recurring.locator(".config")).to_contain_text("Skipped2030-03-26")

    # Pause and resume (PATCH enabled with If-Match).
    recurring.get_by_role("button", name="Pause").click()
    expect(page.locator(".flash")).to_contain_text("paused")
    expect(recurring.locator(".config .next-anchor")).to_have_text("2030-03-19 (paused)")
    recurring.get_by_role("button", name="Resume").click()
    expect(page.locator(".flash")).to_contain_text("resumed")
    expect(recurring.get_by_role("button", name="Pause")).to_be_visible()

    # An edit is previewed before it is saved: the first Save shows, the second stores.
    recurring.get_by_text("Edit the schedule").click()
    edit = page.get_by_role("form", name=re.compile("Edit the schedule"))
    edit.get_by_label("Lead days").fill("2")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit.locator(".occurrences li")).to_have_count(5)
    # The skipped occurrence is left out and takes no number.
    expect(edit.locator(".occurrences li").nth(1)).to_contain_text("Weekly show 2 (2030-04-02)")
    expect(edit.locator(".occurrences li").nth(0)).to_contain_text("created on 2030-03-17")
    expect(edit).to_contain_text("then select Save again")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_have_text("Schedule “Weekly show {n} ({date})” saved.")
    expect(recurring.locator(".config")).to_contain_text("2 day(s) before each occurrence")

    # A runner pass on 2030-03-17 (Berlin) makes the first occurrence, and only it.
    created = run_due(demo, "2030-03-17T09:00:00+01:00")
    assert len(created) == 1, created
    assert "2030-03-19" in created[0]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    page.get_by_role("link", name="Weekly show 1 (2030-03-19)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Weekly show 1 (2030-03-19)")
    expect(page.locator(".tasks-table tbody tr")).to_have_count(len(demo_data.tasks))
    ui.screenshot("recurring-bundle")

    # Usable at 390 px: nothing wider than the screen on the template page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    page.get_by_role("link", name=DEMO_TEMPLATE).click()
    recurring.get_by_text("Edit the schedule").click()
    expect(page.get_by_role("form", name=re.compile("Edit the schedule"))).to_be_visible()
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => `${e.tagName}.${e.className}`)"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide
    ui.screenshot("recurring-mobile")
    ui.assert_clean()


def test_a_viewer_sees_the_schedules_but_no_forms(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    template = next(
        t
        for t in admin_api.get("/work/api/templates").json()["items"]
        if t["name"] == DEMO_TEMPLATE
    )
    made = admin_api.post(
        "/work/api/recurring-configs",
        json={
            "templateId": template["id"],
            "title": "Monthly report {date}",
            "cronExpression": "0 9 1 * *",
            "startDate": "2030-01-01",
        },
    )
    assert made.status_code == 201, made.text
    created = admin_api.post(
        "/work/api/users",
        json={
            "email": "vic@example.com",
            "name": "Vic Viewer",
            "role": "viewer",
            "password": "viewer-password-1",
        },
    )
    assert created.status_code == 201, created.text
    ui.goto(f"/work/templates/{template['id']}")
    ui.login("vic@example.com", "viewer-password-1")
    page = ui.page
    config = page.locator("#recurring .config")
    expect(config).to_contain_text("cron 0 9 1 * * (UTC)")
    expect(config.locator(".next-anchor")).to_have_text("2030-01-01")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.get_by_text("Add a recurring schedule")).to_have_count(0)
    expect(page.get_by_text("Skip an occurrence")).to_have_count(0)
    ui.assert_clean()
