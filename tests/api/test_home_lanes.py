"""The lists behind Home's review-integrity lanes, on SQLite and DynamoDB.

- "Evidence expiring": `GET /api/artifacts?expiringWithinDays=N`, the approved artifacts
  whose `validUntil` is from today to today + N, by `validUntil` then id, paged by a
  cursor that carries the day; Home's count of it exact (an index count per day); on
  DynamoDB through the (`validUntil`, `status`) index (one Query per day, never a Scan,
  never the whole `approved` partition).
- "Proof withdrawn": `GET /api/tasks?proofWithdrawn=true` as a browser sends it (a query
  string, so the boolean arrives as text)."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from dataops.domain.clock import today
from dataops.domain.enums import ArtifactStatus
from dataops.services.artifact_reads import expiring_artifacts, expiring_count
from dataops.services.context import Workspace
from dataops.services.overview import EXPIRING_DAYS
from dataops.store.dynamodb import DynamoStore
from dataops.store.port import PageRequest
from tests.conftest import day
from tests.contract import records as r
from tests.contract.dynamo import queries_and_scans

ART = "/work/api/artifacts"


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

    # `limit` cuts the list, earliest first; the cursor goes on from there.
    body = expiring(client, expiringWithinDays="14", limit="3")
    assert [(a["validUntil"], a["id"]) for a in body["items"]] == expected[:3]
    assert body["nextCursor"] is not None
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
    ],
    ids=["with-status", "with-task"],
)
def test_expiring_takes_no_other_filter(client: TestClient, params: dict[str, str]) -> None:
    response = client.get(ART, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["expiringWithinDays"]


def lane_cursor(values: Any) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        lane_cursor(["art_1"]),  # a cursor of the plain artifact list
        lane_cursor(["tomorrow", "WyJhcnRfMSJd"]),
        lane_cursor(["2026-1-07", "WyJhcnRfMSJd"]),
        lane_cursor([day(1), ""]),
        lane_cursor([day(1), "!!not-a-cursor!!"]),
        lane_cursor([day(1), 7]),
    ],
    ids=["garbage", "other-list", "not-a-day", "loose-day", "empty", "bad-inner", "number"],
)
def test_a_bad_expiring_cursor_is_a_problem(client: TestClient, cursor: str) -> None:
    register(client, "soon", day(1), "approved")
    response = client.get(ART, params={"expiringWithinDays": "7", "cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


def page_through(client: TestClient, limit: int, within: int = 14) -> list[tuple[str, str]]:
    """Every page of the lane, followed by its cursor: (validUntil, id) in order."""
    listed: list[tuple[str, str]] = []
    params = {"expiringWithinDays": str(within), "limit": str(limit)}
    for _ in range(100):
        body = expiring(client, **params)
        assert len(body["items"]) <= limit
        assert all(a["status"] == "approved" for a in body["items"])
        listed += [(a["validUntil"], a["id"]) for a in body["items"]]
        if body["nextCursor"] is None:
            return listed
        assert body["items"], "a page with a cursor but nothing on it"
        params["cursor"] = body["nextCursor"]
    raise AssertionError("the lane did not end")


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_paging_the_expiring_lane_gives_every_artifact_once_in_order(
    client: TestClient, limit: int
) -> None:
    """Across days (several on one day, gaps between), with artifacts of other statuses
    and outside the window among them; Home's count is the lane's length."""
    offsets = [0, 0, 0, 1, 3, 3, 7, 13, 14, 14]
    approved = [
        (day(offset), register(client, f"e{n}", day(offset), "approved"))
        for n, offset in enumerate(offsets)
    ]
    for n, offset in enumerate([0, 3, 14]):
        register(client, f"pending-{n}", day(offset), "needs-review")
    register(client, "expired", day(-1), "approved")
    register(client, "later", day(15), "approved")

    assert page_through(client, limit) == sorted(approved)
    overview = client.get("/work/api/overview", params={"limit": str(limit)})
    assert overview.status_code == 200, overview.text
    lane = overview.json()["expiring"]
    assert lane["count"] == len(approved)
    assert [(a["validUntil"], a["id"]) for a in lane["items"]] == sorted(approved)[:limit]
    assert (lane["nextCursor"] is None) == (limit >= len(approved))
    if lane["nextCursor"]:  # the overview's cursor pages on through the lane's route
        params = {"expiringWithinDays": "14", "limit": "50", "cursor": lane["nextCursor"]}
        rest = expiring(client, **params)["items"]
        assert [(a["validUntil"], a["id"]) for a in rest] == sorted(approved)[limit:]


def test_a_cursor_whose_day_has_passed_starts_at_today(client: TestClient) -> None:
    """Everything a cursor made on an earlier day had passed has expired since."""
    today_id = register(client, "today", day(0), "approved")
    old = lane_cursor([day(-2), lane_cursor(["zzz"])])
    body = expiring(client, expiringWithinDays="7", cursor=old)
    assert [a["id"] for a in body["items"]] == [today_id]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_expiring_count_is_exact_beyond_a_thousand(workspace_on: Workspace) -> None:
    """Home's count reads index counts, not the records (it used to stop at 1000). (SQLite
    only: 1,100 artifacts through moto take minutes; the paging test checks the count on
    both stores, and the DynamoDB index test that it is one Select=COUNT query a day.)"""
    made = 0
    for chunk in range(44):
        with workspace_on.store.unit_of_work(write=True) as uow:
            for n in range(25):
                status = ArtifactStatus.APPROVED if n % 5 else ArtifactStatus.REJECTED
                artifact = r.artifact(f"art_{chunk:02d}_{n:03d}", status=status)
                artifact.valid_until = day((chunk + n) % 15)
                uow.artifacts.add(artifact)
                made += status == ArtifactStatus.APPROVED
            uow.commit()
    assert made == 880
    with workspace_on.store.unit_of_work(write=True) as uow:
        for n in range(11):
            artifact = r.artifact(f"art_late_{n:02d}", status=ArtifactStatus.APPROVED)
            artifact.valid_until = day(n)
            uow.artifacts.add(artifact)
        uow.commit()
    with workspace_on.store.unit_of_work() as uow:
        assert expiring_count(uow, EXPIRING_DAYS) == 891
    first = expiring_artifacts(workspace_on, EXPIRING_DAYS, PageRequest(limit=500))
    assert len(first.items) == 500
    assert first.next_cursor is not None


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
def test_expiring_on_dynamodb_queries_the_valid_until_status_index(
    client: TestClient, workspace_on: Workspace
) -> None:
    """(DynamoDB only: which index a query takes is that store's question.)"""
    register(client, "soon", day(1), "approved")
    register(client, "later", day(2), "approved")
    store = cast(DynamoStore, workspace_on.store)
    with queries_and_scans(store) as (queries, scans):
        body = expiring(client, expiringWithinDays="5", limit="1")
        params = {"expiringWithinDays": "5", "limit": "1", "cursor": body["nextCursor"]}
        rest = expiring(client, **params)
        lane_queries = list(queries)
        overview = client.get("/work/api/overview").json()["expiring"]
    assert [a["title"] for a in body["items"] + rest["items"]] == ["soon", "later"]
    assert rest["nextCursor"] is None
    assert overview["count"] == 2
    assert scans == []
    # The first page reads today to "later"'s day (the record after its last), the
    # second from "soon"'s day, after it, to the window's end; each query one day's
    # partition of the index.
    assert len(lane_queries) == 3 + 5
    assert {q["IndexName"] for q in lane_queries} == {"by-valid-until-status"}
    assert all("FilterExpression" not in q for q in lane_queries)
    counts = [q for q in queries[len(lane_queries) :] if q.get("Select") == "COUNT"]
    counted = [q for q in counts if q.get("IndexName") == "by-valid-until-status"]
    assert len(counted) == EXPIRING_DAYS + 1  # Home: one index count per day


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
