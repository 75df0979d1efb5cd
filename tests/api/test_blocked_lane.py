"""The Blocked lane's stored verdict (issue 19), on SQLite and DynamoDB.

A todo task's `proofBlocked` (its proof is not complete by `domain.proof.evaluate`) is
stored with the task and indexed (`blocked_key`), so `GET /api/tasks?blocked=true` is a
range read of that index and its `count` an index count, exact at any size. These tests
check that the stored verdict follows every kind of change the proof rule reads — the
task's own edits, an artifact's review, its attach and detach, a file added to the task,
evidence expiring (the sweep) — that the tasks stored before the index existed are judged
once, and that DynamoDB answers the lane with Queries of `by-blocked`, never a Scan.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from dataops.domain.clock import new_id, now_ts
from dataops.domain.enums import ProofType
from dataops.domain.models import ProofRequirement, Task
from dataops.services import proofs
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from dataops.services.settings import SETTINGS_ID
from dataops.store.dynamodb import DynamoStore
from tests.conftest import day
from tests.contract.dynamo import queries_and_scans

API = "/work/api"
COMMENT = {"proofRequirement": {"type": "comment", "label": "Notes"}}
ARTIFACT = {"proofRequirement": {"type": "artifact", "label": "Report"}}


@pytest.fixture
def ws(any_workspace: Workspace) -> Workspace:
    return any_workspace


def post(client: TestClient, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body)
    assert response.status_code in (200, 201), response.text
    found: dict[str, Any] = response.json()
    return found


def patch(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"{API}{path}", json=body)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def task(client: TestClient, description: str, **fields: Any) -> str:
    made = post(client, "/tasks", {"description": description, "date": day(0), **fields})
    return cast(str, made["id"])


def artifact(client: TestClient, title: str, **fields: Any) -> str:
    body = {
        "type": "report",
        "title": title,
        "storageUri": f"https://example.com/{title.replace(' ', '-')}",
    }
    return cast(str, post(client, "/artifacts", {**body, **fields})["id"])


def lane(client: TestClient, limit: int = 50) -> tuple[list[str], int]:
    """Every task ID of the Blocked lane, page by page, and the count each page gave."""
    ids: list[str] = []
    counts = set()
    query: dict[str, str] = {"blocked": "true", "count": "true", "limit": str(limit)}
    while True:
        response = client.get(f"{API}/tasks", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [t["id"] for t in body["items"]]
        counts.add(body["count"])
        if body["nextCursor"] is None:
            assert len(counts) == 1, counts
            return ids, counts.pop()
        query["cursor"] = body["nextCursor"]


def stored(ws: Workspace, task_id: str) -> Task:
    with ws.store.unit_of_work() as uow:
        found = uow.tasks.get(task_id)
    assert found is not None
    return found


def assert_blocked(client: TestClient, ws: Workspace, task_id: str, blocked: bool) -> None:
    """The stored key, the lane and the proof route all say the same."""
    assert (stored(ws, task_id).blocked_key == "true") is blocked
    ids, count = lane(client)
    assert (task_id in ids) is blocked
    assert count == len(ids)
    proof = client.get(f"{API}/tasks/{task_id}/proof").json()
    assert proof["canComplete"] is not blocked


def test_the_count_is_exact_past_any_bound(client: TestClient, ws: Workspace) -> None:
    """310 blocked tasks (more than the 300 the lane used to count by judging each) and
    some that are not: the count is exact, and paging lists each blocked task once."""

    notes = ProofRequirement(ProofType.COMMENT, "Notes")
    made: dict[str, list[str]] = {"blocked": [], "other": []}
    with ws.store.unit_of_work(write=True) as uow:  # one transaction (cheap), as a
        for n in range(316):  # template instance stores its tasks: stamped, then added
            stamp = now_ts()
            offset, comment = (-(n % 3), None) if n < 310 else (n - 313, "given")
            new = Task(new_id("tsk"), f"task {n}", day(offset), stamp, stamp, comment=comment)
            new.proof_requirement = notes
            proofs.stamp_open(uow, new, None, task_exists=False)
            uow.tasks.add(new)
            made["blocked" if n < 310 and new.proof_blocked else "other"].append(new.id)
        uow.commit()
    blocked = made["blocked"]
    assert len(blocked) == 310  # (the other six: proof given, or not due yet)
    for limit in (50, 500):
        ids, count = lane(client, limit)
        assert count == 310
        assert sorted(ids) == sorted(blocked)


def test_the_key_follows_the_tasks_own_edits(client: TestClient, ws: Workspace) -> None:
    task_id = task(client, "write notes", **COMMENT)
    assert_blocked(client, ws, task_id, True)
    patch(client, f"/tasks/{task_id}", {"comment": "written"})
    assert_blocked(client, ws, task_id, False)
    patch(client, f"/tasks/{task_id}", {"comment": None})
    assert_blocked(client, ws, task_id, True)
    patch(
        client,
        f"/tasks/{task_id}",
        {"status": "waiting", "waitingFor": "the printer", "followUpAt": day(1)},
    )
    assert stored(ws, task_id).blocked_key is None
    assert task_id not in lane(client)[0]
    patch(client, f"/tasks/{task_id}", {"status": "todo"})
    assert_blocked(client, ws, task_id, True)
    patch(client, f"/tasks/{task_id}", {"proofRequirement": None})
    assert_blocked(client, ws, task_id, False)


def test_the_key_follows_an_artifacts_review(client: TestClient, ws: Workspace) -> None:
    task_id = task(client, "needs a report", **ARTIFACT)
    draft = artifact(client, "draft", taskId=task_id)
    assert_blocked(client, ws, task_id, True)
    post(client, f"/artifacts/{draft}/submit")
    post(client, f"/artifacts/{draft}/reject", {"reason": "too short"})
    assert_blocked(client, ws, task_id, True)
    post(client, f"/artifacts/{draft}/submit")
    post(client, f"/artifacts/{draft}/approve")
    assert_blocked(client, ws, task_id, False)
    post(client, f"/artifacts/{draft}/reject", {"reason": "wrong figures"})
    assert_blocked(client, ws, task_id, True)
    approved = artifact(client, "second", taskId=task_id, status="approved")  # registered
    assert_blocked(client, ws, task_id, False)
    patch(client, f"/artifacts/{approved}", {"type": "transcript"})  # what the rule reads
    assert_blocked(client, ws, task_id, False)  # (no artifactType asked)
    post(client, f"/artifacts/{approved}/archive")
    assert_blocked(client, ws, task_id, True)


def test_the_key_follows_attach_and_detach(client: TestClient, ws: Workspace) -> None:
    """Attached to the task's bundle, to the task, then moved away: the bundle's todo
    tasks and the task it left are judged again in the same transaction."""
    bundle = post(client, "/bundles", {"title": "Episode 12"})["id"]
    other_bundle = post(client, "/bundles", {"title": "Episode 13"})["id"]
    gated = task(client, "needs the bundle's report", bundleId=bundle, **ARTIFACT)
    elsewhere = task(client, "somewhere else")
    report = artifact(client, "report", taskId=elsewhere, status="approved")
    assert_blocked(client, ws, gated, True)
    post(client, f"/artifacts/{report}/attach", {"bundleId": bundle})
    assert_blocked(client, ws, gated, False)
    post(client, f"/artifacts/{report}/attach", {"bundleId": other_bundle})  # detached
    assert_blocked(client, ws, gated, True)
    post(client, f"/artifacts/{report}/attach", {"taskId": gated})
    assert_blocked(client, ws, gated, False)
    patch(client, f"/artifacts/{report}", {"taskId": elsewhere})  # moved by PATCH
    assert_blocked(client, ws, gated, True)


def test_the_key_follows_a_file_added_to_the_task(client: TestClient, ws: Workspace) -> None:
    uploaded = task(client, "upload the audio", requiresFile=True)
    registered = task(client, "link the video", requiresFile=True)
    assert_blocked(client, ws, uploaded, True)
    assert_blocked(client, ws, registered, True)
    response = client.post(
        f"{API}/files",
        data={"taskId": uploaded},
        files={"file": ("audio.txt", b"some bytes", "text/plain")},
    )
    assert response.status_code == 201, response.text
    assert_blocked(client, ws, uploaded, False)
    body = {"filename": "video.mp4", "storageUri": "https://example.com/video.mp4"}
    post(client, "/files/register", {**body, "taskId": registered})
    assert_blocked(client, ws, registered, False)


def test_the_expiry_sweep_blocks_a_task_whose_evidence_expired(
    client: TestClient, ws: Workspace
) -> None:
    """Evidence is valid through its `validUntil`: the day after, the sweep judges the
    task again (blocked, unless other evidence still completes it)."""
    expiring = task(client, "expiring report", **ARTIFACT)
    backed = task(client, "backed twice", **ARTIFACT)
    artifact(client, "valid today", taskId=expiring, status="approved", validUntil=day(0))
    artifact(client, "also valid today", taskId=backed, status="approved", validUntil=day(0))
    artifact(client, "open-ended", taskId=backed, status="approved")
    assert_blocked(client, ws, expiring, False)
    assert stored(ws, expiring).proof_expires_on == day(0)
    assert proofs.sweep_expired(ws, SYSTEM, day(1)) == 2  # (both relied on it)
    assert stored(ws, expiring).blocked_key == "true"
    assert stored(ws, backed).blocked_key is None
    assert stored(ws, backed).proof_expires_on is None  # the open-ended one completes it


def test_tasks_stored_before_the_index_are_judged_once(client: TestClient, ws: Workspace) -> None:
    """Records written before `proofBlocked` existed have none: the first pass of the
    sweep (run before the lane is read) judges every todo task once and records it."""
    blocked = [task(client, f"old {n}", **COMMENT) for n in range(3)]
    task(client, "old, complete", comment="given", **COMMENT)
    assert lane(client)[1] == 3
    with ws.store.unit_of_work(write=True) as uow:  # back to how they were stored before
        for old in uow.tasks.get_many(blocked):
            old.proof_blocked = False
            old.version += 1
            uow.tasks.update(old, old.version - 1)
        state = uow.settings.get(SETTINGS_ID)
        assert state is not None
        assert state.blocked_indexed
        unindexed = copy.deepcopy(state)
        unindexed.blocked_indexed, unindexed.version = False, state.version + 1
        uow.settings.update(unindexed, state.version)
        uow.commit()
    assert all(stored(ws, old).blocked_key is None for old in blocked)
    ids, count = lane(client)
    assert count == 3
    assert sorted(ids) == sorted(blocked)
    assert all(stored(ws, old).blocked_key == "true" for old in blocked)
    with ws.store.unit_of_work() as uow:
        state = uow.settings.get(SETTINGS_ID)
    assert state is not None
    assert state.blocked_indexed


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
def test_the_lane_and_its_count_query_the_blocked_index(client: TestClient, ws: Workspace) -> None:
    """(DynamoDB only: which index a query takes is that store's question.) No Scan, and
    the count is a `Select=COUNT` Query of `by-blocked`, however many tasks are blocked."""
    for n in range(4):
        task(client, f"blocked {n}", **COMMENT)
    lane(client)  # (the first read judges the todo tasks once)
    store = cast(DynamoStore, ws.store)
    with queries_and_scans(store) as (queries, scans):
        ids, count = lane(client, limit=2)
    assert (len(ids), count) == (4, 4)
    assert scans == []
    on_tasks = [q for q in queries if q["TableName"].endswith("tasks")]
    assert {q.get("IndexName") for q in on_tasks} == {"by-blocked"}
    assert len([q for q in on_tasks if q.get("Select") == "COUNT"]) == 2  # one a page
