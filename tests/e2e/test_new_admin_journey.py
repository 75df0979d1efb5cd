"""Issue 19's bar, in the browser only, at desktop and phone width: a new admin creates a
user, starts next week's episode from the template, assigns its tasks, uploads the
transcript as an artifact, has it reviewed (by the new user: the workspace's review policy
keeps creators from approving their own output), completes the task, and finds the
artifact by a word of its title. Every page on the way passes axe and fits the screen.

The API is read only to check what the browser did; nothing is set up through it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from dataops.demo import DEMO_TEMPLATE
from tests.conftest import ServedPortal
from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, new_page, watch

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]
REVIEWER = {"email": "rita@example.com", "name": "Rita Reviewer"}
TRANSCRIPT = b"Episode 43: Katherine Johnson on orbital mechanics.\n" * 20


def _browser_at(browser: Any, portal: ServedPortal, width: int) -> UI:
    return watch(new_page(browser, width), portal.base_url)


def _checked(page: Any, where: str) -> None:
    assert_accessible(page, context=where)
    assert_fits(page, context=where)


def _menu(page: Any, name: str) -> None:
    """Follow a top-bar link (on a phone the nav wraps; the link is still there)."""
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_new_admin_runs_an_episode_in_the_browser_only(
    browser: Any, demo: ServedPortal, admin_api: httpx.Client, width: int, tmp_path: Path
) -> None:
    admin = _browser_at(browser, demo, width)
    page = admin.page
    admin.goto("/work")
    admin.login()

    # 1. Create a user (the first password is shown once).
    _menu(page, "People")
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    form = page.get_by_role("form", name="Add a person")
    form.get_by_label("Email").fill(REVIEWER["email"])
    form.get_by_label("Name").fill(REVIEWER["name"])
    form.get_by_label("Role").select_option("operator")
    form.get_by_role("button", name="Add person").click()
    secret = page.get_by_role("textbox", name="First password", exact=True)
    password = secret.input_value()
    assert len(password) >= 12
    _checked(page, "people, password shown")
    page.get_by_role("button", name="I have copied it").click()

    # 2. Start next week's episode from the template, previewing its dated tasks first.
    anchor = (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
    title = f"Episode 43 — Katherine Johnson ({width})"
    _menu(page, "Templates")
    start = page.get_by_role("form", name="Start a bundle")
    start.get_by_label("Template").select_option(label=DEMO_TEMPLATE)
    start.get_by_label("Title").fill(title)
    start.get_by_label("Anchor date").fill(anchor)
    start.get_by_role("button", name="Create bundle").click()
    expect(start.locator(".preview li").first).to_be_visible()
    _checked(page, "templates, preview")
    start.get_by_role("button", name="Create bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    _checked(page, "the new bundle")

    # 3. Assign the transcript task to the new user, from its own page.
    page.locator(".tasks-table").get_by_role("link", name="Approve the transcript").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve the transcript")
    page.locator("summary", has_text="Edit, reschedule, reassign or archive").click()
    edit = page.get_by_role("form", name="Edit the task")
    edit.get_by_label("Assignee").select_option(label=REVIEWER["name"])
    edit.get_by_role("button", name="Save task").click()
    expect(page.locator(".flash")).to_contain_text("Rita Reviewer")

    # 4. Upload the transcript as an artifact for review.
    source = tmp_path / "episode-43-transcript.txt"
    source.write_bytes(TRANSCRIPT)
    upload = page.locator(".upload-artifact-form")
    upload.get_by_label("File").set_input_files(str(source))
    upload.get_by_label("Type").select_option("transcript")
    upload.get_by_label("Title").fill("Katherine Johnson transcript")
    upload.get_by_role("button", name="Upload for review").click()
    expect(page.locator(".flash")).to_contain_text("waits for review")
    _checked(page, "task, uploaded")
    task_url = page.url

    # 5. The new user logs in (their own browser) and approves it from the review queue.
    reviewer = _browser_at(browser, demo, width)
    reviewer.goto("/work/review")
    reviewer.login(REVIEWER["email"], password)
    rpage = reviewer.page
    card = rpage.locator(".artifact", has_text="Katherine Johnson transcript")
    expect(card).to_be_visible()
    _checked(rpage, "review queue as the reviewer")
    card.get_by_role("button", name="Approve Katherine Johnson transcript").click()
    expect(rpage.locator(".flash")).to_contain_text("Approved")

    # 6. Back as the admin: the proof is there; complete the task.
    page.goto(task_url)
    expect(page.locator(".ready-note")).to_be_visible()
    page.get_by_role("button", name="Mark done", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Task marked done")
    expect(page.locator(".subtitle .badge")).to_have_text("done")
    _checked(page, "task, done")

    # 7. Find the artifact by one word of its title.
    box = page.get_by_role("searchbox", name="Search tasks, bundles and artifacts")
    box.fill("katherine")
    box.press("Enter")
    hit = page.locator(".search-hit", has_text="Katherine Johnson transcript")
    expect(hit).to_be_visible()
    _checked(page, "search results")
    hit.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("Katherine Johnson transcript")
    )

    # What the browser did, as the API sees it.
    users = admin_api.get("/work/api/users").json()["items"]
    rita = next(u for u in users if u["email"] == REVIEWER["email"])
    bundle = next(
        b for b in admin_api.get("/work/api/bundles").json()["items"] if b["title"] == title
    )
    assert bundle["anchorDate"] == anchor
    tasks = admin_api.get("/work/api/tasks", params={"bundleId": bundle["id"]}).json()["items"]
    done = next(t for t in tasks if t["description"] == "Approve the transcript")
    assert (done["status"], done["assigneeId"]) == ("done", rita["id"])
    (artifact,) = [
        a
        for a in admin_api.get("/work/api/artifacts", params={"taskId": done["id"]}).json()["items"]
        if a["title"] == "Katherine Johnson transcript"
    ]
    assert artifact["status"] == "approved"
    assert artifact["reviewedBy"] == rita["id"]
    assert done["completionProof"][0]["satisfiedBy"]["title"] == "Katherine Johnson transcript"
    admin.assert_clean()
    reviewer.assert_clean()
