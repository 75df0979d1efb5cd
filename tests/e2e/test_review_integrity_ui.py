"""Review integrity in the operator UI (issue 16, CONTRACT §7), in real Chromium against
`dataops serve --demo`: who created and who approved every artifact, "self-approved"
marked in words, withdrawn proof said instead of a green tick with a one-click Reopen,
review buttons only for those who may use them, Archive asking first, and the review
policy shown on Home (changed there by admins).

Every test ends with `ui.assert_clean()` (no JavaScript errors, no unexpected failed
request). Screenshots go to tests/e2e/screenshots/ (not committed).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import UI, DemoData
from tests.e2e.test_operator_ui import open_task

pytestmark = pytest.mark.e2e

ASSISTANT_EMAIL = "bot@example.com"
ASSISTANT_PASSWORD = "assistant-password-1"
DECISIONS = re.compile(r"^(Approve|Reject|Archive|Supersede)")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def transcript_of(admin_api: httpx.Client, demo_data: DemoData) -> dict[str, Any]:
    task_id = demo_data.tasks["transcript"]["id"]
    items = ok(admin_api.get("/work/api/artifacts", params={"taskId": task_id}))["items"]
    (found,) = [a for a in items if a["title"] == "Transcript draft (assistant)"]
    return dict(found)


def test_self_approved_artifact_is_marked_with_who_and_when(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    admin = ok(admin_api.get("/work/api/me"))
    task = demo_data.tasks["transcript"]
    own = ok(
        admin_api.post(
            "/work/api/artifacts",
            json={
                "type": "transcript",
                "title": "Transcript (admin's own)",
                "storageUri": "https://docs.example.com/own-transcript",
                "status": "approved",
                "taskId": task["id"],
                "validUntil": in_days(3),
            },
        ),
        201,
    )
    assert own["selfReviewed"] is True
    ui.goto("/work")
    ui.login()
    page = ui.page

    # Home: the artifact expires within 14 days.
    expiring = page.locator("#lane-expiring")
    expect(expiring.get_by_role("link", name="Transcript (admin's own)")).to_be_visible()
    expect(expiring).to_contain_text("expires in 3 days")
    expect(expiring.get_by_role("link", name="Approve the transcript")).to_be_visible()
    expect(expiring.locator(".flag-self")).to_have_text("⚠ self-approved")

    open_task(ui, "Approve the transcript")
    mine = page.locator(".artifact", has_text="Transcript (admin's own)")
    expect(mine.locator(".flag-self")).to_have_text("⚠ self-approved")
    expect(mine.locator(".provenance")).to_contain_text(f"Created by {admin['name']}")
    expect(mine.locator(".provenance")).to_contain_text(f"Approved by {admin['name']}")
    expect(mine.locator(".provenance")).to_contain_text("expires in 3 days")
    # The admin has approved it: no second Approve, and the page says why.
    expect(mine.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    expect(mine.locator(".review-limit")).to_have_text("You have approved it.")
    # The assistant's draft: created by the assistant, not reviewed, no flag.
    draft = page.locator(".artifact", has_text="Transcript draft (assistant)")
    expect(draft.locator(".provenance")).to_contain_text("Created by Podcast assistant")
    expect(draft.locator(".provenance")).to_contain_text("Not reviewed yet")
    expect(draft.locator(".flag-self")).to_have_count(0)

    mine.get_by_role("link", name="Transcript (admin's own)", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Transcript (admin's own)")
    expect(page.locator(".subtitle .flag-self")).to_have_text("⚠ self-approved")
    expect(page.locator(".notice-warn")).to_contain_text("Self-approved:")
    approvals = page.locator(".approval-list li")
    expect(approvals).to_have_count(1)
    expect(approvals).to_contain_text(admin["name"])
    expect(approvals.locator(".flag-self")).to_be_visible()
    expect(page.locator(".meta").first).to_contain_text(f"expires in 3 days ({in_days(3)})")
    ui.screenshot("artifact-self-approved")

    # The demo's prep document: registered by the assistant, approved by the admin.
    prep_task = demo_data.tasks["prep-doc"]["id"]
    (prep,) = ok(admin_api.get("/work/api/artifacts", params={"taskId": prep_task}))["items"]
    ui.goto(f"/work/artifacts/{prep['id']}")
    expect(page.locator(".meta").first).to_contain_text("by Podcast assistant")
    expect(page.locator(".approval-list li")).to_contain_text(admin["name"])
    expect(page.locator(".flag-self")).to_have_count(0)
    ui.assert_clean()


def test_withdrawn_proof_shows_the_reasons_and_reopen_works(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    task = demo_data.tasks["transcript"]
    transcript = transcript_of(admin_api, demo_data)
    ok(admin_api.post(f"/work/api/artifacts/{transcript['id']}/approve", json={}))
    done = ok(admin_api.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"}))
    assert done["proofWithdrawn"] is False
    ok(
        admin_api.post(
            f"/work/api/artifacts/{transcript['id']}/reject",
            json={"reason": "Speaker names are missing."},
        )
    )
    withdrawn = ok(admin_api.get(f"/work/api/tasks/{task['id']}"))
    assert withdrawn["status"] == "done"
    assert withdrawn["proofWithdrawn"] is True
    (reason,) = withdrawn["proofWithdrawnReasons"]
    now = ok(admin_api.get(f"/work/api/tasks/{task['id']}/proof"))
    (requirement_now,) = now["requirements"]

    ui.goto("/work")
    ui.login()
    page = ui.page
    lane = page.locator("#lane-withdrawn")
    expect(lane.get_by_role("link", name="Approve the transcript")).to_be_visible()
    expect(lane).to_contain_text(reason)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    page.get_by_role("link", name=re.compile("Episode 42")).click()
    row = page.locator("tr", has=page.get_by_role("link", name="Approve the transcript"))
    expect(row).to_contain_text("Done · proof withdrawn")
    row.get_by_role("link", name="Approve the transcript").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Approve the transcript")
    expect(page.locator(".subtitle .flag-withdrawn")).to_have_text("⚠ proof withdrawn")
    note = page.locator(".withdrawn-note")
    expect(note).to_contain_text(f"Completed with proof that was later withdrawn: {reason}")
    expect(page.get_by_role("heading", name="Completed · proof withdrawn")).to_be_visible()
    expect(page.get_by_text("✓ Satisfied")).to_have_count(0)
    recorded = page.locator('.done-card .requirement[data-kind="artifact"]')
    expect(recorded).to_have_attribute("data-state", "withdrawn")
    expect(recorded.locator(".state")).to_have_text("✗ Withdrawn")
    expect(recorded.locator(".badge")).to_have_text("rejected")  # its status now
    # The proof as the server checks it now: its exact reason.
    proof_now = page.locator(".proof-card")
    expect(proof_now.get_by_role("heading", name="Proof now")).to_be_visible()
    expect(proof_now.locator(".requirement .reason")).to_have_text(requirement_now["reason"])
    ui.screenshot("task-proof-withdrawn")

    note.get_by_role("button", name="Reopen task").click()
    expect(page.locator(".flash")).to_contain_text("Task reopened.")
    expect(page.locator(".subtitle .badge")).to_have_text("todo")
    expect(page.locator(".withdrawn-note")).to_have_count(0)
    reopened = ok(admin_api.get(f"/work/api/tasks/{task['id']}"))
    assert reopened["status"] == "todo"
    ui.assert_clean()


def test_an_assistant_session_sees_no_review_buttons(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    ok(
        admin_api.post(
            "/work/api/users",
            json={
                "email": ASSISTANT_EMAIL,
                "name": "Transcriber",
                "role": "assistant",
                "password": ASSISTANT_PASSWORD,
            },
        ),
        201,
    )
    prep_task = demo_data.tasks["prep-doc"]["id"]
    (prep,) = ok(admin_api.get("/work/api/artifacts", params={"taskId": prep_task}))["items"]
    transcript = transcript_of(admin_api, demo_data)
    ui.goto("/work")
    ui.login(ASSISTANT_EMAIL, ASSISTANT_PASSWORD)
    page = ui.page
    expect(page.locator(".who .role")).to_have_text("assistant")
    expect(page.locator("#lane-review .row")).to_have_count(1)
    expect(page.locator(".policy-card")).to_contain_text("Self-approval allowed")
    expect(page.locator(".policy-form")).to_have_count(0)
    for artifact in (prep, transcript):  # approved, and waiting for review
        ui.goto(f"/work/artifacts/{artifact['id']}")
        expect(page.locator(".approval-list, .meta")).not_to_have_count(0)
        expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    expect(page.locator(".review-list .artifact")).to_have_count(1)
    expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)
    ui.assert_clean()


def test_archive_asks_first(ui: UI, admin_api: httpx.Client, demo_data: DemoData) -> None:
    transcript = transcript_of(admin_api, demo_data)
    ui.goto("/work")
    ui.login()
    page = ui.page
    open_task(ui, "Approve the transcript")
    draft = page.locator(".artifact", has_text="Transcript draft (assistant)")

    draft.get_by_role("button", name="Archive Transcript draft (assistant)…").click()
    confirm = draft.get_by_role("group", name="Confirm archiving Transcript draft (assistant)")
    expect(confirm).to_contain_text("Archive “Transcript draft (assistant)”?")
    expect(confirm.get_by_role("button", name="Yes, archive")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(draft.get_by_role("button", name=re.compile("^Archive"))).to_be_focused()
    assert ok(admin_api.get(f"/work/api/artifacts/{transcript['id']}"))["status"] == (
        "needs-review"
    )

    draft.get_by_role("button", name="Archive Transcript draft (assistant)…").click()
    ui.screenshot("task-archive-confirm")
    draft.get_by_role("button", name="Yes, archive").click()
    expect(page.locator(".flash")).to_contain_text("Archived “Transcript draft (assistant)”")
    archived = page.locator('.artifact[data-status="archived"]', has_text="Transcript draft")
    expect(archived.locator(".badge")).to_have_text("archived")
    assert ok(admin_api.get(f"/work/api/artifacts/{transcript['id']}"))["status"] == "archived"
    ui.assert_clean()


def test_under_the_independent_policy_the_creator_sees_no_approve(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    task = demo_data.tasks["transcript"]
    own = ok(
        admin_api.post(
            "/work/api/artifacts",
            json={
                "type": "transcript",
                "title": "Transcript (admin's copy)",
                "storageUri": "https://docs.example.com/admin-copy",
                "status": "needs-review",
                "taskId": task["id"],
            },
        ),
        201,
    )
    ui.goto("/work")
    ui.login()
    page = ui.page

    # Home: the admin switches the policy to independent review.
    card = page.locator(".policy-card")
    expect(card.locator(".policy-current")).to_contain_text("Self-approval allowed")
    card.get_by_label("Independent review").check()
    card.get_by_role("button", name="Save review policy").click()
    expect(page.locator(".flash")).to_contain_text("Review policy set to “Independent review”")
    expect(card.locator(".policy-current")).to_contain_text("Independent review")
    assert ok(admin_api.get("/work/api/settings"))["reviewPolicy"] == "independent"
    ui.screenshot("home-review-policy")

    open_task(ui, "Approve the transcript")
    mine = page.locator(".artifact", has_text="Transcript (admin's copy)")
    expect(mine.get_by_role("button", name=re.compile("^(Approve|Reject)"))).to_have_count(0)
    expect(mine.locator(".review-limit")).to_contain_text("independent review policy")
    # Someone else's artifact can still be decided.
    theirs = page.locator(".artifact", has_text="Transcript draft (assistant)")
    expect(
        theirs.get_by_role("button", name="Approve Transcript draft (assistant)")
    ).to_be_visible()

    # A page loaded before the policy changed: the API refuses, the UI says why.
    ok(admin_api.patch("/work/api/settings", json={"reviewPolicy": "self-allowed"}))
    page.reload()
    mine = page.locator(".artifact", has_text="Transcript (admin's copy)")
    approve = mine.get_by_role("button", name="Approve Transcript (admin's copy)")
    expect(approve).to_be_visible()
    ok(admin_api.patch("/work/api/settings", json={"reviewPolicy": "independent"}))
    ui.allow_http(403, f"/work/api/artifacts/{own['id']}/approve")
    approve.click()
    refusal = mine.get_by_role("alert")
    expect(refusal).to_contain_text("was refused")
    expect(refusal).to_contain_text("the review policy is independent")
    assert ok(admin_api.get(f"/work/api/artifacts/{own['id']}"))["status"] == "needs-review"
    ui.assert_clean()


def test_expired_evidence_withdraws_the_proof_and_says_when(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    task = demo_data.tasks["transcript"]
    transcript = transcript_of(admin_api, demo_data)
    ok(admin_api.post(f"/work/api/artifacts/{transcript['id']}/approve", json={}))
    ok(admin_api.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"}))
    yesterday = in_days(-1)
    ok(admin_api.patch(f"/work/api/artifacts/{transcript['id']}", json={"validUntil": yesterday}))
    (reason,) = ok(admin_api.get(f"/work/api/tasks/{task['id']}"))["proofWithdrawnReasons"]
    assert f"expired on {yesterday}" in reason

    ui.goto(f"/work/tasks/{task['id']}")
    ui.login()
    page = ui.page
    expect(page.locator(".withdrawn-note")).to_contain_text(reason)
    recorded = page.locator('.done-card .requirement[data-kind="artifact"]')
    expect(recorded).to_have_attribute("data-state", "withdrawn")
    expect(recorded.locator(".badge")).to_have_text("approved")  # approved, but expired
    listed = page.locator(".artifact", has_text="Transcript draft (assistant)")
    expect(listed.locator(".expiry-expired")).to_have_text(f"expired on {yesterday}")
    ui.assert_clean()
