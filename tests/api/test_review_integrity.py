"""Review integrity (CONTRACT §7, issue 16) as scenarios through the portal, on SQLite and
on DynamoDB: the review policy, independent review, N approvals, approval bound to
content, expiry and withdrawn proof; and a race of a second approval against a reject
while the task completes."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services import people, proofs
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login

API = "/work/api"
TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


class Team:
    """A workspace and a logged-in portal client per person."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.app = runtime.build_single_process(workspace)
        self.clients: list[TestClient] = []
        self.admin = self._client(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.ada = self.person("ada@example.com", Role.OPERATOR)
        self.bob = self.person("bob@example.com", Role.OPERATOR)
        self.cy = self.person("cy@example.com", Role.OPERATOR)
        self.bot = self.person("bot@example.com", Role.ASSISTANT)

    def person(self, email: str, role: Role) -> TestClient:
        people.add_user(self.workspace, people.SYSTEM, email, email.split("@")[0], role, PASSWORD)
        return self._client(email, PASSWORD)

    def _client(self, email: str, password: str) -> TestClient:
        client = TestClient(self.app)
        client.__enter__()
        self.clients.append(client)
        login(client, email, password)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.__exit__(None, None, None)


@pytest.fixture
def team(any_workspace: Workspace) -> Iterator[Team]:
    team = Team(any_workspace)
    yield team
    team.close()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def task_with(client: TestClient, **requirement: Any) -> dict[str, Any]:
    body = {
        "description": "Publish the transcript",
        "date": day(0),
        "proofRequirement": {"type": "artifact", **requirement},
    }
    return ok(client.post(f"{API}/tasks", json=body), 201)  # type: ignore[no-any-return]


def artifact_on(
    client: TestClient, task_id: str, status: str = "needs-review", **fields: Any
) -> dict[str, Any]:
    body = {
        "type": "transcript",
        "title": "Transcript",
        "storageUri": f"https://example.com/t/{task_id}",
        "status": status,
        "taskId": task_id,
        **fields,
    }
    return ok(client.post(f"{API}/artifacts", json=body), 201)  # type: ignore[no-any-return]


def complete(client: TestClient, task_id: str) -> Any:
    return client.patch(f"{API}/tasks/{task_id}", json={"status": "done"})


def me(client: TestClient) -> str:
    return str(ok(client.get(f"{API}/me"))["id"])


# --- the policy -------------------------------------------------------------------------


def test_default_policy_keeps_the_one_operator_flow(team: Team) -> None:
    task = task_with(team.ada)
    artifact = artifact_on(team.ada, task["id"], status="approved")
    assert artifact["selfReviewed"] is True
    assert [a["userId"] for a in artifact["approvals"]] == [me(team.ada)]
    done = ok(complete(team.ada, task["id"]))
    assert done["status"] == "done"
    assert done["proofWithdrawn"] is False
    assert ok(team.ada.get(f"{API}/settings"))["reviewPolicy"] == "self-allowed"


def test_independent_policy_nobody_reviews_their_own_work(team: Team) -> None:
    assert (
        team.ada.patch(f"{API}/settings", json={"reviewPolicy": "independent"}).status_code == 403
    )
    changed = ok(team.admin.patch(f"{API}/settings", json={"reviewPolicy": "independent"}))
    assert changed["reviewPolicy"] == "independent"
    assert changed["updatedBy"] == me(team.admin)
    history = ok(team.admin.get(f"{API}/audit-events", params={"entityType": "settings"}))
    assert [e["action"] for e in history["items"]] == ["update"]

    task = task_with(team.ada)
    refused = team.ada.post(
        f"{API}/artifacts",
        json={
            "type": "report",
            "title": "R",
            "storageUri": "https://e.com/r",
            "status": "approved",
        },
    )
    assert refused.status_code == 403, refused.text
    artifact = artifact_on(team.ada, task["id"])
    for action, body in (("approve", None), ("reject", {"reason": "no"})):
        answer = team.ada.post(f"{API}/artifacts/{artifact['id']}/{action}", json=body)
        assert answer.status_code == 403, answer.text
        assert "independent" in answer.json()["detail"]
    approved = ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/approve"))
    assert approved["selfReviewed"] is False
    assert approved["reviewedBy"] == me(team.bob)
    ok(complete(team.ada, task["id"]))


def test_an_assistant_never_approves_or_completes(team: Team) -> None:
    task = task_with(team.ada)
    draft = artifact_on(team.bot, task["id"])
    assert team.bot.post(f"{API}/artifacts/{draft['id']}/approve").status_code == 403
    assert complete(team.bot, task["id"]).status_code == 403
    ok(team.ada.post(f"{API}/artifacts/{draft['id']}/approve"))
    ok(complete(team.ada, task["id"]))


# --- what a requirement asks ------------------------------------------------------------


def test_independent_review_requirement(team: Team) -> None:
    task = task_with(team.ada, independentReview=True)
    artifact = artifact_on(team.ada, task["id"], status="approved")
    blocked = complete(team.ada, task["id"])
    assert blocked.status_code == 409
    assert "approved only by its creator" in blocked.json()["detail"]
    proof = ok(team.ada.get(f"{API}/tasks/{task['id']}/proof"))
    assert proof["canComplete"] is False
    assert "approved only by its creator" in proof["requirements"][0]["reason"]
    ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/approve"))  # a second approval
    assert ok(complete(team.ada, task["id"]))["status"] == "done"


def test_two_approvals_need_two_different_people(team: Team) -> None:
    task = task_with(team.ada, approvals=2)
    artifact = artifact_on(team.bot, task["id"])
    ok(team.ada.post(f"{API}/artifacts/{artifact['id']}/approve"))
    again = team.ada.post(f"{API}/artifacts/{artifact['id']}/approve")
    assert again.status_code == 409, again.text  # the same person twice is one approval
    blocked = complete(team.ada, task["id"])
    assert blocked.status_code == 409
    assert "approved by 1 of 2 required reviewers" in blocked.json()["detail"]
    twice = ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/approve"))
    assert [a["userId"] for a in twice["approvals"]] == [me(team.ada), me(team.bob)]
    assert twice["selfReviewed"] is False
    assert ok(complete(team.ada, task["id"]))["status"] == "done"


def test_approvals_out_of_range_are_refused(team: Team) -> None:
    for value in (0, 6, "2", True):
        body = {
            "description": "x",
            "date": day(0),
            "proofRequirement": {"type": "artifact", "approvals": value},
        }
        answer = team.ada.post(f"{API}/tasks", json=body)
        assert answer.status_code == 422, (value, answer.text)
    body = {"description": "x", "date": day(0), "proofRequirement": {"type": "url", "approvals": 2}}
    assert team.ada.post(f"{API}/tasks", json=body).status_code == 422


# --- content, expiry and withdrawn proof ------------------------------------------------


def withdrawn_ids(client: TestClient) -> list[str]:
    page = ok(client.get(f"{API}/tasks", params={"proofWithdrawn": "true"}))
    return [t["id"] for t in page["items"]]


def test_a_content_change_sends_an_approved_artifact_back_and_withdraws_proof(
    team: Team,
) -> None:
    task = task_with(team.ada)
    artifact = artifact_on(team.ada, task["id"], status="approved")
    ok(complete(team.ada, task["id"]))
    assert withdrawn_ids(team.ada) == []

    changed = ok(
        team.bot.patch(
            f"{API}/artifacts/{artifact['id']}", json={"storageUri": "https://e.com/t/other"}
        )
    )
    assert changed["status"] == "needs-review"
    assert changed["approvals"] == []
    assert "content changed (storageUri)" in changed["reviewReason"]
    events = ok(
        team.ada.get(
            f"{API}/audit-events", params={"entityType": "artifact", "entityId": artifact["id"]}
        )
    )
    assert "review-reset" in [e["action"] for e in events["items"]]

    shown = ok(team.ada.get(f"{API}/tasks/{task['id']}"))
    assert shown["status"] == "done"  # the task stays done
    assert shown["proofWithdrawn"] is True
    assert "needs-review" in shown["proofWithdrawnReasons"][0]
    assert withdrawn_ids(team.ada) == [task["id"]]

    ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/approve"))  # the new content approved
    assert ok(team.ada.get(f"{API}/tasks/{task['id']}"))["proofWithdrawn"] is False
    assert withdrawn_ids(team.ada) == []


def test_a_rejection_withdraws_proof_and_reopening_is_an_operators_decision(team: Team) -> None:
    task = task_with(team.ada)
    artifact = artifact_on(team.ada, task["id"], status="approved")
    ok(complete(team.ada, task["id"]))
    ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/reject", json={"reason": "wrong file"}))
    shown = ok(team.ada.get(f"{API}/tasks/{task['id']}"))
    assert shown["status"] == "done"
    assert shown["proofWithdrawn"] is True
    assert "rejected" in shown["proofWithdrawnReasons"][0]
    assert withdrawn_ids(team.ada) == [task["id"]]
    history = ok(
        team.ada.get(f"{API}/audit-events", params={"entityType": "task", "entityId": task["id"]})
    )
    assert "proof-withdrawn" in [e["action"] for e in history["items"]]

    assert team.bot.patch(f"{API}/tasks/{task['id']}", json={"status": "todo"}).status_code == 403
    reopened = ok(team.ada.patch(f"{API}/tasks/{task['id']}", json={"status": "todo"}))
    assert reopened["proofWithdrawn"] is False
    assert reopened["completionProof"] is None
    assert withdrawn_ids(team.ada) == []


def test_expired_evidence_does_not_count(team: Team) -> None:
    task = task_with(team.ada)
    artifact_on(team.ada, task["id"], status="approved", validUntil=day(-1))
    blocked = complete(team.ada, task["id"])
    assert blocked.status_code == 409
    assert f"expired on {day(-1)}" in blocked.json()["detail"]


def test_evidence_that_expires_after_completion_withdraws_the_proof(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = task_with(team.ada)
    artifact_on(team.ada, task["id"], status="approved", validUntil=day(0))  # valid today
    done = ok(complete(team.ada, task["id"]))
    assert done["proofWithdrawn"] is False
    assert done["proofExpiresOn"] == day(0)

    monkeypatch.setattr(proofs, "today", lambda: day(1))  # the day after
    shown = ok(team.ada.get(f"{API}/tasks/{task['id']}"))
    assert shown["proofWithdrawn"] is True
    assert f"expired on {day(0)}" in shown["proofWithdrawnReasons"][-1]
    assert withdrawn_ids(team.ada) == [task["id"]]  # the sweep marked it, by index
    stored = team.workspace.store
    with stored.unit_of_work() as uow:
        record = uow.tasks.get(task["id"])
        assert record is not None
        assert record.proof_withdrawn is True


# --- the race ---------------------------------------------------------------------------


def test_completion_never_commits_on_an_artifact_that_does_not_qualify(team: Team) -> None:
    """A second reviewer's approval races a reject while the task completes: whatever
    the interleaving, a completion commits only on an artifact with two approvals."""
    rounds = 6
    for _ in range(rounds):
        task = task_with(team.ada, approvals=2)
        artifact = artifact_on(team.cy, task["id"])
        ok(team.ada.post(f"{API}/artifacts/{artifact['id']}/approve"))
        calls: list[Callable[[], Any]] = [
            lambda a=artifact: team.bob.post(f"{API}/artifacts/{a['id']}/approve"),
            lambda a=artifact: team.cy.post(
                f"{API}/artifacts/{a['id']}/reject", json={"reason": "race"}
            ),
            lambda t=task: complete(team.ada, t["id"]),
        ]
        answers: list[Any] = [None] * len(calls)
        barrier = threading.Barrier(len(calls))
        threads = [
            threading.Thread(target=_run, args=(barrier, answers, i, c))
            for i, c in enumerate(calls)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(a is not None and a.status_code < 500 for a in answers), answers
        final = ok(team.ada.get(f"{API}/tasks/{task['id']}"))
        if final["status"] != "done":
            continue
        cited = final["completionProof"][0]["satisfiedBy"]
        history = ok(
            team.ada.get(
                f"{API}/audit-events", params={"entityType": "artifact", "entityId": artifact["id"]}
            )
        )
        states = [e["after"] for e in history["items"] if e["after"]]
        at_completion = next(s for s in states if s["version"] == cited["version"])
        assert at_completion["status"] == "approved"
        assert len({a["userId"] for a in at_completion["approvals"]}) == 2


def _run(
    barrier: threading.Barrier, answers: list[Any], index: int, call: Callable[[], Any]
) -> None:
    barrier.wait()
    answers[index] = call()


def test_templates_carry_review_requirements_into_their_tasks(team: Team) -> None:
    template = ok(
        team.admin.post(
            f"{API}/templates",
            json={
                "name": "Episode",
                "taskDefinitions": [
                    {
                        "refId": "transcript",
                        "description": "Transcript",
                        "proofRequirement": {
                            "type": "artifact",
                            "independentReview": True,
                            "approvals": 2,
                        },
                    }
                ],
            },
        ),
        201,
    )
    made = ok(
        team.admin.post(
            f"{API}/templates/{template['id']}/instantiate",
            json={"title": "Episode 9", "anchorDate": day(0)},
        ),
        201,
    )
    requirement = made["tasks"][0]["proofRequirement"]
    assert (requirement["independentReview"], requirement["approvals"]) == (True, 2)


def test_an_artifact_cited_by_many_tasks_withdraws_every_proof(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the tasks its own transaction updates (a DynamoDB transaction holds at most
    100 operations), the rest are updated right after it commits."""
    monkeypatch.setattr(proofs, "IN_TRANSACTION", 2)
    bundle = ok(team.ada.post(f"{API}/bundles", json={"title": "Episode 10"}), 201)
    body = {
        "type": "report",
        "title": "Shared report",
        "storageUri": "https://example.com/shared",
        "status": "approved",
        "bundleId": bundle["id"],
    }
    artifact = ok(team.ada.post(f"{API}/artifacts", json=body), 201)
    ids = []
    for index in range(5):
        task = ok(
            team.ada.post(
                f"{API}/tasks",
                json={
                    "description": f"Task {index}",
                    "date": day(0),
                    "bundleId": bundle["id"],
                    "proofRequirement": {"type": "artifact"},
                },
            ),
            201,
        )
        ok(complete(team.ada, task["id"]))
        ids.append(task["id"])
    ok(team.bob.post(f"{API}/artifacts/{artifact['id']}/reject", json={"reason": "wrong"}))
    assert sorted(withdrawn_ids(team.ada)) == sorted(ids)
