"""The e-mail channel of the outbox (CONTRACT §8): e-mails are outbox messages of channel
`email`, `target_id` the recipient user, body the rendered mail (`domain/mail.py`); the
dispatcher's e-mail consumer (`services/outbox.py`) sends them over SMTP with the same
claims, leases, backoff and give-up as webhooks.

- `immediate`: `notify` calls `notification_emailed` in the unit of work that makes the
  notification, so the e-mail commits with it or not at all;
- `daily`: the scheduler's pass calls `send_digests`: for each user who chose it (the
  users' sparse `digest_key` index), once 08:00 has passed in their time zone, one digest
  of the unread notifications made since their previous digest — at most one per user
  and local day (its outbox ID is derived from both: `domain/mail.digest_id`).

Without `DATAOPS_SMTP_URL` nothing is queued (`enable` is called by the workspace).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dataops.domain.accounts import User
from dataops.domain.clock import format_ts, new_id, parse_ts
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import EmailNotifications
from dataops.domain.errors import Conflict
from dataops.domain.mail import (
    DIGEST_EVENT,
    DIGEST_LISTED,
    DIGEST_LOOKBACK_DAYS,
    NOTIFICATION_EVENT,
    Mail,
    digest_day,
    digest_id,
    digest_mail,
    earlier_days,
    notification_mail,
)
from dataops.domain.messages import Notification, OutboxMessage
from dataops.domain.recurrence import RecurrenceError, zone
from dataops.domain.webhooks import GIVE_UP_AFTER
from dataops.store.port import Filters, MetadataStore, PageRequest, UnitOfWork

EMAIL = "email"
_PAGE = 100
_LOOKBACK = timedelta(days=DIGEST_LOOKBACK_DAYS)
log = logging.getLogger("dataops.mail")


@dataclass(frozen=True)
class _Config:
    portal_url: str


_enabled: weakref.WeakKeyDictionary[MetadataStore, _Config] = weakref.WeakKeyDictionary()


def enable(store: MetadataStore, portal_url: str | None) -> None:
    """E-mail is configured for `store`'s workspace: notifications are e-mailed."""
    _enabled[store] = _Config(portal_url or "")


def _config(uow: UnitOfWork) -> _Config | None:
    return _enabled.get(uow.store)


def mail_message(
    message_id: str, user: User, event: str, mail: Mail, at: datetime
) -> OutboxMessage:
    stamp = format_ts(at)
    return OutboxMessage(
        id=message_id,
        channel=EMAIL,
        target_id=user.id,
        event_type=event,
        body=mail.body(),
        created_at=stamp,
        next_attempt_at=stamp,
        give_up_at=format_ts(at + GIVE_UP_AFTER),
    )


def notification_emailed(uow: UnitOfWork, note: Notification) -> OutboxMessage | None:
    """In the unit of work that makes `note`: its e-mail, when e-mail is configured and
    its recipient chose `immediate`; the message queued, or None."""
    config = _config(uow)
    if config is None or note.user_id is None:
        return None
    user = uow.users.get(note.user_id)
    if user is None or user.email_notifications != EmailNotifications.IMMEDIATE:
        return None
    moment = parse_ts(note.created_at)
    queued = mail_message(
        new_id("msg"), user, NOTIFICATION_EVENT, notification_mail(note, config.portal_url), moment
    )
    uow.outbox.add(queued)
    return queued


# --- the daily digest (the scheduler's pass) ---------------------------------------------


def send_digests(store: MetadataStore, now: datetime | None = None) -> list[str]:
    """Queue the digests due at `now` (default: the current time); the IDs of the users
    who got one. Safe in parallel: a digest's ID is unique per user and local day."""
    moment = now or clock_now()
    with store.unit_of_work() as probe:
        config = _config(probe)
    if config is None:
        return []
    made = []
    for user in _daily_users(store):
        try:
            if _digest(store, user, moment, config):
                made.append(user.id)
        except Conflict:  # another pass made it meanwhile
            continue
    return made


def _daily_users(store: MetadataStore) -> list[User]:
    found: list[User] = []
    cursor: str | None = None
    while True:
        with store.unit_of_work() as uow:
            page = uow.users.find(Filters({"digest_key": "daily"}), PageRequest(_PAGE, cursor))
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            return found


def _zone(user: User) -> ZoneInfo:
    try:
        return zone(user.timezone)
    except RecurrenceError:  # checked on every write; an unknown zone falls back to UTC
        return ZoneInfo("UTC")


def _digest(store: MetadataStore, user: User, now: datetime, config: _Config) -> bool:
    day = digest_day(now, _zone(user))
    if day is None:
        return False
    message_id = digest_id(user.id, day)
    with store.unit_of_work() as uow:
        if uow.outbox.get(message_id) is not None:
            return False  # today's digest was made
        newest = _unread(uow, user.id, PageRequest(1, descending=True))
        if not newest:
            return False
        since = _previous_digest(uow, user.id, day, now)
        notes, more = _unread_since(uow, user.id, since)
    if not notes:
        return False
    mail = digest_mail(notes, day, more, config.portal_url)
    with store.unit_of_work(write=True) as uow:
        if uow.outbox.get(message_id) is not None:
            return False
        uow.outbox.add(mail_message(message_id, user, DIGEST_EVENT, mail, now))
        uow.commit()
    return True


def _unread(uow: UnitOfWork, user_id: str, page: PageRequest) -> list[Notification]:
    filters = Filters({"user_id": user_id, "unread_key": "true"})
    return uow.notifications.find(filters, page).items


def _previous_digest(uow: UnitOfWork, user_id: str, day: date, now: datetime) -> str:
    """When the user's previous digest was made (at most `DIGEST_LOOKBACK_DAYS` back):
    this digest lists what was made since."""
    for earlier in earlier_days(day):
        found = uow.outbox.get(digest_id(user_id, earlier))
        if found is not None:
            return found.created_at
    return format_ts((now - _LOOKBACK).astimezone(UTC))


def _unread_since(uow: UnitOfWork, user_id: str, since: str) -> tuple[list[Notification], bool]:
    """The unread notifications made after `since`, newest first: at most
    `DIGEST_LISTED`, and whether there were more."""
    notes: list[Notification] = []
    cursor: str | None = None
    filters = Filters({"user_id": user_id, "unread_key": "true"})
    while True:
        page = uow.notifications.find(filters, PageRequest(_PAGE, cursor, descending=True))
        for note in page.items:
            if note.created_at <= since:
                return notes, False
            if len(notes) == DIGEST_LISTED:
                return notes, True
            notes.append(note)
        cursor = page.next_cursor
        if cursor is None:
            return notes, False
