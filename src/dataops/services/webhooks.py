"""Webhook endpoints (CONTRACT §8, admin only): made, listed, changed, deleted, their
secret rotated, a test event sent, their delivery log read, a delivery sent again. Every
change is audited (the audit holds no secret). The secret is returned by `create` and
`rotate_secret` only."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import format_ts, new_id
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import EntityType, Role
from dataops.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dataops.domain.messages import OutboxMessage, Webhook
from dataops.domain.webhooks import (
    EVENTS,
    GIVE_UP_AFTER,
    ROTATION_OVERLAP,
    TEST_EVENT,
    new_secret,
    url_problem,
)
from dataops.services.common import audit, check_version
from dataops.services.context import Workspace
from dataops.services.events import body_of, message
from dataops.services.outbox import lease_remaining, public_only
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

MAX_ENDPOINTS = 100
_SHOWN = ("id", "url", "events", "enabled", "description", "created_at", "updated_at")


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    secret: str
    """Returned once: never shown again."""


def _admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("webhooks are managed by an admin")


def _live(uow: UnitOfWork, webhook_id: str) -> Webhook:
    """The endpoint, unless it does not exist or was deleted (NotFound)."""
    found = uow.webhooks.get(webhook_id)
    if found is None or found.deleted_at is not None:
        raise NotFound("webhook", webhook_id)
    return found


def _check(ws: Workspace, url: str | None, events: list[str] | None) -> None:
    errors = []
    if url is not None:
        problem = url_problem(url, public_only=public_only(ws))
        if problem is not None:
            errors.append(("url", problem))
    if events is not None:
        unknown = sorted(set(events) - set(EVENTS))
        if not events:
            errors.append(("events", "must name at least one event"))
        elif unknown:
            errors.append(("events", f"unknown events {unknown}; known: {', '.join(EVENTS)}"))
    if errors:
        raise ValidationFailed.one(*errors[0])


def _audited(webhook: Webhook) -> dict[str, Any]:
    """What the audit keeps of an endpoint: never a secret."""
    return {name: getattr(webhook, name) for name in _SHOWN}


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    before: Webhook | None,
    after: Webhook | None,
    summary: str | None = None,
) -> None:
    audit(
        uow,
        actor,
        EntityType.WEBHOOK,
        (after or before).id,  # type: ignore[union-attr]
        action,
        before=_audited(before) if before else None,
        after=_audited(after) if after else None,
        summary=summary,
    )


def create_webhook(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Created:
    _admin(actor)
    url, events = data["url"], list(dict.fromkeys(data["events"]))
    _check(ws, url, events)
    stamp = format_ts(clock_now())
    webhook = Webhook(
        id=new_id("whk"),
        url=url,
        events=events,
        secret=new_secret(),
        created_at=stamp,
        updated_at=stamp,
        enabled=data.get("enabled", True) is not False,
        description=data.get("description"),
        created_by=actor.id,
    )
    with ws.store.unit_of_work(write=True) as uow:
        listed = uow.webhooks.find(Filters({"listed_key": "true"}), PageRequest(MAX_ENDPOINTS))
        if len(listed.items) >= MAX_ENDPOINTS:
            raise Conflict(f"a workspace has at most {MAX_ENDPOINTS} webhook endpoints")
        uow.webhooks.add(webhook)
        _audit(uow, actor, "create", None, webhook, f"webhook to {url}")
        uow.commit()
    return Created(webhook, webhook.secret)


def get_webhook(ws: Workspace, actor: Actor, webhook_id: str) -> Webhook:
    _admin(actor)
    with ws.store.unit_of_work() as uow:
        return _live(uow, webhook_id)


def list_webhooks(ws: Workspace, actor: Actor, page: PageRequest) -> Page[Webhook]:
    _admin(actor)
    with ws.store.unit_of_work() as uow:
        return uow.webhooks.find(Filters({"listed_key": "true"}), page)


def update_webhook(
    ws: Workspace, actor: Actor, webhook_id: str, changes: dict[str, Any], expected: int | None
) -> Webhook:
    _admin(actor)
    for name in ("url", "events", "enabled"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(name, "cannot be cleared")
    events = changes.get("events")
    _check(ws, changes.get("url"), list(dict.fromkeys(events)) if events is not None else None)
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, webhook_id)
        check_version(current, expected)
        updated = copy.deepcopy(current)
        for name in ("url", "enabled", "description"):
            if name in changes:
                setattr(updated, name, changes[name])
        if events is not None:
            updated.events = list(dict.fromkeys(events))
        if updated == current:
            return current
        _save(uow, current, updated)
        _audit(uow, actor, "update", current, updated)
        uow.commit()
    return updated


def _save(uow: UnitOfWork, current: Webhook, updated: Webhook) -> None:
    updated.version = current.version + 1
    updated.updated_at = format_ts(clock_now())
    uow.webhooks.update(updated, current.version)


def delete_webhook(ws: Workspace, actor: Actor, webhook_id: str, expected: int | None) -> None:
    """Disable and forget the endpoint: its record is replaced by a disabled one without
    a secret, so its pending messages fail ("the endpoint was deleted") and its log stays
    readable until the store drops it. Deleting twice is 404."""
    _admin(actor)
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, webhook_id)
        check_version(current, expected)
        _audit(uow, actor, "delete", current, None, f"webhook to {current.url}")
        _forget(uow, current)
        uow.commit()


def _forget(uow: UnitOfWork, current: Webhook) -> None:
    gone = copy.deepcopy(current)
    gone.enabled = False
    gone.secret = ""
    gone.previous_secret = gone.previous_secret_until = None
    gone.deleted_at = format_ts(clock_now())
    _save(uow, current, gone)


def rotate_secret(
    ws: Workspace,
    actor: Actor,
    webhook_id: str,
    expected: int | None,
    *,
    at: datetime | None = None,
) -> Created:
    """A new secret; the old one keeps signing too for 24 h (Standard Webhooks rotation)."""
    _admin(actor)
    moment = at or clock_now()
    with ws.store.unit_of_work(write=True) as uow:
        current = _live(uow, webhook_id)
        check_version(current, expected)
        updated = copy.deepcopy(current)
        updated.previous_secret = current.secret
        updated.previous_secret_until = format_ts(moment + ROTATION_OVERLAP)
        updated.secret = new_secret()
        _save(uow, current, updated)
        _audit(uow, actor, "rotate-secret", current, updated, "signing secret rotated")
        uow.commit()
    return Created(updated, updated.secret)


def send_test(ws: Workspace, actor: Actor, webhook_id: str) -> OutboxMessage:
    """Queue a `webhook.test` event for this endpoint alone; the dispatcher delivers it."""
    _admin(actor)
    moment = clock_now()
    with ws.store.unit_of_work(write=True) as uow:
        webhook = _live(uow, webhook_id)
        if not webhook.enabled:
            raise Conflict("the endpoint is disabled: enable it to send a test event")
        data = {"webhookId": webhook.id, "message": "a test event from DataOps"}
        queued = message(webhook, TEST_EVENT, body_of(TEST_EVENT, data, moment), moment)
        uow.outbox.add(queued)
        uow.commit()
    return queued


def list_deliveries(
    ws: Workspace, actor: Actor, webhook_id: str, page: PageRequest
) -> Page[OutboxMessage]:
    """The endpoint's delivery log, the latest attempt first."""
    _admin(actor)
    with ws.store.unit_of_work() as uow:
        _live(uow, webhook_id)
        return uow.outbox.find(
            Filters({"target_id": webhook_id}),
            PageRequest(page.limit, page.cursor, descending=True),
        )


def redeliver(
    ws: Workspace, actor: Actor, webhook_id: str, message_id: str, *, at: datetime | None = None
) -> OutboxMessage:
    """Send a delivery again, as it was (same `webhook-id`, same body): due now, with a
    fresh 24 h of retries. A delivery being attempted right now is 409."""
    _admin(actor)
    moment = at or clock_now()
    with ws.store.unit_of_work(write=True) as uow:
        _live(uow, webhook_id)
        current = uow.outbox.get(message_id)
        if current is None or current.target_id != webhook_id:
            raise NotFound("delivery", message_id)
        if current.status == "pending" and lease_remaining(current, moment):
            raise Conflict(f"delivery {message_id!r} is being attempted right now")
        again = copy.deepcopy(current)
        again.status = "pending"
        again.next_attempt_at = format_ts(moment)
        again.give_up_at = format_ts(moment + GIVE_UP_AFTER)
        again.lease_until = None
        again.delivered_at = None
        again.version = current.version + 1
        uow.outbox.update(again, current.version)
        uow.commit()
    return again
