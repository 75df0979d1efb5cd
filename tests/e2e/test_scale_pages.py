"""Pages that scale (issue 19): Home and the bundle page ask the server for exactly what
they show — a fixed handful of API calls whatever the workspace holds — and every lane
is complete (a count, and "Show more" through the lane's own route). At 1280 and 390 px,
with the accessibility check (zero serious or critical axe violations).

The number of API calls a page makes is a count (deterministic), not a time: requests to
the engine API (`/work/api/*`) on a fresh load of the page, the app's own (settings,
unread count, users) included; the portal's session check (`/auth/session`, once per
load of the app, not per page) is not an API call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, DemoData, new_page, watch

MAX_CALLS = 6
WIDTHS = [1280, 390]


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def sized(request: pytest.FixtureRequest, browser: Any, demo: Any) -> Iterator[UI]:
    view = watch(new_page(browser, request.param), demo.base_url)
    yield view
    view.page.context.close()
    if not view.checked:
        assert view.unexpected() == []


def api_calls(ui: UI) -> list[str]:
    """Every request the page sends to the engine API, from now on."""
    calls: list[str] = []

    def seen(request: Any) -> None:
        path = re.sub(r"^https?://[^/]+", "", request.url)
        if path.startswith("/work/api/"):
            calls.append(f"{request.method} {path}")

    ui.page.on("request", seen)
    return calls


def load(ui: UI, path: str, ready: str) -> list[str]:
    """A fresh load of `path` (a new document: session check and all), until `ready`
    shows and the network is idle; the API calls it made. The page before is left idle
    and then blank first, so none of its late calls is counted as this page's."""
    ui.page.wait_for_load_state("networkidle")
    ui.page.goto("about:blank")
    calls = api_calls(ui)
    ui.goto(path)
    expect(ui.page.locator(ready).first).to_be_visible()
    ui.page.wait_for_load_state("networkidle")
    return calls


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def test_home_shows_every_lane_from_a_few_calls(
    sized: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    for n in range(25):
        response = admin_api.post(
            "/work/api/tasks",
            json={"description": f"Backlog item {n:02d}", "date": day(-30 + n % 5)},
        )
        assert response.status_code == 201, response.text
    notes = {
        "description": "Write the show notes",
        "date": day(0),
        "proofRequirement": {"type": "comment", "label": "Show notes"},
    }
    assert admin_api.post("/work/api/tasks", json=notes).status_code == 201
    sized.goto("/work/overview")
    sized.login()
    calls = load(sized, "/work/overview", "#lane-overdue .row")
    assert len(calls) <= MAX_CALLS, calls
    assert not [c for c in calls if "/proof" in c], calls
    page = sized.page
    overdue = page.locator("#lane-overdue")
    expected = admin_api.get(
        "/work/api/tasks", params={"due": "overdue", "count": "true", "limit": "1"}
    ).json()["count"]
    assert expected > 25
    expect(overdue.locator("h2")).to_contain_text(f"· {expected}")
    expect(overdue.locator(".row")).to_have_count(20)
    overdue.get_by_role("button", name="Show more").click()
    expect(overdue.locator(".row")).to_have_count(min(40, expected))
    # The blocked lane holds due tasks only: the transcript (due in 5 days) is not there
    # though its proof is missing; today's show notes are.
    blocked = page.locator("#lane-blocked")
    expect(blocked.locator("h2")).to_contain_text("· 1")
    expect(blocked).to_contain_text("Write the show notes")
    expect(blocked).to_contain_text("Show notes")
    expect(blocked.get_by_role("link", name="Approve the transcript")).to_have_count(0)
    expect(blocked.locator(".missing-list").first).to_be_visible()
    assert_accessible(page)
    assert_fits(page)
    sized.screenshot(f"home-scale-{page.viewport_size['width']}")
    sized.assert_clean()


def test_the_bundle_page_shows_proof_state_from_one_task_call(
    sized: UI, demo_data: DemoData
) -> None:
    sized.goto("/work/overview")
    sized.login()
    bundle_path = f"/work/bundles/{demo_data.bundle['id']}"
    calls = load(sized, bundle_path, ".tasks-table tbody tr")
    assert len(calls) <= MAX_CALLS, calls
    assert not [c for c in calls if "/proof" in c], calls
    page = sized.page
    expect(page.locator(".tasks-table tbody tr")).to_have_count(len(demo_data.tasks))
    transcript = page.locator("tr", has=page.get_by_role("link", name="Approve the transcript"))
    expect(transcript).to_contain_text("Missing:")
    expect(page.locator(".tasks-count")).to_have_text(f"{len(demo_data.tasks)} tasks.")
    assert_accessible(page)
    assert_fits(page)
    sized.screenshot(f"bundle-scale-{page.viewport_size['width']}")
    sized.assert_clean()


def test_the_review_queue_names_each_cards_context_from_its_page_call(
    sized: UI, demo_data: DemoData, admin_api: httpx.Client
) -> None:
    """Every card names its task and bundle; the names come with the page
    (`include=context`), not one task and one bundle call per card."""
    for ref, task in demo_data.tasks.items():
        made = admin_api.post(
            "/work/api/artifacts",
            json={
                "title": f"Notes for {ref}",
                "type": "report",
                "status": "needs-review",
                "storageUri": f"https://docs.example.com/{ref}",
                "taskId": task["id"],
                "bundleId": demo_data.bundle["id"],
            },
        )
        assert made.status_code == 201, made.text
    sized.goto("/work/overview")
    sized.login()
    calls = load(sized, "/work/review", ".review-list .artifact")
    assert len(calls) <= MAX_CALLS, calls
    assert not [c for c in calls if "/work/api/tasks/" in c or "/work/api/bundles/" in c], calls
    page = sized.page
    for ref, task in demo_data.tasks.items():
        card = page.locator(".artifact", has_text=f"Notes for {ref}")
        expect(card.locator(".artifact-context")).to_contain_text(task["description"])
        expect(card.locator(".artifact-context")).to_contain_text(demo_data.bundle["title"])
    assert_accessible(page)
    assert_fits(page)
    sized.assert_clean()


def test_the_task_page_reads_what_it_shows_in_one_task_call(sized: UI, demo_data: DemoData) -> None:
    """The task page: the task with its proof, bundle, files and artifacts in one call
    (`include=`), not one call each."""
    sized.goto("/work/overview")
    sized.login()
    task = demo_data.tasks["transcript"]
    calls = load(sized, f"/work/tasks/{task['id']}", ".proof-card .proof-verdict")
    assert len(calls) <= MAX_CALLS, calls
    assert not [c for c in calls if "/proof" in c or "/work/api/artifacts" in c], calls
    page = sized.page
    expect(page.locator(".proof-verdict")).to_contain_text("1 of 1 requirement missing")
    expect(page.locator(".proof-card")).to_contain_text("Approved transcript")
    expect(page.locator(".artifact", has_text="Transcript draft")).to_be_visible()
    assert_accessible(page)
    assert_fits(page)
    sized.assert_clean()


def test_the_artifact_page_reads_what_it_shows_in_one_artifact_call(
    sized: UI, demo_data: DemoData, admin_api: httpx.Client
) -> None:
    """The artifact page: the artifact with its task, bundle and history in one call."""
    sized.goto("/work/overview")
    sized.login()
    task = demo_data.tasks["transcript"]
    (draft,) = admin_api.get("/work/api/artifacts", params={"taskId": task["id"]}).json()["items"]
    calls = load(sized, f"/work/artifacts/{draft['id']}", ".audit-table")
    assert len(calls) <= MAX_CALLS, calls
    assert not [c for c in calls if "/tasks/" in c or "/bundles/" in c or "/audit" in c], calls
    page = sized.page
    expect(page.get_by_role("link", name=task["description"])).to_be_visible()
    if draft["bundleId"]:
        expect(page.get_by_role("link", name=demo_data.bundle["title"])).to_be_visible()
    expect(page.locator(".audit-table tbody tr").first).to_be_visible()
    assert_accessible(page)
    assert_fits(page)
    sized.assert_clean()


def test_home_pages_the_expiring_lane_with_its_exact_count(
    sized: UI, admin_api: httpx.Client
) -> None:
    """More expiring evidence than a lane shows: the count is exact, "Show more" pages on
    through `GET /api/artifacts?expiringWithinDays=` (its cursor carries the day)."""
    for n in range(23):
        made = admin_api.post(
            "/work/api/artifacts",
            json={
                "title": f"Licence {n:02d}",
                "type": "report",
                "status": "approved",
                "storageUri": f"https://docs.example.com/licence-{n}",
                "validUntil": day(n % 12),
            },
        )
        assert made.status_code == 201, made.text
    expected = admin_api.get("/work/api/overview", params={"limit": "1"}).json()["expiring"]
    assert expected["count"] >= 23
    sized.goto("/work/overview")
    sized.login()
    calls = load(sized, "/work/overview", "#lane-expiring .row")
    assert len(calls) <= MAX_CALLS, calls
    page = sized.page
    lane = page.locator("#lane-expiring")
    expect(lane.locator("h2")).to_contain_text(f"· {expected['count']}")
    expect(lane.locator(".row")).to_have_count(20)
    lane.get_by_role("button", name="Show more").click()
    expect(lane.locator(".row")).to_have_count(min(40, expected["count"]))
    expect(lane.get_by_role("button", name="Show more")).to_be_hidden()
    titles = lane.locator(".row-title").all_inner_texts()
    assert len(set(titles)) == len(titles)
    expect(lane.get_by_role("link", name="Licence 11")).to_be_visible()
    assert_accessible(page)
    assert_fits(page)
    sized.screenshot(f"home-expiring-{page.viewport_size['width']}")
    sized.assert_clean()


def contract_chain(admin_api: httpx.Client, length: int) -> list[str]:
    """`length` approved artifacts "Contract v1".., each superseded by the next."""
    ids: list[str] = []
    for n in range(length):
        made = admin_api.post(
            "/work/api/artifacts",
            json={
                "title": f"Contract v{n + 1}",
                "type": "report",
                "status": "approved",
                "storageUri": f"https://docs.example.com/contract-v{n + 1}",
            },
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        if n:
            moved = admin_api.post(
                f"/work/api/artifacts/{ids[-2]}/supersede", json={"supersededBy": ids[-1]}
            )
            assert moved.status_code == 200, moved.text
    return ids


def test_the_artifact_page_shows_a_chain_of_five_from_its_one_artifact_call(
    sized: UI, admin_api: httpx.Client
) -> None:
    """The supersede chain comes with the artifact (`include=chain`): no call per link."""
    ids = contract_chain(admin_api, 5)
    sized.goto("/work/overview")
    sized.login()
    calls = load(sized, f"/work/artifacts/{ids[2]}", ".chain li")
    assert len(calls) <= MAX_CALLS, calls
    artifact_reads = [c for c in calls if c.startswith("GET /work/api/artifacts/")]
    assert len(artifact_reads) == 1, calls
    page = sized.page
    chain = page.locator(".chain li")
    expect(chain).to_have_count(5)
    assert chain.all_inner_texts()[0].startswith("Contract v1")
    expect(chain.nth(2)).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("link", name="Contract v5")).to_be_visible()
    expect(page.locator(".chain-more")).to_have_count(0)
    assert_accessible(page)
    assert_fits(page)
    sized.assert_clean()


def test_a_chain_longer_than_the_page_shows_links_on_from_the_last_link_shown(
    sized: UI, admin_api: httpx.Client
) -> None:
    """Ten links each way at most; beyond them, a link to the last one shown, whose page
    reads the next ten."""
    ids = contract_chain(admin_api, 12)
    sized.goto("/work/overview")
    sized.login()
    calls = load(sized, f"/work/artifacts/{ids[-1]}", ".chain li")
    assert len(calls) <= MAX_CALLS, calls
    page = sized.page
    expect(page.locator(".chain li")).to_have_count(11)
    expect(page.locator(".chain li").first).to_contain_text("Contract v2")
    more = page.locator(".chain-more")
    expect(more).to_have_count(1)
    expect(more).to_contain_text("More earlier versions")
    assert_accessible(page)
    assert_fits(page)
    more.get_by_role("link", name="continue from “Contract v2”").click()
    expect(page.locator("h1")).to_contain_text("Contract v2")
    expect(page.locator(".chain li").first).to_contain_text("Contract v1")
    expect(page.locator(".chain li")).to_have_count(12)
    expect(page.locator(".chain-more")).to_have_count(0)
    sized.assert_clean()
