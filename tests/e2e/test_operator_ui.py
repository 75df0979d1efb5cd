"""The operator UI in real Chromium against `dataops serve --demo` (issue 6 scenarios).

Every test ends with `ui.assert_clean()`: no JavaScript console errors, no page errors,
and no failed request the test did not provoke on purpose. Screenshots of the main pages
go to tests/e2e/screenshots/ (not committed).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login
from tests.e2e.conftest import UI, DemoData, new_page, watch

pytestmark = pytest.mark.e2e

VIEWER_EMAIL = "viewer@example.com"
VIEWER_PASSWORD = "viewer-password-1"


def open_task(ui: UI, description: str) -> None:
    """From anywhere: Bundles → the demo bundle → the task, as an operator would."""
    ui.page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    ui.page.get_by_role("link", name=re.compile("Episode 42")).click()
    ui.page.get_by_role("link", name=description).click()
    expect(ui.page.get_by_role("heading", level=1)).to_have_text(description)
    expect(ui.page.locator(".requirements")).to_be_visible()


def requirement(ui: UI, kind: str) -> object:
    return ui.page.locator(f'.proof-card .requirement[data-kind="{kind}"]')


def card_parts(ui: UI, artifact_id: str) -> dict[str, str]:
    """The artifact card's class and the markup of its head, meta and provenance lines."""
    card = ui.page.locator(f'li.artifact[data-artifact-id="{artifact_id}"]')
    parts = {"class": card.get_attribute("class") or ""}
    for part in ("artifact-head", "artifact-meta", "provenance"):
        parts[part] = card.locator(f".{part}").inner_html()
    return parts


def test_needs_review_assistant_output_is_visible_and_does_not_unblock(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    ui.goto("/work")
    ui.login()
    page = ui.page

    # Home: the assistant's transcript waits for review; the task is blocked on it.
    review_lane = page.locator("#lane-review")
    expect(review_lane.get_by_role("link", name="Transcript draft (assistant)")).to_be_visible()
    expect(review_lane.locator(".badge-needs-review")).to_have_text("needs review")
    expect(review_lane.locator(".chip.assistant")).to_be_visible()
    # The transcript misses its proof but is not due yet: Blocked holds due tasks only.
    expect(page.locator("#lane-overdue")).to_contain_text("Review the guest prep document")
    blocked_lane = page.locator("#lane-blocked")
    expect(blocked_lane).to_contain_text("No due task is blocked")
    expect(blocked_lane.get_by_role("link", name="Approve the transcript")).to_have_count(0)
    ui.screenshot("home")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    expect(page.get_by_role("link", name=re.compile("Episode 42"))).to_be_visible()
    ui.screenshot("bundles")
    page.get_by_role("link", name=re.compile("Episode 42")).click()
    row = page.locator("tr", has=page.get_by_role("link", name="Approve the transcript"))
    expect(row).to_contain_text("Missing:")
    expect(row.locator(".badge-needs-review")).to_be_visible()
    ui.screenshot("bundle")

    row.get_by_role("link", name="Approve the transcript").click()
    artifact = page.locator('.artifact[data-status="needs-review"]', has_text="Transcript draft")
    expect(artifact.locator(".badge")).to_have_text("needs review")
    expect(artifact.locator(".chip.assistant")).to_have_text("assistant output")
    expect(artifact).to_contain_text("does not count as proof")
    expect(artifact).to_contain_text("transcript")
    expect(artifact).to_contain_text("Local (DataOps)")
    expect(artifact).to_contain_text("private")
    # DataOps-owned bytes open through the content route, not the raw local-dev:// URI.
    download = artifact.get_by_role("link", name=re.compile("Download"))
    expect(download).to_have_attribute("href", re.compile(r"^/work/api/artifacts/.+/content$"))

    proof = requirement(ui, "artifact")
    expect(proof).to_have_attribute("data-satisfied", "false")
    expect(proof).to_contain_text("no approved transcript artifact is attached")
    complete = page.get_by_role("button", name="Mark done (blocked)")
    expect(page.locator(".blocked-note")).to_contain_text("Approved transcript")
    ui.screenshot("task-needs-review")

    # The server refuses the completion; its 409 detail is shown, the task is unchanged.
    ui.allow_http(409, "/work/api/tasks/")
    complete.click()
    refusal = page.locator(".server-refusal [role=alert]")
    expect(refusal).to_contain_text("cannot mark the task done; missing proof")
    expect(refusal).to_contain_text("Approved transcript")
    task_id = demo_data.tasks["transcript"]["id"]
    assert admin_api.get(f"/work/api/tasks/{task_id}").json()["status"] == "todo"
    ui.screenshot("task-completion-refused")
    ui.assert_clean()


def test_registering_and_approving_a_public_url_lets_the_task_complete(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    ui.goto("/work")
    ui.login()
    page = ui.page
    open_task(ui, "Approve the transcript")

    form = page.locator("form.register-form")
    expect(form.get_by_label("Type")).to_have_value("transcript")  # from the requirement
    form.get_by_label("Title").fill("Transcript (final)")
    form.get_by_label("URL").fill("https://docs.example.com/podcast/ep42-transcript")
    form.get_by_label("Data class").select_option("public")
    form.get_by_label(re.compile("^This task")).check()
    form.get_by_label("URL").press("Enter")  # keyboard: Enter submits the form
    expect(page.locator(".flash")).to_contain_text("Registered “Transcript (final)”")

    artifact = page.locator(".artifact", has_text="Transcript (final)")
    expect(artifact.locator(".badge")).to_have_text("needs review")
    link = artifact.get_by_role("link", name=re.compile("in a new tab"))
    expect(link).to_have_attribute("href", "https://docs.example.com/podcast/ep42-transcript")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(requirement(ui, "artifact")).to_have_attribute("data-satisfied", "false")

    artifact.get_by_role("button", name="Approve Transcript (final)").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Approved “Transcript (final)”")
    proof = requirement(ui, "artifact")
    expect(proof).to_have_attribute("data-satisfied", "true")
    expect(proof.get_by_role("link", name="Transcript (final)")).to_be_visible()
    expect(page.locator(".ready-note")).to_be_visible()
    ui.screenshot("task-ready")

    page.get_by_role("button", name="Mark done", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Task marked done")
    expect(page.locator(".subtitle .badge")).to_have_text("done")
    expect(page.get_by_role("heading", name="Completed")).to_be_visible()
    ui.screenshot("task-done")
    task = admin_api.get(f"/work/api/tasks/{demo_data.tasks['transcript']['id']}").json()
    assert task["status"] == "done"
    assert task["completionProof"][0]["satisfiedBy"]["title"] == "Transcript (final)"

    # The artifact page shows its review history.
    page.get_by_role("link", name="Transcript (final)").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Transcript (final)")
    history = page.locator(".audit-table")
    expect(history.locator('tr[data-action="create"]')).to_contain_text("needs review")
    expect(history.locator('tr[data-action="approve"]')).to_contain_text("approved")
    ui.screenshot("artifact")
    ui.assert_clean()


def test_file_gated_and_artifact_gated_tasks_show_different_missing_proof(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    created = admin_api.post(
        "/work/api/tasks",
        json={
            "description": "Collect the signed release form",
            "date": date.today().isoformat(),
            "bundleId": demo_data.bundle["id"],
            "proofRequirement": {"type": "file", "label": "Signed release form"},
        },
    )
    assert created.status_code == 201, created.text
    ui.goto("/work")
    ui.login()
    page = ui.page
    expect(page.locator("#lane-today")).to_contain_text("Collect the signed release form")

    open_task(ui, "Collect the signed release form")
    file_proof = requirement(ui, "file")
    expect(file_proof).to_have_attribute("data-satisfied", "false")
    expect(file_proof.locator(".chip.kind")).to_have_text("File")
    expect(file_proof).to_contain_text("Signed release form")
    expect(file_proof).to_contain_text("no file has been uploaded or registered")
    expect(page.locator(".proof-card .requirement")).to_have_count(1)
    ui.screenshot("task-file-gated")

    open_task(ui, "Approve the transcript")
    artifact_proof = requirement(ui, "artifact")
    expect(artifact_proof.locator(".chip.kind")).to_have_text("Artifact")
    expect(artifact_proof).to_contain_text(
        "no approved transcript artifact is attached to the task or its bundle"
    )
    expect(page.locator(".proof-card .requirement")).to_have_count(1)

    # Upload refused by the server (storage disabled) → a clear message, nothing stored.
    open_task(ui, "Collect the signed release form")
    ui.allow_http(503, "/work/api/files")

    def storage_disabled(route: object) -> None:
        route.fulfill(  # type: ignore[attr-defined]
            status=503,
            content_type="application/problem+json",
            body='{"type":"storage-unavailable","title":"Storage unavailable","status":503,'
            '"detail":"binary storage is disabled (DATAOPS_BLOB_STORE=disabled)"}',
        )

    page.route("**/work/api/files", storage_disabled)
    upload = page.locator("form.upload-form")
    upload.get_by_label("File").set_input_files(
        files=[{"name": "release.txt", "mimeType": "text/plain", "buffer": b"signed\n"}]
    )
    upload.get_by_role("button", name="Upload").click()
    expect(upload.get_by_role("alert")).to_contain_text("Uploads are unavailable on this server")
    expect(upload.get_by_role("alert")).to_contain_text("DATAOPS_BLOB_STORE=disabled")
    page.unroute("**/work/api/files", storage_disabled)

    # A real upload satisfies the file requirement.
    upload.get_by_label("File").set_input_files(
        files=[{"name": "release.txt", "mimeType": "text/plain", "buffer": b"signed\n"}]
    )
    upload.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash")).to_contain_text("Uploaded “release.txt”")
    expect(requirement(ui, "file")).to_have_attribute("data-satisfied", "true")
    expect(requirement(ui, "file")).to_contain_text("release.txt")
    download = page.locator(".files").get_by_role("link", name="Download release.txt")
    expect(download).to_have_attribute("href", re.compile(r"^/work/api/files/.+/content$"))
    ui.assert_clean()


def test_viewer_sees_no_write_controls(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    created = admin_api.post(
        "/work/api/users",
        json={
            "email": VIEWER_EMAIL,
            "name": "Vera Viewer",
            "role": "viewer",
            "password": VIEWER_PASSWORD,
        },
    )
    assert created.status_code == 201, created.text
    transcript = admin_api.get(
        "/work/api/artifacts", params={"taskId": demo_data.tasks["transcript"]["id"]}
    ).json()["items"][0]

    ui.goto("/work")
    ui.login(VIEWER_EMAIL, VIEWER_PASSWORD)
    page = ui.page
    expect(page.locator(".who .role")).to_have_text("viewer")
    expect(page.locator("#lane-review")).to_contain_text("Transcript draft (assistant)")

    def no_write_controls() -> None:
        # Filters (a search landmark: they narrow what is shown) are a viewer's too.
        writes = "main form:not([role=search])"
        expect(page.locator(writes)).to_have_count(0)
        expect(page.locator("main button:not([role=search] *):visible")).to_have_count(0)
        fields = "main :is(input, textarea, select):not([role=search] *)"
        expect(page.locator(fields)).to_have_count(0)

    no_write_controls()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    page.get_by_role("link", name=re.compile("Episode 42")).click()
    expect(page.locator(".tasks-table")).to_be_visible()
    expect(page.locator(".artifact", has_text="Raw recording")).to_be_visible()
    no_write_controls()

    page.get_by_role("link", name="Approve the transcript").click()
    expect(page.locator(".artifact", has_text="Transcript draft")).to_be_visible()
    expect(requirement(ui, "artifact")).to_have_attribute("data-satisfied", "false")
    no_write_controls()
    ui.screenshot("task-viewer")
    on_task = card_parts(ui, transcript["id"])
    assert on_task["class"] == "artifact artifact-needs-review"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    expect(page.locator(".review-list .artifact")).to_have_count(1)
    no_write_controls()
    # One card renderer: the review queue shows the task page's card (its own context).
    in_queue = card_parts(ui, transcript["id"])
    assert in_queue["class"] == "artifact card"
    assert {**in_queue, "class": None} == {**on_task, "class": None}
    ui.goto(f"/work/artifacts/{transcript['id']}")
    expect(page.locator(".audit-table")).to_be_visible()
    no_write_controls()
    ui.assert_clean()


ASSISTANT_EMAIL = "bot@example.com"
ASSISTANT_PASSWORD = "assistant-password-1"
DECISIONS = re.compile(r"^(Approve|Reject|Archive|Supersede)")


def test_assistant_sees_no_review_buttons_but_registers_and_submits(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    """An assistant (CONTRACT §7) sees what a viewer sees, plus the forms to register and
    attach artifacts and upload files, and "Submit for review" on a draft; never a review
    decision or Mark done."""
    created = admin_api.post(
        "/work/api/users",
        json={
            "email": ASSISTANT_EMAIL,
            "name": "Transcriber",
            "role": "assistant",
            "password": ASSISTANT_PASSWORD,
        },
    )
    assert created.status_code == 201, created.text

    ui.goto("/work")
    ui.login(ASSISTANT_EMAIL, ASSISTANT_PASSWORD)
    page = ui.page
    expect(page.locator(".who .role")).to_have_text("assistant")
    open_task(ui, "Approve the transcript")
    expect(page.locator(".artifact", has_text="Transcript draft")).to_be_visible()
    expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)
    expect(page.get_by_text("Mark done")).to_have_count(0)
    expect(page.get_by_role("button", name="Reopen task")).to_have_count(0)

    form = page.locator(".register-form")
    form.get_by_label("Title").fill("Transcript (clean copy)")
    form.get_by_label("URL").fill("https://docs.google.com/document/d/1cleanCopy/edit")
    form.get_by_label("Type").select_option("transcript")
    form.get_by_label("Review").select_option("draft")
    form.get_by_role("button", name="Register link").click()
    draft = page.locator(".artifact", has_text="Transcript (clean copy)")
    expect(draft.locator(".badge-draft")).to_be_visible()
    expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)
    draft.get_by_role("button", name=re.compile("^Submit for review")).click()
    expect(draft.locator(".badge-needs-review")).to_be_visible()
    expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)
    ui.screenshot("task-assistant")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    expect(page.locator(".review-list .artifact")).to_have_count(2)
    expect(page.get_by_role("button", name=DECISIONS)).to_have_count(0)

    listed = admin_api.get(
        "/work/api/artifacts", params={"taskId": demo_data.tasks["transcript"]["id"]}
    ).json()["items"]
    mine = [a for a in listed if a["title"] == "Transcript (clean copy)"]
    assert [a["status"] for a in mine] == ["needs-review"]
    me = admin_api.get("/work/api/users").json()["items"]
    assert mine[0]["createdBy"] in {u["id"] for u in me if u["email"] == ASSISTANT_EMAIL}
    ui.assert_clean()


def test_a_failing_api_call_shows_an_error_state(ui: UI, demo_data: DemoData) -> None:
    ui.goto("/work")
    ui.login()
    page = ui.page
    expect(page.locator("#lane-review .row")).to_have_count(1)

    ui.allow_http(500, "/work/api/overview")

    def broken(route: object) -> None:
        route.fulfill(  # type: ignore[attr-defined]
            status=500,
            content_type="application/problem+json",
            body='{"type":"internal","title":"Internal error","status":500,'
            '"detail":"the review index is down"}',
        )

    # Home's lanes come from one call (GET /api/overview): when it fails, the page says
    # so instead of showing empty lanes; the rest of the page (the policy card) stays.
    page.route(re.compile(r".*/work/api/overview.*"), broken)
    page.reload()
    lanes = page.locator(".lanes")
    expect(lanes.get_by_role("alert")).to_contain_text("unavailable")
    expect(lanes.get_by_role("alert")).to_contain_text("the review index is down")
    expect(lanes.locator(".empty")).to_have_count(0)
    expect(page.locator(".policy-card")).to_be_visible()
    ui.screenshot("home-lane-error")

    # The task page reads the task with its proof in one call: when it fails, the page
    # says so (an honest error, not an empty page or a missing proof card).
    page.route(re.compile(r".*/work/api/tasks/[^/?]+\?include=.*"), broken)
    ui.allow_http(500, "/work/api/tasks/")
    ui.goto(f"/work/tasks/{demo_data.tasks['transcript']['id']}")
    expect(page.locator("main [role=alert]")).to_contain_text("the review index is down")
    expect(page.locator(".proof-card")).to_have_count(0)
    ui.assert_clean()


def test_expired_session_returns_to_login_then_to_the_page(ui: UI, demo_data: DemoData) -> None:
    task_id = demo_data.tasks["record"]["id"]
    ui.goto(f"/work/tasks/{task_id}")
    # Not logged in: the login page, and afterwards the page asked for.
    expect(ui.page).to_have_url(re.compile(r"/work/login\?next="))
    ui.login()
    expect(ui.page).to_have_url(re.compile(f"/work/tasks/{task_id}$"))
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Record the episode")

    # The session ends (cookie gone): the next API call sends the user to log in again.
    ui.page.context.clear_cookies()
    ui.allow_http(401, "/work/api/")
    ui.page.get_by_role("navigation", name="Main").get_by_role("link", name="Bundles").click()
    expect(ui.page).to_have_url(re.compile(r"/work/login\?next=%2Fwork%2Fbundles&expired=1"))
    expect(ui.page.get_by_role("status")).to_contain_text("Your session has ended")
    ui.screenshot("login-expired")
    ui.login()
    expect(ui.page).to_have_url(re.compile(r"/work/bundles$"))
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Bundles")
    ui.assert_clean()


def test_reject_with_reason_and_supersede_chain(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    prep = admin_api.get(
        "/work/api/artifacts", params={"taskId": demo_data.tasks["prep-doc"]["id"]}
    ).json()["items"][0]
    successor = admin_api.post(
        "/work/api/artifacts",
        json={
            "type": "podcast-doc",
            "title": "Guest prep v2",
            "storageUri": "https://docs.example.com/prep-v2",
            "status": "approved",
            "taskId": demo_data.tasks["prep-doc"]["id"],
        },
    ).json()
    ui.goto("/work")
    ui.login()
    page = ui.page

    # Reject needs a reason; the reason is shown afterwards.
    open_task(ui, "Approve the transcript")
    draft = page.locator(".artifact", has_text="Transcript draft")
    draft.get_by_role("button", name="Reject Transcript draft (assistant)…").click()
    reason = draft.get_by_label(re.compile("Why is"))
    expect(reason).to_be_focused()
    draft.get_by_role("button", name="Reject", exact=True).click()
    expect(draft.get_by_role("alert")).to_contain_text("Give a reason")
    reason.fill("Speaker names are missing.")
    draft.get_by_role("button", name="Reject", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Rejected")
    rejected = page.locator(".artifact", has_text="Transcript draft")
    expect(rejected.locator(".badge")).to_have_text("rejected")
    expect(rejected).to_contain_text("Speaker names are missing.")

    # Supersede the approved prep document with v2; the chain shows both.
    ui.goto(f"/work/artifacts/{prep['id']}")
    page.get_by_role("button", name=re.compile("^Supersede")).click()
    page.get_by_label("ID of the artifact that replaces it").fill(successor["id"])
    page.get_by_role("button", name="Supersede", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("is superseded")
    chain = page.locator("ol.chain li")
    expect(chain).to_have_count(2)
    expect(chain.nth(0)).to_contain_text("Guest prep: Ada Lovelace")
    expect(chain.nth(0).locator(".badge")).to_have_text("superseded")
    expect(chain.nth(1)).to_contain_text("Guest prep v2")
    ui.screenshot("artifact-superseded")
    ui.assert_clean()


def test_user_data_is_text_and_only_http_links_are_clickable(
    ui: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    hostile = '<img src=x id=pwned onerror="window.pwned=1">Bold <b>claim</b>'
    created = admin_api.post(
        "/work/api/artifacts",
        json={
            "type": "other",
            "title": hostile,
            "storageUri": "https://example.com/doc",
            "taskId": demo_data.tasks["record"]["id"],
        },
    )
    assert created.status_code == 201, created.text
    response = httpx.get(ui.base_url + "/work/tasks/anything")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp

    ui.goto("/work")
    ui.login()
    page = ui.page
    open_task(ui, "Record the episode")
    expect(page.locator(".artifact-title").first).to_have_text(hostile)
    expect(page.locator("#pwned")).to_have_count(0)
    expect(page.locator("main b")).to_have_count(0)
    assert page.evaluate("window.pwned") is None

    # The link helper makes only http(s) clickable.
    kinds = page.evaluate(
        """async () => {
            const dom = await import('/work/static/dom.js');
            const uris = ['javascript:alert(1)', 'data:text/html,x', 's3://b/k',
                          'https://ok.example/'];
            return uris.map((u) => {
                const el = dom.externalLink(u, 'x');
                return [el.tagName, el.getAttribute('href'), el.getAttribute('rel')];
            });
        }"""
    )
    assert kinds == [
        ["SPAN", None, None],
        ["SPAN", None, None],
        ["SPAN", None, None],
        ["A", "https://ok.example/", "noopener noreferrer"],
    ]
    # Every form control has a label.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('main input, main select, main textarea')]
              .filter((el) => el.type !== 'radio' || !el.labels.length)
              .filter((el) => !el.labels || el.labels.length === 0)
              .map((el) => el.name)"""
    )
    assert unlabelled == []
    ui.assert_clean()


def test_uploads_disabled_on_the_server_are_explained(browser: object, tmp_path: Path) -> None:
    portal = ServedPortal(tmp_path, env={"DATAOPS_BLOB_STORE": "disabled"})
    try:
        with portal.client() as api:
            login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
            task = api.post(
                "/work/api/tasks",
                json={
                    "description": "Attach the invoice",
                    "date": date.today().isoformat(),
                    "requiresFile": True,
                },
            ).json()
        ui = watch(new_page(browser), portal.base_url)
        page = ui.page
        ui.goto(f"/work/tasks/{task['id']}")
        ui.login()
        expect(page.get_by_role("heading", level=1)).to_have_text("Attach the invoice")
        expect(page.get_by_role("note")).to_contain_text("File uploads are disabled on this server")
        expect(page.locator("input[type=file]")).to_have_count(0)
        # The file can still be registered where it is kept, which satisfies the proof.
        form = page.locator("form.register-file-form")
        form.get_by_label("File name").fill("invoice.pdf")
        form.get_by_label("File URL").fill("https://files.example.com/invoice.pdf")
        form.get_by_role("button", name="Register file").click()
        expect(page.locator(".flash")).to_contain_text("Registered the file “invoice.pdf”")
        expect(page.locator('.requirement[data-kind="file"]')).to_have_attribute(
            "data-satisfied", "true"
        )
        ui.screenshot("task-uploads-disabled")
        ui.assert_clean()
        page.context.close()
    finally:
        portal.stop()
