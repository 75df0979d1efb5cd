"""Recurring configs (CONTRACT §8): create, edit, skip an occurrence, preview, delete,
read. The runner's pass that turns their due occurrences into bundles is
`recurring_pass`."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts
from dataops.domain.enums import EntityType
from dataops.domain.errors import Conflict, NotFound, ValidationFailed
from dataops.domain.models import RecurringConfig
from dataops.domain.recurrence import (
    RecurrenceError,
    local_today,
    parse_recurrence,
    title_for,
    upcoming,
)
from dataops.domain.rules import recurring_config_errors
from dataops.services.common import audit, check_version, create_audited, raise_if, require, save
from dataops.services.context import Workspace
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

_FIELDS = frozenset(
    {
        "template_id",
        "title",
        "rrule",
        "cron_expression",
        "timezone",
        "start_date",
        "end_date",
        "lead_days",
        "assignee_id",
        "enabled",
    }
)
_DEFAULTS: dict[str, Any] = {"timezone": "UTC", "lead_days": 7, "enabled": True}


def _apply(config: RecurringConfig, changes: dict[str, Any]) -> None:
    for name in _FIELDS & changes.keys():
        value = changes[name]
        if value is None and name in _DEFAULTS:
            value = _DEFAULTS[name]
        setattr(config, name, value)
    # One rule syntax at a time: sending one clears the other unless both were sent.
    if "rrule" in changes and changes["rrule"] is not None and "cron_expression" not in changes:
        config.cron_expression = None
    if changes.get("cron_expression") is not None and "rrule" not in changes:
        config.rrule = None


def _check_links(uow: UnitOfWork, config: RecurringConfig) -> None:
    require(uow.templates, config.template_id, "template", "templateId")
    if config.assignee_id:
        require(uow.users, config.assignee_id, "user", "assigneeId")


def _live(uow: UnitOfWork, config_id: str) -> RecurringConfig:
    config = uow.recurring_configs.get(config_id)
    if config is None or config.deleted_at is not None:
        raise NotFound("recurring config", config_id)
    return config


def _new_config(data: dict[str, Any]) -> RecurringConfig:
    """A config from a create body, every field rule checked (422 naming the field)."""
    stamp = now_ts()
    config = RecurringConfig(
        id=new_id("rcf"),
        template_id=data["template_id"],
        title=data["title"],
        start_date=data["start_date"],
        created_at=stamp,
        updated_at=stamp,
    )
    _apply(config, data)
    raise_if(recurring_config_errors(config))
    return config


def create_config(ws: Workspace, actor: Actor, data: dict[str, Any]) -> RecurringConfig:
    config = _new_config(data)
    configs = attrgetter("recurring_configs")
    return create_audited(ws, actor, EntityType.RECURRING_CONFIG, config, _check_links, configs)


def update_config(
    ws: Workspace,
    actor: Actor,
    config_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> RecurringConfig:
    """Change a config; occurrences already made keep their bundles, the rule applies
    from the next one on."""
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, config_id)
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        _apply(updated, changes)
        raise_if(recurring_config_errors(updated))
        if {"template_id", "assignee_id"} & changes.keys():
            _check_links(uow, updated)
        if updated == current:
            return current
        save(uow.recurring_configs, updated)
        audit(
            uow,
            actor,
            EntityType.RECURRING_CONFIG,
            updated.id,
            "update",
            before=current,
            after=updated,
        )
        uow.commit()
        return updated


def skip_occurrence(
    ws: Workspace, actor: Actor, config_id: str, anchor_date: str, expected_version: int | None
) -> RecurringConfig:
    """Skip one future occurrence: the runner makes no bundle for it."""
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, config_id)
        check_version(current, expected_version)
        if anchor_date in current.skipped_dates:
            return current
        anchor = date.fromisoformat(anchor_date)
        last = current.last_occurrence_date
        if last is not None and anchor_date <= last:
            raise Conflict(f"the occurrence of {anchor_date} has already been made (or passed)")
        if anchor not in upcoming_anchors(current, anchor):
            raise ValidationFailed.one(
                "anchorDate", f"{anchor_date} is not an occurrence of this config"
            )
        updated = copy.deepcopy(current)
        updated.skipped_dates = sorted([*current.skipped_dates, anchor_date])
        save(uow.recurring_configs, updated)
        audit(
            uow,
            actor,
            EntityType.RECURRING_CONFIG,
            updated.id,
            "skip",
            before=current,
            after=updated,
            summary=f"skip the occurrence of {anchor_date}",
        )
        uow.commit()
        return updated


@dataclass(frozen=True)
class Preview:
    """An occurrence a config would make: its anchor date, its bundle's title and the day
    its bundle is created (anchor date - leadDays)."""

    anchor_date: str
    title: str
    creates_on: str


def preview(
    ws: Workspace, data: dict[str, Any], now: datetime, config_id: str | None = None
) -> list[Preview]:
    """The next occurrences a config with the create body `data` would make from today in
    its zone (or its startDate) on, by the runner's own rule evaluation; nothing is
    stored. With `config_id`, as that config edited to `data`: after the occurrences it
    has made, numbered on from them, its skipped dates left out (edits apply to future
    occurrences only)."""
    config = _new_config(data)
    with ws.store.unit_of_work() as uow:
        _check_links(uow, config)
        if config_id is not None:
            current = _live(uow, config_id)
            config.skipped_dates = list(current.skipped_dates)
            config.last_occurrence_date = current.last_occurrence_date
            config.occurrence_count = current.occurrence_count
    try:
        found = upcoming(config, local_today(now, config.timezone))
    except RecurrenceError as exc:
        raise ValidationFailed.one(exc.field, exc.message) from exc
    lead = timedelta(days=config.lead_days)
    return [
        Preview(
            o.anchor.isoformat(),
            title_for(config.title, o.anchor, o.sequence),
            (o.anchor - lead).isoformat(),
        )
        for o in found
    ]


def upcoming_anchors(config: RecurringConfig, until: date) -> Iterator[date]:
    """The occurrences after the last one made, up to `until`."""
    last = date.fromisoformat(config.last_occurrence_date) if config.last_occurrence_date else None
    for anchor in parse_recurrence(config).after(last):
        if anchor > until:
            return
        yield anchor


def delete_config(
    ws: Workspace, actor: Actor, config_id: str, expected_version: int | None
) -> RecurringConfig:
    """Delete a config: gone from the API, no more bundles. Its record stays (marked
    deleted), so the bundles it made still name an existing config."""
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, config_id)
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        updated.deleted_at = now_ts()
        updated.enabled = False
        save(uow.recurring_configs, updated)
        audit(uow, actor, EntityType.RECURRING_CONFIG, updated.id, "delete", before=current)
        uow.commit()
        return updated


def get_config(ws: Workspace, config_id: str) -> RecurringConfig:
    with ws.store.unit_of_work() as uow:
        return _live(uow, config_id)


def list_configs(
    ws: Workspace, template_id: str | None, page: PageRequest
) -> Page[RecurringConfig]:
    with ws.store.unit_of_work() as uow:
        return uow.recurring_configs.find(
            Filters({"listed_key": "true", "template_id": template_id}), page
        )
