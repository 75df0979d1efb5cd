"""The seed's test scenarios, end to end through the portal (cookie → broker → engine).

Every scenario runs twice: in-process (`api`, the single-process portal on a TestClient)
and against a real `dataops serve` child process (`served_api`). The served process is
shared by the whole session, so each test builds its own data over HTTP and only looks
at records it created (filters by its own task/bundle IDs, never global counts).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services import auth, people
from dataops.services.context import Workspace
from tests.conftest import PASSWORD, make_settings

JsonDict = dict[str, Any]
PROBLEM_JSON = "application/problem+json"
CHECKSUM = "sha256:" + "ab" * 32

# CONTRACT §5: the runtime fields of an artifact record. Nothing else may be stored.
ARTIFACT_FIELDS = frozenset(
    {
        "id",
        "type",
        "title",
        "description",
        "status",
        "storageProvider",
        "storageUri",
        "filename",
        "contentType",
        "checksum",
        "sizeBytes",
        "dataClass",
        "taskId",
        "bundleId",
        "assistantJobId",
        "fileId",
        "sourceType",
        "supersedes",
        "supersededBy",
        "reviewReason",
        "createdBy",
        "reviewedBy",
        "createdAt",
        "updatedAt",
        "reviewedAt",
        "tags",
        "metadata",
        "version",
        # CONTRACT §7
        "approvals",
        "selfReviewed",
        "validUntil",
    }
)


@pytest.fixture(params=["api", pytest.param("served_api", marks=pytest.mark.slow)])
def client(request: pytest.FixtureRequest) -> httpx.Client:
    """The admin's portal client: in-process, then against a real `dataops serve`."""
    value: httpx.Client = request.getfixturevalue(request.param)
    return value


# --------------------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def ok(response: httpx.Response, status: int = 200) -> JsonDict:
    assert response.status_code == status, response.text
    body: JsonDict = response.json()
    return body


def problem(response: httpx.Response, status: int) -> JsonDict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: JsonDict = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    return body


def me(client: httpx.Client) -> JsonDict:
    return ok(client.get("/work/api/me"))


def collect(client: httpx.Client, path: str, **params: str) -> list[JsonDict]:
    """Every item of a collection, following nextCursor."""
    items: list[JsonDict] = []
    query: dict[str, str] = {**params, "limit": "500"}
    while True:
        body = ok(client.get(path, params=query))
        assert set(body) == {"items", "nextCursor"}
        items += body["items"]
        if body["nextCursor"] is None:
            return items
        query["cursor"] = body["nextCursor"]


def instantiate(
    client: httpx.Client, definitions: list[JsonDict], anchor: str = "2025-03-10"
) -> tuple[JsonDict, dict[str, JsonDict]]:
    """A template with these task definitions, instantiated: (bundle, tasks by refId)."""
    template = ok(
        client.post(
            "/work/api/templates",
            json={"name": unique("Podcast episode"), "taskDefinitions": definitions},
        ),
        201,
    )
    assert [d["refId"] for d in template["taskDefinitions"]] == [d["refId"] for d in definitions]
    created = ok(
        client.post(
            f"/work/api/templates/{template['id']}/instantiate",
            json={"title": unique("Episode"), "anchorDate": anchor},
        ),
        201,
    )
    bundle = created["bundle"]
    assert bundle["templateId"] == template["id"]
    tasks = {t["templateTaskRef"]: t for t in created["tasks"]}
    assert set(tasks) == {d["refId"] for d in definitions}
    for task in tasks.values():
        assert task["bundleId"] == bundle["id"]
        assert task["status"] == "todo"
    return bundle, tasks


def artifact_task(
    client: httpx.Client, label: str = "Published episode page", **requirement: Any
) -> tuple[JsonDict, JsonDict]:
    """A bundle with one task that requires an approved artifact: (bundle, task)."""
    bundle, tasks = instantiate(
        client,
        [
            {
                "refId": "publish",
                "description": "Publish the episode page",
                "offsetDays": 2,
                "proofRequirement": {"type": "artifact", "label": label, **requirement},
            }
        ],
    )
    task = tasks["publish"]
    assert task["date"] == "2025-03-12"
    assert task["proofRequirement"]["type"] == "artifact"
    assert task["proofRequirement"]["label"] == label
    return bundle, task


def create_task(client: httpx.Client, **fields: Any) -> JsonDict:
    body = {"description": unique("Task"), "date": "2025-04-01", **fields}
    return ok(client.post("/work/api/tasks", json=body), 201)


def register(client: httpx.Client, **fields: Any) -> JsonDict:
    body = {
        "type": "event-page",
        "title": unique("Episode page"),
        "storageUri": f"https://lu.ma/episode-{uuid.uuid4().hex[:8]}",
        **fields,
    }
    return ok(client.post("/work/api/artifacts", json=body), 201)


def get_task(client: httpx.Client, task_id: str) -> JsonDict:
    return ok(client.get(f"/work/api/tasks/{task_id}"))


def get_artifact(client: httpx.Client, artifact_id: str) -> JsonDict:
    return ok(client.get(f"/work/api/artifacts/{artifact_id}"))


def complete(client: httpx.Client, task_id: str, **fields: Any) -> httpx.Response:
    return client.patch(f"/work/api/tasks/{task_id}", json={"status": "done", **fields})


def approve(client: httpx.Client, artifact_id: str) -> JsonDict:
    return ok(client.post(f"/work/api/artifacts/{artifact_id}/approve"))


def attach(client: httpx.Client, artifact_id: str, **where: str) -> JsonDict:
    return ok(client.post(f"/work/api/artifacts/{artifact_id}/attach", json=where))


def proof(client: httpx.Client, task_id: str) -> JsonDict:
    body = ok(client.get(f"/work/api/tasks/{task_id}/proof"))
    assert set(body) == {"canComplete", "requirements"}
    for requirement in body["requirements"]:
        assert set(requirement) == {"kind", "label", "satisfied", "reason", "satisfiedBy"}
    return body


def refs(record: JsonDict) -> dict[str, JsonDict]:
    return {ref["artifactId"]: ref for ref in record["artifactRefs"]}


def assert_blocked(client: httpx.Client, task: JsonDict, *labels: str) -> JsonDict:
    """Completion is refused with a 409 naming every label, and the task is unchanged."""
    before = get_task(client, task["id"])
    body = problem(complete(client, task["id"]), 409)
    for label in labels:
        assert label in body["detail"]
    after = get_task(client, task["id"])
    assert after["status"] == before["status"] != "done"
    assert after["version"] == before["version"]
    assert after["completedAt"] is None
    assert after["completedBy"] is None
    assert after["completionProof"] is None
    return body


def assert_completed_by_artifact(
    client: httpx.Client, task_id: str, artifact_id: str, **extra: Any
) -> JsonDict:
    done = ok(complete(client, task_id, **extra))
    assert done["status"] == "done"
    assert done["completedBy"] == me(client)["id"]
    assert isinstance(done["completedAt"], str)
    assert done["completedAt"].endswith("Z")
    artifact_proof = [r for r in done["completionProof"] if r["kind"] == "artifact"]
    assert len(artifact_proof) == 1
    assert artifact_proof[0]["satisfied"] is True
    assert artifact_proof[0]["satisfiedBy"]["artifactId"] == artifact_id
    stored = get_task(client, task_id)
    assert stored["status"] == "done"
    assert stored["completionProof"] == done["completionProof"]
    assert stored["completedAt"] == done["completedAt"]
    return done


# ------------------------------------------------- scenario: public link artifact as proof


def test_public_link_artifact_attached_to_task_satisfies_proof(client: httpx.Client) -> None:
    admin = me(client)
    bundle, task = artifact_task(client)

    body = assert_blocked(client, task, "Published episode page")
    assert body["type"].endswith("proof-missing")
    assert proof(client, task["id"])["canComplete"] is False

    artifact = register(
        client, status="needs-review", dataClass="public", description="Public Luma page"
    )
    assert artifact["status"] == "needs-review"
    assert artifact["storageProvider"] == "external-url"
    assert artifact["createdBy"] == admin["id"]
    assert artifact["taskId"] is None
    assert artifact["reviewedBy"] is None

    attached = attach(client, artifact["id"], taskId=task["id"])
    assert attached["taskId"] == task["id"]
    assert attached["bundleId"] is None
    shown = refs(get_task(client, task["id"]))
    assert shown[artifact["id"]]["status"] == "needs-review"
    assert shown[artifact["id"]]["title"] == artifact["title"]
    assert shown[artifact["id"]]["storageUri"] == artifact["storageUri"]
    assert artifact["id"] not in refs(ok(client.get(f"/work/api/bundles/{bundle['id']}")))
    assert_blocked(client, task, "Published episode page")

    approved = approve(client, artifact["id"])
    assert approved["status"] == "approved"
    assert approved["reviewedBy"] == admin["id"]
    assert approved["reviewedAt"] is not None

    shown = refs(get_task(client, task["id"]))
    assert shown[artifact["id"]]["status"] == "approved"
    listed = collect(client, "/work/api/artifacts", taskId=task["id"])
    assert [a["id"] for a in listed] == [artifact["id"]]
    state = proof(client, task["id"])
    assert state["canComplete"] is True
    assert state["requirements"][0]["satisfiedBy"]["artifactId"] == artifact["id"]

    assert_completed_by_artifact(client, task["id"], artifact["id"])


def test_public_link_artifact_attached_to_bundle_only_satisfies_proof(
    client: httpx.Client,
) -> None:
    bundle, task = artifact_task(client)
    artifact = register(client, status="needs-review", dataClass="public")

    attached = attach(client, artifact["id"], bundleId=bundle["id"])
    assert attached["bundleId"] == bundle["id"]
    assert attached["taskId"] is None
    assert refs(get_task(client, task["id"])) == {}
    bundle_refs = refs(ok(client.get(f"/work/api/bundles/{bundle['id']}")))
    assert bundle_refs[artifact["id"]]["status"] == "needs-review"
    assert_blocked(client, task, "Published episode page")

    approve(client, artifact["id"])
    bundle_refs = refs(ok(client.get(f"/work/api/bundles/{bundle['id']}")))
    assert bundle_refs[artifact["id"]]["status"] == "approved"
    listed = collect(client, "/work/api/artifacts", bundleId=bundle["id"])
    assert [a["id"] for a in listed] == [artifact["id"]]

    assert_completed_by_artifact(client, task["id"], artifact["id"])


def test_artifact_registered_as_approved_with_task_id_satisfies_proof(
    client: httpx.Client,
) -> None:
    _, task = artifact_task(client)
    artifact = register(client, status="approved", taskId=task["id"])
    assert artifact["reviewedBy"] == me(client)["id"]
    assert refs(get_task(client, task["id"]))[artifact["id"]]["status"] == "approved"
    assert_completed_by_artifact(client, task["id"], artifact["id"])


# --------------------------------------- scenario: draft assistant output is not proof yet


def test_needs_review_assistant_output_is_visible_but_not_proof_until_approved(
    client: httpx.Client,
) -> None:
    _, task = artifact_task(client, label="Prep document")
    output = register(
        client,
        type="assistant-output",
        sourceType="assistant-output",
        status="needs-review",
        title="Podcast prep document (draft)",
        storageUri="https://docs.google.com/document/d/1PrepDocAbc/edit",
        taskId=task["id"],
        assistantJobId="job_podcast_prep_1",
    )
    assert output["storageProvider"] == "google-drive"
    assert output["sourceType"] == "assistant-output"

    listed = collect(client, "/work/api/artifacts", taskId=task["id"])
    assert [(a["id"], a["status"], a["type"]) for a in listed] == [
        (output["id"], "needs-review", "assistant-output")
    ]
    by_job = collect(client, "/work/api/artifacts", assistantJobId="job_podcast_prep_1")
    assert output["id"] in [a["id"] for a in by_job]
    assert refs(get_task(client, task["id"]))[output["id"]]["status"] == "needs-review"

    state = proof(client, task["id"])
    assert state["canComplete"] is False
    [requirement] = state["requirements"]
    assert requirement["kind"] == "artifact"
    assert requirement["label"] == "Prep document"
    assert requirement["satisfied"] is False
    assert requirement["reason"]
    assert requirement["satisfiedBy"] is None
    assert_blocked(client, task, "Prep document")

    approve(client, output["id"])
    state = proof(client, task["id"])
    assert state["canComplete"] is True
    assert state["requirements"][0]["satisfied"] is True
    assert state["requirements"][0]["satisfiedBy"]["artifactId"] == output["id"]
    assert refs(get_task(client, task["id"]))[output["id"]]["status"] == "approved"
    assert_completed_by_artifact(client, task["id"], output["id"])


# ------------------------------------------ scenario: only approved artifacts are proof


def _into_status(client: httpx.Client, status: str, where: dict[str, str]) -> JsonDict:
    """An artifact attached at `where`, brought into `status` through the review routes."""
    if status in ("draft", "needs-review"):
        return register(client, status=status, **where)
    artifact = register(client, status="approved", **where)
    path = f"/work/api/artifacts/{artifact['id']}"
    if status == "approved":
        return artifact
    if status == "rejected":
        return ok(client.post(f"{path}/reject", json={"reason": "wrong episode"}))
    if status == "archived":
        return ok(client.post(f"{path}/archive"))
    assert status == "superseded"
    successor = register(client, status="draft")
    moved = ok(client.post(f"{path}/supersede", json={"supersededBy": successor["id"]}))
    assert moved["supersededBy"] == successor["id"]
    assert get_artifact(client, successor["id"])["supersedes"] == artifact["id"]
    return moved


@pytest.mark.parametrize("attached_to", ["task", "bundle"])
@pytest.mark.parametrize("status", ["draft", "needs-review", "rejected", "archived", "superseded"])
def test_non_approved_artifacts_never_satisfy_proof(
    client: httpx.Client, status: str, attached_to: str
) -> None:
    bundle, task = artifact_task(client)
    where = {"taskId": task["id"]} if attached_to == "task" else {"bundleId": bundle["id"]}
    artifact = _into_status(client, status, where)

    assert artifact["status"] == status
    assert get_artifact(client, artifact["id"])["status"] == status
    holder = (
        get_task(client, task["id"])
        if attached_to == "task"
        else ok(client.get(f"/work/api/bundles/{bundle['id']}"))
    )
    assert refs(holder)[artifact["id"]]["status"] == status
    assert proof(client, task["id"])["canComplete"] is False
    assert_blocked(client, task, "Published episode page")


@pytest.mark.parametrize(
    ("start", "route", "body"),
    [
        ("rejected", "approve", None),
        ("draft", "supersede", "successor"),
        ("needs-review", "supersede", "successor"),
        ("superseded", "archive", None),
        ("superseded", "approve", None),
        ("archived", "approve", None),
        ("archived", "submit", None),
        ("approved", "submit", None),
    ],
)
def test_illegal_review_moves_are_409_and_change_nothing(
    client: httpx.Client, start: str, route: str, body: str | None
) -> None:
    artifact = _into_status(client, start, {})
    payload = None
    if body == "successor":
        payload = {"supersededBy": register(client)["id"]}
    response = client.post(f"/work/api/artifacts/{artifact['id']}/{route}", json=payload)
    assert problem(response, 409)["type"].endswith("illegal-transition")
    current = get_artifact(client, artifact["id"])
    assert current["status"] == start
    assert current["version"] == artifact["version"]


def test_patch_status_follows_the_review_moves_and_audits_them(client: httpx.Client) -> None:
    _, task = artifact_task(client)
    artifact = register(client, status="draft", taskId=task["id"])
    path = f"/work/api/artifacts/{artifact['id']}"

    approved = ok(client.patch(path, json={"status": "approved"}))
    assert approved["status"] == "approved"
    assert approved["reviewedBy"] == me(client)["id"]
    assert proof(client, task["id"])["canComplete"] is True

    problem(client.patch(path, json={"status": "rejected"}), 422)
    assert get_artifact(client, artifact["id"])["status"] == "approved"
    problem(client.patch(path, json={"status": "draft"}), 409)

    rejected = ok(client.patch(path, json={"status": "rejected", "reviewReason": "wrong cut"}))
    assert rejected["status"] == "rejected"
    assert rejected["reviewReason"] == "wrong cut"
    assert refs(get_task(client, task["id"]))[artifact["id"]]["status"] == "rejected"
    assert proof(client, task["id"])["canComplete"] is False

    events = collect(
        client, "/work/api/audit-events", entityType="artifact", entityId=artifact["id"]
    )
    assert [e["action"] for e in events] == ["create", "approve", "reject"]


def test_refs_show_the_current_title_and_status_everywhere(client: httpx.Client) -> None:
    bundle, task = artifact_task(client)
    on_task = register(client, status="needs-review", taskId=task["id"])
    on_bundle = register(client, status="needs-review", bundleId=bundle["id"])
    for artifact in (on_task, on_bundle):
        ok(client.patch(f"/work/api/artifacts/{artifact['id']}", json={"title": "Final cut"}))
        approve(client, artifact["id"])

    listed_tasks = collect(client, "/work/api/tasks", bundleId=bundle["id"])
    listed_bundles = [b for b in collect(client, "/work/api/bundles") if b["id"] == bundle["id"]]
    for holder, artifact in (
        (get_task(client, task["id"]), on_task),
        (listed_tasks[0], on_task),
        (ok(client.get(f"/work/api/bundles/{bundle['id']}")), on_bundle),
        (listed_bundles[0], on_bundle),
    ):
        ref = refs(holder)[artifact["id"]]
        assert ref["title"] == "Final cut"
        assert ref["status"] == "approved"
        assert ref["type"] == artifact["type"]


def test_rejecting_requires_a_reason_and_keeps_status(client: httpx.Client) -> None:
    artifact = register(client, status="needs-review")
    problem(client.post(f"/work/api/artifacts/{artifact['id']}/reject", json={}), 422)
    assert get_artifact(client, artifact["id"])["status"] == "needs-review"


# ------------------------------------------------- scenario: private or bulky artifacts


def upload_bytes(client: httpx.Client, task: JsonDict, payload: bytes) -> JsonDict:
    """A file uploaded into the blob store (local-dev here), as the UI does."""
    return ok(
        client.post(
            "/work/api/files",
            files={"file": ("recording.wav", payload, "audio/wav")},
            data={"taskId": task["id"]},
        ),
        201,
    )


def test_owned_artifact_is_metadata_only(client: httpx.Client) -> None:
    """An artifact of a DataOps-owned object holds its location, checksum and size, never
    the bytes."""
    _, task = artifact_task(client)
    payload = b"RIFF" + uuid.uuid4().bytes * 4096
    checksum = "sha256:" + hashlib.sha256(payload).hexdigest()
    uri = upload_bytes(client, task, payload)["storageUri"]
    created = register(
        client,
        type="recording",
        title="Episode 42 raw recording",
        storageUri=uri,
        checksum=checksum,
        sizeBytes=len(payload),
        contentType="audio/wav",
        filename="recording.wav",
        visibility="private",
        taskId=task["id"],
        metadata={"durationSeconds": 3812, "speakers": ["host", "guest"]},
    )
    assert created["storageProvider"] == "local-dev"
    assert created["dataClass"] == "private"
    assert created["status"] == "draft"

    stored = get_artifact(client, created["id"])
    assert stored == created
    assert set(stored) <= ARTIFACT_FIELDS
    assert stored["storageUri"] == uri
    assert stored["checksum"] == checksum
    assert stored["sizeBytes"] == len(payload)
    assert stored["taskId"] == task["id"]
    # Metadata only: no field holds (encoded) bytes, and the whole record is small.
    for key in ("content", "data", "bytes", "body", "payload", "blob", "base64"):
        assert key not in stored
    assert len(json.dumps(stored)) < 4096
    for value in stored.values():
        assert not isinstance(value, str) or len(value) < 512


def test_owned_artifact_takes_checksum_and_size_from_the_object(client: httpx.Client) -> None:
    """An artifact cannot vouch for a stored object with a made-up checksum or size: a
    claim that differs is 422 naming the field, an object that is not stored is 422 on
    storageUri, and what is not claimed is filled in from the object."""
    _, task = artifact_task(client)
    payload = b"RIFF" + uuid.uuid4().bytes * 16
    uri = upload_bytes(client, task, payload)["storageUri"]
    real = "sha256:" + hashlib.sha256(payload).hexdigest()
    refusals = [
        ({"checksum": CHECKSUM}, "checksum"),
        ({"checksum": real, "sizeBytes": len(payload) + 1}, "sizeBytes"),
        ({"storageUri": uri + "x", "checksum": real}, "storageUri"),
        ({"storageUri": "s3://dataops-artifacts/podcast/ep42/recording.wav"}, "storageUri"),
    ]
    for changes, field in refusals:
        body = {"type": "recording", "title": "Raw", "storageUri": uri, "taskId": task["id"]}
        response = client.post("/work/api/artifacts", json={**body, **changes})
        assert field in [e["field"] for e in problem(response, 422)["errors"]], changes
    assert collect(client, "/work/api/artifacts", taskId=task["id"]) == []

    filled = register(client, type="recording", storageUri=uri, taskId=task["id"])
    assert (filled["checksum"], filled["sizeBytes"]) == (real, len(payload))
    # A PATCH that claims another checksum for the same object is refused too.
    response = client.patch(f"/work/api/artifacts/{filled['id']}", json={"checksum": CHECKSUM})
    assert [e["field"] for e in problem(response, 422)["errors"]] == ["checksum"]
    assert get_artifact(client, filled["id"]) == filled


def test_s3_artifact_without_checksum_is_refused(client: httpx.Client) -> None:
    _, task = artifact_task(client)
    response = client.post(
        "/work/api/artifacts",
        json={
            "type": "recording",
            "title": "Recording without checksum",
            "storageUri": "s3://dataops-artifacts/podcast/ep42/recording.wav",
            "sizeBytes": 1000,
            "taskId": task["id"],
        },
    )
    body = problem(response, 422)
    assert "checksum" in [e["field"] for e in body["errors"]]
    assert collect(client, "/work/api/artifacts", taskId=task["id"]) == []
    assert get_task(client, task["id"])["artifactRefs"] == []


@pytest.mark.parametrize(
    ("uri", "provider"),
    [
        ("https://www.dropbox.com/scl/fi/abc123/transcript.docx?rlkey=x1y2z3&dl=0", "dropbox"),
        ("https://drive.google.com/file/d/1AbCdEfGh/view", "google-drive"),
        ("https://github.com/example/podcast-sops/blob/main/prep.md", "github"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "external-url"),
    ],
)
def test_external_private_systems_are_recognised(
    client: httpx.Client, uri: str, provider: str
) -> None:
    _, task = artifact_task(client)
    created = register(client, type="transcript", storageUri=uri, taskId=task["id"])
    assert created["storageProvider"] == provider
    assert created["checksum"] is None
    assert get_artifact(client, created["id"])["storageUri"] == uri


def test_provider_that_contradicts_the_uri_is_refused(client: httpx.Client) -> None:
    _, task = artifact_task(client)
    response = client.post(
        "/work/api/artifacts",
        json={
            "type": "transcript",
            "title": "Mislabelled",
            "storageUri": "https://drive.google.com/file/d/1AbCdEfGh/view",
            "storageProvider": "dropbox",
            "taskId": task["id"],
        },
    )
    assert "storageProvider" in [e["field"] for e in problem(response, 422)["errors"]]
    assert collect(client, "/work/api/artifacts", taskId=task["id"]) == []


SIGNED = (
    "https://dataops-artifacts.s3.amazonaws.com/ep42/recording.wav"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250101"
    "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef0123456789abcdef"
)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"storageUri": SIGNED}, "storageUri"),
        ({"storageUri": "https://files.example.com/report.pdf?token=abc123"}, "storageUri"),
        ({"storageUri": "https://user:pass@files.example.com/report.pdf"}, "storageUri"),
        ({"storageUri": "javascript:alert(1)"}, "storageUri"),
        ({"storageUri": "file:///etc/passwd"}, "storageUri"),
        ({"storageUri": "https://example.com/ok.pdf", "description": SIGNED}, "description"),
        (
            {"storageUri": "https://example.com/ok.pdf", "metadata": {"downloadUrl": SIGNED}},
            "metadata",
        ),
        (
            {"storageUri": "https://example.com/ok.pdf", "metadata": {"apiKey": "abc"}},
            "metadata",
        ),
    ],
    ids=[
        "presigned-s3",
        "token-param",
        "userinfo",
        "javascript",
        "file",
        "signed-in-description",
        "signed-in-metadata",
        "secret-key-in-metadata",
    ],
)
def test_signed_tokenised_or_unsafe_locations_are_refused_and_nothing_is_stored(
    client: httpx.Client, fields: JsonDict, field: str
) -> None:
    _, task = artifact_task(client)
    before = collect(client, "/work/api/artifacts", taskId=task["id"])
    task_before = get_task(client, task["id"])

    body = {"type": "report", "title": "Leaky report", "taskId": task["id"], **fields}
    errors = problem(client.post("/work/api/artifacts", json=body), 422)["errors"]
    assert any(e["field"] == field or e["field"].startswith(field + ".") for e in errors), errors

    assert collect(client, "/work/api/artifacts", taskId=task["id"]) == before == []
    task_after = get_task(client, task["id"])
    assert task_after["artifactRefs"] == []
    assert task_after["version"] == task_before["version"]


# ------------------------------------- scenario: required file and required artifact differ


def test_required_file_and_required_artifact_stay_distinct(client: httpx.Client) -> None:
    bundle, tasks = instantiate(
        client,
        [
            {"refId": "invoice", "description": "File the invoice", "requiresFile": True},
            {
                "refId": "transcript",
                "description": "Publish the transcript",
                "offsetDays": 7,
                "proofRequirement": {"type": "artifact", "label": "Approved transcript"},
            },
        ],
    )
    file_task, artifact_task_ = tasks["invoice"], tasks["transcript"]
    assert file_task["requiresFile"] is True
    assert artifact_task_["date"] == "2025-03-17"

    payload = b"%PDF-1.4 invoice 42\n" + uuid.uuid4().bytes * 64
    uploaded = ok(
        client.post(
            "/work/api/files",
            files={"file": ("invoice-42.pdf", payload, "application/pdf")},
            data={"taskId": file_task["id"], "category": "invoice"},
        ),
        201,
    )
    assert uploaded["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert uploaded["sizeBytes"] == len(payload)
    assert uploaded["taskId"] == file_task["id"]
    assert uploaded["bundleId"] == bundle["id"]
    assert uploaded["category"] == "invoice"
    assert uploaded["storageProvider"] == "local-dev"
    assert uploaded["storageUri"].startswith("local-dev://")
    assert ok(client.get(f"/work/api/files/{uploaded['id']}")) == uploaded
    content = client.get(f"/work/api/files/{uploaded['id']}/content")
    assert content.status_code == 200
    assert content.content == payload
    assert content.headers["content-disposition"].startswith("attachment")

    registered = ok(
        client.post(
            "/work/api/files/register",
            json={
                "taskId": artifact_task_["id"],
                "filename": "transcript.docx",
                "storageUri": "https://www.dropbox.com/scl/fi/t42/transcript.docx?rlkey=abc&dl=0",
                "sizeBytes": 52_000,
            },
        ),
        201,
    )
    assert registered["storageProvider"] == "dropbox"
    assert registered["bundleId"] == bundle["id"]
    listed = collect(client, "/work/api/files", taskId=artifact_task_["id"])
    assert [f["id"] for f in listed] == [registered["id"]]

    done = ok(complete(client, file_task["id"]))
    assert done["status"] == "done"
    [file_proof] = done["completionProof"]
    assert file_proof["kind"] == "file"
    assert file_proof["satisfiedBy"] == {"fileId": uploaded["id"]}

    # A file record is not an artifact: the artifact-gated task stays blocked.
    assert proof(client, artifact_task_["id"])["canComplete"] is False
    assert_blocked(client, artifact_task_, "Approved transcript")
    assert collect(client, "/work/api/artifacts", taskId=artifact_task_["id"]) == []

    transcript = register(
        client,
        type="transcript",
        title="Episode 42 transcript",
        storageUri="https://www.dropbox.com/scl/fi/t42/transcript.docx?rlkey=abc&dl=0",
        fileId=registered["id"],
        taskId=artifact_task_["id"],
        status="needs-review",
    )
    assert_blocked(client, artifact_task_, "Approved transcript")
    approve(client, transcript["id"])
    assert_completed_by_artifact(client, artifact_task_["id"], transcript["id"])


def test_unknown_relationship_ids_are_404(client: httpx.Client) -> None:
    missing = "tsk_does_not_exist"
    problem(
        client.post(
            "/work/api/artifacts",
            json={
                "type": "report",
                "title": "Orphan",
                "storageUri": "https://example.com/r.pdf",
                "taskId": missing,
            },
        ),
        404,
    )
    artifact = register(client)
    problem(
        client.post(f"/work/api/artifacts/{artifact['id']}/attach", json={"taskId": missing}), 404
    )
    assert get_artifact(client, artifact["id"])["taskId"] is None
    problem(
        client.post(
            "/work/api/files",
            files={"file": ("x.txt", b"x", "text/plain")},
            data={"taskId": missing},
        ),
        404,
    )


# ------------------------------------------------------ scenario: regression of proof gates


GateCase = tuple[JsonDict, str, JsonDict, str]
GATES: dict[str, GateCase] = {
    # task fields, label named in the 409, evidence sent alongside status done, proof kind
    "requiredLinkName": (
        {"requiredLinkName": "Luma event page"},
        "Luma event page",
        {"link": "https://lu.ma/episode-42"},
        "link",
    ),
    "url": (
        {"proofRequirement": {"type": "url", "label": "Recording URL"}},
        "Recording URL",
        {"link": "https://www.youtube.com/watch?v=ep42"},
        "url",
    ),
    "comment": (
        {"proofRequirement": {"type": "comment", "label": "Guest confirmation"}},
        "Guest confirmation",
        {"comment": "Guest confirmed by email"},
        "comment",
    ),
    "external-status": (
        {"proofRequirement": {"type": "external-status", "label": "Spotify status"}},
        "Spotify status",
        {"externalStatus": "published"},
        "external-status",
    ),
}


@pytest.mark.parametrize("gate", list(GATES))
def test_proof_gates_block_until_evidence_arrives_with_the_completion(
    client: httpx.Client, gate: str
) -> None:
    fields, label, evidence, kind = GATES[gate]
    task = create_task(client, **fields)
    assert_blocked(client, task, label)

    # Evidence of another kind does not help, and a blocked PATCH changes nothing.
    wrong = {"comment": "unrelated note"} if "comment" not in evidence else {"link": "https://x.io"}
    problem(complete(client, task["id"], **wrong), 409)
    unchanged = get_task(client, task["id"])
    for name in wrong:
        assert unchanged[name] is None
    assert unchanged["version"] == task["version"]

    done = ok(complete(client, task["id"], **evidence))
    assert done["status"] == "done"
    assert done["completedBy"] == me(client)["id"]
    [verdict] = done["completionProof"]
    assert verdict["kind"] == kind
    assert verdict["satisfied"] is True
    assert verdict["satisfiedBy"] == evidence
    for name, value in evidence.items():
        assert done[name] == value


def test_file_proof_requirement_needs_a_file_record(client: httpx.Client) -> None:
    task = create_task(client, proofRequirement={"type": "file", "label": "Signed contract"})
    assert_blocked(client, task, "Signed contract")
    registered = ok(
        client.post(
            "/work/api/files/register",
            json={
                "taskId": task["id"],
                "filename": "contract.pdf",
                "storageUri": "https://drive.google.com/file/d/1Contract/view",
            },
        ),
        201,
    )
    done = ok(complete(client, task["id"]))
    assert done["completionProof"][0]["satisfiedBy"] == {"fileId": registered["id"]}


def test_every_missing_requirement_is_named(client: httpx.Client) -> None:
    task = create_task(
        client,
        requiredLinkName="Luma event page",
        requiresFile=True,
        proofRequirement={"type": "artifact", "label": "Show notes"},
    )
    body = assert_blocked(client, task, "Luma event page", "Show notes")
    assert "file" in body["detail"].lower()


@pytest.mark.parametrize("kind", ["artifact", "url", "file", "comment", "external-status"])
def test_required_false_switches_the_requirement_off(client: httpx.Client, kind: str) -> None:
    task = create_task(client, proofRequirement={"type": kind, "required": False})
    assert proof(client, task["id"]) == {"canComplete": True, "requirements": []}
    done = ok(complete(client, task["id"]))
    assert done["status"] == "done"
    assert done["completionProof"] == []


def test_artifact_type_narrows_the_requirement(client: httpx.Client) -> None:
    bundle, task = artifact_task(client, label="Episode transcript", artifactType="transcript")
    assert task["proofRequirement"]["artifactType"] == "transcript"
    report = register(client, type="report", status="approved", taskId=task["id"])
    bundle_report = register(client, type="report", status="approved", bundleId=bundle["id"])
    assert refs(get_task(client, task["id"]))[report["id"]]["status"] == "approved"
    assert proof(client, task["id"])["canComplete"] is False
    body = assert_blocked(client, task, "Episode transcript")
    assert "transcript" in body["detail"]
    assert bundle_report["id"] not in body["detail"]

    transcript = register(client, type="transcript", status="approved", bundleId=bundle["id"])
    assert_completed_by_artifact(client, task["id"], transcript["id"])


def test_non_strict_json_types_are_refused(client: httpx.Client) -> None:
    problem(client.post("/work/api/tasks", json={"description": "x", "date": 20250101}), 422)
    problem(
        client.post(
            "/work/api/tasks",
            json={"description": "x", "date": "2025-01-01", "requiresFile": "true"},
        ),
        422,
    )
    problem(
        client.post(
            "/work/api/artifacts",
            json={"type": "podcast", "title": "x", "storageUri": "https://example.com/a"},
        ),
        422,
    )


# ---------------------------------------------- scenario: missing-evidence notification


def test_blocked_completion_notifies_missing_evidence(client: httpx.Client) -> None:
    admin = me(client)
    _, task = artifact_task(client, label="Episode artwork")
    assert not [n for n in collect(client, "/work/api/notifications") if n["taskId"] == task["id"]]
    assert_blocked(client, task, "Episode artwork")

    notes = [n for n in collect(client, "/work/api/notifications") if n["taskId"] == task["id"]]
    assert len(notes) == 1
    [note] = notes
    assert note["type"] == "missing-evidence"
    assert note["userId"] == admin["id"]
    assert note["bundleId"] == task["bundleId"]
    assert note["dismissed"] is False
    assert "Episode artwork" in note["message"]


# --------------------------------------------------------------------------- scenario: audit


def test_audit_history_of_artifact_review_and_task_completion(client: httpx.Client) -> None:
    admin = me(client)
    _, task = artifact_task(client)
    artifact = register(client, status="needs-review")
    attach(client, artifact["id"], taskId=task["id"])
    approve(client, artifact["id"])

    events = collect(
        client, "/work/api/audit-events", entityType="artifact", entityId=artifact["id"]
    )
    assert [e["action"] for e in events] == ["create", "attach", "approve"]
    for event in events:
        assert event["actorId"] == admin["id"]
        assert event["entityType"] == "artifact"
        assert event["entityId"] == artifact["id"]
        assert event["createdAt"].endswith("Z")
    create, attached, approved = events
    assert create["before"] is None
    assert create["after"]["status"] == "needs-review"
    assert attached["before"]["taskId"] is None
    assert attached["after"]["taskId"] == task["id"]
    assert approved["before"]["status"] == "needs-review"
    assert approved["after"]["status"] == "approved"
    assert approved["after"]["reviewedBy"] == admin["id"]

    assert_completed_by_artifact(client, task["id"], artifact["id"])
    task_events = collect(client, "/work/api/audit-events", entityType="task", entityId=task["id"])
    completes = [e for e in task_events if e["action"] == "complete"]
    assert len(completes) == 1
    [done] = completes
    assert done["actorId"] == admin["id"]
    assert done["before"]["status"] == "todo"
    assert done["after"]["status"] == "done"
    assert done["after"]["completionProof"][0]["satisfiedBy"]["artifactId"] == artifact["id"]


def test_blocked_completion_writes_no_task_event(client: httpx.Client) -> None:
    _, task = artifact_task(client)
    before = collect(client, "/work/api/audit-events", entityType="task", entityId=task["id"])
    assert_blocked(client, task, "Published episode page")
    after = collect(client, "/work/api/audit-events", entityType="task", entityId=task["id"])
    assert after == before


# ------------------------------------------------------------------- scenario: attach moves


def test_attaching_elsewhere_moves_the_artifact_and_its_ref(client: httpx.Client) -> None:
    bundle_one, task_one = artifact_task(client)
    bundle_two, task_two = artifact_task(client)
    artifact = register(client, status="approved")

    attach(client, artifact["id"], taskId=task_one["id"])
    assert artifact["id"] in refs(get_task(client, task_one["id"]))
    assert proof(client, task_one["id"])["canComplete"] is True

    moved = attach(client, artifact["id"], taskId=task_two["id"])
    assert moved["taskId"] == task_two["id"]
    assert artifact["id"] not in refs(get_task(client, task_one["id"]))
    assert refs(get_task(client, task_two["id"]))[artifact["id"]]["status"] == "approved"
    assert collect(client, "/work/api/artifacts", taskId=task_one["id"]) == []
    assert [a["id"] for a in collect(client, "/work/api/artifacts", taskId=task_two["id"])] == [
        artifact["id"]
    ]
    assert proof(client, task_one["id"])["canComplete"] is False
    assert_blocked(client, task_one, "Published episode page")

    # Bundles move the same way.
    attach(client, artifact["id"], bundleId=bundle_one["id"])
    assert artifact["id"] in refs(ok(client.get(f"/work/api/bundles/{bundle_one['id']}")))
    attach(client, artifact["id"], bundleId=bundle_two["id"])
    assert artifact["id"] not in refs(ok(client.get(f"/work/api/bundles/{bundle_one['id']}")))
    assert artifact["id"] in refs(ok(client.get(f"/work/api/bundles/{bundle_two['id']}")))
    assert_blocked(client, task_one, "Published episode page")
    assert_completed_by_artifact(client, task_two["id"], artifact["id"])


def test_attach_needs_a_target(client: httpx.Client) -> None:
    artifact = register(client)
    problem(client.post(f"/work/api/artifacts/{artifact['id']}/attach", json={}), 422)
    assert get_artifact(client, artifact["id"])["version"] == artifact["version"]


# --------------------------------------------------------------------- scenario: If-Match


def test_stale_if_match_on_a_task_is_409_and_changes_nothing(client: httpx.Client) -> None:
    task = create_task(client, proofRequirement={"type": "comment"})
    version = task["version"]
    first = client.patch(
        f"/work/api/tasks/{task['id']}",
        json={"comment": "first"},
        headers={"If-Match": f'"{version}"'},
    )
    updated = ok(first)
    assert updated["version"] == version + 1
    assert first.headers["etag"] == f'"{version + 1}"'

    stale = client.patch(
        f"/work/api/tasks/{task['id']}",
        json={"comment": "second", "status": "done"},
        headers={"If-Match": str(version)},
    )
    assert problem(stale, 409)["type"].endswith("version-mismatch")
    current = get_task(client, task["id"])
    assert current["comment"] == "first"
    assert current["status"] == "todo"
    assert current["version"] == version + 1

    stale_body = client.patch(
        f"/work/api/tasks/{task['id']}", json={"comment": "third", "expectedVersion": version}
    )
    problem(stale_body, 409)
    assert get_task(client, task["id"])["comment"] == "first"

    fresh = client.patch(
        f"/work/api/tasks/{task['id']}",
        json={"status": "done"},
        headers={"If-Match": str(version + 1)},
    )
    assert ok(fresh)["status"] == "done"


def test_stale_if_match_on_an_artifact_review_is_409(client: httpx.Client) -> None:
    artifact = register(client, status="needs-review")
    edited = ok(
        client.patch(
            f"/work/api/artifacts/{artifact['id']}",
            json={"title": "Renamed"},
            headers={"If-Match": str(artifact["version"])},
        )
    )
    assert edited["version"] == artifact["version"] + 1
    stale = client.post(
        f"/work/api/artifacts/{artifact['id']}/approve",
        headers={"If-Match": str(artifact["version"])},
    )
    problem(stale, 409)
    current = get_artifact(client, artifact["id"])
    assert current["status"] == "needs-review"
    assert current["title"] == "Renamed"
    assert current["version"] == edited["version"]


# ------------------------------------------------------------------------------ roles


def test_operator_completes_and_viewer_cannot(
    api: httpx.Client, client_as: Callable[[Role], httpx.Client]
) -> None:
    operator, viewer = client_as(Role.OPERATOR), client_as(Role.VIEWER)
    _, task = artifact_task(operator)
    artifact = register(operator, status="needs-review", taskId=task["id"])

    problem(viewer.post(f"/work/api/artifacts/{artifact['id']}/approve"), 403)
    problem(complete(viewer, task["id"]), 403)
    assert get_artifact(viewer, artifact["id"])["status"] == "needs-review"
    assert refs(get_task(viewer, task["id"]))[artifact["id"]]["status"] == "needs-review"

    approve(operator, artifact["id"])
    done = assert_completed_by_artifact(operator, task["id"], artifact["id"])
    assert done["completedBy"] == me(operator)["id"] != me(api)["id"]


# ------------------------------------------------------------- the assistant (CONTRACT §7)

Mint = Callable[[Role], str]
"""A new user of the role, with an API token: the token's secret."""


def mint_in_process(workspace: Workspace) -> Mint:
    def mint(role: Role) -> str:
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
        people.add_user(workspace, people.SYSTEM, email, role.value.title(), role, PASSWORD)
        return auth.create_token(workspace, people.SYSTEM, email, f"{role.value} script")[1]

    return mint


@pytest.fixture(params=["api", pytest.param("served_api", marks=pytest.mark.slow)])
def client_and_mint(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Mint]]:
    """The admin's portal client and a way to make users with tokens on the same store."""
    client: httpx.Client = request.getfixturevalue(request.param)
    if request.param == "api":
        yield client, mint_in_process(request.getfixturevalue("workspace"))
        return
    workspace = runtime.build_workspace(make_settings(request.getfixturevalue("served").home))
    yield client, mint_in_process(workspace)
    workspace.store.close()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assistant_outputs_wait_for_an_operator(client: httpx.Client, mint: Mint) -> None:
    """An assistant's token uploads a document and registers it as needs-review, submits
    and attaches a draft; it can neither register one as approved, nor approve, reject,
    archive or supersede, nor complete or change the task: 403, nothing changed. An
    operator then approves and completes."""
    assistant, operator = bearer(mint(Role.ASSISTANT)), bearer(mint(Role.OPERATOR))
    who = ok(client.get("/work/api/me", headers=assistant))
    assert who["role"] == "assistant"
    bundle, task = artifact_task(client, "Approved prep document", artifactType="podcast-doc")
    prep = {"type": "podcast-doc", "title": unique("Guest prep"), "taskId": task["id"]}

    payload = b"# Guest prep\n" + uuid.uuid4().hex.encode()
    upload = client.post(
        "/work/api/files",
        headers=assistant,
        files={"file": ("prep.md", payload, "text/markdown")},
        data={"taskId": task["id"]},
    )
    file = ok(upload, 201)
    owned = {"storageUri": file["storageUri"], "fileId": file["id"]}
    refused = client.post(
        "/work/api/artifacts", headers=assistant, json={**prep, **owned, "status": "approved"}
    )
    assert "approved" in problem(refused, 403)["detail"]
    assert collect(client, "/work/api/artifacts", taskId=task["id"]) == []

    created = client.post(
        "/work/api/artifacts",
        headers=assistant,
        json={**prep, **owned, "status": "needs-review", "sourceType": "assistant-output"},
    )
    artifact = ok(created, 201)
    assert (artifact["status"], artifact["createdBy"]) == ("needs-review", who["id"])
    assert artifact["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    path = f"/work/api/artifacts/{artifact['id']}"

    renamed = ok(client.patch(path, headers=assistant, json={"title": prep["title"] + " v2"}))
    for decision, body in (
        ("approve", {}),
        ("reject", {"reason": "not mine to judge"}),
        ("archive", {}),
        ("supersede", {"supersededBy": artifact["id"]}),
    ):
        problem(client.post(f"{path}/{decision}", headers=assistant, json=body), 403)
    for status in ("approved", "rejected", "archived", "superseded"):
        problem(client.patch(path, headers=assistant, json={"status": status}), 403)
    task_path = f"/work/api/tasks/{task['id']}"
    problem(client.patch(task_path, headers=assistant, json={"status": "done"}), 403)
    problem(client.patch(task_path, headers=assistant, json={"comment": "x"}), 403)
    problem(client.patch(f"/work/api/bundles/{bundle['id']}", headers=assistant, json={}), 403)
    problem(client.get("/work/api/tokens", headers=assistant), 403)
    assert get_artifact(client, artifact["id"]) == renamed
    assert renamed["status"] == "needs-review"
    assert_blocked(client, task, "Approved prep document")

    draft = ok(
        client.post(
            "/work/api/artifacts",
            headers=assistant,
            json={**prep, "title": unique("Show notes"), "storageUri": "https://example.com/n"},
        ),
        201,
    )
    assert draft["status"] == "draft"
    attached = client.post(
        f"/work/api/artifacts/{draft['id']}/attach",
        headers=assistant,
        json={"bundleId": bundle["id"]},
    )
    assert ok(attached)["bundleId"] == bundle["id"]
    submitted = client.post(f"/work/api/artifacts/{draft['id']}/submit", headers=assistant)
    assert ok(submitted)["status"] == "needs-review"

    approved = ok(client.post(f"{path}/approve", headers=operator))
    assert approved["reviewedBy"] == ok(client.get("/work/api/me", headers=operator))["id"]
    assert approved["createdBy"] == who["id"]
    done = ok(client.patch(task_path, headers=operator, json={"status": "done"}))
    assert done["status"] == "done"
    assert done["completedBy"] == approved["reviewedBy"]
    events = collect(
        client, "/work/api/audit-events", entityType="artifact", entityId=artifact["id"]
    )
    assert [(e["action"], e["actorId"]) for e in events][:1] == [("create", who["id"])]
    assert ("approve", approved["reviewedBy"]) in [(e["action"], e["actorId"]) for e in events]


def test_an_assistant_registers_and_submits_but_never_decides(
    client_and_mint: tuple[httpx.Client, Mint],
) -> None:
    assistant_outputs_wait_for_an_operator(*client_and_mint)
