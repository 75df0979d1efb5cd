"""Home's task lanes, served by `GET /api/tasks` on SQLite and DynamoDB (issue 19):

- `due=overdue|today|soon|now`: open tasks (todo or waiting) by date against the server's
  today, a range read of the open tasks' index, with `count=true` the size of the lane;
- `blocked=true`: the todo tasks due today or earlier whose proof is missing, a range
  read of the stored verdicts' index, each task of the page judged again on the server;
  a fresh bundle (nothing due yet) is not blocked;
- `include=proof,bundles`: each open task's proof summary (the same rule as
  `GET /api/tasks/{id}/proof`) and the page's bundle titles.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from dataops.services import tasks as task_service
from dataops.services.context import Workspace
from dataops.store.dynamodb import DynamoStore
from tests.conftest import day
from tests.contract.dynamo import queries_and_scans

TASKS = "/work/api/tasks"


def make_task(client: TestClient, description: str, offset: int, **fields: Any) -> str:
    response = client.post(TASKS, json={"description": description, "date": day(offset), **fields})
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def listed(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(TASKS, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: TestClient, limit: int, **params: str) -> list[str]:
    """Every description of a list, page by page, checking `count` on each page."""
    seen: list[str] = []
    query = {**params, "limit": str(limit), "count": "true"}
    counts = set()
    while True:
        body = listed(client, **query)
        seen += [t["description"] for t in body["items"]]
        counts.add(body["count"])
        if body["nextCursor"] is None:
            assert counts == {len(seen)}, (counts, seen)
            return seen
        query["cursor"] = body["nextCursor"]


COMMENT = {"proofRequirement": {"type": "comment", "label": "Notes"}}


@pytest.fixture
def lanes(client: TestClient) -> None:
    make_task(client, "three days late", -3)
    make_task(
        client,
        "waiting, two days late",
        -2,
        status="waiting",
        waitingFor="the printer",
        followUpAt=day(1),
    )
    make_task(client, "a day late", -1, **COMMENT)
    make_task(client, "today a", 0)
    make_task(client, "today b", 0, **COMMENT)
    make_task(client, "today, proof given", 0, comment="done it", **COMMENT)
    make_task(client, "tomorrow", 1, **COMMENT)
    make_task(client, "in a week", 7)
    make_task(client, "in eight days", 8)
    make_task(client, "done yesterday", -1, status="done")
    make_task(client, "archived today", 0, status="archived")


@pytest.mark.usefixtures("lanes")
def test_date_lanes_hold_the_open_tasks_of_their_dates_in_date_order(client: TestClient) -> None:
    overdue = ["three days late", "waiting, two days late", "a day late"]
    on_the_day = sorted(["today a", "today b", "today, proof given"])
    for limit in (1, 2, 50):
        assert walk(client, limit, due="overdue") == overdue
        assert sorted(walk(client, limit, due="today")) == on_the_day
        assert walk(client, limit, due="soon") == ["tomorrow", "in a week"]
        assert walk(client, limit, due="now")[:3] == overdue
    assert len(walk(client, 50, due="now")) == 6


@pytest.mark.usefixtures("lanes")
def test_blocked_holds_the_due_todo_tasks_whose_proof_is_missing(client: TestClient) -> None:
    for limit in (1, 2, 50):
        assert walk(client, limit, blocked="true") == ["a day late", "today b"]
    assert walk(client, 50, blocked="true", due="overdue") == ["a day late"]
    # Tomorrow's task misses its proof too, but it is not due: only `due=soon` shows it.
    assert walk(client, 50, blocked="true", due="soon") == ["tomorrow"]


def test_a_fresh_bundle_is_not_blocked(client: TestClient) -> None:
    definitions = [
        {
            "refId": f"step-{n}",
            "description": f"Step {n}",
            "offsetDays": n,
            "proofRequirement": {"type": "artifact"},
        }
        for n in (0, 2)
    ]
    template = client.post(
        "/work/api/templates", json={"name": "Weekly episode", "taskDefinitions": definitions}
    )
    assert template.status_code == 201, template.text
    made = client.post(
        f"/work/api/templates/{template.json()['id']}/instantiate",
        json={"title": "Next week's episode", "anchorDate": day(7)},
    )
    assert made.status_code == 201, made.text
    assert walk(client, 50, blocked="true") == []
    assert walk(client, 50, blocked="true", due="soon") == ["Step 0"]


@pytest.mark.usefixtures("lanes")
def test_include_proof_gives_each_open_task_the_verdict_of_its_proof_route(
    client: TestClient,
) -> None:
    body = listed(client, include="proof", limit="500")
    assert len(body["items"]) == 11
    for task in body["items"]:
        if task["status"] in ("done", "archived"):
            assert task["proof"] is None
            continue
        full = client.get(f"{TASKS}/{task['id']}/proof").json()
        missing = [r for r in full["requirements"] if not r["satisfied"]]
        assert task["proof"] == {
            "canComplete": full["canComplete"],
            "requirementCount": len(full["requirements"]),
            "missing": [
                {"kind": r["kind"], "label": r["label"], "reason": r["reason"]} for r in missing
            ],
        }
    assert "count" not in body
    assert "bundles" not in body


def test_include_proof_and_bundles_on_a_bundle_page(client: TestClient) -> None:
    bundle = client.post("/work/api/bundles", json={"title": "Episode 12"}).json()
    gated = {"bundleId": bundle["id"], "proofRequirement": {"type": "artifact"}}
    first = make_task(client, "needs the bundle's report", 1, **gated)
    make_task(client, "also needs it", 2, **gated)
    art = client.post(
        "/work/api/artifacts",
        json={
            "type": "report",
            "title": "Report",
            "storageUri": "https://example.com/report",
            "bundleId": bundle["id"],
            "status": "approved",
        },
    )
    assert art.status_code == 201, art.text
    body = listed(client, bundleId=bundle["id"], include="proof,bundles", count="true")
    assert body["count"] == 2
    assert body["bundles"] == {bundle["id"]: "Episode 12"}
    assert [t["proof"]["canComplete"] for t in body["items"]] == [True, True]
    assert client.get(f"{TASKS}/{first}/proof").json()["canComplete"] is True


def test_a_blocked_request_judges_a_bounded_number_of_candidates(
    client: TestClient, workspace_on: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page is judged live: a task whose stored verdict is stale (here written past
    the services, as a crash between a commit and its after-commit refresh would leave
    it) is not shown. Past `BLOCKED_CANDIDATES` a page comes back short with a cursor to
    ask on; the count is the index's (stale verdicts included); following the cursors
    lists every blocked task."""
    stale = [make_task(client, f"ready {n}", -2, **COMMENT) for n in range(7)]
    make_task(client, "missing", -1, **COMMENT)
    assert listed(client, blocked="true", count="true")["count"] == 8  # (the one-time pass)
    with workspace_on.store.unit_of_work(write=True) as uow:
        for task in uow.tasks.get_many(stale):
            task.comment = "given"  # complete now, its stored `proofBlocked` not re-judged
            task.version += 1
            uow.tasks.update(task, task.version - 1)
        uow.commit()
    monkeypatch.setattr(task_service, "BLOCKED_CANDIDATES", 4)
    first = listed(client, blocked="true", limit="1", count="true")
    assert first["items"] == []
    assert first["nextCursor"] is not None
    assert first["count"] == 8
    found: list[str] = []
    query = {"blocked": "true", "limit": "1"}
    for _ in range(10):
        body = listed(client, **query)
        found += [t["description"] for t in body["items"]]
        if body["nextCursor"] is None:
            break
        query["cursor"] = body["nextCursor"]
    assert found == ["missing"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"due": "later"}, "due"),
        ({"due": "Today"}, "due"),
        ({"blocked": "yes"}, "blocked"),
        ({"count": "1"}, "count"),
        ({"include": "proof,secrets"}, "include"),
        ({"include": ""}, "include"),
    ],
)
def test_bad_lane_parameters_are_422(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get(TASKS, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
@pytest.mark.usefixtures("lanes")
def test_lanes_on_dynamodb_query_the_open_index_and_count_without_items(
    client: TestClient, workspace_on: Workspace
) -> None:
    """(DynamoDB only: which index a query takes is that store's question.)"""
    store = cast(DynamoStore, workspace_on.store)
    listed(client, blocked="true")  # (the first read judges the todo tasks once)
    with queries_and_scans(store) as (queries, scans):
        for due in ("overdue", "today", "soon"):
            listed(client, due=due, count="true")
        listed(client, blocked="true", count="true", include="proof")
    assert scans == []
    on_tasks = [q for q in queries if q["TableName"].endswith("tasks")]
    assert {q.get("IndexName") for q in on_tasks} == {"by-open", "by-blocked"}
    counts = [q for q in on_tasks if q.get("Select") == "COUNT"]
    assert len(counts) == 4  # one per date lane, and the blocked lane's
    assert all(
        "BETWEEN" in q["KeyConditionExpression"] or "<=" in q["KeyConditionExpression"]
        for q in on_tasks
    )


@pytest.mark.usefixtures("lanes")
def test_the_overview_gives_every_lane_a_first_page_and_its_count(client: TestClient) -> None:
    bundle = client.post("/work/api/bundles", json={"title": "Episode 3"}).json()
    make_task(client, "late in a bundle", -5, bundleId=bundle["id"])
    for title in ("first", "second"):
        response = client.post(
            "/work/api/artifacts",
            json={
                "type": "report",
                "title": title,
                "storageUri": f"https://example.com/{title}",
                "status": "needs-review",
                "bundleId": bundle["id"],
            },
        )
        assert response.status_code == 201, response.text
    response = client.get("/work/api/overview", params={"limit": "1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"today", "overdue", "blocked", "withdrawn", "review", "expiring"}
    assert [body[lane]["count"] for lane in ("today", "overdue", "blocked", "review")] == [
        3,
        4,
        2,
        2,
    ]
    assert body["overdue"]["items"][0]["description"] == "late in a bundle"
    assert body["overdue"]["bundles"] == {bundle["id"]: "Episode 3"}
    assert body["review"]["bundles"] == {bundle["id"]: "Episode 3"}
    assert body["blocked"]["items"][0]["proof"]["missing"][0]["label"] == "Notes"
    assert body["withdrawn"] == {"items": [], "nextCursor": None, "count": 0, "bundles": {}}
    # A lane's cursor pages on through GET /api/tasks with the same query.
    rest = listed(client, due="overdue", cursor=body["overdue"]["nextCursor"], limit="10")
    assert [t["description"] for t in rest["items"]] == [
        "three days late",
        "waiting, two days late",
        "a day late",
    ]
    blocked_rest = listed(client, blocked="true", cursor=body["blocked"]["nextCursor"])
    assert [t["description"] for t in blocked_rest["items"]] == ["today b"]
