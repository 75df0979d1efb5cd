"""`GET /api/my-work` (CONTRACT §8, issue 17 item 5) through the portal, on SQLite and on
DynamoDB: each list holds the actor's items and nothing else (another person's tasks,
future, done and archived tasks, a reviewer's own artifact under the independent policy,
a role that may not review), follows later changes (a reopened task, a reassignment), and
pages across several pages with every item once, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops.domain.enums import Role
from dataops.services.context import Workspace
from tests.api.test_review_integrity import API, Team, artifact_on, complete, day, me, ok

WORK = f"{API}/my-work"
LISTS = ("due", "reviews", "rejected", "withdrawn")


@pytest.fixture
def team(any_workspace: Workspace) -> Iterator[Team]:
    team = Team(any_workspace)
    yield team
    team.close()


def task(client: TestClient, date: str, assignee: TestClient | None, **fields: Any) -> str:
    body: dict[str, Any] = {"description": f"Task on {date}", "date": date, **fields}
    if assignee is not None:
        body["assigneeId"] = me(assignee)
    return str(ok(client.post(f"{API}/tasks", json=body), 201)["id"])


def patch_task(client: TestClient, task_id: str, **fields: Any) -> None:
    ok(client.patch(f"{API}/tasks/{task_id}", json=fields))


def review(client: TestClient, artifact_id: str, action: str, **body: Any) -> None:
    ok(client.post(f"{API}/artifacts/{artifact_id}/{action}", json=body))


def independent(team: Team) -> None:
    ok(team.admin.patch(f"{API}/settings", json={"reviewPolicy": "independent"}))


def lists(client: TestClient) -> dict[str, list[str]]:
    """Every list's first page (IDs), checking the whole page is the list."""
    body = ok(client.get(WORK))
    assert set(body) == set(LISTS)
    for name in LISTS:
        assert body[name]["nextCursor"] is None, name
    return {name: [item["id"] for item in body[name]["items"]] for name in LISTS}


def pages(client: TestClient, which: str, limit: int) -> list[list[str]]:
    """Every page of one list, checking that only the last is short."""
    found: list[list[str]] = []
    params: dict[str, Any] = {"list": which, "limit": limit}
    while True:
        body = ok(client.get(WORK, params=params))
        assert set(body) == {"items", "nextCursor"}
        found.append([item["id"] for item in body["items"]])
        assert len(found) <= 50, "paging does not end"
        if body["nextCursor"] is None:
            return found
        assert len(body["items"]) == limit, "a short page before the end"
        params["cursor"] = body["nextCursor"]


# --- due ----------------------------------------------------------------------------------


def test_due_lists_my_open_tasks_up_to_today_oldest_first(team: Team) -> None:
    ada, bob = team.ada, team.bob
    overdue = task(ada, day(-3), ada)
    waiting = task(ada, day(0), ada, status="waiting", waitingFor="the guest", followUpAt=day(2))
    today = task(bob, day(0), ada)  # whoever made it, it is assigned to ada
    task(ada, day(1), ada)  # not due yet
    done = task(ada, day(-2), ada)
    patch_task(ada, done, status="done")
    archived = task(ada, day(-2), ada)
    patch_task(ada, archived, status="archived")
    bobs = task(ada, day(-5), bob)
    task(ada, day(-4), None)  # nobody's

    due = lists(ada)["due"]
    assert due == [overdue, *sorted([waiting, today])]
    assert lists(bob)["due"] == [bobs]
    item = ok(ada.get(WORK, params={"list": "due"}))["items"][0]
    assert item == ok(ada.get(f"{API}/tasks/{overdue}")), "the normal task representation"

    # The lists follow later changes: a reopened task is due again, a reassigned one moves.
    patch_task(ada, done, status="todo")
    patch_task(ada, overdue, assigneeId=me(bob))
    assert lists(ada)["due"] == [done, *sorted([waiting, today])]
    assert lists(bob)["due"] == [bobs, overdue]


def test_due_pages_end_where_the_tasks_due_end(team: Team) -> None:
    ada = team.ada
    due = [task(ada, day(-offset), ada) for offset in (6, 5, 5, 4, 2, 1, 0)]
    for offset in (1, 2, 3):
        task(ada, day(offset), ada)
    expected = sorted(due, key=lambda i: (ok(ada.get(f"{API}/tasks/{i}"))["date"], i))
    for limit in (1, 2, 3, 7):
        found = pages(ada, "due", limit)
        assert [i for page in found for i in page] == expected, limit
        assert len(found) == -(-len(expected) // limit), "no empty page after the last task due"


# --- reviews ------------------------------------------------------------------------------


def test_reviews_are_what_i_may_decide_on(team: Team) -> None:
    ada, bob, bot = team.ada, team.bob, team.bot
    viewer = team.person("vi@example.com", Role.VIEWER)
    work = task(ada, day(0), None)
    adas = artifact_on(ada, work)["id"]
    bobs = artifact_on(bob, work)["id"]
    bots = artifact_on(bot, work)["id"]
    artifact_on(bob, work, status="draft")
    review(ada, artifact_on(bob, work)["id"], "approve")  # decided: no longer waiting

    everyone = sorted([adas, bobs, bots])
    assert lists(ada)["reviews"] == everyone, "self-allowed: my own work too"
    independent(team)
    assert lists(ada)["reviews"] == sorted([bobs, bots])
    assert lists(bob)["reviews"] == sorted([adas, bots])
    assert lists(team.admin)["reviews"] == everyone
    assert lists(bot)["reviews"] == [], "an assistant never decides"
    assert lists(viewer)["reviews"] == [], "nor does a viewer"


def test_reviews_page_past_my_own_artifacts(team: Team) -> None:
    """Under the independent policy the reviewer's own artifacts are read and dropped; the
    pages still hold every other artifact once, in order, full until the last."""
    ada, bob = team.ada, team.bob
    independent(team)
    work = task(ada, day(0), None)
    others: list[str] = []
    for round_ in range(5):
        for _ in range(round_ % 3 + 1):  # runs of 1-3 of ada's own between bob's
            artifact_on(ada, work)
        others.append(artifact_on(bob, work)["id"])
    for _ in range(4):  # and a run of ada's own at the end
        artifact_on(ada, work)
    for limit in (1, 2, 3, 5):
        found = pages(ada, "reviews", limit)
        assert [i for page in found for i in page] == sorted(others), limit


# --- rejected and withdrawn ---------------------------------------------------------------


def test_rejected_are_my_artifacts_someone_rejected(team: Team) -> None:
    ada, bob = team.ada, team.bob
    work = task(ada, day(0), None)
    adas = artifact_on(ada, work)["id"]
    bobs = artifact_on(bob, work)["id"]
    artifact_on(ada, work)  # still waiting
    review(bob, adas, "reject", reason="wrong episode")
    review(ada, bobs, "reject", reason="typo")
    assert lists(ada)["rejected"] == [adas]
    assert lists(bob)["rejected"] == [bobs]
    item = ok(ada.get(WORK, params={"list": "rejected"}))["items"][0]
    assert item["reviewReason"] == "wrong episode"
    assert item == ok(ada.get(f"{API}/artifacts/{adas}"))


def test_withdrawn_are_tasks_i_completed_whose_proof_was_withdrawn(team: Team) -> None:
    ada, bob = team.ada, team.bob
    completed: dict[str, str] = {}
    for person, name in ((ada, "ada"), (bob, "bob"), (ada, "kept")):
        work = task(ada, day(-1), None, proofRequirement={"type": "artifact"})
        proof = artifact_on(person, work, status="approved")["id"]
        assert complete(person, work).status_code == 200
        if name != "kept":
            review(team.cy, proof, "reject", reason="superseded by the re-edit")
        completed[name] = work
    assert lists(ada)["withdrawn"] == [completed["ada"]]
    assert lists(bob)["withdrawn"] == [completed["bob"]]
    item = ok(ada.get(WORK, params={"list": "withdrawn"}))["items"][0]
    assert item["proofWithdrawn"] is True
    assert item["completedBy"] == me(ada)


def test_a_viewer_gets_its_own_lists(team: Team) -> None:
    viewer = team.person("vi@example.com", Role.VIEWER)
    mine = task(team.ada, day(-1), viewer)
    task(team.ada, day(-1), team.ada)
    assert lists(viewer) == {"due": [mine], "reviews": [], "rejected": [], "withdrawn": []}
    assert pages(viewer, "reviews", 5) == [[]]


def test_limit_applies_to_every_list_and_a_cursor_needs_its_list(team: Team) -> None:
    ada = team.ada
    due = [task(ada, day(-1), ada) for _ in range(3)]
    work = task(ada, day(0), None)
    for _ in range(3):
        artifact_on(team.bob, work)
    body = ok(ada.get(WORK, params={"limit": 2}))
    assert [len(body[name]["items"]) for name in LISTS] == [2, 2, 0, 0]
    assert [i["id"] for i in body["due"]["items"]] == sorted(due)[:2]
    cursor = body["due"]["nextCursor"]
    rest = ok(ada.get(WORK, params={"list": "due", "limit": 2, "cursor": cursor}))
    assert [i["id"] for i in rest["items"]] == sorted(due)[2:]
    refused = ada.get(WORK, params={"cursor": cursor})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["cursor"]
