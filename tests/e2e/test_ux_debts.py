"""The UX debts of issue 19 item 5, in real Chromium on the demo, at desktop and phone
width: not-found pages with a way back, the completion comment and time-zone-labelled
timestamps on a done task, focus on the result or the error after an action, humane
error texts, long titles and URLs that wrap, tables that stack into labelled cards on a
phone, a supersede that warns before taking proof away, and focus rings with contrast."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ServedPortal
from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, DemoData

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def at(ui: UI, width: int) -> Any:
    ui.page.set_viewport_size({"width": width, "height": 900})
    return ui.page


def heading(page: Any) -> Any:
    return page.get_by_role("heading", level=1)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_unknown_id_shows_a_not_found_page_with_a_way_back(
    ui: UI, demo: ServedPortal, width: int
) -> None:
    page = at(ui, width)
    ui.goto("/work")
    ui.login()
    cases = [
        ("tasks/tsk_nothing", "Task not found", "Go to the bundles", "Bundles"),
        ("bundles/bdl_nothing", "Bundle not found", "Go to the bundles", "Bundles"),
        ("artifacts/art_nothing", "Artifact not found", "Go to the review queue", "Review queue"),
        ("templates/tpl_nothing", "Template not found", "Go to the templates", "Templates"),
    ]
    for path, title, back, landed in cases:
        ui.allow_http(404, f"/{path}")
        ui.goto(f"/work/{path}")
        expect(heading(page)).to_have_text(title)
        expect(page.locator("main")).to_contain_text("There is no")
        assert_accessible(page, f"{title} at {width} px")
        page.get_by_role("link", name=back).click()
        expect(heading(page)).to_contain_text(landed)
    ui.goto("/work/nowhere")
    expect(heading(page)).to_have_text("Page not found")
    page.get_by_role("link", name="Go to the home page").click()
    expect(page).to_have_url(re.compile(r"/work$"))
    ui.assert_clean()


def test_a_done_task_shows_its_completion_comment_and_times_in_the_users_zone(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    task = demo_data.tasks["prep-doc"]  # its approved prep document is the proof
    comment = "Links checked; the guest bio was updated."
    done_now = {"status": "done", "comment": comment}
    ok(admin_api.patch(f"/work/api/tasks/{task['id']}", json=done_now))
    page = at(ui, 390)
    ui.goto(f"/work/tasks/{task['id']}")
    ui.login()
    done = page.locator(".done-card")
    expect(done.locator(".completion-comment")).to_contain_text("Completion comment")
    expect(done.locator(".completion-comment blockquote")).to_have_text(comment)
    expect(done).to_contain_text(re.compile(r"Done .+ UTC by "))  # no zone set: UTC, said
    assert_accessible(page, "done task at 390 px")
    assert_fits(page, "done task at 390 px")

    me = ok(admin_api.get("/work/api/me"))
    ok(
        admin_api.patch(
            "/work/api/me",
            json={"timezone": "Asia/Tokyo"},
            headers={"If-Match": str(me["version"])},
        )
    )
    page.reload()
    expect(done).to_contain_text(re.compile(r"Done .+ (GMT\+9|JST) by "))
    ui.assert_clean()


@pytest.mark.parametrize("width", WIDTHS)
def test_focus_moves_to_the_error_then_to_the_result(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData, width: int
) -> None:
    task = demo_data.tasks["record"]  # needs an external status ("Recording status")
    page = at(ui, width)
    ui.goto(f"/work/tasks/{task['id']}")
    ui.login()
    form = page.locator(".complete-form")

    form.get_by_role("button", name="Save without completing").click()
    expect(form.locator(".form-message p")).to_have_text("Nothing to save.")
    expect(form.locator(".form-message p")).to_be_focused()

    ui.allow_http(409, f"/tasks/{task['id']}")
    form.get_by_role("button", name=re.compile("^Mark done")).click()
    refusal = form.locator(".server-refusal [role=alert]")
    expect(refusal).to_be_focused()
    expect(refusal).to_contain_text("External status is empty")
    expect(refusal).not_to_contain_text("externalStatus")
    assert_accessible(page, f"refused completion at {width} px")
    assert_fits(page, f"refused completion at {width} px")

    form.get_by_label("Recording status").fill("Recorded in studio B")
    form.get_by_role("button", name=re.compile("^Mark done")).click()
    flash = page.locator(".flash")
    expect(flash).to_contain_text("Task marked done")
    expect(flash).to_be_focused()
    assert ok(admin_api.get(f"/work/api/tasks/{task['id']}"))["status"] == "done"
    ui.assert_clean()


def test_long_titles_and_urls_wrap_on_a_phone(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    long_word = "Supercalifragilistic" * 12
    long_url = "https://example.com/" + "very-long-path-segment/" * 12 + "?q=" + "x" * 120
    task = ok(
        admin_api.post(
            "/work/api/tasks",
            json={
                "bundleId": demo_data.bundle["id"],
                "description": f"Check {long_word}",
                "date": demo_data.bundle["anchorDate"],
                "link": long_url,
                "instructionsUrl": long_url,
            },
        )
    )
    artifact = ok(
        admin_api.post(
            "/work/api/artifacts",
            json={
                "type": "report",
                "title": f"Report {long_word}",
                "storageUri": long_url,
                "taskId": task["id"],
            },
        )
    )
    page = at(ui, 390)
    ui.goto("/work")
    ui.login()
    for path in (
        f"/work/tasks/{task['id']}",
        f"/work/bundles/{demo_data.bundle['id']}",
        f"/work/artifacts/{artifact['id']}",
        "/work/review",
        "/work/overview",
    ):
        ui.goto(path)
        expect(heading(page)).to_be_visible()
        expect(page.locator(".loading")).to_have_count(0)
        assert_fits(page, f"{path} at 390 px with a long title and URL")
    ui.assert_clean()


def test_the_bundle_table_stacks_into_labelled_cards_on_a_phone(
    ui: UI, demo_data: DemoData
) -> None:
    page = at(ui, 390)
    ui.goto(f"/work/bundles/{demo_data.bundle['id']}")
    ui.login()
    row = page.locator("tr", has=page.get_by_role("link", name="Approve the transcript"))
    for column in ("Status", "Proof"):
        cell = row.locator(f'td[data-label="{column}"]')
        expect(cell).to_be_visible()
        box = cell.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= 390, box
        label = cell.evaluate("el => getComputedStyle(el, '::before').content")
        assert label == f'"{column}"', label  # the column's name is shown above the value
    assert_fits(page, "bundle page at 390 px")
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("table.tasks-table thead")).to_be_visible()
    ui.assert_clean()


@pytest.mark.parametrize("width", WIDTHS)
def test_superseding_with_an_unapproved_replacement_warns_first(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData, width: int
) -> None:
    task = demo_data.tasks["prep-doc"]
    artifacts = ok(admin_api.get("/work/api/artifacts", params={"taskId": task["id"]}))["items"]
    (prep,) = [a for a in artifacts if a["status"] == "approved"]
    draft = ok(
        admin_api.post(
            "/work/api/artifacts",
            json={
                "type": "podcast-doc",
                "title": "Guest prep v2",
                "storageUri": "https://docs.example.com/prep-v2",
                "status": "needs-review",
                "taskId": task["id"],
            },
        )
    )
    page = at(ui, width)
    ui.goto(f"/work/tasks/{task['id']}")
    ui.login()
    item = page.locator(".artifact", has_text=prep["title"]).first
    item.get_by_role("button", name=re.compile("^Supersede")).click()
    form = item.locator("form")
    form.get_by_label("ID of the artifact that replaces it").fill(draft["id"])
    form.get_by_role("button", name="Supersede").click()
    warning = form.locator(".form-message [role=alert]")
    expect(warning).to_contain_text("needs review, not approved")
    expect(warning).to_contain_text("loses that proof")
    expect(warning).to_be_focused()
    assert ok(admin_api.get(f"/work/api/artifacts/{prep['id']}"))["status"] == "approved"
    assert_accessible(page, f"supersede warning at {width} px")
    assert_fits(page, f"supersede form at {width} px")

    form.get_by_role("button", name="Supersede anyway").click()
    expect(page.locator(".flash")).to_contain_text("is superseded")
    assert ok(admin_api.get(f"/work/api/artifacts/{prep['id']}"))["status"] == "superseded"
    ui.assert_clean()


CONTRAST_SCRIPT = """
() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  let node = el.parentElement, background = "rgb(255, 255, 255)";
  while (node) {
    const bg = getComputedStyle(node).backgroundColor;
    if (bg && bg !== "transparent" && !bg.endsWith(", 0)")) { background = bg; break; }
    node = node.parentElement;
  }
  return {
    name: el.tagName + " " + (el.textContent || el.getAttribute("aria-label") || "").trim()
      .slice(0, 40),
    style: style.outlineStyle, width: parseFloat(style.outlineWidth),
    color: style.outlineColor, background,
  };
}
"""


def _luminance(rgb: str) -> float:
    parts = [int(p) / 255 for p in re.findall(r"\d+", rgb)[:3]]
    linear = [p / 12.92 if p <= 0.03928 else ((p + 0.055) / 1.055) ** 2.4 for p in parts]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_focus_rings_contrast_with_their_background(ui: UI, demo_data: DemoData) -> None:
    """WCAG 2.2 non-text contrast: every keyboard focus ring ≥ 3:1 against what is behind
    it — on the light page and on the dark top bar."""
    page = at(ui, 1280)
    ui.goto(f"/work/tasks/{demo_data.tasks['record']['id']}")
    ui.login()
    expect(page.locator(".complete-form")).to_be_visible()
    page.locator("body").focus()
    weak = []
    for _ in range(30):
        page.keyboard.press("Tab")
        ring = page.evaluate(CONTRAST_SCRIPT)
        if ring["name"].startswith("BODY"):
            continue  # focus left the page (the browser's own controls)
        if ring["style"] == "none" or ring["width"] < 2:
            weak.append(f"{ring['name']}: no visible focus ring")
            continue
        ratio = contrast(ring["color"], ring["background"])
        if ratio < 3:
            weak.append(f"{ring['name']}: {ring['color']} on {ring['background']} = {ratio:.2f}")
    assert weak == []
    ui.assert_clean()
