"""Withdrawn proof (CONTRACT §7): a done task whose completion proof cites an artifact
that no longer satisfies it stays done and says so.

The stored `proofWithdrawn` flag (indexed: `?proofWithdrawn=true` is a query, never a
scan) is kept in step by the changes that withdraw or restore proof — an artifact write
that changes what the proof rule reads of it (status, type, approvals, creator,
`validUntil`) calls `refresh_citing` in its own transaction — and, for evidence whose
`validUntil` passes with no write at all, by the expiry sweep (`sweep_expired`), which
marks the tasks whose evidence expired on each day since its last pass (an indexed query
per day). Reads show an expiry the sweep has not reached yet (`live`).

Blocked proof: the stored, indexed `proofBlocked` of a todo task (its proof is not
complete by `domain.proof.evaluate`) is kept in step the same way — the task's own saves
(`stamp_open`), the artifact writes that change what the rule reads of an approved
artifact or where it is attached (`refresh_citing`: the open tasks of its task and
bundle), a file added to a task (`recheck_task`), and the expiry sweep for the evidence
a complete proof relies on (`proofExpiresOn` of the todo task). The tasks stored before
the index existed are judged once (`index_blocked`, run at engine start and by the
sweep).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta

from dataops.domain.accounts import Actor, WorkspaceSettings
from dataops.domain.clock import today
from dataops.domain.enums import ArtifactStatus, EntityType, NotificationType, TaskStatus
from dataops.domain.errors import Conflict
from dataops.domain.models import Artifact, Bundle, RequirementVerdict, Task
from dataops.domain.proof import EvidenceSource, cited_artifact_ids, evaluate, withdrawal_reasons
from dataops.services import events
from dataops.services import settings as workspace_settings
from dataops.services.common import audit, save
from dataops.services.context import Workspace
from dataops.services.evidence import PageEvidence, StoreEvidence
from dataops.services.notifications import notify
from dataops.store.port import Filters, PageRequest, UnitOfWork

_PAGE = 500
IN_TRANSACTION = 15
"""How many citing tasks an artifact's own transaction brings up to date (each is a task
write, an audit event and, when its proof is withdrawn, a notification with its dedupe
claim: four operations, and a DynamoDB transaction holds at most 100, which the
artifact's own writes and its review-requested notifications share); any more are
brought up to date right after it commits, each in its own transaction."""


def completion_expiry(uow: UnitOfWork, task: Task) -> str | None:
    """The earliest `validUntil` of the artifacts the task's completion proof cites."""
    cited = uow.artifacts.get_many(cited_artifact_ids(task))
    return min((a.valid_until for a in cited if a.valid_until), default=None)


_QUALIFYING = ("status", "type", "approvals", "reviewed_by", "created_by", "valid_until")
"""What `artifact_shortfall` reads of an artifact: a change to anything else (its title,
tags, where it is attached) cannot withdraw or restore a proof."""


def refresh_citing(
    uow: UnitOfWork,
    actor: Actor,
    before: Artifact | None,
    artifact: Artifact,
    *,
    also_tasks: Iterable[str | None] = (),
    also_bundles: Iterable[str | None] = (),
) -> list[str]:
    """After a change from `before` (None: just registered) to `artifact` (its new state,
    not yet committed), bring the tasks whose stored proof state it can change up to date,
    in the same unit of work: the done tasks whose completion proof cites it (when what
    the rule reads of it changed) and, when it is or was approved and that or where it
    is attached changed, the todo tasks that can count it (`proofBlocked`). The first
    `IN_TRANSACTION` of them; the IDs of the rest are returned for `refresh_tasks` once
    this unit commits. The tasks that can use it are its task's and those of its bundle
    (refs follow attach), and those it was attached to before a move (`also_*`)."""
    later: list[str] = []
    qualifying = before is not None and any(
        getattr(before, name) != getattr(artifact, name) for name in _QUALIFYING
    )
    moved = before is None or (before.task_id, before.bundle_id) != (
        artifact.task_id,
        artifact.bundle_id,
    )
    approved = artifact.status == ArtifactStatus.APPROVED or (
        before is not None and before.status == ArtifactStatus.APPROVED
    )
    todo = approved and (qualifying or moved)
    if not qualifying and not todo:
        return later
    affected = _affected(uow, artifact, also_tasks, also_bundles, done=qualifying, todo=todo)
    for index, task in enumerate(affected):
        if index < IN_TRANSACTION:
            _recheck(uow, actor, task, {artifact.id: artifact}, today())
        else:
            later.append(task.id)
    return later


def recheck_task(uow: UnitOfWork, actor: Actor, task_id: str | None) -> None:
    """Bring a todo task's `proofBlocked` up to date in this unit of work (after a file
    was added to it)."""
    task = uow.tasks.get(task_id) if task_id else None
    if task is not None and task.status == TaskStatus.TODO:
        _refresh_open(uow, actor, task, today())


def refresh_tasks(ws: Workspace, actor: Actor, task_ids: Iterable[str]) -> None:
    """Bring each task's stored proof state (withdrawn, blocked) up to date, one
    transaction each."""
    on = today()
    for task_id in task_ids:
        _sweep_one(ws, actor, task_id, on)


def _affected(
    uow: UnitOfWork,
    artifact: Artifact,
    also_tasks: Iterable[str | None],
    also_bundles: Iterable[str | None],
    *,
    done: bool,
    todo: bool,
) -> Iterator[Task]:
    seen: set[str] = set()

    def wanted(task: Task) -> bool:
        if task.id in seen:
            return False
        seen.add(task.id)
        if task.status == TaskStatus.DONE:
            return done and artifact.id in cited_artifact_ids(task)
        return todo and task.status == TaskStatus.TODO

    for task_id in dict.fromkeys([artifact.task_id, *also_tasks]):
        task = uow.tasks.get(task_id) if task_id else None
        if task is not None and wanted(task):
            yield task
    statuses = [TaskStatus.DONE] * done + [TaskStatus.TODO] * todo
    for bundle_id in dict.fromkeys([artifact.bundle_id, *also_bundles]):
        for status in statuses if bundle_id else ():
            filters = Filters({"bundle_id": bundle_id, "status": status.value})
            yield from (task for task in _all(uow, filters) if wanted(task))


def _all(uow: UnitOfWork, filters: Filters) -> Iterator[Task]:
    for tasks in _pages(uow, filters):
        yield from tasks


def _pages(uow: UnitOfWork, filters: Filters) -> Iterator[list[Task]]:
    cursor: str | None = None
    while True:
        page = uow.tasks.find(filters, PageRequest(limit=_PAGE, cursor=cursor))
        yield list(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return


def _recheck(
    uow: UnitOfWork, actor: Actor, task: Task, known: dict[str, Artifact], on: str
) -> None:
    if task.status == TaskStatus.DONE:
        _refresh(uow, actor, task, known, on)
    elif task.status == TaskStatus.TODO:
        _refresh_open(uow, actor, task, on)


def open_state(
    task: Task,
    bundle: Bundle | None,
    source: EvidenceSource,
    on: str,
    *,
    task_exists: bool = True,
) -> tuple[bool, str | None]:
    """The stored proof state of a todo task by the proof rule: whether it is blocked,
    and (when it is not) the earliest `validUntil` of the artifacts that complete it, the
    day after which the expiry sweep judges it again."""
    verdict = evaluate(task, bundle, source, task_exists=task_exists, today=on)
    if not verdict.can_complete:
        return True, None
    return False, _expiry(source, verdict.requirements)


def _expiry(source: EvidenceSource, requirements: Sequence[RequirementVerdict]) -> str | None:
    ids = []
    for requirement in requirements:
        cited = (requirement.satisfied_by or {}).get("artifactId")
        if requirement.kind == "artifact" and isinstance(cited, str):
            ids.append(cited)
    artifacts = source.artifacts_by_id(ids) if ids else []
    return min((a.valid_until for a in artifacts if a.valid_until), default=None)


def stamp_open(
    uow: UnitOfWork,
    task: Task,
    bundle: Bundle | None,
    *,
    task_exists: bool = True,
    source: EvidenceSource | None = None,
) -> None:
    """Set `proofBlocked` (and a todo task's `proofExpiresOn`) of `task`, in its state
    about to be saved; `bundle` is its bundle (None: it has none). A done task keeps the
    expiry of its completion proof; a waiting or archived one has neither."""
    if task.status == TaskStatus.TODO:
        evidence = source or StoreEvidence(uow)
        state = open_state(task, bundle, evidence, today(), task_exists=task_exists)
        task.proof_blocked, task.proof_expires_on = state
    elif task.status == TaskStatus.DONE:
        task.proof_blocked = False
    else:
        task.proof_blocked, task.proof_expires_on = False, None


def _refresh_open(uow: UnitOfWork, actor: Actor, task: Task, on: str) -> None:
    bundle = uow.bundles.get(task.bundle_id) if task.bundle_id else None
    state = open_state(task, bundle, StoreEvidence(uow), on)
    if (task.proof_blocked, task.proof_expires_on) == state:
        return
    before = copy.deepcopy(task)
    task.proof_blocked, task.proof_expires_on = state
    save(uow.tasks, task)
    summary = "its proof is not complete" if task.proof_blocked else "its proof is complete"
    audit(
        uow,
        actor,
        EntityType.TASK,
        task.id,
        "proof-rechecked",
        before=before,
        after=task,
        summary=summary,
    )


def _refresh(
    uow: UnitOfWork, actor: Actor, task: Task, known: dict[str, Artifact], on: str
) -> None:
    ids = cited_artifact_ids(task)
    artifacts = [known[i] for i in ids if i in known]
    artifacts += uow.artifacts.get_many([i for i in ids if i not in known])
    reasons = withdrawal_reasons(task, artifacts, on)
    expires = min((a.valid_until for a in artifacts if a.valid_until), default=None)
    state = (bool(reasons), reasons, expires)
    if (task.proof_withdrawn, task.proof_withdrawn_reasons, task.proof_expires_on) == state:
        return
    before = copy.deepcopy(task)
    task.proof_withdrawn, task.proof_withdrawn_reasons, task.proof_expires_on = state
    save(uow.tasks, task)
    if task.proof_withdrawn != before.proof_withdrawn:
        action = "proof-withdrawn" if task.proof_withdrawn else "proof-restored"
        summary = "; ".join(reasons) if reasons else "its completion proof holds again"
        if task.proof_withdrawn:
            events.proof_withdrawn(uow, task)
        if task.proof_withdrawn and task.completed_by:
            notify(
                uow,
                NotificationType.PROOF_WITHDRAWN,
                f"{task.description}: proof withdrawn ({summary})",
                task.completed_by,
                task.id,
                task_id=task.id,
                bundle_id=task.bundle_id,
                template_id=task.template_id,
            )
    else:
        action, summary = "proof-rechecked", "its completion proof was checked again"
    audit(uow, actor, EntityType.TASK, task.id, action, before=before, after=task, summary=summary)


def live(task: Task, on: str | None = None) -> Task:
    """`task` as of `on` (default today): evidence that expired before the sweep reached
    it shows as withdrawn proof. The stored record is not changed."""
    on = on or today()
    expires = task.proof_expires_on
    if task.status != TaskStatus.DONE or expires is None or expires >= on:
        return task
    reason = f"evidence it cites expired on {expires}"
    if task.proof_withdrawn and any("expired on" in r for r in task.proof_withdrawn_reasons):
        return task
    shown = copy.copy(task)
    shown.proof_withdrawn = True
    shown.proof_withdrawn_reasons = [*task.proof_withdrawn_reasons, reason]
    return shown


def sweep_expired(ws: Workspace, actor: Actor, on: str | None = None) -> int:
    """Judge again the tasks whose stored proof state relies on evidence that expired
    since the last pass (each day up to yesterday: evidence is valid through its
    `validUntil`): done tasks whose cited evidence expired are marked withdrawn, todo tasks
    whose complete proof expired become blocked unless other evidence completes it. The
    first pass also judges the todo tasks stored before `proofBlocked` existed
    (`index_blocked`). How many tasks changed."""
    on = on or today()
    changed = index_blocked(ws, actor, on)
    state = workspace_settings.ensure_settings(ws)
    last = date.fromisoformat(on) - timedelta(days=1)
    day = date.fromisoformat(state.expiry_swept_through or last.isoformat()) + timedelta(days=1)
    while day <= last:
        filters = Filters({"proof_expires_on": day.isoformat()})
        with ws.store.unit_of_work() as uow:
            due = list(_all(uow, filters))
        for task in due:
            changed += _sweep_one(ws, actor, task.id, on)
        day += timedelta(days=1)
    through = last.isoformat()
    if through != state.expiry_swept_through:
        _record(
            ws,
            lambda s: (s.expiry_swept_through or "") >= through,
            lambda s: setattr(s, "expiry_swept_through", through),
        )
    return changed


def index_blocked(ws: Workspace, actor: Actor, on: str | None = None) -> int:
    """Once per workspace: judge every todo task by the proof rule and store its
    `proofBlocked` where it differs (the tasks stored before the Blocked lane's index
    existed have none). A page of tasks is judged at a time, in bulk (`PageEvidence`);
    the tasks that differ are written `IN_TRANSACTION` to a transaction, each judged
    again there. How many changed."""
    if workspace_settings.ensure_settings(ws).blocked_indexed:
        return 0
    on = on or today()
    stale: list[str] = []
    with ws.store.unit_of_work() as uow:
        for tasks in _pages(uow, Filters({"status": TaskStatus.TODO.value})):
            evidence = PageEvidence(uow)
            bundle_ids = list(dict.fromkeys(t.bundle_id for t in tasks if t.bundle_id))
            bundles = {b.id: b for b in uow.bundles.get_many(bundle_ids)}
            for task in tasks:
                bundle = bundles.get(task.bundle_id) if task.bundle_id else None
                state = open_state(task, bundle, evidence, on)
                if (task.proof_blocked, task.proof_expires_on) != state:
                    stale.append(task.id)
    changed = 0
    for start in range(0, len(stale), IN_TRANSACTION):
        changed += _sweep_many(ws, actor, stale[start : start + IN_TRANSACTION], on)
    _record(ws, lambda s: s.blocked_indexed, lambda s: setattr(s, "blocked_indexed", True))
    return changed


def _sweep_many(ws: Workspace, actor: Actor, task_ids: list[str], on: str) -> int:
    """Bring the tasks up to date in one transaction (each on its own if another write
    changed one meanwhile); how many changed."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            changed = 0
            for task in uow.tasks.get_many(task_ids):
                version = task.version
                _recheck(uow, actor, task, {}, on)
                changed += task.version != version
            uow.commit()
            return changed
    except Conflict:
        return sum(_sweep_one(ws, actor, task_id, on) for task_id in task_ids)


def _sweep_one(ws: Workspace, actor: Actor, task_id: str, on: str) -> int:
    try:
        with ws.store.unit_of_work(write=True) as uow:
            task = uow.tasks.get(task_id)
            if task is None or task.status not in (TaskStatus.DONE, TaskStatus.TODO):
                return 0
            version = task.version
            _recheck(uow, actor, task, {}, on)
            if task.version == version:
                return 0
            uow.commit()
            return 1
    except Conflict:  # changed meanwhile: that change re-checked it
        return 0


def _record(
    ws: Workspace,
    done: Callable[[WorkspaceSettings], bool],
    change: Callable[[WorkspaceSettings], None],
) -> None:
    """Record a pass in the settings record (unless another pass recorded it first)."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            state = workspace_settings.current(uow)
            if done(state):
                return
            updated = copy.deepcopy(state)
            change(updated)
            save(uow.settings, updated)
            uow.commit()
    except Conflict:  # another pass recorded it
        return
