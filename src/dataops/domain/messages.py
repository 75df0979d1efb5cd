"""What the engine records and sends about changes, as plain dataclasses: audit events,
notifications, webhooks and the outbox of their deliveries (CONTRACT §5, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataops.domain.enums import EntityType, NotificationType


@dataclass
class AuditEvent:
    """Append-only history of one change."""

    id: str
    entity_type: EntityType
    entity_id: str
    action: str
    created_at: str
    actor_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    summary: str | None = None


@dataclass
class Notification:
    id: str
    type: NotificationType
    message: str
    created_at: str
    user_id: str | None = None
    task_id: str | None = None
    bundle_id: str | None = None
    template_id: str | None = None
    artifact_id: str | None = None
    due_at: str | None = None
    dismissed: bool = False
    read_at: str | None = None
    dedupe_key: str | None = None
    """Unique in the store: a digest of (type, subject, recipient, UTC day), so there is
    at most one such notification per day (`services/notifications.py`); None on
    notifications made before deduplication."""
    version: int = 1

    @property
    def unread_key(self) -> str | None:
        """The index value of a notification not yet read or dismissed ("true"), else
        None (a sparse index: `?unread=true` reads only unread ones)."""
        return "true" if self.read_at is None and not self.dismissed else None


@dataclass
class Webhook:
    """An endpoint that receives signed event deliveries (CONTRACT §8, Standard Webhooks).

    `secret` (`whsec_` + base64) signs every delivery; it is shown once when made or
    rotated and never again (not in the API, not in the export). After a rotation the
    `previous_secret` signs too until `previous_secret_until` (24 h), so a receiver can
    switch over without losing a delivery."""

    id: str
    url: str
    events: list[str]
    secret: str
    created_at: str
    updated_at: str
    enabled: bool = True
    description: str | None = None
    previous_secret: str | None = None
    previous_secret_until: str | None = None
    created_by: str | None = None
    deleted_at: str | None = None
    """Set by DELETE: the endpoint is gone (404), its secret erased, its log kept."""
    version: int = 1

    @property
    def enabled_key(self) -> str | None:
        """The sparse index value of an enabled endpoint ("true"), else None: the event
        producers read only the enabled endpoints."""
        return "true" if self.enabled and self.deleted_at is None else None

    @property
    def listed_key(self) -> str | None:
        """The sparse index value of an endpoint not deleted ("true"): the list."""
        return "true" if self.deleted_at is None else None


@dataclass
class OutboxMessage:
    """One delivery of one event to one consumer, written in the unit of work of the change
    that caused the event (the outbox). `channel` names the consumer kind (`webhook`; an
    e-mail channel is another kind with its own `target_id`), `target_id` the consumer.

    `body` is the exact JSON text that is signed and sent, so every attempt and every
    redelivery sends the same bytes under the same `id` (the `webhook-id` header).

    Dispatch state: `status` is `pending` until it is `delivered` or `failed` (given up at
    `give_up_at`). A pending message is due once `next_attempt_at` has passed; a dispatcher
    claims it by moving `next_attempt_at` to its lease's end (`lease_until`) in a write
    conditional on `version`, so no other dispatcher takes it while the lease runs, and a
    dispatcher that dies mid-way leaves it due again when the lease ends. A finished
    message keeps the time of its last attempt in `next_attempt_at` (the log's order)."""

    id: str
    channel: str
    target_id: str
    event_type: str
    body: str
    created_at: str
    next_attempt_at: str
    give_up_at: str
    status: str = "pending"
    attempts: int = 0
    lease_until: str | None = None
    last_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_response: str | None = None
    delivered_at: str | None = None
    version: int = 1

    @property
    def due_key(self) -> str | None:
        """The sparse index value of a message still to deliver ("pending"), else None:
        dispatchers read due messages through it in `next_attempt_at` order."""
        return "pending" if self.status == "pending" else None
