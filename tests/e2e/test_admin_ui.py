"""People, API tokens, the Account page and the API reference (issue 19 items 2 and 7) in
real Chromium against `dataops serve --demo`, at 1280 and at 390 px: an admin adds a
person (first password shown once, which logs them in), changes their role, disables and
enables them (a disabled person cannot log in), resets their password (shown once); makes
an API token with an expiry (shown once, works as a bearer, its last use shown), revokes
it; a person changes their own password on the Account page (their other session ends);
a stale role change says so and keeps the choice; every page passes axe with no serious or
critical violation."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ServedPortal, login
from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, new_page, watch

pytestmark = pytest.mark.e2e

WIDTHS = [1280, 390]


def _page_at(browser: Any, demo: ServedPortal, width: int) -> UI:
    return watch(new_page(browser, width), demo.base_url)


def _fits(ui: UI, width: int) -> None:
    if width < 600:
        assert_fits(ui.page)


def _secret(page: Any, label: str) -> str:
    box = page.get_by_role("textbox", name=label, exact=True)
    value = box.input_value()
    assert len(value) >= 12
    page.get_by_role("button", name="I have copied it").click()
    expect(box).to_have_count(0)  # gone from the page
    return str(value)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_manages_people_in_the_browser(
    browser: Any, demo: ServedPortal, admin_api: httpx.Client, width: int
) -> None:
    ui = _page_at(browser, demo, width)
    page = ui.page
    ui.goto("/work")
    ui.login()
    ui.goto("/work/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    assert_accessible(page)
    _fits(ui, width)

    form = page.get_by_role("form", name="Add a person")
    form.get_by_label("Email").fill("pat@example.com")
    form.get_by_label("Name").fill("Pat Newcomer")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name=re.compile("Added Pat Newcomer"))).to_be_focused()
    assert_accessible(page)
    first = _secret(page, "First password")
    with demo.client() as pat:
        login(pat, "pat@example.com", first)
        assert pat.get("/work/api/me").json()["role"] == "viewer"

    card = page.locator(".person", has_text="pat@example.com")
    card.get_by_label("Role of Pat Newcomer").select_option("operator")
    card.get_by_role("button", name="Change role").click()
    expect(card.get_by_role("status")).to_have_text("Pat Newcomer is now operator.")
    expect(card.get_by_role("status")).to_be_focused()
    pat_row = next(
        u
        for u in admin_api.get("/work/api/users").json()["items"]
        if u["email"] == "pat@example.com"
    )
    assert pat_row["role"] == "operator"

    card.get_by_role("button", name="Disable").click()
    expect(card.get_by_role("status")).to_contain_text("is disabled")
    with demo.client() as pat:
        refused = pat.post("/auth/login", json={"email": "pat@example.com", "password": first})
        assert refused.status_code == 401
    card.get_by_role("button", name="Enable").click()
    expect(card.get_by_role("status")).to_have_text("Pat Newcomer is enabled again.")

    card.get_by_role("button", name="Reset password").click()
    card.get_by_role("button", name="Yes, reset").click()
    expect(page.get_by_role("heading", name="New password for Pat Newcomer")).to_be_focused()
    second = _secret(page, "New password")
    assert second != first
    with demo.client() as pat:
        assert (
            pat.post(
                "/auth/login", json={"email": "pat@example.com", "password": first}
            ).status_code
            == 401
        )
        login(pat, "pat@example.com", second)

    # A stale form: someone else changed Pat meanwhile; the choice stays, a reload is offered.
    ui.allow_http(409, "/work/api/users/")
    admin_api.patch(f"/work/api/users/{pat_row['id']}", json={"name": "Pat Renamed"})
    card.get_by_label("Role of Pat Newcomer").select_option("viewer")
    card.get_by_role("button", name="Change role").click()
    expect(card.get_by_role("alert")).to_contain_text("Changed by someone else")
    expect(card.get_by_label("Role of Pat Newcomer")).to_have_value("viewer")
    assert_accessible(page)
    _fits(ui, width)
    ui.assert_clean()
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_makes_and_revokes_an_api_token(
    browser: Any, demo: ServedPortal, admin_api: httpx.Client, width: int
) -> None:
    ui = _page_at(browser, demo, width)
    page = ui.page
    ui.goto("/work")
    ui.login()
    ui.goto("/work/admin/users")
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="API tokens"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    expect(page.get_by_text("No API token yet.")).to_be_visible()
    assert_accessible(page)
    form = page.get_by_role("form", name="Create an API token")
    form.get_by_label("Label").fill("podcast-assistant")
    form.get_by_label("Expires in").select_option("30")
    form.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name=re.compile("Token podcast-assistant"))).to_be_focused()
    secret = _secret(page, "API token")
    assert secret.startswith("dop_")
    with httpx.Client(base_url=demo.base_url) as script:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert script.get("/work/api/me", headers=bearer).status_code == 200
        (token,) = admin_api.get("/work/api/tokens").json()["items"]
        assert token["expiresAt"] is not None
        page.reload()
        card = page.locator(".person", has_text="podcast-assistant")
        expect(card.locator(".last-used")).not_to_have_text("never")
        card.get_by_role("button", name="Revoke").click()
        expect(card.get_by_role("status")).to_have_text("Token podcast-assistant revoked.")
        assert script.get("/work/api/me", headers=bearer).status_code == 401
    assert_accessible(page)
    _fits(ui, width)
    ui.assert_clean()
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_everyone_changes_their_own_password_on_the_account_page(
    browser: Any, demo: ServedPortal, admin_api: httpx.Client, width: int
) -> None:
    made = admin_api.post(
        "/work/api/users",
        json={
            "email": "vic@example.com",
            "name": "Vic",
            "role": "viewer",
            "password": "vic-pass-12",
        },
    )
    assert made.status_code == 201
    ui = _page_at(browser, demo, width)
    ui.allow_http(422, "/auth/password")  # the wrong current password, on purpose
    page = ui.page
    with demo.client() as elsewhere:
        login(elsewhere, "vic@example.com", "vic-pass-12")
        ui.goto("/work")
        ui.login("vic@example.com", "vic-pass-12")
        page.get_by_role("link", name="Vic").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        expect(page.get_by_label("Send me notifications by e-mail")).to_have_value("off")
        assert_accessible(page)
        _fits(ui, width)
        form = page.get_by_role("form", name="Change your password")
        form.get_by_label("Current password").fill("not-the-password")
        form.get_by_label("New password", exact=True).fill("vic-new-pass-1")
        form.get_by_label("Repeat the new password").fill("vic-new-pass-1")
        form.get_by_role("button", name="Change password").click()
        expect(form.get_by_role("alert")).to_have_text(
            "Not changed: The current password is not right.", timeout=30_000
        )
        expect(form.get_by_role("alert")).to_be_focused()
        assert elsewhere.get("/work/api/me").status_code == 200
        form.get_by_label("Current password").fill("vic-pass-12")
        form.get_by_role("button", name="Change password").click()
        # (two argon2 hashes on the low-priority hash pool: slow on a busy machine)
        expect(form.get_by_role("status")).to_contain_text("Password changed", timeout=30_000)
        assert elsewhere.get("/work/api/me").status_code == 401
    page.get_by_role("link", name="Bundles").click()  # this session goes on
    expect(page.get_by_role("heading", level=1)).to_have_text("Bundles")
    with demo.client() as fresh:
        login(fresh, "vic@example.com", "vic-new-pass-1")

    page.get_by_role("link", name="Vic").click()
    page.get_by_label("Send me notifications by e-mail").select_option("daily")
    page.get_by_role("button", name="Save").click()
    expect(
        page.get_by_role("form", name="E-mail notifications").get_by_role("status")
    ).to_have_text("Saved.")
    assert_accessible(page)
    ui.assert_clean()
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_api_reference_page_needs_no_login(
    browser: Any, demo: ServedPortal, width: int
) -> None:
    ui = _page_at(browser, demo, width)
    page = ui.page
    ui.goto("/work/api/docs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("API reference")
    expect(
        page.get_by_role("heading", name="PATCH /work/api/tasks/{task_id}", exact=True)
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Authentication")).to_be_visible()
    assert "x-user-" not in page.content().lower()
    assert_accessible(page)
    _fits(ui, width)
    ui.assert_clean()
    page.context.close()


def test_a_non_admin_has_no_people_page(
    ui: UI, demo: ServedPortal, admin_api: httpx.Client
) -> None:
    admin_api.post(
        "/work/api/users",
        json={
            "email": "olga@example.com",
            "name": "Olga",
            "role": "operator",
            "password": "olga-pass-1",
        },
    )
    ui.goto("/work")
    ui.login("olga@example.com", "olga-pass-1")
    nav = ui.page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="People")).to_have_count(0)
    ui.goto("/work/admin/users")
    expect(ui.page.get_by_text("People are managed by an admin.")).to_be_visible()
    ui.goto("/work/admin/tokens")
    expect(ui.page.get_by_text("API tokens are managed by an admin.")).to_be_visible()
    ui.assert_clean()
