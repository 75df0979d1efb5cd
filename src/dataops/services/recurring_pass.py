"""The runner's pass over the recurring configs (CONTRACT §8): their due occurrences
become bundles, each exactly once.

Exactly once: an occurrence's bundle carries `recurringConfigId` and `occurrenceDate`,
and the store keeps `Bundle.occurrence_key` unique (SQLite: a UNIQUE index; DynamoDB: a
`#unique#occurrenceKey#...` claim item put with attribute_not_exists in the same
TransactWriteItems as the bundle, its tasks and their audit events). Two passes that race
for one occurrence both try; one commits, the other gets `Conflict` and moves on. A pass
that dies before its commit leaves nothing, and the next pass makes the occurrence.

Each config remembers the last occurrence made (`lastOccurrenceDate`, `occurrenceCount`);
the runner evaluates the rule after it, so an edit changes future occurrences only, and
after downtime it catches up every missed occurrence, at most `MAX_PER_CONFIG` per config
per pass (the rest the next pass). Advancing that cursor is a separate, later write, one
unit of work for a page of configs: if it is lost, the next pass finds the occurrence
claimed and advances it then.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dataops.domain.enums import NotificationType
from dataops.domain.errors import Conflict, DataOpsError, NotFound, VersionConflict
from dataops.domain.models import Bundle, RecurringConfig
from dataops.domain.recurrence import RecurrenceError, local_today, title_for
from dataops.services.common import save
from dataops.services.context import Workspace
from dataops.services.notifications import notify_recurring_due
from dataops.services.people import SYSTEM
from dataops.services.recurring import upcoming_anchors
from dataops.services.workflow import add_instance
from dataops.store.port import Filters, PageRequest, UnitOfWork

log = logging.getLogger(__name__)

MAX_PER_CONFIG = 100
"""Occurrences one pass makes for one config at most (a long catch-up takes several
passes, so a pass stays short)."""

_CONFIG_PAGE = 100
_GROUP = 50
"""Occurrences made in one unit of work where the store's units have no size limit."""
_ADVANCE_ATTEMPTS = 5


@dataclass(frozen=True)
class Occurrence:
    """A bundle one pass made."""

    config_id: str
    occurrence_date: str
    sequence: int
    bundle: Bundle
    task_count: int
    notified: int = 0
    """`recurring-due` notifications made with it."""


@dataclass
class PassResult:
    created: list[Occurrence] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(config ID, reason) of each config the pass could not serve."""
    notified: Counter[NotificationType] = field(default_factory=Counter)
    """Notifications the pass made, by type (`scheduler.run_pass`)."""
    digests: int = 0
    """Daily e-mail digests the pass queued (`scheduler.run_pass`)."""


def run_due(ws: Workspace, now: datetime) -> PassResult:
    """One pass: for every enabled config, a bundle for each occurrence that is due at
    `now` (anchor date - leadDays <= today in the config's zone) and not made yet. Safe to
    run in parallel with itself and to repeat (idempotent)."""
    result = PassResult()
    cursor: str | None = None
    while True:
        with ws.store.unit_of_work() as uow:
            page = uow.recurring_configs.find(
                Filters({"enabled_key": "true"}), PageRequest(_CONFIG_PAGE, cursor)
            )
            # The list index may lag (DynamoDB): serve each config as stored now.
            configs = uow.recurring_configs.get_many([c.id for c in page.items])
        due: list[_Due] = []
        moves: list[_Move] = []
        for config in configs:
            if not config.enabled or config.deleted_at is not None:
                continue
            try:
                occurrences, move = _due(config, now)
            except RecurrenceError as exc:  # this config only
                _failed(result, config.id, str(exc))
                continue
            due += occurrences
            if move is not None:
                moves.append(move)
        failed = _make_all(ws, due, now, result)
        _advance(ws, [m for m in moves if m.config_id not in failed])
        if page.next_cursor is None:
            return result
        cursor = page.next_cursor


def _failed(result: PassResult, config_id: str, reason: str) -> None:
    log.warning("recurring config %s: %s", config_id, reason)
    result.failed.append((config_id, reason))


@dataclass(frozen=True)
class _Due:
    """One occurrence a pass makes: the config's `sequence`-th, anchored on `anchor`."""

    config: RecurringConfig
    anchor: date
    sequence: int


@dataclass(frozen=True)
class _Move:
    """A config's cursor after a pass served it: occurrences up to `last` are made (or
    skipped), `count` of them made in all."""

    config_id: str
    last: str
    count: int


def _due(config: RecurringConfig, now: datetime) -> tuple[list[_Due], _Move | None]:
    """The occurrences of one config to make now; where its cursor moves to after."""
    horizon = local_today(now, config.timezone) + timedelta(days=config.lead_days)
    skipped = set(config.skipped_dates)
    due: list[_Due] = []
    count, last = config.occurrence_count, None
    for anchor in upcoming_anchors(config, horizon):
        if count - config.occurrence_count >= MAX_PER_CONFIG:
            break  # made or found made: either way a unit of work each
        last = anchor
        if anchor.isoformat() in skipped:
            continue
        count += 1
        due.append(_Due(config, anchor, count))
    return due, None if last is None else _Move(config.id, last.isoformat(), count)


def _make_all(ws: Workspace, due: list[_Due], now: datetime, result: PassResult) -> set[str]:
    """Make `due`, into `result`; the configs that failed (their cursors stay).

    Where the store commits a unit of any size atomically (SQLite), `_GROUP` occurrences
    share one unit of work and one commit; if any of them cannot be made together (another
    pass made it, its template is gone), the group is made again one by one, each alone
    as it is on a store with a bounded transaction (DynamoDB)."""
    failed: set[str] = set()
    size = _GROUP if ws.store.atomic_write_limit is None else 1
    for start in range(0, len(due), size):
        group = due[start : start + size]
        if len(group) > 1:
            try:
                result.created += _make_group(ws, group, now)
                continue
            except (DataOpsError, RecurrenceError):
                pass  # each alone below
        for item in group:
            if item.config.id in failed:
                continue
            try:
                occurrence = _make(ws, item, now)
            except (DataOpsError, RecurrenceError) as exc:  # this config only
                failed.add(item.config.id)
                _failed(result, item.config.id, str(exc))
                continue
            if occurrence is not None:
                result.created.append(occurrence)
    return failed


def _make_group(ws: Workspace, group: list[_Due], now: datetime) -> list[Occurrence]:
    with ws.store.unit_of_work(write=True) as uow:
        made = [_add(uow, item, now) for item in group]
        uow.commit()
    return made


def _make(ws: Workspace, item: _Due, now: datetime) -> Occurrence | None:
    """One occurrence in a transaction of its own; None when another pass made it."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            occurrence = _add(uow, item, now)
            uow.commit()
    except VersionConflict:
        raise
    except Conflict:  # the occurrence's claim exists: another pass made it
        return None
    return occurrence


def _add(uow: UnitOfWork, item: _Due, now: datetime) -> Occurrence:
    """The occurrence's bundle and tasks with its claim and its `recurring-due`
    notifications, in `uow`."""
    config = item.config
    template = uow.templates.get(config.template_id)
    if template is None:
        raise NotFound("template", config.template_id, "templateId")
    bundle, tasks = add_instance(
        uow,
        SYSTEM,
        template,
        title_for(config.title, item.anchor, item.sequence),
        item.anchor,
        recurring_config_id=config.id,
        default_assignee_id=config.assignee_id,
    )
    fallback = config.assignee_id or template.default_assignee_id
    notified = notify_recurring_due(uow, bundle, tasks, fallback, now)
    return Occurrence(
        config.id, item.anchor.isoformat(), item.sequence, bundle, len(tasks), notified
    )


def _advance(ws: Workspace, moves: list[_Move]) -> None:
    """Record the cursors of a page of configs, in one unit of work (one commit for up
    to `_CONFIG_PAGE` configs, not one each); if one of them changed meanwhile (an edit,
    a racing pass), each is recorded alone."""
    if not moves:
        return
    try:
        with ws.store.unit_of_work(write=True) as uow:
            stored = {c.id: c for c in uow.recurring_configs.get_many([m.config_id for m in moves])}
            for move in moves:
                _move(uow, stored.get(move.config_id), move)
            uow.commit()
            return
    except VersionConflict:
        pass
    for move in moves:
        _advance_one(ws, move)


def _advance_one(ws: Workspace, move: _Move) -> None:
    for _ in range(_ADVANCE_ATTEMPTS):
        try:
            with ws.store.unit_of_work(write=True) as uow:
                _move(uow, uow.recurring_configs.get(move.config_id), move)
                uow.commit()
                return
        except VersionConflict:  # an edit or another pass meanwhile: read it again
            continue
    log.warning(
        "recurring config %s: could not record occurrences up to %s", move.config_id, move.last
    )


def _move(uow: UnitOfWork, current: RecurringConfig | None, move: _Move) -> None:
    """Move a config's cursor forward to `move` (never backwards, so racing passes
    agree), in `uow`."""
    if current is None or (
        current.last_occurrence_date is not None and current.last_occurrence_date >= move.last
    ):
        return
    updated = copy.deepcopy(current)
    updated.last_occurrence_date = move.last
    updated.occurrence_count = max(current.occurrence_count, move.count)
    save(uow.recurring_configs, updated)
