"""Planning and upload-as-artifact in the browser (issue 19 items 1 and 3), in real
Chromium against `dataops serve --demo`, at 1280 and 390 px, with an axe check (no
serious or critical violation) on every page used: start a bundle from a template with
its dated tasks previewed first; edit a template's task definitions; add, reschedule,
reassign and archive a task; edit a bundle; a stale form says "changed by someone else —
reload" and keeps what was typed; upload a file as an artifact for review, on local-dev
and on S3 (moto, presigned PUT from the browser through the bucket's CORS rule)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
import yaml
from playwright.sync_api import expect

from dataops.demo import DEMO_TEMPLATE
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login
from tests.e2e.a11y import assert_accessible, assert_fits
from tests.e2e.conftest import UI, DemoData, watch

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 390)
STALE = "changed by someone else — reload"
OPERATOR = {
    "email": "olga@example.com",
    "name": "Olga Operator",
    "role": "operator",
    "password": "operator-password-1",
}
TRANSCRIPT = b"Episode 44 transcript: Ada on the Analytical Engine.\n" * 30


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def view(request: pytest.FixtureRequest, browser: Any, demo: ServedPortal) -> Iterator[UI]:
    yield from _view(browser, demo, request.param)


def _view(browser: Any, portal: ServedPortal, width: int) -> Iterator[UI]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    ui = watch(page, portal.base_url)
    yield ui
    context.close()
    if not ui.checked:
        assert ui.unexpected() == []


def add_operator(admin_api: httpx.Client) -> dict[str, Any]:
    created = admin_api.post("/work/api/users", json=OPERATOR)
    assert created.status_code == 201, created.text
    return dict(created.json())


def template_of(admin_api: httpx.Client) -> dict[str, Any]:
    items = admin_api.get("/work/api/templates").json()["items"]
    return next(t for t in items if t["name"] == DEMO_TEMPLATE)


def test_start_a_bundle_with_its_tasks_previewed_then_edit_the_template(
    view: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    template = template_of(admin_api)
    view.goto("/work/templates")
    view.login()
    page = view.page
    start = page.get_by_role("form", name="Start a bundle")
    start.get_by_label("Template").select_option(label=DEMO_TEMPLATE)
    start.get_by_label("Title").fill("Episode 44 — Grace Hopper")
    start.get_by_label("Anchor date").fill("2030-03-04")

    # Create first previews (nothing stored), a second Create makes the bundle.
    start.get_by_role("button", name="Create bundle").click()
    preview = start.locator(".preview")
    expect(preview).to_be_focused()
    rows = preview.locator("li")
    expect(rows).to_have_count(len(template["taskDefinitions"]))
    first = template["taskDefinitions"][0]
    expect(rows.first).to_contain_text(first["description"])
    assert len(admin_api.get("/work/api/bundles").json()["items"]) == 1
    assert_accessible(page)
    assert_fits(page)

    start.get_by_role("button", name="Create bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Episode 44 — Grace Hopper")
    expect(page.locator(".flash")).to_contain_text("created with")
    bundles = admin_api.get("/work/api/bundles").json()["items"]
    made = next(b for b in bundles if b["title"] == "Episode 44 — Grace Hopper")
    assert made["anchorDate"] == "2030-03-04"
    tasks = admin_api.get("/work/api/tasks", params={"bundleId": made["id"]}).json()["items"]
    assert len(tasks) == len(template["taskDefinitions"])
    assert_accessible(page)
    assert_fits(page)

    # Edit the template: change a description, add a task with artifact proof, move it
    # to the top, remove the last one.
    page.goto(f"{view.base_url}/work/templates/{template['id']}")
    page.locator("summary", has_text="Edit the template").click()
    form = page.get_by_role("form", name=f"Edit the template {DEMO_TEMPLATE}")
    editors = form.locator(".definition-editor")
    count = editors.count()
    editors.nth(0).get_by_label("Description").fill("Book the guest (confirm by e-mail)")
    form.get_by_role("button", name="Add a task").click()
    new = editors.nth(count)
    expect(new.get_by_label("Description")).to_be_focused()
    new.get_by_label("Description").fill("Send the thank-you note")
    new.get_by_label("Offset (days from the anchor date)").fill("5")
    new.get_by_label("Proof needed").select_option("artifact")
    new.get_by_label("Artifact type").select_option("transcript")
    for _ in range(count):
        form.get_by_role("button", name="Move up: Send the thank-you note").click()
    expect(editors.nth(0).get_by_label("Description")).to_have_value("Send the thank-you note")
    editors.nth(count).get_by_role("button", name="Remove:").click()
    assert_accessible(page)
    assert_fits(page)
    form.get_by_role("button", name="Save template").click()
    expect(page.locator(".flash")).to_contain_text("saved")

    saved = admin_api.get(f"/work/api/templates/{template['id']}").json()
    definitions = saved["taskDefinitions"]
    assert len(definitions) == count
    assert definitions[0]["description"] == "Send the thank-you note"
    assert definitions[0]["offsetDays"] == 5
    assert definitions[0]["proofRequirement"]["type"] == "artifact"
    assert definitions[0]["proofRequirement"]["artifactType"] == "transcript"
    assert definitions[1]["description"] == "Book the guest (confirm by e-mail)"
    assert definitions[1]["refId"] == template["taskDefinitions"][0]["refId"]  # kept
    kept = {d["refId"]: d for d in template["taskDefinitions"][: count - 1]}
    for definition in definitions[2:]:  # untouched ones come back whole
        assert definition == kept[definition["refId"]]
    audit = admin_api.get(
        "/work/api/audit-events", params={"entityType": "template", "entityId": template["id"]}
    ).json()["items"]
    assert [e["action"] for e in audit][-1] == "update"
    assert_accessible(page)
    assert_fits(page)
    view.assert_clean()


def test_edit_the_bundle_and_add_reschedule_reassign_and_archive_a_task(
    view: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    operator = add_operator(admin_api)
    bundle = demo_data.bundle
    view.goto(f"/work/bundles/{bundle['id']}")
    view.login(OPERATOR["email"], OPERATOR["password"])
    page = view.page

    page.locator("summary", has_text="Edit the bundle").click()
    form = page.get_by_role("form", name="Edit the bundle")
    form.get_by_label("Title").fill("Episode 42 — Ada Lovelace (moved)")
    form.get_by_label("Stage").fill("production")
    form.get_by_role("button", name="Add a link").click()
    form.get_by_label("Link name").last.fill("Show notes")
    form.get_by_label("URL").last.fill("https://example.com/notes/42")
    assert_accessible(page)
    assert_fits(page)
    form.get_by_role("button", name="Save bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Episode 42 — Ada Lovelace (moved)")
    saved = admin_api.get(f"/work/api/bundles/{bundle['id']}").json()
    assert saved["stage"] == "production"
    assert {"name": "Show notes", "url": "https://example.com/notes/42"} in saved["bundleLinks"]

    page.locator("summary", has_text="Add a task").click()
    add = page.get_by_role("form", name="Add a task to the bundle")
    add.get_by_label("Task").fill("Thank the guest")
    add.get_by_label("Date").fill("2030-03-09")
    add.get_by_label("Assignee").select_option(label=OPERATOR["name"])
    add.get_by_role("button", name="Add task").click()
    expect(page.locator(".flash")).to_contain_text("Thank the guest")
    link = page.locator(".tasks-table").get_by_role("link", name="Thank the guest")
    expect(link).to_be_visible()
    tasks = admin_api.get("/work/api/tasks", params={"bundleId": bundle["id"]}).json()["items"]
    added = next(t for t in tasks if t["description"] == "Thank the guest")
    assert (added["date"], added["assigneeId"]) == ("2030-03-09", operator["id"])
    assert_accessible(page)
    assert_fits(page)

    # Reschedule and reassign, then archive, from the task page.
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank the guest")
    page.locator("summary", has_text="Edit, reschedule, reassign or archive").click()
    edit = page.get_by_role("form", name="Edit the task")
    edit.get_by_label("Date").fill("2030-03-10")
    edit.get_by_label("Assignee").select_option("")
    assert_accessible(page)
    assert_fits(page)
    edit.get_by_role("button", name="Save task").click()
    expect(page.locator(".flash")).to_contain_text("rescheduled to 2030-03-10")
    task = admin_api.get(f"/work/api/tasks/{added['id']}").json()
    assert (task["date"], task["assigneeId"]) == ("2030-03-10", None)

    page.locator("summary", has_text="Edit, reschedule, reassign or archive").click()
    page.get_by_role("button", name="Archive task").click()
    expect(page.locator(".flash")).to_contain_text("Task archived.")
    assert admin_api.get(f"/work/api/tasks/{added['id']}").json()["status"] == "archived"
    actions = [
        e["action"]
        for e in admin_api.get(
            "/work/api/audit-events", params={"entityType": "task", "entityId": added["id"]}
        ).json()["items"]
    ]
    assert actions == ["create", "update", "update"]
    assert_accessible(page)
    assert_fits(page)
    view.assert_clean()


def test_a_stale_form_says_so_and_keeps_what_was_typed(
    view: UI, admin_api: httpx.Client, demo_data: DemoData
) -> None:
    view.allow_http(409, "/work/api/")  # the stale saves, on purpose
    task = demo_data.tasks["transcript"]
    bundle = demo_data.bundle
    template = template_of(admin_api)
    view.goto(f"/work/tasks/{task['id']}")
    view.login()
    page = view.page

    # Task: open the form, someone else saves, then this save is refused.
    page.locator("summary", has_text="Edit, reschedule, reassign or archive").click()
    edit = page.get_by_role("form", name="Edit the task")
    edit.get_by_label("Task").fill("Transcript, checked twice")
    edit.get_by_label("Date").fill("2030-04-01")
    changed = admin_api.patch(f"/work/api/tasks/{task['id']}", json={"date": "2030-05-05"})
    assert changed.status_code == 200
    edit.get_by_role("button", name="Save task").click()
    alert = edit.get_by_role("alert")
    expect(alert).to_contain_text(STALE)
    expect(alert).to_be_focused()
    expect(edit.get_by_label("Task")).to_have_value("Transcript, checked twice")
    expect(edit.get_by_label("Date")).to_have_value("2030-04-01")
    now = admin_api.get(f"/work/api/tasks/{task['id']}").json()
    assert (now["description"], now["date"]) == (task["description"], "2030-05-05")
    assert_accessible(page)
    assert_fits(page)

    # Bundle.
    page.goto(f"{view.base_url}/work/bundles/{bundle['id']}")
    page.locator("summary", has_text="Edit the bundle").click()
    form = page.get_by_role("form", name="Edit the bundle")
    form.get_by_label("Title").fill("My title")
    admin_api.patch(f"/work/api/bundles/{bundle['id']}", json={"stage": "publish"})
    form.get_by_role("button", name="Save bundle").click()
    expect(form.get_by_role("alert")).to_contain_text(STALE)
    expect(form.get_by_label("Title")).to_have_value("My title")
    assert admin_api.get(f"/work/api/bundles/{bundle['id']}").json()["title"] == bundle["title"]

    # Template; then Reload shows the other person's change.
    page.goto(f"{view.base_url}/work/templates/{template['id']}")
    page.locator("summary", has_text="Edit the template").click()
    form = page.get_by_role("form", name=f"Edit the template {DEMO_TEMPLATE}")
    form.get_by_label("Name", exact=True).fill("My name")
    admin_api.patch(
        f"/work/api/templates/{template['id']}", json={"description": "Changed elsewhere."}
    )
    form.get_by_role("button", name="Save template").click()
    expect(form.get_by_role("alert")).to_contain_text(STALE)
    expect(form.get_by_label("Name", exact=True)).to_have_value("My name")
    assert admin_api.get(f"/work/api/templates/{template['id']}").json()["name"] == DEMO_TEMPLATE
    assert_accessible(page)
    assert_fits(page)
    form.get_by_role("button", name="Reload").click()
    expect(page.locator(".subtitle").first).to_have_text("Changed elsewhere.")
    view.assert_clean()


def upload_as_artifact(view: UI, task_id: str, tmp_path: Path) -> None:
    page = view.page
    source = tmp_path / "episode-44-transcript.txt"
    source.write_bytes(TRANSCRIPT)
    view.goto(f"/work/tasks/{task_id}")
    view.login()
    form = page.locator(".upload-artifact-form")
    form.get_by_label("File").set_input_files(str(source))
    form.get_by_label("Type").select_option("transcript")
    form.get_by_label("Title").fill("Episode 44 transcript (final)")
    assert_accessible(page)
    assert_fits(page)
    form.get_by_role("button", name="Upload for review").click()
    expect(page.locator(".flash")).to_contain_text("waits for review")
    expect(page.get_by_role("link", name="Episode 44 transcript (final)").first).to_be_visible()
    assert_accessible(page)
    assert_fits(page)


def check_uploaded(api: httpx.Client, task_id: str, provider: str) -> dict[str, Any]:
    items = api.get("/work/api/artifacts", params={"taskId": task_id}).json()["items"]
    (artifact,) = [a for a in items if a["title"] == "Episode 44 transcript (final)"]
    assert artifact["status"] == "needs-review"
    assert artifact["type"] == "transcript"
    assert artifact["checksum"] == "sha256:" + hashlib.sha256(TRANSCRIPT).hexdigest()
    assert artifact["sizeBytes"] == len(TRANSCRIPT)
    assert artifact["storageProvider"] == provider
    assert artifact["fileId"]
    content = api.get(f"/work/api/artifacts/{artifact['id']}/content", follow_redirects=True)
    assert content.content == TRANSCRIPT
    return dict(artifact)


def test_upload_a_file_as_an_artifact_on_local_dev(
    view: UI, admin_api: httpx.Client, demo_data: DemoData, tmp_path: Path
) -> None:
    task = demo_data.tasks["transcript"]
    upload_as_artifact(view, task["id"], tmp_path)
    check_uploaded(admin_api, task["id"], "local-dev")
    view.assert_clean()


def sam_cors_rules(origin: str) -> list[dict[str, Any]]:
    """The artifacts bucket's CORS rules as infra/template.yaml deploys them, with the
    `PortalOrigin` parameter set to `origin` (boto3's field names)."""
    from tests.infra.test_template import TEMPLATE, CfnLoader

    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 (a safe loader)
    cors = template["Resources"]["ArtifactsBucket"]["Properties"]["CorsConfiguration"]
    _, rules, _ = cors["Fn::If"]
    names = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    out = []
    for rule in rules["CorsRules"]:
        rule = {names.get(k, k): v for k, v in rule.items()}
        assert rule["AllowedOrigins"] == [{"Ref": "PortalOrigin"}]
        out.append({**rule, "AllowedOrigins": [origin]})
    return out


@pytest.fixture
def cors_moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server of its own that applies bucket CORS rules as S3 does (moto answers
    every preflight with "allow all" unless MOTO_DISABLE_GLOBAL_CORS is set)."""
    from tests.moto_server import AWS_TEST_ENV, MotoServer

    monkeypatch.setenv("MOTO_DISABLE_GLOBAL_CORS", "true")
    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    logs = tmp_path / "moto"
    logs.mkdir()
    server = MotoServer(logs)
    yield server
    server.stop()


@pytest.fixture
def s3_demo(cors_moto: MotoServer, tmp_path: Path) -> Iterator[ServedPortal]:
    """`dataops serve --demo` on S3 (moto), the bucket carrying the SAM template's CORS
    rule for the portal's origin."""
    bucket = f"dataops-artifacts-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=cors_moto.endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    env = {
        "DATAOPS_BLOB_STORE": "s3",
        "DATAOPS_ARTIFACTS_BUCKET": bucket,
        "DATAOPS_S3_ENDPOINT": cors_moto.endpoint,
    }
    home = tmp_path / "s3-demo"
    home.mkdir()
    portal = ServedPortal(home, "--demo", env=env)
    try:  # the portal stops also when the setup below fails
        rules = sam_cors_rules(portal.base_url)
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        # The rule admits the portal's PUT and nobody else's.
        for origin, allowed in ((portal.base_url, True), ("https://elsewhere.example", False)):
            answer = httpx.options(
                f"{cors_moto.endpoint}/{bucket}/files/upl_probe",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "PUT",
                    "Access-Control-Request-Headers": "content-type,x-amz-checksum-sha256",
                },
            )
            assert (answer.status_code == 200) is allowed, (origin, answer.status_code)
        yield portal
    finally:
        portal.stop()


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
def test_upload_a_file_as_an_artifact_on_s3_with_a_presigned_put(
    browser: Any, s3_demo: ServedPortal, cors_moto: MotoServer, tmp_path: Path, width: int
) -> None:
    with s3_demo.client() as api:
        login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        csp = api.get("/work").headers["content-security-policy"]
        assert f"connect-src 'self' {cors_moto.endpoint};" in csp
        bundle = api.get("/work/api/bundles").json()["items"][0]
        tasks = api.get("/work/api/tasks", params={"bundleId": bundle["id"]}).json()["items"]
        task = next(t for t in tasks if t["templateTaskRef"] == "transcript")
        puts: list[str] = []

        def record_put(request: Any) -> None:
            if request.method == "PUT":
                puts.append(request.url)

        for view in _view(browser, s3_demo, width):
            view.page.on("request", record_put)
            upload_as_artifact(view, task["id"], tmp_path)
            # The bytes went from the browser straight to the bucket, not via the portal.
            assert len(puts) == 1
            assert puts[0].startswith(cors_moto.endpoint + "/")
            view.assert_clean()
        artifact = check_uploaded(api, task["id"], "s3")
        assert artifact["storageUri"].startswith("s3://dataops-artifacts-")
