"""Notifications that fire (CONTRACT §8, issue 17 item 4) on both stores: each type made
once for the right people, by the change that causes it or by the runner's pass; nothing
for work not yet due; at most one per type, subject, recipient and day, whatever passes
race; the inbox API (own only, newest first, unread, read, dismiss, unread count)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime, scheduler
from dataops.domain.accounts import Actor
from dataops.domain.clock import parse_ts, today
from dataops.domain.codec import fields_from_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    NotificationType,
    ProofType,
    Role,
    TaskStatus,
)
from dataops.domain.errors import Forbidden, NotFound
from dataops.domain.messages import Notification
from dataops.domain.models import ProofRequirement, Task, Template
from dataops.domain.status import ReviewAction
from dataops.services import (
    artifact_review,
    artifacts,
    notifications,
    people,
    proofs,
    recurring,
    tasks,
    workflow,
)
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest
from tests.conftest import ADMIN_EMAIL, PASSWORD, SettingsFor, login

API = "/work/api"
SYSTEM = people.SYSTEM
DAY = "2025-03-10"
T = NotificationType


class World:
    """A workspace with an admin, two operators, a viewer and an assistant."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        with ws.store.unit_of_work() as uow:
            admin = people.find_user_by_email(uow, ADMIN_EMAIL)
        assert admin is not None
        self.admin = Actor(admin.id, admin.email, admin.role, admin.name)
        self.op1 = self._add("op1@example.com", Role.OPERATOR)
        self.op2 = self._add("op2@example.com", Role.OPERATOR)
        self.viewer = self._add("viewer@example.com", Role.VIEWER)
        self.assistant = self._add("assistant@example.com", Role.ASSISTANT)

    def _add(self, email: str, role: Role) -> Actor:
        user = people.add_user(self.ws, SYSTEM, email, email.split("@")[0], role, PASSWORD)
        return Actor(user.id, user.email, user.role, user.name)

    def everyone(self) -> list[Actor]:
        return [self.admin, self.op1, self.op2, self.viewer, self.assistant]

    def inbox(self, actor: Actor, *, unread: bool = False) -> list[Notification]:
        found: list[Notification] = []
        cursor: str | None = None
        while True:
            page = people.list_notifications(self.ws, actor, PageRequest(7, cursor), unread=unread)
            found += page.items
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def kinds(self, actor: Actor, subject: str | None = None) -> Counter[NotificationType]:
        return Counter(
            n.type
            for n in self.inbox(actor)
            if subject is None or subject in (n.task_id, n.artifact_id, n.bundle_id)
        )

    def task(self, by: Actor | None = None, **data: Any) -> Task:
        fields: dict[str, Any] = {"description": "Send the invoice", "date": DAY}
        fields.update(data)
        return tasks.create_task(self.ws, by or self.admin, fields)


@pytest.fixture
def world(any_workspace: Workspace) -> World:
    return World(any_workspace)


def at(day: str, time: str = "09:00:00") -> datetime:
    return parse_ts(f"{day}T{time}Z")


def days_after(day: str, n: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=n)).isoformat()


def no_duplicates(world: World) -> None:
    """At most one notification per (type, subject, recipient, UTC day), for everyone."""
    seen: Counter[tuple[str, str | None, str | None, str]] = Counter()
    for actor in world.everyone():
        for note in world.inbox(actor):
            subject = note.artifact_id or note.task_id or note.bundle_id
            seen[(note.type.value, subject, note.user_id, note.created_at[:10])] += 1
    assert [key for key, n in seen.items() if n > 1] == []


# --- the runner's pass -----------------------------------------------------------------------


def test_due_and_overdue_go_to_the_assignee_else_the_operators_never_ahead(world: World) -> None:
    mine = world.task(description="Mine today", assignee_id=world.op1.id)
    nobodys = world.task(description="Nobody's, last week", date=days_after(DAY, -7))
    future = world.task(description="Next week", assignee_id=world.op1.id, date="2025-03-17")
    world.task(description="Done already", date=days_after(DAY, -1), status=TaskStatus.DONE)
    world.task(description="Archived", date=days_after(DAY, -1), status=TaskStatus.ARCHIVED)

    made = notifications.notify_due(world.ws, at(DAY))

    assert made == Counter({T.TASK_DUE: 1, T.TASK_OVERDUE: 2})
    assert world.kinds(world.op1, mine.id) == Counter({T.TASK_DUE: 1})
    assert world.kinds(world.op1, nobodys.id) == Counter({T.TASK_OVERDUE: 1})
    assert world.kinds(world.op2) == Counter({T.TASK_OVERDUE: 1})  # an operator too
    for other in (world.admin, world.viewer, world.assistant):
        assert world.inbox(other) == []
    assert world.kinds(world.op1, future.id) == Counter()
    [due] = [n for n in world.inbox(world.op1) if n.task_id == mine.id]
    assert due.due_at == f"{DAY}T00:00:00.000Z"
    assert due.created_at.startswith(DAY)
    assert due.read_at is None
    assert not due.dismissed

    assert notifications.notify_due(world.ws, at(DAY, "17:00:00")) == Counter()  # same day


def test_without_operators_the_admins_hear_of_unassigned_work(any_workspace: Workspace) -> None:
    """The seed's flow: one admin runs the workspace alone."""
    task = tasks.create_task(any_workspace, SYSTEM, {"description": "Alone", "date": DAY})
    assert notifications.notify_due(any_workspace, at(DAY)) == Counter({T.TASK_DUE: 1})
    with any_workspace.store.unit_of_work() as uow:
        admin = people.find_user_by_email(uow, ADMIN_EMAIL)
    assert admin is not None
    inbox = people.list_notifications(
        any_workspace, Actor(admin.id, admin.email, admin.role), PageRequest()
    )
    assert [(n.type, n.task_id) for n in inbox.items] == [(T.TASK_DUE, task.id)]


def test_stepping_now_day_by_day_makes_one_a_day_at_most(world: World) -> None:
    mine = world.task(description="Mine", assignee_id=world.op1.id)
    later = world.task(description="Later", assignee_id=world.op1.id, date=days_after(DAY, 3))
    for step in range(-2, 6):
        day = days_after(DAY, step)
        for hour in ("00:00:01", "12:00:00", "23:59:59"):
            notifications.notify_due(world.ws, at(day, hour))
    no_duplicates(world)
    by_day = Counter((n.task_id, n.type, n.created_at[:10]) for n in world.inbox(world.op1))
    # nothing before a task is due; due on its day; overdue once a day after it
    assert {(t, k, d) for (t, k, d) in by_day if t == mine.id} == {
        (mine.id, T.TASK_DUE, DAY),
        *((mine.id, T.TASK_OVERDUE, days_after(DAY, n)) for n in range(1, 6)),
    }
    assert {(t, k, d) for (t, k, d) in by_day if t == later.id} == {
        (later.id, T.TASK_DUE, days_after(DAY, 3)),
        (later.id, T.TASK_OVERDUE, days_after(DAY, 4)),
        (later.id, T.TASK_OVERDUE, days_after(DAY, 5)),
    }


def test_follow_up_and_missing_evidence(world: World) -> None:
    waiting = world.task(
        description="Chase the sponsor",
        assignee_id=world.op2.id,
        status=TaskStatus.WAITING,
        waiting_for="the sponsor",
        follow_up_at=f"{DAY}T08:00:00.000Z",
    )
    not_yet = world.task(
        description="Chase the guest",
        assignee_id=world.op2.id,
        status=TaskStatus.WAITING,
        waiting_for="the guest",
        follow_up_at=f"{DAY}T18:00:00.000Z",
    )
    proof = world.task(
        description="Publish the notes",
        assignee_id=world.op1.id,
        proof_requirement=ProofRequirement(ProofType.COMMENT, label="Release note"),
    )
    notifications.notify_due(world.ws, at(DAY))
    assert world.kinds(world.op2, waiting.id) == Counter({T.TASK_DUE: 1, T.FOLLOW_UP_DUE: 1})
    assert world.kinds(world.op2, not_yet.id) == Counter({T.TASK_DUE: 1})
    assert world.kinds(world.op1, proof.id) == Counter({T.TASK_DUE: 1, T.MISSING_EVIDENCE: 1})
    [missing] = [n for n in world.inbox(world.op1) if n.type == T.MISSING_EVIDENCE]
    assert "Release note" in missing.message
    notifications.notify_due(world.ws, at(DAY, "19:00:00"))
    assert world.kinds(world.op2, not_yet.id) == Counter({T.TASK_DUE: 1, T.FOLLOW_UP_DUE: 1})
    no_duplicates(world)


def test_the_templates_default_assignee_stands_in_for_an_unassigned_task(world: World) -> None:
    definitions = [{"refId": "a", "description": "Cut the audio", "offsetDays": 0}]
    data = fields_from_dict(
        Template,
        {"name": "Episode", "taskDefinitions": definitions, "defaultAssigneeId": world.op2.id},
    )
    template = workflow.create_template(world.ws, SYSTEM, data)
    _, [task] = workflow.instantiate_template(world.ws, SYSTEM, template.id, "Ep 1", DAY)
    tasks.update_task(world.ws, world.admin, task.id, {"assignee_id": None}, None)
    notifications.notify_due(world.ws, at(DAY))
    assert world.kinds(world.op2, task.id) == Counter({T.TASK_DUE: 1})
    assert world.kinds(world.op1) == Counter()


def test_racing_passes_make_no_duplicate(world: World) -> None:
    for n in range(6):
        world.task(description=f"Task {n}", date=days_after(DAY, -(n % 3)))
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def one_pass() -> None:
        try:
            start.wait()
            notifications.notify_due(world.ws, at(DAY))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    no_duplicates(world)
    for operator in (world.op1, world.op2):
        assert sum(world.kinds(operator).values()) == 6


def test_a_recurring_occurrence_notifies_its_people_once_and_not_its_future_tasks(
    world: World,
) -> None:
    definitions = [
        {"refId": f"t{i}", "description": f"Step {i}", "offsetDays": i} for i in range(2)
    ]
    data = fields_from_dict(Template, {"name": "Weekly", "taskDefinitions": definitions})
    template = workflow.create_template(world.ws, SYSTEM, data)
    config = recurring.create_config(
        world.ws,
        SYSTEM,
        {
            "template_id": template.id,
            "title": "Week {n}",
            "start_date": "2025-03-11",
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "lead_days": 7,
            "assignee_id": world.op1.id,
        },
    )
    result = scheduler.run_pass(world.ws, at("2025-03-05"))  # the 11th is within 7 days
    [occurrence] = result.created
    assert result.notified == Counter({T.RECURRING_DUE: 1})
    assert world.kinds(world.op1) == Counter({T.RECURRING_DUE: 1})
    [note] = world.inbox(world.op1)
    assert note.bundle_id == occurrence.bundle.id
    assert note.template_id == template.id
    assert world.kinds(world.op2) == Counter()
    again = scheduler.run_pass(world.ws, at("2025-03-05", "18:00:00"))
    assert again.created == []
    assert sum(again.notified.values()) == 0
    assert "0 notification(s) made" in scheduler.summary(again)
    # its tasks are dated the 11th and 12th: nothing about them until then
    scheduler.run_pass(world.ws, at("2025-03-10"))
    assert world.kinds(world.op1) == Counter({T.RECURRING_DUE: 1})
    on_the_day = scheduler.run_pass(world.ws, at("2025-03-11"))
    [next_week] = on_the_day.created  # the 18th's bundle, within 7 days now
    assert next_week.occurrence_date == "2025-03-18"
    assert on_the_day.notified == Counter({T.TASK_DUE: 1, T.RECURRING_DUE: 1})
    summary = scheduler.summary(on_the_day)
    assert "2 notification(s) made (1 recurring-due, 1 task-due)" in summary
    assert config.id == occurrence.config_id


# --- made by the change that causes them ------------------------------------------------------


def _artifact(world: World, by: Actor, **data: Any) -> Any:
    fields: dict[str, Any] = {
        "type": ArtifactType.REPORT,
        "title": "Q1 report",
        "storage_uri": "https://example.com/q1.pdf",
    }
    fields.update(data)
    return artifacts.register_artifact(world.ws, by, fields)


def test_review_requested_goes_to_operators_and_admins_but_its_creator(world: World) -> None:
    made = _artifact(world, world.op1, status=ArtifactStatus.NEEDS_REVIEW)
    for reviewer in (world.op2, world.admin):
        assert world.kinds(reviewer, made.id) == Counter({T.REVIEW_REQUESTED: 1})
    for other in (world.op1, world.viewer, world.assistant):
        assert world.kinds(other) == Counter()
    [note] = world.inbox(world.admin)
    assert note.artifact_id == made.id
    assert "Q1 report" in note.message

    draft = _artifact(world, world.assistant, title="Draft by the assistant")
    assert world.kinds(world.op1, draft.id) == Counter()
    artifact_review.review_artifact(world.ws, world.assistant, draft.id, ReviewAction.SUBMIT)
    for reviewer in (world.op1, world.op2, world.admin):
        assert world.kinds(reviewer, draft.id) == Counter({T.REVIEW_REQUESTED: 1})
    assert world.kinds(world.assistant) == Counter()


def test_artifact_rejected_goes_to_its_creator_with_the_reason_once_a_day(world: World) -> None:
    made = _artifact(world, world.op1, status=ArtifactStatus.NEEDS_REVIEW)
    artifact_review.review_artifact(
        world.ws, world.admin, made.id, ReviewAction.REJECT, reason="the chart is blurry"
    )
    assert world.kinds(world.op1, made.id) == Counter({T.ARTIFACT_REJECTED: 1})
    [note] = world.inbox(world.op1)
    assert "the chart is blurry" in note.message
    # sent back to review and rejected again the same day: the change is made, no repeat
    artifact_review.review_artifact(world.ws, world.op1, made.id, ReviewAction.SUBMIT)
    again = artifact_review.review_artifact(
        world.ws, world.op2, made.id, ReviewAction.REJECT, reason="still blurry"
    )
    assert again.status == ArtifactStatus.REJECTED
    assert world.kinds(world.op1, made.id) == Counter({T.ARTIFACT_REJECTED: 1})
    assert world.kinds(world.op2, made.id) == Counter({T.REVIEW_REQUESTED: 1})
    no_duplicates(world)


def test_a_self_rejection_notifies_nobody(world: World) -> None:
    made = _artifact(world, world.admin, status=ArtifactStatus.NEEDS_REVIEW)
    artifact_review.review_artifact(
        world.ws, world.admin, made.id, ReviewAction.REJECT, reason="no"
    )
    assert world.kinds(world.admin) == Counter()


@pytest.mark.parametrize("in_transaction", [15, 0], ids=["in-transaction", "after-commit"])
def test_proof_withdrawn_goes_to_who_completed_it_once(
    world: World, monkeypatch: pytest.MonkeyPatch, in_transaction: int
) -> None:
    monkeypatch.setattr(proofs, "IN_TRANSACTION", in_transaction)
    done = world.task(
        description="Publish the report",
        date=today(),
        proof_requirement=ProofRequirement(ProofType.ARTIFACT, artifact_type=ArtifactType.REPORT),
    )
    proof = _artifact(world, world.admin, status=ArtifactStatus.APPROVED, task_id=done.id)
    tasks.update_task(world.ws, world.op2, done.id, {"status": TaskStatus.DONE}, None)
    assert world.kinds(world.op2) == Counter()
    artifact_review.review_artifact(world.ws, world.admin, proof.id, ReviewAction.ARCHIVE)
    assert world.kinds(world.op2, done.id) == Counter({T.PROOF_WITHDRAWN: 1})
    [note] = world.inbox(world.op2)
    assert note.task_id == done.id
    assert "Publish the report" in note.message
    assert world.kinds(world.admin) == Counter()
    proofs.refresh_tasks(world.ws, SYSTEM, [done.id])  # nothing changed: nothing new
    assert world.kinds(world.op2, done.id) == Counter({T.PROOF_WITHDRAWN: 1})


def test_stage_change_and_blocked_completion_use_the_shared_helper(world: World) -> None:
    definitions = [
        {"refId": "rec", "description": "Record", "offsetDays": 0, "stageOnComplete": "edit"},
        {
            "refId": "pub",
            "description": "Publish",
            "offsetDays": 0,
            "proofRequirement": {"type": "comment", "label": "Show notes"},
        },
    ]
    data = fields_from_dict(Template, {"name": "Episode", "taskDefinitions": definitions})
    template = workflow.create_template(world.ws, SYSTEM, data)
    _, made = workflow.instantiate_template(world.ws, SYSTEM, template.id, "Ep 2", today())
    record, publish = sorted(made, key=lambda t: t.description != "Record")
    tasks.update_task(
        world.ws, world.op1, record.id, {"status": TaskStatus.DONE, "assignee_id": None}, None
    )
    assert world.kinds(world.op1) == Counter({T.STAGE_CHANGE: 1})
    for _ in range(2):
        with pytest.raises(Exception, match="Show notes"):
            tasks.update_task(world.ws, world.op2, publish.id, {"status": TaskStatus.DONE}, None)
    assert world.kinds(world.op2, publish.id) == Counter({T.MISSING_EVIDENCE: 1})


# --- the inbox ---------------------------------------------------------------------------------


def _several(world: World) -> list[Notification]:
    for n in range(5):
        world.task(description=f"Due {n}", assignee_id=world.op1.id, date=days_after(DAY, -n))
    world.task(description="Someone else's", assignee_id=world.op2.id)
    notifications.notify_due(world.ws, at(DAY))
    return world.inbox(world.op1)


def test_the_inbox_is_ones_own_newest_first(world: World) -> None:
    mine = _several(world)
    assert len(mine) == 5
    assert all(n.user_id == world.op1.id for n in mine)
    assert [n.id for n in mine] == sorted((n.id for n in mine), reverse=True)
    theirs = world.inbox(world.op2)
    assert len(theirs) == 1
    assert theirs[0].user_id == world.op2.id


def test_read_dismiss_unread_filter_and_count(world: World) -> None:
    mine = _several(world)
    assert people.unread_count(world.ws, world.op1) == 5
    first, second = mine[0], mine[1]
    read = people.read_notification(world.ws, world.op1, first.id)
    assert read.read_at is not None
    assert not read.dismissed
    assert read.version == first.version + 1
    assert people.read_notification(world.ws, world.op1, first.id) == read  # read once
    dismissed = people.dismiss_notification(world.ws, world.op1, second.id)
    assert dismissed.dismissed
    assert dismissed.read_at is not None
    unread = world.inbox(world.op1, unread=True)
    assert [n.id for n in unread] == [n.id for n in mine[2:]]
    assert people.unread_count(world.ws, world.op1) == 3
    assert people.unread_count(world.ws, world.op2) == 1


def test_another_users_notification_is_refused_and_unchanged(world: World) -> None:
    [theirs] = [n for n in _several(world)][:1]
    for actor in (world.op2, world.admin, world.viewer):
        with pytest.raises(Forbidden):
            people.read_notification(world.ws, actor, theirs.id)
        with pytest.raises(Forbidden):
            people.dismiss_notification(world.ws, actor, theirs.id)
    with pytest.raises(NotFound):
        people.read_notification(world.ws, world.op1, "ntf_missing")
    assert world.inbox(world.op1)[0] == theirs


@pytest.fixture
def api(backend: SettingsFor, tmp_path: Path) -> Iterator[tuple[World, TestClient]]:
    ws = runtime.build_workspace(backend(tmp_path))
    runtime.bootstrap_admin(ws)
    world = World(ws)
    with TestClient(runtime.build_single_process(ws)) as client:
        yield world, client
    from dataops.store.dynamodb import DynamoStore

    if isinstance(ws.store, DynamoStore):
        from tests.contract.dynamo import drop_tables

        drop_tables(ws.store)
    ws.store.close()


def test_the_inbox_api(api: tuple[World, TestClient]) -> None:
    world, client = api
    mine = _several(world)
    login(client, "op1@example.com", PASSWORD)
    listed = client.get(f"{API}/notifications", params={"limit": 2})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [n["id"] for n in body["items"]] == [n.id for n in mine[:2]]
    assert body["nextCursor"]
    note = body["items"][0]
    assert set(note) >= {
        "id", "type", "message", "userId", "taskId", "bundleId", "templateId", "artifactId",
        "dueAt", "dismissed", "readAt", "createdAt", "version",
    }  # fmt: skip
    assert client.get(f"{API}/notifications/unread-count").json() == {"unread": 5}
    read = client.post(f"{API}/notifications/{note['id']}/read")
    assert read.status_code == 200
    assert read.json()["readAt"] is not None
    dismissed = client.post(f"{API}/notifications/{mine[1].id}/dismiss")
    assert dismissed.status_code == 200
    assert dismissed.json()["dismissed"] is True
    assert dismissed.json()["readAt"] is not None
    unread = client.get(f"{API}/notifications", params={"unread": "true"}).json()["items"]
    assert [n["id"] for n in unread] == [n.id for n in mine[2:]]
    assert client.get(f"{API}/notifications/unread-count").json() == {"unread": 3}
    [theirs] = world.inbox(world.op2)
    for action in ("read", "dismiss"):
        refused = client.post(f"{API}/notifications/{theirs.id}/{action}")
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert world.inbox(world.op2) == [theirs]
    assert client.post(f"{API}/notifications/ntf_missing/read").status_code == 404
    assert client.get(f"{API}/notifications", params={"unread": "maybe"}).status_code == 422


# --- the bar: two months of passes ----------------------------------------------------


def test_two_months_of_racing_passes_make_everything_once_and_the_export_carries_it(
    world: World, tmp_path: Path
) -> None:
    """`now` stepped a day at a time through two months, two passes racing at each step:
    every weekly occurrence exists exactly once, each notification reaches its people
    once, a repeated pass changes nothing, and the export carries it all and validates."""
    from dataops.portable.checking.validate import validate_export
    from dataops.portable.writing.export import write_export
    from tests.portable.conftest import INFO

    definitions = [
        {"refId": "rec", "description": "Record", "offsetDays": 0},
        {"refId": "pub", "description": "Publish", "offsetDays": 1},
    ]
    template = workflow.create_template(
        world.ws,
        SYSTEM,
        fields_from_dict(Template, {"name": "Show", "taskDefinitions": definitions}),
    )
    made = recurring.create_config(
        world.ws,
        SYSTEM,
        {
            "template_id": template.id,
            "title": "Show {n} ({date})",
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "start_date": "2025-01-07",
            "lead_days": 2,
            "assignee_id": world.op1.id,
        },
    )

    def racing_passes(moment: datetime) -> None:
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def one() -> None:
            try:
                barrier.wait()
                scheduler.run_pass(world.ws, moment)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    first = date(2025, 1, 1)
    for step in range(60):
        racing_passes(at((first + timedelta(days=step)).isoformat()))
    last_now = at((first + timedelta(days=59)).isoformat())  # 2025-03-01

    # every Tuesday from 2025-01-07 whose bundle is due (anchor - 2 days <= 2025-03-01)
    expected = [(date(2025, 1, 7) + timedelta(weeks=n)).isoformat() for n in range(8)]
    with world.ws.store.unit_of_work() as uow:
        bundles = uow.bundles.find(
            Filters({"recurring_config_id": made.id}), PageRequest(100)
        ).items
        stored_tasks = [
            t
            for b in bundles
            for t in uow.tasks.find(Filters({"bundle_id": b.id}), PageRequest(10)).items
        ]
    assert sorted(b.occurrence_date or "" for b in bundles) == expected
    assert len(stored_tasks) == 16
    assert all(t.assignee_id == world.op1.id for t in stored_tasks)

    no_duplicates(world)
    inbox = world.inbox(world.op1)
    recurring_due = Counter(n.bundle_id for n in inbox if n.type == T.RECURRING_DUE)
    assert recurring_due == Counter({b.id: 1 for b in bundles})
    task_due = Counter(n.task_id for n in inbox if n.type == T.TASK_DUE)
    dated = {t.id: t.date for t in stored_tasks}
    assert task_due == Counter({t: 1 for t, d in dated.items() if d <= "2025-03-01"})
    for note in inbox:  # never ahead of a task's date
        if note.type in (T.TASK_DUE, T.TASK_OVERDUE):
            assert note.created_at[:10] >= dated[note.task_id or ""]
    assert {
        n.type for actor in world.everyone() if actor != world.op1 for n in world.inbox(actor)
    } <= {T.REVIEW_REQUESTED}  # the assignee is told, nobody else

    before = (len(bundles), len(inbox))
    racing_passes(last_now)
    with world.ws.store.unit_of_work() as uow:
        again = uow.bundles.find(Filters({"recurring_config_id": made.id}), PageRequest(100))
    assert (len(again.items), len(world.inbox(world.op1))) == before

    write_export(world.ws.store, tmp_path / "export.tar.gz", INFO)
    report = validate_export(tmp_path / "export.tar.gz")
    assert report.valid, report.lines()
    assert report.entity_counts["recurring_configs"] == 1
    assert report.entity_counts["bundles"] == 8
    assert report.entity_counts["notifications"] == sum(
        len(world.inbox(a)) for a in world.everyone()
    )
    assert report.relationships["bundles.recurring_config_id -> recurring_configs"] == 8
