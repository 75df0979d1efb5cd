"""Every page of the operator UI, at desktop (1280 px) and phone (390 px) width, on the
demo: zero serious or critical axe-core violations, and nothing wider than the screen
except inside a marked sideways-scroll region (issue 19 item 5).

One portal and one login per width; every page is visited in turn and all findings are
reported together, so one run shows everything that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login
from tests.e2e.a11y import describe, overflow, violations
from tests.e2e.conftest import UI, watch

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]


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
        ("all artifacts", "/work/artifacts"),
        ("search results", "/work/search?q=episode"),
        ("people", "/work/admin/users"),
        ("API tokens", "/work/admin/tokens"),
        ("account", "/work/account"),
        ("API reference", "/work/api/docs"),
        ("no such page", "/work/no-such-page"),
        ("unknown task", "/work/tasks/tsk_doesnotexist"),
        ("unknown bundle", "/work/bundles/bdl_doesnotexist"),
        ("unknown artifact", "/work/artifacts/art_doesnotexist"),
        ("unknown template", "/work/templates/tpl_doesnotexist"),
    ]


def settle(page: Any) -> None:
    """Wait until the page has drawn its data (no loading placeholders left)."""
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator(".loading")).to_have_count(0)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_is_accessible_and_fits(browser: Any, portal: ServedPortal, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    ui: UI = watch(page, portal.base_url)
    for unknown in ("tsk", "bdl", "art", "tpl"):
        ui.allow_http(404, f"/{unknown}_doesnotexist")
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
