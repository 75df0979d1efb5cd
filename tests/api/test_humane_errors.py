"""Error texts a person reads (issue 19 item 5): the problem's `detail` names fields in
words, says each thing once, and never shows internal field names; `errors[].field` keeps
the machine names for code."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _task(api: TestClient, **extra: Any) -> dict[str, Any]:
    bundle = api.post("/work/api/bundles", json={"title": "Episode 7"})
    assert bundle.status_code == 201, bundle.text
    body = {
        "bundleId": bundle.json()["id"],
        "description": "Record",
        "date": "2026-12-01",
        **extra,
    }
    response = api.post("/work/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_missing_external_status_is_named_in_words(api: TestClient) -> None:
    task = _task(api, proofRequirement={"type": "external-status"})
    refused = api.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "External status is empty" in detail
    assert "externalStatus" not in detail
    assert detail.count("External status") == 1  # no "External status (External status …)"
    proof = api.get(f"/work/api/tasks/{task['id']}/proof").json()
    assert proof["requirements"][0]["reason"] == "External status is empty"


def test_a_schema_error_reads_as_a_sentence_and_keeps_the_machine_field(api: TestClient) -> None:
    task = _task(api)
    response = api.patch(f"/work/api/tasks/{task['id']}", json={"followUpAt": 7})
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["followUpAt"]
    assert body["detail"].startswith("Follow up at ")
    assert "followUpAt" not in body["detail"]


def test_a_missing_field_says_it_is_required(api: TestClient) -> None:
    response = api.post("/work/api/bundles", json={})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "Title is required"
    assert [e["field"] for e in body["errors"]] == ["title"]


def test_the_same_reason_for_two_fields_is_said_once(api: TestClient) -> None:
    artifact = api.post(
        "/work/api/artifacts",
        json={"type": "report", "title": "Q1", "storageUri": "https://example.com/q1.pdf"},
    )
    assert artifact.status_code == 201, artifact.text
    response = api.post(f"/work/api/artifacts/{artifact.json()['id']}/attach", json={})
    assert response.status_code == 422, response.text
    body = response.json()
    assert {e["field"] for e in body["errors"]} == {"taskId", "bundleId"}
    assert body["detail"] == "A task or a bundle to attach to is required"
