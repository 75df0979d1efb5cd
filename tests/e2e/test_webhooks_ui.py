"""The webhooks admin page (issue 18 item 2) in real Chromium against `dataops serve
--demo`: an endpoint added that points at a real local receiver on 127.0.0.1, its secret
shown once, a bad URL shown next to its field, a test event sent and delivered by the
dispatcher (`dataops outbox run --once`, the CLI), the delivery in the log with its HTTP
status, its signature verified with the `standardwebhooks` reference library using the
secret the page showed, a redelivery, a rotation; a non-admin sees no page and the API
refuses them; the page at 390 px wide."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from standardwebhooks import Webhook as Verifier

from tests.api.webhook_receiver import Receiver, start_receiver
from tests.conftest import ServedPortal, login
from tests.e2e.conftest import UI, new_page, watch

pytestmark = pytest.mark.e2e

OPERATOR_EMAIL = "olga@example.com"
OPERATOR_PASSWORD = "operator-password-1"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[ServedPortal]:
    """The demo server without its background dispatcher: the test runs the dispatcher
    itself (`dataops outbox run --once`), so what is delivered when is the test's choice."""
    portal = ServedPortal(tmp_path, "--demo", env={"DATAOPS_OUTBOX_INTERVAL_SECONDS": "0"})
    yield portal
    portal.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.stop()


def dispatch(demo: ServedPortal) -> str:
    """One dispatcher run against the served workspace, as an operator would run it."""
    env = {**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(demo.home)}
    done = subprocess.run(
        [sys.executable, "-m", "dataops", "outbox", "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


WIDER_THAN_THE_PAGE = """[...document.querySelectorAll("*")]
  .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest(".table-wrap"))
  .map((e) => `${e.tagName}.${e.className}`)"""


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


def verified(secret: str, received: Any) -> dict[str, Any]:
    """The delivery's payload, when its signature verifies with the reference library."""
    payload: dict[str, Any] = Verifier(secret).verify(received.body, received.headers)
    return payload


def test_an_admin_adds_a_webhook_sees_its_secret_once_and_its_test_delivery(
    ui: UI, demo: ServedPortal, admin_api: httpx.Client, receiver: Receiver
) -> None:
    ui.allow_http(422, "/work/api/webhooks")  # the bad URL, on purpose
    ui.goto("/work")
    ui.login()
    page = ui.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.get_by_text("No webhook endpoint yet.")).to_be_visible()

    form = page.get_by_role("form", name="Add a webhook endpoint")
    # No event chosen: said next to the events, nothing sent.
    form.get_by_label("URL").fill(receiver.url)
    form.get_by_role("button", name="Add endpoint").click()
    expect(form.locator(".field-error")).to_have_text("Choose at least one event.")
    expect(form.get_by_role("checkbox", name=re.compile("^artifact.created"))).to_be_focused()

    # A URL the server refuses: its reason next to the URL field, focus there.
    form.get_by_role("checkbox", name=re.compile("^artifact.status-changed")).check()
    form.get_by_role("checkbox", name=re.compile("^task.completed")).check()
    form.get_by_label("URL").fill("ftp://127.0.0.1/hook")
    form.get_by_role("button", name="Add endpoint").click()
    url_error = form.locator(".field-error")
    expect(url_error).to_have_count(1)
    expect(url_error).not_to_be_empty()
    expect(form.get_by_label("URL")).to_be_focused()
    expect(form.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    assert admin_api.get("/work/api/webhooks").json()["items"] == []

    form.get_by_label("URL").fill(receiver.url)
    form.get_by_role("button", name="Add endpoint").click()
    panel = page.get_by_role("region", name=re.compile("^Endpoint added"))
    expect(panel).to_contain_text("Copy it now: it will not be shown again.")
    expect(panel.get_by_role("heading")).to_be_focused()
    secret = panel.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    listed = admin_api.get("/work/api/webhooks").json()["items"]
    assert [w["url"] for w in listed] == [receiver.url]
    assert listed[0]["events"] == ["artifact.status-changed", "task.completed"]
    assert "secret" not in listed[0]

    panel.get_by_role("button", name="I have copied it").click()
    expect(panel).to_have_count(0)
    assert secret not in page.content()  # gone from the page, not merely hidden

    card = page.locator("li.webhook")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading", level=3)).to_contain_text(receiver.url)
    expect(card.get_by_role("heading", level=3)).to_contain_text("enabled")
    expect(card).to_contain_text("task.completed")

    card.get_by_role("button", name="Send test event").click()
    expect(card.locator(".form-message").first).to_contain_text("Test event queued")
    assert receiver.received == []  # queued, not sent: the dispatcher sends it
    assert "1 delivered" in dispatch(demo)

    card.get_by_role("button", name="Delivery log").click()
    log = card.locator("table.deliveries")
    expect(log.locator("thead")).to_contain_text(re.compile(r"Time \(.+\)"))
    row = log.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("webhook.test")
    expect(row).to_contain_text("delivered")
    expect(row.locator(".http-status")).to_have_text("200")

    assert len(receiver.received) == 1
    payload = verified(secret, receiver.received[0])
    assert payload["type"] == "webhook.test"
    first_id = receiver.received[0].headers["webhook-id"]

    # Redeliver: the same message again (same webhook-id), still signed with the secret.
    row.get_by_role("button", name=re.compile("^Redeliver")).click()
    expect(card.locator(".delivery-log .form-message")).to_contain_text("queued again")
    expect(card.locator(".delivery-log .form-message p")).to_be_focused()
    expect(row).to_contain_text("pending")
    assert "1 delivered" in dispatch(demo)
    card.get_by_role("button", name="Refresh").click()
    expect(row).to_contain_text("delivered")
    assert [r.headers["webhook-id"] for r in receiver.received] == [first_id, first_id]
    verified(secret, receiver.received[1])

    # Rotate, after a confirmation: a new secret shown once; the old one still signs.
    card.get_by_role("button", name="Rotate secret").click()
    card.get_by_role("group", name=re.compile("^Confirm rotating")).get_by_role(
        "button", name="Yes, rotate"
    ).click()
    rotated = page.get_by_role("region", name=re.compile("^New secret for"))
    expect(rotated).to_contain_text("it will not be shown again")
    new_secret = rotated.get_by_label("Signing secret").input_value()
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    rotated.get_by_role("button", name="I have copied it").click()
    page.locator("li.webhook").get_by_role("button", name="Send test event").click()
    expect(page.locator("li.webhook .form-message").first).to_contain_text("Test event queued")
    assert "1 delivered" in dispatch(demo)
    assert verified(new_secret, receiver.received[2])["type"] == "webhook.test"
    assert verified(secret, receiver.received[2])["type"] == "webhook.test"

    # Disable, then delete after a confirmation.
    page.locator("li.webhook").get_by_role("button", name="Disable").click()
    expect(page.locator("#flash")).to_contain_text("disabled")
    expect(page.locator("li.webhook h3")).to_contain_text("disabled")
    expect(
        page.locator("li.webhook").get_by_role("button", name="Send test event")
    ).to_be_disabled()
    page.locator("li.webhook").get_by_role("button", name="Delete").click()
    page.get_by_role("group", name=re.compile("^Confirm deleting")).get_by_role(
        "button", name="Yes, delete"
    ).click()
    expect(page.locator("#flash")).to_contain_text("deleted")
    expect(page.get_by_text("No webhook endpoint yet.")).to_be_visible()
    assert admin_api.get("/work/api/webhooks").json()["items"] == []
    ui.assert_clean()


def test_a_non_admin_sees_no_webhooks_page_and_the_api_refuses_them(
    ui: UI, demo: ServedPortal, admin_api: httpx.Client
) -> None:
    add_operator(admin_api)
    ui.goto("/work")
    ui.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    page = ui.page
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Bundles")).to_be_visible()
    expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
    ui.goto("/work/webhooks")
    expect(page.get_by_text("Webhooks are managed by an admin.")).to_be_visible()
    expect(page.get_by_role("form", name="Add a webhook endpoint")).to_have_count(0)
    with demo.client() as operator:
        login(operator, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        refused = operator.get("/work/api/webhooks")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        made = operator.post(
            "/work/api/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["task.completed"]}
        )
        assert made.status_code == 403
    assert admin_api.get("/work/api/webhooks").json()["items"] == []
    ui.assert_clean()


def test_the_webhooks_page_is_usable_at_390_px(
    browser: Any, demo: ServedPortal, admin_api: httpx.Client, receiver: Receiver
) -> None:
    made = admin_api.post(
        "/work/api/webhooks",
        json={"url": receiver.url + "/" + "a-long-path-segment" * 4, "events": ["task.completed"]},
    )
    assert made.status_code == 201, made.text
    queued = admin_api.post(f"/work/api/webhooks/{made.json()['id']}/test")
    assert queued.status_code == 202
    assert "1 delivered" in dispatch(demo)
    page = new_page(browser)
    page.set_viewport_size({"width": 390, "height": 844})
    view = watch(page, demo.base_url)
    try:
        view.goto("/work/webhooks")
        view.login()
        card = page.locator("li.webhook")
        card.get_by_role("button", name="Delivery log").click()
        expect(card.locator("table.deliveries .http-status")).to_have_text("200")
        expect(card.locator("table.deliveries .last-error")).to_be_visible()
        for name in ("Disable", "Send test event", "Rotate secret", "Delete"):
            box = card.get_by_role("button", name=name).bounding_box()
            assert box is not None, name
            assert 0 <= box["x"] <= box["x"] + box["width"] <= 390, name
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        # What sticks out, if anything (a scrolling table's insides do not count).
        wide = page.evaluate(WIDER_THAN_THE_PAGE)
        assert overflow <= 0, wide
        view.screenshot("webhooks-390")
        view.assert_clean()
    finally:
        page.context.close()
    assert json.loads(receiver.received[0].body)["type"] == "webhook.test"
