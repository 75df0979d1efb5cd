"""Withdrawn proof (CONTRACT §7): a done task whose completion proof cites an artifact
that no longer satisfies it stays done and says so.

The stored `proofWithdrawn` flag (indexed: `?proofWithdrawn=true` is a query, never a
scan) is kept in step by the changes that withdraw or restore proof — an artifact write
that changes what the proof rule reads of it (status, type, approvals, creator,
`validUntil`) calls `refresh_citing` in its own transaction — and, for evidence whose
`validUntil` passes with no write at all, by the expiry sweep (`sweep_expired`), which
marks the tasks whose evidence expired on each day since its last pass (an indexed query
per day). Reads show an expiry the sweep has not reached yet (`live`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from dataops.domain.clock import today
from dataops.domain.enums import EntityType, NotificationType, TaskStatus
from dataops.domain.errors import Conflict
from dataops.domain.models import Actor, Artifact, Task
from dataops.domain.proof import cited_artifact_ids, withdrawal_reasons
from dataops.services import events
from dataops.services import settings as workspace_settings
from dataops.services.common import audit, save
from dataops.services.context import Workspace
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
    before: Artifact,
    artifact: Artifact,
    *,
    also_tasks: Iterable[str | None] = (),
    also_bundles: Iterable[str | None] = (),
) -> list[str]:
    """After a change from `before` to `artifact` (its new state, not yet committed) that
    can change whether it satisfies a proof, bring the done tasks whose completion proof
    cites it up to date, in the same unit of work: the
    first `IN_TRANSACTION` of them; the IDs of the rest are returned for `refresh_tasks`
    once this unit commits. The tasks that can cite it are its task's and those of its
    bundle (refs follow attach), and those it was attached to before a move (`also_*`)."""
    later: list[str] = []
    if all(getattr(before, name) == getattr(artifact, name) for name in _QUALIFYING):
        return later
    for index, task in enumerate(_citing(uow, artifact, also_tasks, also_bundles)):
        if index < IN_TRANSACTION:
            _refresh(uow, actor, task, {artifact.id: artifact}, today())
        else:
            later.append(task.id)
    return later


def refresh_tasks(ws: Workspace, actor: Actor, task_ids: Iterable[str]) -> None:
    """Bring each task's withdrawn-proof state up to date, one transaction each."""
    on = today()
    for task_id in task_ids:
        _sweep_one(ws, actor, task_id, on)


def _citing(
    uow: UnitOfWork,
    artifact: Artifact,
    also_tasks: Iterable[str | None],
    also_bundles: Iterable[str | None],
) -> Iterator[Task]:
    seen: set[str] = set()
    for task_id in dict.fromkeys([artifact.task_id, *also_tasks]):
        task = uow.tasks.get(task_id) if task_id else None
        if task is not None and task.status == TaskStatus.DONE:
            seen.add(task.id)
            if artifact.id in cited_artifact_ids(task):
                yield task
    for bundle_id in dict.fromkeys([artifact.bundle_id, *also_bundles]):
        if not bundle_id:
            continue
        filters = Filters({"bundle_id": bundle_id, "status": TaskStatus.DONE.value})
        for task in _all(uow, filters):
            if task.id not in seen and artifact.id in cited_artifact_ids(task):
                seen.add(task.id)
                yield task


def _all(uow: UnitOfWork, filters: Filters) -> Iterator[Task]:
    cursor: str | None = None
    while True:
        page = uow.tasks.find(filters, PageRequest(limit=_PAGE, cursor=cursor))
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


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
    """Mark the done tasks whose cited evidence expired since the last pass (each day up
    to yesterday: evidence is valid through its `validUntil`); how many changed."""
    on = on or today()
    state = workspace_settings.ensure_settings(ws)
    last = date.fromisoformat(on) - timedelta(days=1)
    day = date.fromisoformat(state.expiry_swept_through or last.isoformat()) + timedelta(days=1)
    changed = 0
    while day <= last:
        filters = Filters({"proof_expires_on": day.isoformat(), "status": TaskStatus.DONE.value})
        with ws.store.unit_of_work() as uow:
            due = list(_all(uow, filters))
        for task in due:
            changed += _sweep_one(ws, actor, task.id, on)
        day += timedelta(days=1)
    if last.isoformat() != state.expiry_swept_through:
        _record_sweep(ws, last.isoformat())
    return changed


def _sweep_one(ws: Workspace, actor: Actor, task_id: str, on: str) -> int:
    try:
        with ws.store.unit_of_work(write=True) as uow:
            task = uow.tasks.get(task_id)
            if task is None or task.status != TaskStatus.DONE:
                return 0
            version = task.version
            _refresh(uow, actor, task, {}, on)
            if task.version == version:
                return 0
            uow.commit()
            return 1
    except Conflict:  # changed meanwhile: that change re-checked it
        return 0


def _record_sweep(ws: Workspace, through: str) -> None:
    try:
        with ws.store.unit_of_work(write=True) as uow:
            state = workspace_settings.current(uow)
            if (state.expiry_swept_through or "") >= through:
                return
            updated = copy.deepcopy(state)
            updated.expiry_swept_through = through
            save(uow.settings, updated)
            uow.commit()
    except Conflict:  # another pass recorded it
        return
