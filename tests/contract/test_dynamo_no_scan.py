"""No Scan on any request path of the DynamoDB store.

A workspace built from settings (DATAOPS_STORE=dynamodb on the session's moto server,
auto-created tables of its own) runs the seed's scenarios through the portal (cookie →
broker → engine): register, attach, approve, complete, proof checks, reviews, audit
history. Then every list route is paged through with a small limit. A botocore hook on
the store's client fails any Scan and counts every DynamoDB operation, so the test also
shows the requests were really served by Query/GetItem/BatchGetItem/TransactWriteItems.
"""

from __future__ import annotations

import hashlib
import inspect
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.services.context import Workspace
from dataops.store.dynamodb import DynamoStore
from tests.api import test_scenarios as scenarios
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.contract.dynamo import drop_tables, dynamo_settings

SCENARIOS: dict[str, Callable[[httpx.Client], None]] = {
    name: function
    for name, function in vars(scenarios).items()
    if name.startswith("test_")
    and callable(function)
    and list(inspect.signature(function).parameters) == ["client"]
}


class ScanAttempted(AssertionError):
    pass


class Calls:
    """Every DynamoDB operation the store's client sends; a Scan raises before it is sent."""

    def __init__(self, store: DynamoStore) -> None:
        self.counts: Counter[str] = Counter()
        store.client.meta.events.register("before-call.dynamodb", self._count)
        store.client.meta.events.register("before-call.dynamodb.Scan", self._refuse)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1

    def _refuse(self, params: Any, **_: Any) -> None:
        raise ScanAttempted(f"Scan on a request path: {params}")


@pytest.fixture(scope="module")
def dynamo_workspace(
    dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    settings = dynamo_settings(dynamodb_endpoint, tmp_path_factory.mktemp("dynamo-portal"))
    workspace = runtime.build_workspace(settings)
    runtime.bootstrap_admin(workspace)
    yield workspace
    store = cast(DynamoStore, workspace.store)
    drop_tables(store)
    store.close()


@pytest.fixture(scope="module")
def calls(dynamo_workspace: Workspace) -> Calls:
    return Calls(cast(DynamoStore, dynamo_workspace.store))


@pytest.fixture(scope="module")
def client(dynamo_workspace: Workspace, calls: Calls) -> Iterator[TestClient]:
    """The admin, through the portal, on the DynamoDB workspace."""
    with TestClient(runtime.build_single_process(dynamo_workspace)) as test_client:
        login(test_client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield test_client


def test_the_hook_sees_a_scan(dynamo_workspace: Workspace, calls: Calls) -> None:
    store = cast(DynamoStore, dynamo_workspace.store)
    with pytest.raises(ScanAttempted):
        store.client.scan(TableName=store.tables["artifacts"], Limit=1)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_seed_scenario_on_dynamodb_without_scan(
    name: str, client: TestClient, calls: Calls
) -> None:
    before = calls.counts.copy()
    SCENARIOS[name](client)
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["Query"] + used["GetItem"] > 0, used


def _page_through(client: TestClient, path: str, limit: int, **params: str) -> list[list[str]]:
    pages: list[list[str]] = []
    query = {**params, "limit": str(limit)}
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        pages.append([item["id"] for item in body["items"]])
        if body["nextCursor"] is None:
            return pages
        assert len(body["items"]) == limit, "a short page before the end"
        query["cursor"] = body["nextCursor"]


def test_every_list_route_pages_without_scan(client: TestClient, calls: Calls) -> None:
    _, task = scenarios.artifact_task(client)
    ids = [scenarios.register(client, taskId=task["id"])["id"] for _ in range(23)]
    for artifact_id in ids[::4]:
        scenarios.approve(client, artifact_id)
    approved = ids[::4]
    before = calls.counts.copy()

    by_task = _page_through(client, "/work/api/artifacts", 5, taskId=task["id"])
    assert [i for page in by_task for i in page] == sorted(ids)
    by_status = _page_through(
        client, "/work/api/artifacts", 2, taskId=task["id"], status="approved"
    )
    assert [i for page in by_status for i in page] == sorted(approved)
    with_type = _page_through(
        client,
        "/work/api/artifacts",
        3,
        taskId=task["id"],
        status="draft",
        type="event-page",
    )
    assert [i for page in with_type for i in page] == sorted(set(ids) - set(approved))

    routes: list[tuple[str, dict[str, str]]] = [
        ("/work/api/artifacts", {}),
        ("/work/api/artifacts", {"status": "approved"}),
        ("/work/api/artifacts", {"type": "event-page"}),
        ("/work/api/tasks", {}),
        ("/work/api/tasks", {"bundleId": task["bundleId"]}),
        ("/work/api/tasks", {"status": "todo"}),
        ("/work/api/tasks", {"date": task["date"]}),
        ("/work/api/bundles", {}),
        ("/work/api/bundles", {"status": "active"}),
        ("/work/api/templates", {}),
        ("/work/api/files", {}),
        ("/work/api/users", {}),
        ("/work/api/tokens", {}),
        ("/work/api/notifications", {}),
        ("/work/api/notifications", {"unread": "true"}),
        ("/work/api/audit-events", {}),
        ("/work/api/audit-events", {"entityType": "artifact", "entityId": ids[0]}),
    ]
    for path, params in routes:
        pages = _page_through(client, path, 4, **params)
        flat = [i for page in pages for i in page]
        assert len(flat) == len(set(flat)), f"{path} {params} repeated an item"
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["Query"] > len(routes)


def test_upload_round_trip_and_file_proof_without_scan(client: TestClient, calls: Calls) -> None:
    """Two-step upload (local-dev blobs, DynamoDB metadata; the sweep looks up stale
    pending uploads through the status index), then the file proof lookup."""
    before = calls.counts.copy()
    task = scenarios.create_task(client, proofRequirement={"type": "file", "label": "Notes"})
    scenarios.assert_blocked(client, task, "Notes")
    data = b"guest notes"
    ticket = client.post(
        "/work/api/uploads",
        json={
            "filename": "notes.txt",
            "contentType": "text/plain",
            "sizeBytes": len(data),
            "checksum": "sha256:" + hashlib.sha256(data).hexdigest(),
            "taskId": task["id"],
        },
    )
    assert ticket.status_code == 201, ticket.text
    upload = ticket.json()
    sent = client.put(upload["url"], content=data, headers=upload["headers"])
    assert sent.status_code in (200, 204), sent.text
    done = client.post(f"/work/api/uploads/{upload['uploadId']}/complete")
    assert done.status_code == 201, done.text
    listed = _page_through(client, "/work/api/files", 1, taskId=task["id"])
    assert [i for page in listed for i in page] == [done.json()["id"]]
    completed = scenarios.complete(client, task["id"])
    assert completed.status_code == 200, completed.text
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["TransactWriteItems"] > 0


def test_withdrawn_proof_and_its_sweep_without_scan(client: TestClient, calls: Calls) -> None:
    """A rejection withdraws a done task's proof in its own transaction; the list of such
    tasks (with the expiry sweep before it) and the settings are index and key reads."""
    _, task = scenarios.artifact_task(client)
    artifact = scenarios.register(client, taskId=task["id"])
    scenarios.approve(client, artifact["id"])
    assert scenarios.complete(client, task["id"]).status_code == 200
    before = calls.counts.copy()
    rejected = client.post(f"/work/api/artifacts/{artifact['id']}/reject", json={"reason": "no"})
    assert rejected.status_code == 200, rejected.text
    pages = _page_through(client, "/work/api/tasks", 2, proofWithdrawn="true")
    assert task["id"] in [i for page in pages for i in page]
    assert client.get("/work/api/settings").status_code == 200
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["Query"] > 0


def test_my_work_lists_page_without_scan(client: TestClient, calls: Calls) -> None:
    """`GET /api/my-work` and each of its lists paged: Queries of the lists' own indexes
    (and the status index for reviews), never a Scan."""
    admin = scenarios.me(client)["id"]
    due = [scenarios.create_task(client, assigneeId=admin)["id"] for _ in range(3)]
    scenarios.create_task(client, assigneeId=admin, date="2999-01-01")  # not due
    _, task = scenarios.artifact_task(client)
    waiting = [scenarios.register(client, status="needs-review")["id"] for _ in range(3)]
    rejected = waiting.pop()
    reason = {"reason": "wrong page"}
    assert client.post(f"/work/api/artifacts/{rejected}/reject", json=reason).status_code == 200
    proof = scenarios.register(client, taskId=task["id"], status="approved")
    assert scenarios.complete(client, task["id"]).status_code == 200
    assert client.post(f"/work/api/artifacts/{proof['id']}/reject", json=reason).status_code == 200
    before = calls.counts.copy()

    assert client.get("/work/api/my-work", params={"limit": "2"}).status_code == 200
    found = {
        which: [
            i for page in _page_through(client, "/work/api/my-work", 2, list=which) for i in page
        ]
        for which in ("due", "reviews", "rejected", "withdrawn")
    }
    assert set(due) <= set(found["due"])
    assert set(waiting) <= set(found["reviews"])
    assert rejected in found["rejected"]
    assert task["id"] in found["withdrawn"]
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["Query"] >= 4


def test_search_filters_and_counts_without_scan(client: TestClient, calls: Calls) -> None:
    """Issue 19: search (one word, several, one kind, paged), the artifact list's
    narrowing filters and the bundles list's artifact count, all by Query/GetItem."""
    bundle, task = scenarios.artifact_task(client)
    word = f"zebra{uuid.uuid4().hex[:6]}"
    made = [
        scenarios.register(client, title=f"{word} take {n}", taskId=task["id"])["id"]
        for n in range(5)
    ]
    scenarios.register(client, title=f"{word} bundle note", bundleId=bundle["id"])
    before = calls.counts.copy()

    one = [i for page in _page_through(client, "/work/api/search", 2, q=word) for i in page]
    assert len(one) == 6
    both = _page_through(client, "/work/api/search", 2, q=f"{word} take", kind="artifact")
    assert sorted(i for page in both for i in page) == sorted(made)
    narrowed = _page_through(
        client, "/work/api/artifacts", 2, taskId=task["id"], dataClass="internal"
    )
    assert sorted(i for page in narrowed for i in page) == sorted(made)
    counted = client.get("/work/api/bundles", params={"include": "artifactCount", "limit": 500})
    assert counted.status_code == 200, counted.text
    row = next(b for b in counted.json()["items"] if b["id"] == bundle["id"])
    assert row["artifactCount"] == 6
    used = calls.counts - before
    assert used["Scan"] == 0
    assert used["Query"] > 0
