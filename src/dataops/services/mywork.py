"""My work (CONTRACT §8): the actor's four lists, each paged and each read through an
index of its own on both stores (never a walk of all tasks or artifacts).

- due: tasks assigned to the actor that are still open (todo or waiting) and dated today
  (UTC) or earlier, oldest first. The (assignee, `open_key`) index holds only open tasks
  in date order, so the read starts at the oldest and stops at the first one dated after
  today: what it reads beyond the list is at most one page.
- reviews: artifacts in needs-review the actor may approve or reject now
  (`permissions.awaits_decision_by`): none for a role that may not review; under the
  `independent` policy not the ones they created. Read through the status index; the
  ones the actor may not decide on are dropped, and the cursor still continues after
  the last artifact examined (`paging.kept`).
- rejected: artifacts the actor created whose status is rejected (creator + status).
- withdrawn: done tasks the actor completed whose proof is withdrawn (completer +
  `withdrawn_key`), after the expiry sweep, like `GET /api/tasks?proofWithdrawn=true`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import today
from dataops.domain.enums import ArtifactStatus
from dataops.domain.errors import ValidationFailed
from dataops.domain.models import Artifact, Task
from dataops.domain.permissions import Permission, awaits_decision_by, may
from dataops.services import proofs, settings
from dataops.services.common import refresh_refs
from dataops.services.context import Workspace
from dataops.services.paging import kept
from dataops.services.people import SYSTEM
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork


class WorkList(StrEnum):
    DUE = "due"
    REVIEWS = "reviews"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


def my_work(ws: Workspace, actor: Actor, page: PageRequest) -> dict[WorkList, Page[Any]]:
    """The first page (of `page.limit` items) of every list, read in one unit of work. A
    cursor belongs to one list: 422 here."""
    if page.cursor is not None:
        raise ValidationFailed.one("cursor", "belongs to one list: send list= with it")
    proofs.sweep_expired(ws, SYSTEM)
    on = today()
    with ws.store.unit_of_work() as uow:
        return {which: work_list(uow, actor, which, page, on) for which in WorkList}


def my_work_list(ws: Workspace, actor: Actor, which: WorkList, page: PageRequest) -> Page[Any]:
    """One page of one list."""
    if which == WorkList.WITHDRAWN:
        proofs.sweep_expired(ws, SYSTEM)
    with ws.store.unit_of_work() as uow:
        return work_list(uow, actor, which, page, today())


def work_list(
    uow: UnitOfWork, actor: Actor, which: WorkList, page: PageRequest, on: str
) -> Page[Any]:
    """One page of list `which` as `uow` sees it, `on` being today (YYYY-MM-DD)."""
    if which == WorkList.DUE:
        filters = Filters({"assignee_id": actor.id, "open_key": "true"})
        due = kept(uow.tasks, filters, page, until=lambda task: task.date > on)
        return _shown(uow, due, on)
    if which == WorkList.REVIEWS:
        if not may(actor.role, Permission.REVIEW):
            return Page([])
        policy = settings.current(uow).review_policy
        filters = Filters({"status": ArtifactStatus.NEEDS_REVIEW.value})
        return kept(
            uow.artifacts,
            filters,
            page,
            keep=lambda artifacts: [
                awaits_decision_by(actor.role, actor.id, artifact, policy) for artifact in artifacts
            ],
        )
    if which == WorkList.REJECTED:
        filters = Filters({"created_by": actor.id, "status": ArtifactStatus.REJECTED.value})
        rejected: Page[Artifact] = uow.artifacts.find(filters, page)
        return rejected
    filters = Filters({"completed_by": actor.id, "withdrawn_key": "true"})
    return _shown(uow, uow.tasks.find(filters, page), on)


def _shown(uow: UnitOfWork, tasks: Page[Task], on: str) -> Page[Task]:
    """Tasks as every task read shows them: current artifact refs, live withdrawn proof."""
    refresh_refs(uow, tasks.items)
    return Page([proofs.live(task, on) for task in tasks.items], tasks.next_cursor)
