"""Task use cases: create, update, the completion gate, proof state."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts, today
from dataops.domain.codec import camel
from dataops.domain.enums import EntityType, NotificationType, TaskStatus
from dataops.domain.errors import Conflict, ProofMissing, ValidationFailed
from dataops.domain.models import Artifact, Bundle, FileRecord, Task
from dataops.domain.proof import ProofVerdict, describe_missing, evaluate
from dataops.domain.rules import task_errors
from dataops.services import events, proofs
from dataops.services.common import (
    audit,
    check_version,
    raise_if,
    refresh_refs,
    require,
    save,
    save_audited,
)
from dataops.services.context import Workspace
from dataops.services.evidence import PageEvidence, StoreEvidence
from dataops.services.notifications import notify
from dataops.services.paging import kept
from dataops.services.people import SYSTEM
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

_EDITABLE = frozenset(
    {
        "description",
        "date",
        "status",
        "comment",
        "waiting_for",
        "follow_up_at",
        "link",
        "required_link_name",
        "requires_file",
        "proof_requirement",
        "external_status",
        "bundle_id",
        "assignee_id",
        "stage_on_complete",
        "instructions_url",
        "instruction_doc_id",
        "instruction_step_id",
        "phase",
        "systems",
        "validation",
        "assistant_job_refs",
        "tags",
    }
)
_NOT_CLEARABLE = ("description", "date", "status", "requires_file")
_LIST_FIELDS = ("systems", "assistant_job_refs", "tags")


def create_task(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Task:
    stamp = now_ts()
    task = Task(
        id=new_id("tsk"),
        description=data["description"],
        date=data["date"],
        created_at=stamp,
        updated_at=stamp,
    )
    _apply(task, data)
    raise_if(task_errors(task))
    with ws.store.unit_of_work(write=True) as uow:
        bundle = _check_relations(uow, task, data.keys())
        if task.status == TaskStatus.DONE:
            verdict = evaluate(task, bundle, StoreEvidence(uow), task_exists=False, today=today())
            if not verdict.can_complete:
                raise _blocked(verdict)
            _stamp_completion(uow, task, actor, verdict)
            _guard_evidence(uow, verdict)
        proofs.stamp_open(uow, task, bundle, task_exists=False)
        uow.tasks.add(task)
        audit(uow, actor, EntityType.TASK, task.id, "create", after=task)
        if task.status == TaskStatus.DONE and task.stage_on_complete and bundle is not None:
            _advance_stage(uow, actor, bundle, task)
        if task.status == TaskStatus.DONE:
            audit(
                uow,
                actor,
                EntityType.TASK,
                task.id,
                "complete",
                after=task,
                summary="created as done",
            )
            events.task_completed(uow, task)
        uow.commit()
    return task


def get_task(ws: Workspace, task_id: str) -> Task:
    with ws.store.unit_of_work() as uow:
        task = require(uow.tasks, task_id, "task")
        refresh_refs(uow, [task])
        return proofs.live(task)


def list_tasks(ws: Workspace, filters: dict[str, str | None], page: PageRequest) -> Page[Task]:
    """Tasks by the given filters; `withdrawn_key="true"` lists the done tasks whose
    proof was withdrawn (the expiry sweep runs first, so expired evidence counts)."""
    return task_list(ws, TaskQuery(filters), page).page


class Due(StrEnum):
    """The date lanes of open (todo or waiting) tasks, by the server's today (UTC)."""

    OVERDUE = "overdue"  # dated before today
    TODAY = "today"
    SOON = "soon"  # dated tomorrow to today + SOON_DAYS
    NOW = "now"  # today or before: what is due


SOON_DAYS = 7
BLOCKED_CANDIDATES = 1000
"""How many tasks of the Blocked lane's index one request judges at most for its page
(which may come back short, with a cursor to ask on, when many stored verdicts are stale)."""


@dataclass(frozen=True)
class TaskQuery:
    filters: dict[str, str | None]
    due: Due | None = None
    blocked: bool = False
    """Only the todo tasks whose proof is not complete: a range read of the stored
    verdicts' index (`blocked_key`), each task of the page judged again live; `due`
    defaults to `now`."""
    include_proof: bool = False
    include_bundles: bool = False
    count: bool = False


@dataclass
class TaskList:
    page: Page[Task]
    count: int | None = None
    """With `TaskQuery.count`: how many tasks the whole list holds (an index count)."""
    proofs: dict[str, ProofVerdict] = field(default_factory=dict)
    """With `include_proof`: the verdict of each open task of the page."""
    bundles: dict[str, Bundle] = field(default_factory=dict)
    """With `include_bundles`: the bundles the page's tasks belong to."""


def task_list(ws: Workspace, query: TaskQuery, page: PageRequest) -> TaskList:
    """One page of a task list, with what `query` asks to include. A date lane is a range
    read of the open tasks' index (`open_key`, date order) and its count a count of the
    same range. The blocked lane is a range read and a count of the stored verdicts'
    index (`blocked_key`, after the expiry sweep); each task read is judged again live
    (`paging.kept`, at most `BLOCKED_CANDIDATES` per request) so a page never shows a
    task that is not blocked, even where a stored verdict is stale."""
    if query.filters.get("withdrawn_key") or query.blocked:
        proofs.sweep_expired(ws, SYSTEM)
    on = today()
    filters = _lane_filters(query, on)
    with ws.store.unit_of_work() as uow:
        judge = _ProofJudge(uow, on)
        if query.blocked:
            reads = max(1, BLOCKED_CANDIDATES // (page.limit + 1))
            found = kept(uow.tasks, filters, page, keep=judge.blocked, max_reads=reads)
        else:
            found = uow.tasks.find(filters, page)
        refresh_refs(uow, found.items)
        result = TaskList(Page([proofs.live(task, on) for task in found.items], found.next_cursor))
        if query.count:
            result.count = uow.tasks.count(filters)
        if query.include_proof:
            result.proofs = judge.verdicts([t for t in result.page.items if _open(t)])
        if query.include_bundles:
            ids = list(dict.fromkeys(t.bundle_id for t in result.page.items if t.bundle_id))
            result.bundles = {b.id: b for b in judge.bundles(ids)}
        return result


def _lane_filters(query: TaskQuery, on: str) -> Filters:
    due = query.due or (Due.NOW if query.blocked else None)
    if due is None:
        return Filters(query.filters)
    lane = "blocked_key" if query.blocked else "open_key"
    values = {**query.filters, lane: "true"}
    day = date.fromisoformat(on)
    if due == Due.OVERDUE:
        return Filters(values, through=(day - timedelta(days=1)).isoformat())
    if due == Due.TODAY:
        return Filters(values, since=on, through=on)
    if due == Due.SOON:
        soon = (day + timedelta(days=SOON_DAYS)).isoformat()
        return Filters(values, since=(day + timedelta(days=1)).isoformat(), through=soon)
    return Filters(values, through=on)


def _open(task: Task) -> bool:
    return task.status in (TaskStatus.TODO, TaskStatus.WAITING)


class _ProofJudge:
    """The proof rule (`domain.proof.evaluate`) over many tasks at once: their bundles in
    one read, their evidence through `PageEvidence`; each verdict kept for the page."""

    def __init__(self, uow: UnitOfWork, on: str) -> None:
        self._uow = uow
        self._on = on
        self._bundles: dict[str, Bundle | None] = {}
        self._verdicts: dict[str, ProofVerdict] = {}
        self._evidence = PageEvidence(uow)

    def bundles(self, ids: Sequence[str]) -> list[Bundle]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._bundles]
        if missing:
            found = {b.id: b for b in self._uow.bundles.get_many(missing)}
            self._bundles.update((i, found.get(i)) for i in missing)
        return [b for i in dict.fromkeys(ids) if (b := self._bundles.get(i)) is not None]

    def verdicts(self, tasks: Sequence[Task]) -> dict[str, ProofVerdict]:
        todo = [t for t in tasks if t.id not in self._verdicts]
        if todo:
            self.bundles([t.bundle_id for t in todo if t.bundle_id])
            for task in todo:
                bundle = self._bundles.get(task.bundle_id) if task.bundle_id else None
                self._verdicts[task.id] = evaluate(task, bundle, self._evidence, today=self._on)
        return {t.id: self._verdicts[t.id] for t in tasks}

    def blocked(self, tasks: Sequence[Task]) -> list[bool]:
        """Whether each task is todo and may not be completed yet."""
        todo = [t for t in tasks if t.status == TaskStatus.TODO]
        verdicts = self.verdicts(todo)
        return [t.id in verdicts and not verdicts[t.id].can_complete for t in tasks]


def proof_state(ws: Workspace, task_id: str) -> ProofVerdict:
    with ws.store.unit_of_work() as uow:
        task = require(uow.tasks, task_id, "task")
        bundle = uow.bundles.get(task.bundle_id) if task.bundle_id else None
        return evaluate(task, bundle, StoreEvidence(uow), today=today())


TASK_VIEW_LIMIT = 500
"""How many files and artifacts (of the task, of its bundle) a task view holds; a longer
list says so by its cursor."""


@dataclass
class TaskView:
    """What the task page shows, read in one request (`GET /api/tasks/{id}?include=`):
    the task and, when asked for, its proof verdict, its bundle (None when it has none
    or it is gone), and the first page of its files, its artifacts and its bundle's
    artifacts."""

    task: Task
    proof: ProofVerdict | None = None
    bundle: Bundle | None = None
    files: Page[FileRecord] | None = None
    artifacts: Page[Artifact] | None = None
    bundle_artifacts: Page[Artifact] | None = None


def task_view(ws: Workspace, task_id: str, wanted: set[str]) -> TaskView:
    view = TaskView(get_task(ws, task_id))
    task = view.task
    first = PageRequest(limit=TASK_VIEW_LIMIT)
    with ws.store.unit_of_work() as uow:
        bundle = uow.bundles.get(task.bundle_id) if task.bundle_id else None
        if "bundle" in wanted and bundle is not None:
            view.bundle = copy.deepcopy(bundle)
            refresh_refs(uow, [view.bundle])  # as GET /api/bundles/{id} shows it
        if "proof" in wanted:  # judged as `proof_state` judges it: on the stored record
            stored = require(uow.tasks, task_id, "task")
            view.proof = evaluate(stored, bundle, StoreEvidence(uow), today=today())
        if "files" in wanted:
            view.files = uow.files.find(Filters({"task_id": task.id}), first)
        if "artifacts" in wanted:
            view.artifacts = uow.artifacts.find(Filters({"task_id": task.id}), first)
            if task.bundle_id:
                view.bundle_artifacts = uow.artifacts.find(
                    Filters({"bundle_id": task.bundle_id}), first
                )
    return view


def update_task(
    ws: Workspace,
    actor: Actor,
    task_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Task:
    """PATCH a task. Moving to done runs the proof gate inside the same write transaction,
    so the evidence it saw is what the completion commits with."""
    for name in _NOT_CLEARABLE:
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(camel(name), "cannot be cleared")
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.tasks, task_id, "task")
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        _apply(updated, changes)
        raise_if(task_errors(updated))
        bundle = _check_relations(uow, updated, changes.keys())
        completing, blocked = _completion(uow, actor, current, updated, bundle)
        if blocked is None:
            proofs.stamp_open(uow, updated, bundle)
            if updated == current:
                refresh_refs(uow, [current])
                return current
            save(uow.tasks, updated)
            _audit_change(uow, actor, current, updated)
            if completing:
                events.task_completed(uow, updated)
            if completing and updated.stage_on_complete and bundle is not None:
                _advance_stage(uow, actor, bundle, updated)
            uow.commit()
            refresh_refs(uow, [updated])
            return updated
    _notify_missing(ws, actor, current, blocked)
    raise blocked


def _apply(task: Task, data: dict[str, Any]) -> None:
    for name in _EDITABLE & data.keys():
        value = data[name]
        if value is None and name in _LIST_FIELDS:
            value = []
        setattr(task, name, value)


def _check_relations(uow: UnitOfWork, task: Task, fields: Any) -> Bundle | None:
    fields = set(fields)
    if task.assignee_id and "assignee_id" in fields:
        require(uow.users, task.assignee_id, "user", "assigneeId")
    if task.bundle_id:
        return require(uow.bundles, task.bundle_id, "bundle", "bundleId")
    return None


def _stamp_completion(uow: UnitOfWork, task: Task, actor: Actor, verdict: ProofVerdict) -> None:
    task.completed_by = actor.id
    task.completed_at = now_ts()
    task.completion_proof = verdict.requirements
    task.proof_withdrawn, task.proof_withdrawn_reasons = False, []
    task.proof_expires_on = proofs.completion_expiry(uow, task)


def _guard_evidence(uow: UnitOfWork, verdict: ProofVerdict) -> None:
    """The artifacts that satisfied the gate must be unchanged when the completion commits."""
    for requirement in verdict.requirements:
        by = requirement.satisfied_by or {}
        if requirement.kind == "artifact" and "artifactId" in by:
            uow.guard("artifacts", by["artifactId"], by["version"])


def _blocked(verdict: ProofVerdict) -> ProofMissing:
    return ProofMissing(describe_missing(verdict), [r.label for r in verdict.missing])


def _audit_change(uow: UnitOfWork, actor: Actor, before: Task, after: Task) -> None:
    if after.status == TaskStatus.DONE and before.status != TaskStatus.DONE:
        action = "complete"
    elif before.status == TaskStatus.DONE and after.status != TaskStatus.DONE:
        action = "reopen"
    else:
        action = "update"
    audit(uow, actor, EntityType.TASK, after.id, action, before=before, after=after)


def _completion(
    uow: UnitOfWork, actor: Actor, current: Task, updated: Task, bundle: Bundle | None
) -> tuple[bool, ProofMissing | None]:
    """Whether `updated` completes the task, and the ProofMissing to raise when the proof
    gate refuses it; a passed gate stamps the completion on `updated`, and a task that is
    not done carries no completion."""
    blocked: ProofMissing | None = None
    completing = updated.status == TaskStatus.DONE and current.status != TaskStatus.DONE
    if completing:
        verdict = evaluate(updated, bundle, StoreEvidence(uow), today=today())
        if verdict.can_complete:
            _stamp_completion(uow, updated, actor, verdict)
            _guard_evidence(uow, verdict)
        else:
            blocked = _blocked(verdict)
    elif updated.status != TaskStatus.DONE:  # (reopened, or never done)
        updated.completed_at = updated.completed_by = None
        updated.completion_proof = None
        updated.proof_withdrawn, updated.proof_withdrawn_reasons = False, []
        updated.proof_expires_on = None
    return completing, blocked


def _advance_stage(uow: UnitOfWork, actor: Actor, bundle: Bundle, task: Task) -> None:
    if bundle.stage == task.stage_on_complete:
        return
    before = copy.deepcopy(bundle)
    bundle.stage = task.stage_on_complete
    summary = f"stage set to {bundle.stage} by completing task {task.id}"
    save_audited(
        uow, actor, uow.bundles, EntityType.BUNDLE, "stage-change", before, bundle, summary
    )
    notify(
        uow,
        NotificationType.STAGE_CHANGE,
        f"{bundle.title}: stage is now {bundle.stage}",
        task.assignee_id or actor.id,
        f"{bundle.id}#{bundle.stage}",  # each stage reached is news, once a day
        task_id=task.id,
        bundle_id=bundle.id,
    )


def _notify_missing(ws: Workspace, actor: Actor, task: Task, blocked: ProofMissing) -> None:
    """Record a missing-evidence notification for a blocked completion (at most one a
    day per task and user), in its own transaction: the task itself stays unchanged."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            made = notify(
                uow,
                NotificationType.MISSING_EVIDENCE,
                f"{task.description}: {blocked.detail}",
                task.assignee_id or actor.id,
                task.id,
                task_id=task.id,
                bundle_id=task.bundle_id,
                template_id=task.template_id,
            )
            if made is not None:
                uow.commit()
    except Conflict:  # the runner made it meanwhile
        return
