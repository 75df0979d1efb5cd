"""Completion races against the real SQLite store.

Real threads call the services concurrently: they complete and reopen tasks whose proof
is an approved artifact while others approve, reject, submit, archive, supersede and
move those artifacts. The interleaving differs from run to run; what is checked after
all threads join must hold for every interleaving:

- every call either succeeded or failed with a `Conflict` (409-class) error;
- every audit event of the race was written by exactly one successful call (approve,
  submit, reject and supersede always write one; a call that changes nothing writes none);
- no task is `done` unless its `completionProof` names an artifact, and every
  `complete` event in the history happened while that artifact was approved, at the
  version the proof records, and attached to the task or its bundle;
- artifact refs on tasks and bundles match the artifacts' `taskId`/`bundleId`.

"Happened while" is decided by commit order. SQLite serialises writers (BEGIN
IMMEDIATE), and `audit_events` is append-only, so its rowid is the order in which the
events were committed. Event IDs are not used for ordering: they are time-sortable
only to the millisecond (`test_audit_history_lists_events_in_write_order`).
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.codec import to_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    EntityType,
    ProofType,
    Role,
    TaskStatus,
)
from dataops.domain.errors import Conflict
from dataops.domain.models import Artifact, ProofRequirement, Task
from dataops.domain.status import ReviewAction
from dataops.services import artifact_reads, artifact_review, artifacts, people, tasks, workflow
from dataops.services.context import Workspace
from dataops.store.port import PageRequest

TASKS = 30
THREADS = 6
OPS_PER_THREAD = 60
JOIN_TIMEOUT_SECONDS = 120  # a hang guard only; nothing is asserted about time

JsonDict = dict[str, Any]
RACE_ACTIONS = {
    "complete": "complete",
    "reopen": "reopen",
    "approve": "approve",
    "submit": "submit",
    "reject": "reject",
    "archive": "archive",
    "supersede": "supersede",
    "attach": "move",
}


@dataclass
class Fixture:
    actor: Actor
    tasks: list[Task]
    pairs: dict[str, tuple[str, str]]  # task id -> (primary, successor) artifact ids


@dataclass
class Log:
    """What one thread observed: successes by operation, and anything unexpected."""

    successes: list[tuple[str, str, int]] = field(default_factory=list)  # (op, id, version)
    conflicts: Counter[str] = field(default_factory=Counter)
    unexpected: list[BaseException] = field(default_factory=list)


def operator(ws: Workspace) -> Actor:
    user = people.add_user(
        ws, people.SYSTEM, "racer@example.com", "Racer", Role.OPERATOR, "racer-password-1"
    )
    return Actor(id=user.id, email=user.email, role=user.role, name=user.name)


def build(ws: Workspace, actor: Actor) -> Fixture:
    """TASKS artifact-gated tasks: even ones hold their artifacts themselves, odd ones sit
    in their own bundle that holds them. Each has one approved artifact and one draft."""
    created: list[Task] = []
    pairs: dict[str, tuple[str, str]] = {}
    for index in range(TASKS):
        data: dict[str, Any] = {
            "description": f"Race task {index}",
            "date": "2025-05-01",
            "proof_requirement": ProofRequirement(type=ProofType.ARTIFACT, label="Race proof"),
        }
        holder: dict[str, Any]
        if index % 2:
            bundle = workflow.create_bundle(ws, actor, {"title": f"Race bundle {index}"})
            data["bundle_id"] = bundle.id
            holder = {"bundle_id": bundle.id}
        task = tasks.create_task(ws, actor, data)
        if not index % 2:
            holder = {"task_id": task.id}
        ids = []
        for status in (ArtifactStatus.APPROVED, ArtifactStatus.DRAFT):
            artifact = artifacts.register_artifact(
                ws,
                actor,
                {
                    "type": ArtifactType.REPORT,
                    "title": f"Race artifact {index} {status.value}",
                    "storage_uri": f"https://example.com/race/{index}/{status.value}",
                    "status": status,
                    **holder,
                },
            )
            ids.append(artifact.id)
        created.append(task)
        pairs[task.id] = (ids[0], ids[1])
    return Fixture(actor, created, pairs)


def worker(ws: Workspace, fx: Fixture, seed: int, barrier: threading.Barrier, log: Log) -> None:
    rng = random.Random(seed)
    operations: list[tuple[str, int]] = [
        ("complete", 30),
        ("reopen", 8),
        ("approve", 16),
        ("submit", 12),
        ("reject", 12),
        ("archive", 6),
        ("supersede", 6),
        ("move", 10),
    ]
    names = [name for name, _ in operations]
    weights = [weight for _, weight in operations]
    barrier.wait()
    for _ in range(OPS_PER_THREAD):
        op = rng.choices(names, weights)[0]
        task = rng.choice(fx.tasks)
        primary, successor = fx.pairs[task.id]
        mine, other = (primary, successor) if rng.random() < 0.5 else (successor, primary)
        try:
            if op in ("complete", "reopen"):
                status = TaskStatus.DONE if op == "complete" else TaskStatus.TODO
                done = tasks.update_task(ws, fx.actor, task.id, {"status": status}, None)
                log.successes.append((op, done.id, done.version))
                continue
            result: Artifact
            if op == "move":
                target = rng.choice(fx.tasks)
                result = artifacts.attach_artifact(
                    ws, fx.actor, mine, task_id=target.id, bundle_id=None
                )
            elif op == "supersede":
                result = artifact_review.review_artifact(
                    ws, fx.actor, mine, ReviewAction.SUPERSEDE, superseded_by=other
                )
            elif op == "reject":
                result = artifact_review.review_artifact(
                    ws, fx.actor, mine, ReviewAction.REJECT, reason="race says no"
                )
            else:
                result = artifact_review.review_artifact(ws, fx.actor, mine, ReviewAction(op))
            log.successes.append((op, result.id, result.version))
        except Conflict as exc:  # ProofMissing, VersionConflict, IllegalTransition, ...
            log.conflicts[f"{op}:{type(exc).__name__}"] += 1
        except BaseException as exc:
            log.unexpected.append(exc)


def run_threads(ws: Workspace, fx: Fixture) -> list[Log]:
    barrier = threading.Barrier(THREADS)
    logs = [Log() for _ in range(THREADS)]
    threads = [
        threading.Thread(target=worker, args=(ws, fx, seed, barrier, logs[seed]), daemon=True)
        for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert not [t for t in threads if t.is_alive()], "a worker thread hung"
    return logs


@dataclass(frozen=True)
class Event:
    seq: int  # commit order (SQLite rowid of the append-only audit table)
    id: str
    entity_type: str
    entity_id: str
    action: str
    before: JsonDict | None
    after: JsonDict | None


def history(ws: Workspace) -> list[Event]:
    """Every audit event, in the order the store committed them."""
    conn = sqlite3.connect(f"file:{ws.settings.sqlite_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT rowid, data FROM audit_events ORDER BY rowid").fetchall()
    finally:
        conn.close()
    events = []
    for seq, data in rows:
        record = json.loads(data)
        events.append(
            Event(
                seq,
                record["id"],
                record["entityType"],
                record["entityId"],
                record["action"],
                record["before"],
                record["after"],
            )
        )
    return events


def all_artifacts(ws: Workspace) -> list[Artifact]:
    found: list[Artifact] = []
    cursor = None
    while True:
        page = artifact_reads.list_artifacts(ws, {}, PageRequest(limit=500, cursor=cursor))
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def check_completion(event: Event, artifact_events: list[Event], task: JsonDict) -> None:
    """A `complete` event: its proof names an artifact that was, when the event was
    committed, approved at the recorded version and attached to the task or its bundle."""
    assert event.after is not None
    assert event.after["status"] == "done"
    assert event.after["completedBy"] is not None
    assert event.after["completedAt"] is not None
    verdicts = [v for v in event.after["completionProof"] if v["kind"] == "artifact"]
    assert len(verdicts) == 1, event
    [verdict] = verdicts
    assert verdict["satisfied"] is True
    by = verdict["satisfiedBy"]
    earlier = [e for e in artifact_events if e.entity_id == by["artifactId"] and e.seq < event.seq]
    later = [e for e in artifact_events if e.entity_id == by["artifactId"] and e.seq > event.seq]
    assert earlier, f"{task['id']} was completed by {by['artifactId']} before it existed"
    state = earlier[-1].after
    assert state is not None
    assert state["status"] == "approved", (
        f"task {task['id']} completed at seq {event.seq} while {by['artifactId']} was "
        f"{state['status']} (last change: {earlier[-1].action} at seq {earlier[-1].seq})"
    )
    assert state["version"] == by["version"]
    assert state["taskId"] == task["id"] or (
        task["bundleId"] is not None and state["bundleId"] == task["bundleId"]
    ), f"{by['artifactId']} was not attached to task {task['id']} or its bundle"
    approvals = [e for e in earlier if e.after is not None and e.after["status"] == "approved"]
    assert approvals, "the artifact was never approved before the completion"
    if later:
        assert later[0].before is not None
        assert later[0].before["version"] == by["version"], "a change slipped in between"


def test_completions_race_reviews_and_moves_without_breaking_the_proof_rule(
    workspace: Workspace,
) -> None:
    actor = operator(workspace)
    fx = build(workspace, actor)
    setup_events = len(history(workspace))

    logs = run_threads(workspace, fx)

    unexpected = [exc for log in logs for exc in log.unexpected]
    assert not unexpected, [repr(exc) for exc in unexpected]
    successes = [s for log in logs for s in log.successes]
    conflicts = sum((log.conflicts for log in logs), Counter[str]())
    assert len(successes) + sum(conflicts.values()) == THREADS * OPS_PER_THREAD
    for key in conflicts:
        op, error = key.split(":")
        if op == "complete":
            assert error in ("ProofMissing", "VersionConflict"), key

    events = history(workspace)
    race = events[setup_events:]

    # Every event of the race was written by exactly one call that reported success with
    # that record version. (A call may also succeed without a change and without an
    # event: completing a done task, archiving an archived artifact, a repeated move.)
    changes = set(successes)
    written = Counter(
        (RACE_ACTIONS[e.action], e.entity_id, e.after["version"])
        for e in race
        if e.after is not None and e.action in RACE_ACTIONS
    )
    assert set(written) <= changes, set(written) - changes
    assert all(count == 1 for count in written.values())
    # A review that withdraws or restores a done task's proof records that on the task,
    # in the same transaction (CONTRACT §7).
    proof_events = {"proof-withdrawn", "proof-restored", "proof-rechecked"}
    assert {e.action for e in race} <= {*RACE_ACTIONS, "update", *proof_events}
    assert all(e.entity_type == "task" for e in race if e.action in proof_events)
    supersedes = sum(1 for op, _, _ in changes if op == "supersede")
    updates = [e for e in race if e.action == "update"]
    assert len(updates) <= supersedes
    for update in updates:
        assert update.entity_type == "artifact"
        assert update.after is not None
        assert update.after["supersedes"] is not None
    for op in ("approve", "submit", "reject", "supersede"):
        # These always change the record: each success has its own event.
        assert {c for c in changes if c[0] == op} == {w for w in written if w[0] == op}

    final_tasks = {t.id: tasks.get_task(workspace, t.id) for t in fx.tasks}

    # Finish every task that the race left open with a fresh approved artifact, so the
    # checks below always see completions, whatever the interleaving was.
    for task_id, task in final_tasks.items():
        if task.status != TaskStatus.DONE:
            artifacts.register_artifact(
                workspace,
                actor,
                {
                    "type": ArtifactType.REPORT,
                    "title": "Fresh proof",
                    "storage_uri": f"https://example.com/fresh/{task_id}",
                    "status": ArtifactStatus.APPROVED,
                    "task_id": task_id,
                },
            )
            done = tasks.update_task(workspace, actor, task_id, {"status": TaskStatus.DONE}, None)
            assert done.status == TaskStatus.DONE
    events = history(workspace)
    artifact_events = [e for e in events if e.entity_type == EntityType.ARTIFACT.value]

    completions = 0
    for task in fx.tasks:
        stored = tasks.get_task(workspace, task.id)
        as_json: JsonDict = {"id": stored.id, "bundleId": stored.bundle_id}
        task_events = [
            e for e in events if e.entity_type == EntityType.TASK.value and e.entity_id == task.id
        ]
        moves = [e for e in task_events if e.action in ("complete", "reopen")]
        assert moves, f"task {task.id} was never completed"
        assert moves[-1].action == "complete"
        assert stored.status == TaskStatus.DONE
        assert stored.completed_by == actor.id
        assert stored.completion_proof is not None
        last = moves[-1].after
        assert last is not None
        assert last["completedAt"] == stored.completed_at
        assert last["completionProof"] == to_dict(stored.completion_proof)
        for event in moves:
            if event.action == "complete":
                check_completion(event, artifact_events, as_json)
                completions += 1
    assert completions >= TASKS

    # Refs follow the relationships, also after concurrent moves.
    live = all_artifacts(workspace)
    for task in fx.tasks:
        stored = tasks.get_task(workspace, task.id)
        held = {a.id for a in live if a.task_id == task.id}
        assert {r.artifact_id for r in stored.artifact_refs} == held
        by_id = {a.id: a for a in live}
        for ref in stored.artifact_refs:
            assert ref.status == by_id[ref.artifact_id].status
        if stored.bundle_id:
            bundle = workflow.get_bundle(workspace, stored.bundle_id)
            held = {a.id for a in live if a.bundle_id == bundle.id}
            assert {r.artifact_id for r in bundle.artifact_refs} == held


def race_pair(calls: dict[str, Callable[[], Task | Artifact]]) -> dict[str, Any]:
    """Start the calls together on their own threads; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Task | Artifact]) -> None:
        barrier.wait()
        try:
            results[name] = call()
        except BaseException as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert not [t for t in threads if t.is_alive()], "a racing call hung"
    assert set(results) == set(calls)
    return results


def test_approval_and_rejection_race_a_completion(workspace: Workspace) -> None:
    """Many rounds of one completion against one rejection of the only proof: exactly one
    of the orders is observed in each round, and the loser gets a Conflict."""
    actor = operator(workspace)
    rounds = 40
    fx = build_rounds(workspace, actor, rounds)
    outcomes: Counter[str] = Counter()
    for task, artifact_id in fx:
        results = race_pair(
            {
                "complete": lambda t=task: tasks.update_task(
                    workspace, actor, t.id, {"status": TaskStatus.DONE}, None
                ),
                "reject": lambda a=artifact_id: artifact_review.review_artifact(
                    workspace, actor, a, ReviewAction.REJECT, reason="late veto"
                ),
            }
        )
        assert not isinstance(results["reject"], BaseException), results["reject"]
        stored = tasks.get_task(workspace, task.id)
        events = history(workspace)
        artifact_events = [e for e in events if e.entity_id == artifact_id]
        reject = next(e for e in artifact_events if e.action == "reject")
        completes = [e for e in events if e.entity_id == task.id and e.action == "complete"]
        if isinstance(results["complete"], BaseException):
            assert isinstance(results["complete"], Conflict), results["complete"]
            assert stored.status == TaskStatus.TODO
            assert stored.completion_proof is None
            assert completes == []
            outcomes["blocked"] += 1
        else:
            assert stored.status == TaskStatus.DONE
            [complete] = completes
            assert complete.seq < reject.seq
            check_completion(complete, artifact_events, {"id": task.id, "bundleId": task.bundle_id})
            # The task keeps its completion when the evidence changes later.
            assert stored.completion_proof is not None
            assert stored.completion_proof[0].satisfied_by is not None
            assert stored.completion_proof[0].satisfied_by["artifactId"] == artifact_id
            outcomes["completed"] += 1
    assert sum(outcomes.values()) == rounds


def build_rounds(ws: Workspace, actor: Actor, rounds: int) -> list[tuple[Task, str]]:
    made = []
    for index in range(rounds):
        task = tasks.create_task(
            ws,
            actor,
            {
                "description": f"Veto race {index}",
                "date": "2025-05-02",
                "proof_requirement": ProofRequirement(type=ProofType.ARTIFACT),
            },
        )
        artifact = artifacts.register_artifact(
            ws,
            actor,
            {
                "type": ArtifactType.REPORT,
                "title": f"Veto race proof {index}",
                "storage_uri": f"https://example.com/veto/{index}",
                "status": ArtifactStatus.APPROVED,
                "task_id": task.id,
            },
        )
        made.append((task, artifact.id))
    return made


def test_audit_history_lists_events_in_write_order(workspace: Workspace) -> None:
    """GET /audit-events returns an entity's history in the order it was written (the
    order the store committed it), also for changes made within the same millisecond."""
    actor = operator(workspace)
    artifact = artifacts.register_artifact(
        workspace,
        actor,
        {"type": ArtifactType.REPORT, "title": "Flip-flop", "storage_uri": "https://e.com/f"},
    )
    for _ in range(60):
        artifact_review.review_artifact(workspace, actor, artifact.id, ReviewAction.APPROVE)
        artifact_review.review_artifact(
            workspace, actor, artifact.id, ReviewAction.REJECT, reason="no"
        )
        artifact_review.review_artifact(workspace, actor, artifact.id, ReviewAction.SUBMIT)
    listed = people.list_audit_events(
        workspace, EntityType.ARTIFACT, artifact.id, PageRequest(limit=500)
    ).items
    committed = [e.id for e in history(workspace) if e.entity_id == artifact.id]
    assert len(listed) == len(committed) == 181
    versions = [e.after["version"] for e in listed if e.after is not None]
    assert versions == sorted(versions), "the history is not listed in write order"
    assert [e.id for e in listed] == committed
