"""Notifications that fire (CONTRACT §8): the one helper every producer uses (`notify`),
who a task's notifications go to (`Recipients`), and the runner's pass over due work
(`notify_due`).

At most one notification per (type, subject, recipient, UTC day): its `dedupeKey` is a
digest of those four and unique in the store (SQLite: a UNIQUE index; DynamoDB: a claim
item in the notification's own transaction). `notify` looks the key up first (strongly
consistent on both stores) and makes nothing when it exists, so a change that would
notify twice in a day is never refused for it; two runner passes that race for one
notification both try, one commits and the other gets `Conflict` and reads again.

Producers in the same unit of work as the change that causes them: `stage-change`
(`tasks._advance_stage`), `review-requested` and `artifact-rejected`
(`services/artifacts.py`), `proof-withdrawn` (`proofs._refresh`, wherever it marks a
task), `recurring-due` (the occurrence's own transaction, `recurring_pass._make`). The
runner's pass (`notify_due`) makes `task-due`, `task-overdue`, `follow-up-due` and
`missing-evidence`, only for open tasks dated today or earlier, reading them through
the tasks' (status, date) index up to today: its cost grows with the due tasks, not the
stored ones, and a fresh bundle's tasks dated in the future are never read.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from dataops.domain.clock import format_ts, new_id, parse_ts
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import ArtifactStatus, NotificationType, Role, TaskStatus
from dataops.domain.errors import Conflict
from dataops.domain.messages import Notification
from dataops.domain.models import Artifact, Bundle, Task, Template
from dataops.domain.proof import describe_missing, evaluate
from dataops.services import events, mail
from dataops.services.context import Workspace
from dataops.services.evidence import StoreEvidence
from dataops.store.port import Filters, PageRequest, UnitOfWork

log = logging.getLogger(__name__)

_PAGE = 500
_ATTEMPTS = 3
MESSAGE_MAX = 500
"""A notification's message is cut to this many characters (titles and reasons are the
user's text)."""


def dedupe_key(kind: NotificationType, subject: str, recipient: str, day: str) -> str:
    """The digest that makes (type, subject, recipient, day) unique in the store."""
    text = "\n".join((kind.value, subject, recipient, day))
    return hashlib.sha256(text.encode()).hexdigest()


def exists(
    uow: UnitOfWork, kind: NotificationType, subject: str, recipient: str, at: datetime
) -> bool:
    """Whether the notification of `kind` for `subject` and `recipient` was made on the
    UTC day of `at`."""
    key = dedupe_key(kind, subject, recipient, at.astimezone(UTC).date().isoformat())
    return bool(uow.notifications.find(Filters({"dedupe_key": key}), PageRequest(1)).items)


def notify(
    uow: UnitOfWork,
    kind: NotificationType,
    message: str,
    recipient: str,
    subject: str,
    *,
    at: datetime | None = None,
    task_id: str | None = None,
    bundle_id: str | None = None,
    template_id: str | None = None,
    artifact_id: str | None = None,
    due_at: str | None = None,
) -> Notification | None:
    """Add the notification to `uow` unless one of its kind for `subject` and `recipient`
    exists for the UTC day of `at` (default now); the one added, or None."""
    moment = (at or clock_now()).astimezone(UTC)
    if exists(uow, kind, subject, recipient, moment):
        return None
    note = Notification(
        id=new_id("ntf"),
        type=kind,
        message=message[:MESSAGE_MAX],
        created_at=format_ts(moment),
        user_id=recipient,
        task_id=task_id,
        bundle_id=bundle_id,
        template_id=template_id,
        artifact_id=artifact_id,
        due_at=due_at,
        dedupe_key=dedupe_key(kind, subject, recipient, moment.date().isoformat()),
    )
    uow.notifications.add(note)
    events.notification_created(uow, note)
    mail.notification_emailed(uow, note)
    return note


def users_with_roles(uow: UnitOfWork, roles: tuple[Role, ...]) -> list[str]:
    """The IDs of every user holding one of `roles` (the users' role index)."""
    found: list[str] = []
    for role in roles:
        cursor: str | None = None
        while True:
            page = uow.users.find(Filters({"role": role.value}), PageRequest(_PAGE, cursor))
            found += [user.id for user in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    return found


class Recipients:
    """Who a task's notifications go to: its assignee, else its template's default
    assignee (the bundle's template), else every operator (no operator: every admin).
    Templates and the operators are read once per instance (one pass, one change)."""

    def __init__(self) -> None:
        self._operators: list[str] | None = None
        self._defaults: dict[str, str | None] = {}

    def of_task(self, uow: UnitOfWork, task: Task, bundle: Bundle | None) -> list[str]:
        if task.assignee_id:
            return [task.assignee_id]
        template_id = task.template_id or (bundle.template_id if bundle else None)
        if template_id:
            if template_id not in self._defaults:
                template: Template | None = uow.templates.get(template_id)
                self._defaults[template_id] = template.default_assignee_id if template else None
            default = self._defaults[template_id]
            if default:
                return [default]
        return self.operators(uow)

    def operators(self, uow: UnitOfWork) -> list[str]:
        """Every operator; in a workspace without one (an admin running it alone, the
        seed's flow), every admin, so due work is never announced to nobody."""
        if self._operators is None:
            self._operators = users_with_roles(uow, (Role.OPERATOR,)) or users_with_roles(
                uow, (Role.ADMIN,)
            )
        return self._operators


def notify_recurring_due(
    uow: UnitOfWork,
    bundle: Bundle,
    tasks: list[Task],
    fallback: str | None,
    at: datetime,
) -> int:
    """`recurring-due` for a bundle a recurring config just made, in its transaction: to
    the recipients of its tasks (`fallback`, else the operators, when it has none)."""
    recipients = Recipients()
    people: list[str] = []
    for task in tasks:
        people += recipients.of_task(uow, task, bundle)
    if not tasks:
        people = [fallback] if fallback else recipients.operators(uow)
    message = f"{bundle.title}: a new occurrence ({bundle.occurrence_date}) was created"
    made = 0
    for person in dict.fromkeys(people):
        made += _made(
            notify(
                uow,
                NotificationType.RECURRING_DUE,
                message,
                person,
                bundle.id,
                at=at,
                bundle_id=bundle.id,
                template_id=bundle.template_id,
                due_at=_day_start(bundle.anchor_date),
            )
        )
    return made


REVIEWERS_IN_TRANSACTION = 15
"""How many `review-requested` notifications an artifact's own transaction makes (two
DynamoDB operations each, beside the artifact's writes and `proofs.IN_TRANSACTION`
citing tasks); the other reviewers are notified right after it commits."""


def notify_review_change(
    uow: UnitOfWork, actor_id: str, before: ArtifactStatus | None, artifact: Artifact
) -> list[str]:
    """In the unit that moves `artifact` from status `before` (None: a new artifact):
    `review-requested` when it enters needs-review, to the operators and admins other
    than its creator; `artifact-rejected` when it is rejected, to its creator (unless
    they rejected it themselves), with the reason. The reviewers left for
    `notify_reviewers` once the unit commits."""
    if artifact.status == before:
        return []
    if artifact.status == ArtifactStatus.REJECTED and artifact.created_by not in (None, actor_id):
        reason = artifact.review_reason or "no reason given"
        notify(
            uow,
            NotificationType.ARTIFACT_REJECTED,
            f"{artifact.title}: rejected ({reason})",
            str(artifact.created_by),
            artifact.id,
            artifact_id=artifact.id,
            task_id=artifact.task_id,
            bundle_id=artifact.bundle_id,
        )
    if artifact.status != ArtifactStatus.NEEDS_REVIEW:
        return []
    reviewers = users_with_roles(uow, (Role.OPERATOR, Role.ADMIN))
    reviewers = [r for r in reviewers if r != artifact.created_by]
    for reviewer in reviewers[:REVIEWERS_IN_TRANSACTION]:
        _review_requested(uow, artifact, reviewer)
    return reviewers[REVIEWERS_IN_TRANSACTION:]


def notify_reviewers(ws: Workspace, artifact: Artifact, reviewers: list[str]) -> None:
    """`review-requested` to the reviewers an artifact's own transaction left, a unit of
    work per `REVIEWERS_IN_TRANSACTION` of them."""
    for start in range(0, len(reviewers), REVIEWERS_IN_TRANSACTION):
        try:
            with ws.store.unit_of_work(write=True) as uow:
                for reviewer in reviewers[start : start + REVIEWERS_IN_TRANSACTION]:
                    _review_requested(uow, artifact, reviewer)
                uow.commit()
        except Conflict:  # made meanwhile by a change of the same day
            continue


def _review_requested(uow: UnitOfWork, artifact: Artifact, reviewer: str) -> None:
    notify(
        uow,
        NotificationType.REVIEW_REQUESTED,
        f"{artifact.title}: waiting for review",
        reviewer,
        artifact.id,
        artifact_id=artifact.id,
        task_id=artifact.task_id,
        bundle_id=artifact.bundle_id,
    )


# --- the runner's pass ---------------------------------------------------------------------


def notify_due(ws: Workspace, now: datetime) -> Counter[NotificationType]:
    """Notify the due work at `now`: for each open task dated today (UTC) or earlier,
    `task-due` (today) or `task-overdue`, `follow-up-due` (waiting, its followUpAt
    reached) and `missing-evidence` (its proof rule not met), each to the task's
    recipients, at most once a day. How many of each were made."""
    today = now.astimezone(UTC).date().isoformat()
    made: Counter[NotificationType] = Counter()
    recipients = Recipients()
    for status in (TaskStatus.TODO, TaskStatus.WAITING):
        for task_id in _due_task_ids(ws, status, today):
            made.update(_notify_task(ws, task_id, now, recipients))
    return made


def _due_task_ids(ws: Workspace, status: TaskStatus, today: str) -> Iterator[str]:
    """The IDs of the tasks in `status` dated today or earlier, oldest first: the
    (status, date) index read up to the first task dated after today."""
    cursor: str | None = None
    while True:
        with ws.store.unit_of_work() as uow:
            page = uow.tasks.find(Filters({"status": status.value}), PageRequest(_PAGE, cursor))
        for task in page.items:
            if task.date > today:
                return
            yield task.id
        cursor = page.next_cursor
        if cursor is None:
            return


def _notify_task(
    ws: Workspace, task_id: str, now: datetime, recipients: Recipients
) -> Counter[NotificationType]:
    """The task's due notifications. A read unit finds what is not made yet today (the
    common case on every pass after the first of a day: nothing, and no write lock is
    taken); a write unit makes it, reading again — a racing pass that made some of them
    first only makes this one read again."""
    with ws.store.unit_of_work() as uow:
        if not _due_notes(uow, task_id, now, recipients, write=False):
            return Counter()
    for _ in range(_ATTEMPTS):
        try:
            with ws.store.unit_of_work(write=True) as uow:
                made = _due_notes(uow, task_id, now, recipients, write=True)
                if made:
                    uow.commit()
                return made
        except Conflict:  # another pass made one of them meanwhile
            continue
    log.warning("task %s: could not record its due notifications", task_id)
    return Counter()


def _due_notes(
    uow: UnitOfWork, task_id: str, now: datetime, recipients: Recipients, *, write: bool
) -> Counter[NotificationType]:
    """The task's due notifications not made yet today: made in `uow` when `write`,
    else only counted."""
    missing: Counter[NotificationType] = Counter()
    today = now.astimezone(UTC).date().isoformat()
    task = uow.tasks.get(task_id)
    if task is None or task.status not in (TaskStatus.TODO, TaskStatus.WAITING):
        return missing
    if task.date > today:
        return missing
    bundle = uow.bundles.get(task.bundle_id) if task.bundle_id else None
    people = recipients.of_task(uow, task, bundle)

    def wanted(kind: NotificationType) -> list[str]:
        return [p for p in people if not exists(uow, kind, task.id, p, now)]

    notes: list[tuple[NotificationType, str, list[str]]] = []
    if task.date == today:
        due = (NotificationType.TASK_DUE, f"{task.description}: due today")
    else:
        due = (NotificationType.TASK_OVERDUE, f"{task.description}: due {task.date}")
    notes.append((*due, wanted(due[0])))
    if task.status == TaskStatus.WAITING and _reached(task.follow_up_at, now):
        waiting = f"waiting for {task.waiting_for}" if task.waiting_for else "waiting"
        message = f"{task.description}: follow up ({waiting})"
        notes.append(
            (NotificationType.FOLLOW_UP_DUE, message, wanted(NotificationType.FOLLOW_UP_DUE))
        )
    lacking = wanted(NotificationType.MISSING_EVIDENCE)
    if lacking:  # the proof rule is read only when someone has not been told today
        verdict = evaluate(task, bundle, StoreEvidence(uow), today=today)
        if not verdict.can_complete:
            message = f"{task.description}: {describe_missing(verdict)}"
            notes.append((NotificationType.MISSING_EVIDENCE, message, lacking))
    return _task_notes(uow, task, notes, now, write=write)


def _task_notes(
    uow: UnitOfWork,
    task: Task,
    notes: list[tuple[NotificationType, str, list[str]]],
    now: datetime,
    *,
    write: bool,
) -> Counter[NotificationType]:
    """Each (type, message, people) of `notes` about `task`, for each person: made in
    `uow` when `write` (counted when made), else only counted."""
    missing: Counter[NotificationType] = Counter()
    for kind, message, persons in notes:
        for person in persons:
            if not write:
                missing[kind] += 1
                continue
            note = notify(
                uow,
                kind,
                message,
                person,
                task.id,
                at=now,
                task_id=task.id,
                bundle_id=task.bundle_id,
                template_id=task.template_id,
                due_at=_day_start(task.date),
            )
            missing[kind] += _made(note)
    return missing


def _reached(follow_up_at: str | None, now: datetime) -> bool:
    """Whether a follow-up date (the whole UTC day) or timestamp is at or before `now`."""
    if not follow_up_at:
        return False
    if len(follow_up_at) == 10:
        return follow_up_at <= now.astimezone(UTC).date().isoformat()
    try:
        return parse_ts(follow_up_at) <= now
    except ValueError:
        return False


def _day_start(day: str | None) -> str | None:
    """`dueAt` of work due on `day` (a timestamp, as every `...At`): its start in UTC."""
    return f"{day}T00:00:00.000Z" if day else None


def _made(note: Notification | None) -> int:
    return 0 if note is None else 1
