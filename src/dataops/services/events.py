"""Events into the outbox (CONTRACT §8): `emit` is the one helper every producer calls,
in the unit of work of the change that causes the event, so the event commits with the
change or not at all (SQLite: the same transaction; DynamoDB: items in the same
TransactWriteItems).

An event becomes one outbox message per consumer that wants it — today every enabled
webhook endpoint subscribed to its type (channel `webhook`); an e-mail channel would add
its own messages here, keyed by the recipient. With no subscriber nothing is written: a
change then pays one read of the enabled endpoints (a sparse index, usually empty),
remembered for the rest of its unit of work.

The body is built once, as the exact JSON text that is signed and sent:
`{"type", "timestamp", "data"}`.
"""

from __future__ import annotations

import json
import weakref
from datetime import datetime
from typing import Any

from dataops.domain.clock import format_ts, new_id
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import ArtifactStatus
from dataops.domain.messages import Notification, OutboxMessage, Webhook
from dataops.domain.models import Artifact, Bundle, Task
from dataops.domain.webhooks import (
    EVENTS,
    GIVE_UP_AFTER,
    artifact_data,
    bundle_data,
    notification_data,
    task_data,
)
from dataops.store.port import Filters, PageRequest, UnitOfWork

WEBHOOK = "webhook"
_PAGE = 100
_enabled: weakref.WeakKeyDictionary[Any, list[Webhook]] = weakref.WeakKeyDictionary()


def enabled_webhooks(uow: UnitOfWork) -> list[Webhook]:
    """Every enabled endpoint, read once per unit of work (the `enabled_key` index)."""
    found = _enabled.get(uow)
    if found is None:
        found = []
        cursor: str | None = None
        while True:
            page = uow.webhooks.find(Filters({"enabled_key": "true"}), PageRequest(_PAGE, cursor))
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        _enabled[uow] = found
    return found


def body_of(event_type: str, data: dict[str, Any], at: datetime) -> str:
    envelope = {"type": event_type, "timestamp": format_ts(at), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def message(
    target: Webhook, event_type: str, body: str, at: datetime, *, channel: str = WEBHOOK
) -> OutboxMessage:
    stamp = format_ts(at)
    return OutboxMessage(
        id=new_id("msg"),
        channel=channel,
        target_id=target.id,
        event_type=event_type,
        body=body,
        created_at=stamp,
        next_attempt_at=stamp,
        give_up_at=format_ts(at + GIVE_UP_AFTER),
    )


def emit(
    uow: UnitOfWork, event_type: str, data: dict[str, Any], *, at: datetime | None = None
) -> list[OutboxMessage]:
    """Add one outbox message of `event_type` per enabled endpoint subscribed to it, in
    `uow`; the messages added (none without a subscriber)."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown event type {event_type!r}")
    targets = [w for w in enabled_webhooks(uow) if event_type in w.events]
    if not targets:
        return []
    moment = at or clock_now()
    body = body_of(event_type, data, moment)
    added = [message(target, event_type, body, moment) for target in targets]
    for item in added:
        uow.outbox.add(item)
    return added


# --- the producers' events (each called in the unit of work of its change) ------------------


def artifact_changed(uow: UnitOfWork, before: ArtifactStatus | None, artifact: Artifact) -> None:
    """`artifact.created` for a new artifact (`before` None), `artifact.status-changed`
    when its status moved."""
    if before is None:
        emit(uow, "artifact.created", artifact_data(artifact))
    elif artifact.status != before:
        emit(uow, "artifact.status-changed", artifact_data(artifact, before.value))


def task_completed(uow: UnitOfWork, task: Task) -> None:
    emit(uow, "task.completed", task_data(task))


def proof_withdrawn(uow: UnitOfWork, task: Task) -> None:
    emit(uow, "task.proof-withdrawn", task_data(task))


def bundle_created(uow: UnitOfWork, bundle: Bundle) -> None:
    emit(uow, "bundle.created", bundle_data(bundle))


def notification_created(uow: UnitOfWork, note: Notification) -> None:
    emit(uow, "notification.created", notification_data(note))
