"""Workspace settings (CONTRACT §7): one record, read by everyone, changed by admins,
audited. It exists from the workspace's first start (`ensure_settings`), so the expiry
sweep knows from which day on completions can cite expiring evidence."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from dataops.domain.accounts import Actor, WorkspaceSettings
from dataops.domain.clock import now_ts, today
from dataops.domain.enums import EntityType, ReviewPolicy, Role
from dataops.domain.errors import Conflict, Forbidden
from dataops.services.common import check_version, save_audited
from dataops.services.context import Workspace
from dataops.store.port import UnitOfWork

SETTINGS_ID = "workspace"


def _fresh() -> WorkspaceSettings:
    yesterday = (date.fromisoformat(today()) - timedelta(days=1)).isoformat()
    return WorkspaceSettings(id=SETTINGS_ID, updated_at=now_ts(), expiry_swept_through=yesterday)


def ensure_settings(ws: Workspace) -> WorkspaceSettings:
    """The settings record, created with the defaults if the workspace has none yet."""
    with ws.store.unit_of_work() as uow:
        found = uow.settings.get(SETTINGS_ID)
    if found is not None:
        return found
    created = _fresh()
    try:
        with ws.store.unit_of_work(write=True) as uow:
            uow.settings.add(created)
            uow.commit()
    except Conflict:  # another process created it first
        with ws.store.unit_of_work() as uow:
            found = uow.settings.get(SETTINGS_ID)
        if found is not None:
            return found
        raise
    return created


def current(uow: UnitOfWork) -> WorkspaceSettings:
    """The settings as the unit of work sees them (the defaults if none are stored)."""
    return uow.settings.get(SETTINGS_ID) or _fresh()


def get_settings(ws: Workspace) -> WorkspaceSettings:
    with ws.store.unit_of_work() as uow:
        return current(uow)


def update_settings(
    ws: Workspace, actor: Actor, changes: dict[str, Any], expected_version: int | None
) -> WorkspaceSettings:
    """Change the review policy (admins only); audited."""
    if actor.role != Role.ADMIN:
        raise Forbidden("only an admin changes the workspace settings")
    ensure_settings(ws)
    with ws.store.unit_of_work(write=True) as uow:
        before = current(uow)
        check_version(before, expected_version)
        after = copy.deepcopy(before)
        policy = changes.get("review_policy")
        if isinstance(policy, ReviewPolicy):
            after.review_policy = policy
        if after == before:
            return before
        after.updated_by = actor.id
        summary = f"review policy {before.review_policy.value} -> {after.review_policy.value}"
        save_audited(
            uow, actor, uow.settings, EntityType.SETTINGS, "update", before, after, summary
        )
        uow.commit()
        return after
