"""Search and artifact lists in the operator UI (issue 19 item 4), in real Chromium against
`dataops serve --demo`, at 1280 and 390 px: the header's search box leads to the results
page (kind filter, links to the record), the All artifacts page and the review queue
filter on the server, and the bundles list counts every artifact of a bundle. Each page
passes an axe-core check with no serious or critical violation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, DemoData, new_page, watch

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def wide_ui(request: pytest.FixtureRequest, browser: Any, demo: Any) -> Iterator[UI]:
    view = watch(new_page(browser, request.param), demo.base_url)
    yield view
    view.page.context.close()
    if not view.checked:
        assert view.unexpected() == []


def logged_in(ui: UI, path: str) -> None:
    ui.goto(path)
    ui.login()


def test_the_header_search_finds_records_and_leads_to_them(
    wide_ui: UI, demo_data: DemoData
) -> None:
    ui = wide_ui
    page = ui.page
    logged_in(ui, "/work/bundles")
    box = page.get_by_role("searchbox", name="Search tasks, bundles and artifacts")
    box.fill("ada lovelace")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/work/search\?q=ada\+lovelace$"))
    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    hits = page.locator(".search-hit")
    expect(hits).to_have_count(2)  # the prep document and the bundle
    expect(hits.nth(0)).to_contain_text("Guest prep: Ada Lovelace")
    expect(hits.nth(1)).to_contain_text("Episode 42 — Ada Lovelace")
    expect(page.get_by_role("status").filter(has_text="2 results")).to_be_visible()
    assert_accessible(page)
    assert_fits(page)

    page.get_by_label("Show").select_option("bundle")
    page.get_by_role("button", name="Search", exact=True).last.click()
    expect(page).to_have_url(re.compile(r"kind=bundle"))
    expect(hits).to_have_count(1)
    hits.get_by_role("link", name="Episode 42 — Ada Lovelace").click()
    expect(page).to_have_url(re.compile(f"/work/bundles/{demo_data.bundle['id']}$"))

    ui.goto("/work/search?q=nosuchword")
    expect(page.get_by_text("Nothing holds all of “nosuchword”.")).to_be_visible()
    ui.assert_clean()


def test_search_pages_on_with_more_results(wide_ui: UI, admin_api: httpx.Client) -> None:
    for n in range(23):
        made = admin_api.post(
            "/work/api/artifacts",
            json={
                "type": "report",
                "title": f"Quokka report {n}",
                "storageUri": f"https://q.example/{n}",
            },
        )
        assert made.status_code == 201, made.text
    ui = wide_ui
    page = ui.page
    logged_in(ui, "/work/search?q=quokka")
    hits = page.locator(".search-hit")
    expect(hits).to_have_count(20)
    expect(page.get_by_text("Showing the first 20 results — more match.")).to_be_visible()
    page.get_by_role("button", name="More results").click()
    expect(hits).to_have_count(23)
    expect(page.get_by_text("23 results.")).to_be_visible()
    expect(page.get_by_role("button", name="More results")).to_be_hidden()
    expect(hits.nth(0)).to_contain_text("Quokka report 22")  # newest first
    assert_accessible(page)
    assert_fits(page)
    ui.assert_clean()


def test_all_artifacts_filters_on_the_server(wide_ui: UI, demo_data: DemoData) -> None:
    ui = wide_ui
    page = ui.page
    logged_in(ui, "/work/artifacts")
    expect(page.get_by_role("heading", name="All artifacts", level=1)).to_be_visible()
    items = page.locator(".artifact-pages li.artifact")
    expect(items).to_have_count(4)
    expect(page.get_by_text("4 artifacts match.")).to_be_visible()
    assert_accessible(page)
    assert_fits(page)

    page.get_by_label("Provider").select_option("dropbox")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/work/artifacts\?provider=dropbox$"))
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Raw recording")

    page.get_by_label("Provider").select_option("")
    page.get_by_label("Data class").select_option("private")
    page.get_by_label("Status").select_option("needs-review")
    page.get_by_role("button", name="Apply filters").click()
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Transcript draft (assistant)")

    page.get_by_label("Created from").fill("2000-01-01")
    page.get_by_label("Created to").fill("2000-01-02")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No artifact matches these filters.")).to_be_visible()
    page.get_by_role("button", name="Clear filters").click()
    expect(items).to_have_count(4)
    assert_accessible(page)
    assert_fits(page)
    ui.assert_clean()


def test_the_review_queue_filters_what_waits_for_review(
    wide_ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    made = admin_api.post(
        "/work/api/artifacts",
        json={
            "type": "report",
            "title": "Sponsor report",
            "storageUri": "https://www.dropbox.com/s/sponsor.pdf",
            "status": "needs-review",
            "dataClass": "public",
        },
    )
    assert made.status_code == 201, made.text
    ui = wide_ui
    page = ui.page
    logged_in(ui, "/work/review")
    items = page.locator(".review-list li.artifact")
    expect(items).to_have_count(2)
    expect(page.get_by_label("Status")).to_have_count(0)  # the queue is needs-review
    assert_accessible(page)
    assert_fits(page)

    page.get_by_label("Data class").select_option("public")
    page.get_by_role("button", name="Apply filters").click()
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Sponsor report")

    page.get_by_label("Data class").select_option("sensitive")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("Nothing waiting for review matches these filters.")).to_be_visible()
    assert_accessible(page)
    assert_fits(page)
    ui.assert_clean()


def test_the_bundles_list_counts_every_artifact_of_the_bundle(
    wide_ui: UI, demo_data: DemoData
) -> None:
    """The demo bundle holds one artifact itself and three through its tasks."""
    ui = wide_ui
    page = ui.page
    logged_in(ui, "/work/bundles")
    row = page.locator("tbody tr").filter(has_text="Episode 42")
    expect(row.locator("td").nth(4)).to_have_text("4")
    ui.assert_clean()
