"""The bell, the inbox and My work (issue 17 item 6) in real Chromium against `dataops
serve --demo`, after a runner pass made an operator's recurring bundles.

NEEDS the notifications API (`/api/notifications?unread=true`, `/unread-count`, `/read`,
`/dismiss`) and `GET /api/my-work` (issue 17 items 4-5): it passes once those are merged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from dataops.demo import DEMO_TEMPLATE
from tests.conftest import ServedPortal, login
from tests.e2e.conftest import UI, DemoData
from tests.e2e.test_recurring_ui import OPERATOR_EMAIL, OPERATOR_PASSWORD, add_operator, run_due

pytestmark = pytest.mark.e2e


def unread(api: httpx.Client) -> int:
    response = api.get("/work/api/notifications/unread-count")
    assert response.status_code == 200, response.text
    count: int = response.json()["unread"]
    return count


def every(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(path, params={**params, "limit": 500, "cursor": cursor}).json()
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items


def test_the_bell_inbox_and_my_work_after_a_pass(
    ui: UI, admin_api: httpx.Client, demo: ServedPortal, demo_data: DemoData
) -> None:
    add_operator(admin_api)
    operator = demo.client()
    login(operator, OPERATOR_EMAIL, OPERATOR_PASSWORD)
    operator_id = operator.get("/work/api/me").json()["id"]
    template = next(
        t
        for t in admin_api.get("/work/api/templates").json()["items"]
        if t["name"] == DEMO_TEMPLATE
    )
    # Weekly from three weeks ago, the operator's: the pass catches up four occurrences,
    # whose earlier tasks are due or overdue today.
    now = datetime.now(UTC)
    start = (now - timedelta(days=21)).date().isoformat()
    made = admin_api.post(
        "/work/api/recurring-configs",
        json={
            "templateId": template["id"],
            "title": "Weekly show {n}",
            "rrule": "FREQ=WEEKLY",
            "startDate": start,
            "leadDays": 0,
            "assigneeId": operator_id,
        },
    )
    assert made.status_code == 201, made.text
    created = run_due(demo, now.isoformat())
    assert len(created) == 4, created

    count = unread(operator)
    assert count > 0
    due = every(operator, "/work/api/my-work", list="due")
    assert due, "the pass made tasks due for the operator"

    ui.goto("/work")
    ui.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    page = ui.page

    # Operators land on My work; the bell says the unread count.
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    bell = page.locator(".topbar .bell")
    expect(bell).to_have_attribute(
        "aria-label", f"Inbox: {count} unread notification" + ("s" if count != 1 else "")
    )
    expect(bell.locator(".bell-count")).to_have_text(str(count))
    ui.screenshot("my-work")

    # The due list, paged with "Show more" until it holds every due task.
    lane = page.locator("#my-due")
    more = lane.get_by_role("button", name="Show more")
    while more.is_visible():
        before = lane.locator(".row").count()
        more.click()
        expect(lane.locator(".row")).not_to_have_count(before)
    expect(lane.locator(".row")).to_have_count(len(due))
    expect(lane.get_by_role("link", name=due[0]["description"]).first).to_be_visible()

    # The inbox: the unread filter, mark read, dismiss — the bell follows.
    bell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    page.get_by_role("navigation", name="Show").get_by_role("link", name="Unread").click()
    rows = page.locator(".notification")
    expect(rows).to_have_count(min(count, 20))
    rows.first.get_by_role("button", name="Mark read").click()
    expect(bell.locator(".bell-count")).to_have_text(str(count - 1))
    expect(page.get_by_role("status").filter(has_text="marked read")).to_have_count(1)
    page.locator(".notification").first.get_by_role("button", name="Dismiss").click()
    left = count - 2
    if left:
        expect(bell.locator(".bell-count")).to_have_text(str(left))
    else:
        expect(bell.locator(".bell-count")).to_have_count(0)
    assert unread(operator) == left
    mine = every(operator, "/work/api/notifications")
    assert all(n["userId"] == operator_id for n in mine)
    assert sum(1 for n in mine if n["dismissed"]) == 1

    # Each notification links to what it is about (the newest: the first row of "All").
    page.get_by_role("navigation", name="Show").get_by_role("link", name="All").click()
    newest = mine[0]
    row = page.locator(".notification").first
    expect(row).to_have_attribute("data-notification-id", newest["id"])
    row.get_by_role("link", name=re.compile("^Open the ")).click()
    if newest.get("artifactId"):
        expect(page).to_have_url(re.compile(f"/work/artifacts/{newest['artifactId']}$"))
    elif newest.get("taskId"):
        expect(page).to_have_url(re.compile(f"/work/tasks/{newest['taskId']}$"))
    else:
        expect(page).to_have_url(re.compile(f"/work/bundles/{newest['bundleId']}$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    ui.assert_clean()
    operator.close()
