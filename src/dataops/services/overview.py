"""The overview (Home, `GET /api/overview`): the workspace's lanes, each the first page of
a list the API also serves on its own, with its count, in one call.

- today, overdue, blocked (with each task's proof summary), withdrawn: `task_list`
  queries, exactly what `GET /api/tasks` answers for `due=today`, `due=overdue`,
  `blocked=true&include=proof`, `proofWithdrawn=true` (their cursors page on there);
- review: artifacts in needs-review (`GET /api/artifacts?status=needs-review`);
- expiring: approved artifacts whose `validUntil` is within `EXPIRING_DAYS`
  (`GET /api/artifacts?expiringWithinDays=`, whose cursor pages on), counted exactly
  (an index count per day).

Each lane carries the titles of the bundles (and, for artifacts, the tasks) its items
name, so the page needs no lookup of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dataops.domain.enums import ArtifactStatus
from dataops.domain.models import Artifact
from dataops.services import artifact_reads
from dataops.services.context import Workspace
from dataops.services.tasks import Due, TaskList, TaskQuery, task_list
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

EXPIRING_DAYS = 14


class Lane(StrEnum):
    TODAY = "today"
    OVERDUE = "overdue"
    BLOCKED = "blocked"
    WITHDRAWN = "withdrawn"
    REVIEW = "review"
    EXPIRING = "expiring"


TASK_LANES = {
    Lane.TODAY: TaskQuery({}, due=Due.TODAY, include_bundles=True, count=True),
    Lane.OVERDUE: TaskQuery({}, due=Due.OVERDUE, include_bundles=True, count=True),
    Lane.BLOCKED: TaskQuery({}, blocked=True, include_proof=True, include_bundles=True, count=True),
    Lane.WITHDRAWN: TaskQuery({"withdrawn_key": "true"}, include_bundles=True, count=True),
}


@dataclass
class ArtifactLane:
    page: Page[Artifact]
    count: int
    task_titles: dict[str, str] = field(default_factory=dict)
    bundle_titles: dict[str, str] = field(default_factory=dict)


@dataclass
class Overview:
    tasks: dict[Lane, TaskList]
    artifacts: dict[Lane, ArtifactLane]


def overview(ws: Workspace, page: PageRequest) -> Overview:
    """The first page (of `page.limit` items) of every lane."""
    tasks = {
        lane: task_list(ws, query, PageRequest(page.limit)) for lane, query in TASK_LANES.items()
    }
    with ws.store.unit_of_work() as uow:
        review_filters = Filters({"status": ArtifactStatus.NEEDS_REVIEW.value})
        review = uow.artifacts.find(review_filters, PageRequest(page.limit))
        review_count = uow.artifacts.count(review_filters)
        expiring = artifact_reads.expiring_artifacts(ws, EXPIRING_DAYS, PageRequest(page.limit))
        expiring_count = artifact_reads.expiring_count(uow, EXPIRING_DAYS)
        artifacts = {
            Lane.REVIEW: _named(uow, ArtifactLane(review, review_count)),
            Lane.EXPIRING: _named(uow, ArtifactLane(expiring, expiring_count)),
        }
    return Overview(tasks, artifacts)


def _named(uow: UnitOfWork, lane: ArtifactLane) -> ArtifactLane:
    task_ids = list(dict.fromkeys(a.task_id for a in lane.page.items if a.task_id))
    bundle_ids = list(dict.fromkeys(a.bundle_id for a in lane.page.items if a.bundle_id))
    lane.task_titles = {t.id: t.description for t in uow.tasks.get_many(task_ids)}
    lane.bundle_titles = {b.id: b.title for b in uow.bundles.get_many(bundle_ids)}
    return lane
