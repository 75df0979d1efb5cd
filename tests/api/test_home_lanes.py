"""The lists behind Home's review-integrity lanes, on SQLite and DynamoDB.

- "Evidence expiring": `GET /api/artifacts?expiringWithinDays=N`, the approved artifacts
  whose `validUntil` is from today to today + N, by `validUntil` then id, at most
  `limit`; on DynamoDB through the `valid_until` index (one Query per day, never a Scan,
  never the whole `approved` partition).
- "Proof withdrawn": `GET /api/tasks?proofWithdrawn=true` as a browser sends it (a query
  string, so the boolean arrives as text)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.clock import today
from dataops.services.context import Workspace
from dataops.store.dynamodb import DynamoStore
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login

ART = "/work/api/artifacts"


@pytest.fixture
def workspace_on(any_workspace: Workspace) -> Workspace:
    return any_workspace


@pytest.fixture
def client(workspace_on: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(workspace_on)) as test_client:
        login(test_client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield test_client


def day(offset: int) -> str:
    return (date.fromisoformat(today()) + timedelta(days=offset)).isoformat()


def register(client: TestClient, title: str, valid_until: str | None, status: str) -> str:
    body: dict[str, Any] = {
        "type": "report",
        "title": title,
        "storageUri": f"https://example.com/{title}",
        "status": status,
    }
    if valid_until is not None:
        body["validUntil"] = valid_until
    response = client.post(ART, json=body)
    assert response.status_code == 201, response.text
    artifact_id: str = response.json()["id"]
    return artifact_id


def expiring(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(ART, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_expiring_lists_approved_evidence_in_the_window_by_date_then_id(
    client: TestClient,
) -> None:
    in_window = {
        "today-a": register(client, "today-a", day(0), "approved"),
        "today-b": register(client, "today-b", day(0), "approved"),
        "in-3": register(client, "in-3", day(3), "approved"),
        "in-14": register(client, "in-14", day(14), "approved"),
    }
    register(client, "yesterday", day(-1), "approved")  # already expired
    register(client, "in-15", day(15), "approved")  # beyond the window
    register(client, "in-2-review", day(2), "needs-review")  # not approved: not evidence
    register(client, "in-2-draft", day(2), "draft")
    register(client, "no-date", None, "approved")  # never expires

    body = expiring(client, expiringWithinDays="14")
    listed = [(a["validUntil"], a["id"]) for a in body["items"]]
    offsets = {"today-a": 0, "today-b": 0, "in-3": 3, "in-14": 14}
    expected = sorted((day(offsets[title]), in_window[title]) for title in in_window)
    assert listed == expected
    assert all(a["status"] == "approved" for a in body["items"])
    assert body["nextCursor"] is None

    # `limit` cuts the list, earliest first; there is no next page.
    body = expiring(client, expiringWithinDays="14", limit="3")
    assert [(a["validUntil"], a["id"]) for a in body["items"]] == expected[:3]
    assert body["nextCursor"] is None
    # A shorter window.
    body = expiring(client, expiringWithinDays="2")
    assert [(a["validUntil"], a["id"]) for a in body["items"]] == expected[:2]


def test_a_day_with_many_unapproved_artifacts_is_paged_through(client: TestClient) -> None:
    """More unapproved artifacts on one day than `limit`: the approved one is still found."""
    for n in range(5):
        register(client, f"pending-{n}", day(1), "needs-review")
    approved = register(client, "approved", day(1), "approved")
    body = expiring(client, expiringWithinDays="1", limit="2")
    assert [a["id"] for a in body["items"]] == [approved]


@pytest.mark.parametrize(
    "params",
    [
        {"expiringWithinDays": "7", "status": "approved"},
        {"expiringWithinDays": "7", "taskId": "tsk_x"},
        {"expiringWithinDays": "7", "cursor": "abc"},
    ],
    ids=["with-status", "with-task", "with-cursor"],
)
def test_expiring_takes_no_other_filter(client: TestClient, params: dict[str, str]) -> None:
    response = client.get(ART, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["expiringWithinDays"]


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
def test_expiring_on_dynamodb_queries_the_valid_until_index(
    client: TestClient, workspace_on: Workspace
) -> None:
    """(DynamoDB only: which index a query takes is that store's question.)"""
    register(client, "soon", day(1), "approved")
    store = cast(DynamoStore, workspace_on.store)
    queries: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []

    def record_query(params: dict[str, Any], **_: Any) -> None:
        queries.append(params)

    def record_scan(params: dict[str, Any], **_: Any) -> None:
        scans.append(params)

    events = store.client.meta.events
    events.register("before-parameter-build.dynamodb.Query", record_query)
    events.register("before-parameter-build.dynamodb.Scan", record_scan)
    try:
        body = expiring(client, expiringWithinDays="5")
    finally:
        events.unregister("before-parameter-build.dynamodb.Query", record_query)
        events.unregister("before-parameter-build.dynamodb.Scan", record_scan)
    assert [a["title"] for a in body["items"]] == ["soon"]
    assert scans == []
    by_valid_until = [q for q in queries if q.get("IndexName") == "by-valid-until"]
    assert len(by_valid_until) == 6  # today and the 5 days after it
    assert all("FilterExpression" not in q for q in by_valid_until)


def test_proof_withdrawn_true_lists_the_done_tasks_whose_proof_was_withdrawn(
    client: TestClient,
) -> None:
    def task(description: str) -> str:
        response = client.post(
            "/work/api/tasks",
            json={
                "description": description,
                "date": today(),
                "proofRequirement": {"type": "artifact", "label": "Report"},
            },
        )
        assert response.status_code == 201, response.text
        task_id: str = response.json()["id"]
        return task_id

    withdrawn, holding = task("withdrawn"), task("holding")
    for task_id in (withdrawn, holding):
        response = client.post(
            ART,
            json={
                "type": "report",
                "title": f"report of {task_id}",
                "storageUri": f"https://example.com/{task_id}",
                "status": "approved",
                "taskId": task_id,
            },
        )
        assert response.status_code == 201, response.text
        if task_id == withdrawn:
            cited = response.json()["id"]
        done = client.patch(f"/work/api/tasks/{task_id}", json={"status": "done"})
        assert done.status_code == 200, done.text
    rejected = client.post(f"{ART}/{cited}/reject", json={"reason": "wrong quarter"})
    assert rejected.status_code == 200, rejected.text

    response = client.get("/work/api/tasks", params={"proofWithdrawn": "true"})
    assert response.status_code == 200, response.text
    (listed,) = response.json()["items"]
    assert listed["id"] == withdrawn
    assert listed["proofWithdrawn"] is True
    assert listed["proofWithdrawnReasons"] == ["Report: 'report of " + withdrawn + "' was rejected"]
    refused = client.get("/work/api/tasks", params={"proofWithdrawn": "perhaps"})
    assert refused.status_code == 422, refused.text
