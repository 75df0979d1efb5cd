"""Every page of the operator UI, at desktop (1280 px) and phone (390 px) width, on the
demo: zero serious or critical axe-core violations, and nothing wider than the screen
except inside a marked sideways-scroll region (issue 19 item 5).

One portal and one login per width; every page is visited in turn and all findings are
reported together, so one run shows everything that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login
from tests.e2e.a11y import describe, violations
from tests.e2e.conftest import UI, watch

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]

# Elements wider than the viewport, outside any element marked as a scroll region
# (class "scroll-x": a labelled, focusable region with a visible cue).
OVERFLOW_SCRIPT = """
() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".scroll-x")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right > width + 1 || box.left < -1) {
      const style = getComputedStyle(el);
      if (style.position === "fixed" || style.visibility === "hidden") continue;
      if (el.classList.contains("skip-link")) continue;
      found.push(`${el.tagName.toLowerCase()}${el.className ? "." + String(el.className)
        .split(" ").join(".") : ""} (${Math.round(box.left)}..${Math.round(box.right)})`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, found: found.slice(0, 8)};
}
"""


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPortal]:
    """One demo for the whole module: these tests only look."""
    served = ServedPortal(tmp_path_factory.mktemp("a11y"), "--demo")
    yield served
    served.stop()


def every_page(portal: ServedPortal) -> list[tuple[str, str]]:
    """(name, path) of every page in app.js's ROUTES, with real IDs from the demo."""
    with portal.client() as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        bundle = client.get("/work/api/bundles").json()["items"][0]
        template = client.get("/work/api/templates").json()["items"][0]
        task = client.get("/work/api/tasks", params={"bundleId": bundle["id"]}).json()["items"][0]
        artifact = client.get("/work/api/artifacts").json()["items"][0]
    return [
        ("landing", "/work"),
        ("overview", "/work/overview"),
        ("my work", "/work/my-work"),
        ("inbox", "/work/inbox"),
        ("templates", "/work/templates"),
        ("a template", f"/work/templates/{template['id']}"),
        ("bundles", "/work/bundles"),
        ("a bundle", f"/work/bundles/{bundle['id']}"),
        ("a task", f"/work/tasks/{task['id']}"),
        ("review queue", "/work/review"),
        ("an artifact", f"/work/artifacts/{artifact['id']}"),
        ("webhooks", "/work/webhooks"),
        ("no such page", "/work/no-such-page"),
        ("unknown task", "/work/tasks/tsk_doesnotexist"),
    ]


def settle(page: Any) -> None:
    """Wait until the page has drawn its data (no loading placeholders left)."""
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator(".loading")).to_have_count(0)


def overflow(page: Any) -> list[str]:
    report = page.evaluate(OVERFLOW_SCRIPT)
    problems = list(report["found"])
    if report["scrollWidth"] > report["width"] + 1 and not problems:
        problems.append(f"document scrolls sideways ({report['scrollWidth']} > {report['width']})")
    return problems


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_is_accessible_and_fits(browser: Any, portal: ServedPortal, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    ui: UI = watch(page, portal.base_url)
    ui.allow_http(404, "/api/tasks/tsk_doesnotexist")
    findings: list[str] = []
    try:
        ui.goto("/work/login")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        found = violations(page)
        if found:
            findings.append(f"login at {width} px:\n{describe(found)}")
        ui.login()
        for name, path in every_page(portal):
            ui.goto(path)
            settle(page)
            found = violations(page)
            if found:
                findings.append(f"{name} ({path}) at {width} px:\n{describe(found)}")
            wide = overflow(page)
            if wide:
                findings.append(f"{name} ({path}) at {width} px overflows: {', '.join(wide)}")
        assert findings == [], "\n\n".join(findings)
        ui.assert_clean()
    finally:
        context.close()


def test_api_client_sees_the_demo(portal: ServedPortal) -> None:
    """The page list above is built from real demo IDs (a guard against an empty demo)."""
    with httpx.Client(base_url=portal.base_url) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert client.get("/work/api/artifacts").json()["items"]
