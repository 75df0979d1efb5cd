"""The outbox dispatcher (CONTRACT §8): claims due messages, delivers them, marks them.

Every message is written with the change that caused it (`services/events.py`), so a
crash between that commit and its delivery loses nothing: the message waits, `pending`,
until some dispatcher delivers it.

One pass (`dispatch`):

1. reads the due messages through the (due_key, next_attempt_at) index, oldest first
   (no scan: only pending messages are in that index);
2. claims each in a unit of work of its own — `next_attempt_at` moves to the end of a
   lease (`lease_until`, 60 s) and `attempts` grows, written conditionally on the
   version read — so of two dispatchers that race for a message exactly one claims it,
   and no other dispatcher takes it while the lease runs; a dispatcher killed after its
   claim leaves the message due again when the lease ends (delivered at least once: the
   receiver deduplicates by `webhook-id`, which every attempt repeats);
3. delivers it through its channel's consumer: a webhook (signed per Standard Webhooks)
   through the injected `Sender`, an e-mail (`services/mail.py`) through the injected
   `Mailer` (SMTP) — a 4xx reply or no connection is retried, a 5xx reply is final;
4. records the outcome conditionally on the claimed version: `delivered`; or, after a
   failure, due again after an exponential backoff with jitter; or `failed`, with why,
   once the next attempt would fall after `give_up_at` (24 h after the event).

`now` is injectable so tests and `dataops outbox run --now` plan without waiting.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from standardwebhooks import Webhook as Signer

from dataops.config import LOCAL_ENVIRONMENTS
from dataops.domain.clock import format_ts, parse_ts
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import EmailNotifications
from dataops.domain.errors import Conflict
from dataops.domain.mail import Mail
from dataops.domain.messages import OutboxMessage, Webhook
from dataops.domain.webhooks import LEASE, retry_delay, signing_secrets, url_problem
from dataops.services.context import Workspace
from dataops.services.mail import EMAIL
from dataops.store.port import Filters, PageRequest

log = logging.getLogger("dataops.outbox")

BATCH = 100
ERROR_MAX = 500


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: str
    """At most `RESPONSE_KEPT_BYTES` of the response body, decoded leniently."""


class DeliveryError(Exception):
    """The request could not be made or got no reply (refused address, timeout, ...)."""


class MailError(Exception):
    """SMTP refused the mail or could not be reached. `code` is the SMTP reply code (None:
    no reply: refused connection, timeout, TLS failure); `permanent` for a 5xx reply."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code is not None and 500 <= self.code < 600


class Mailer(Protocol):
    def send(self, to: str, mail: Mail, message_id: str) -> None:
        """Send `mail` to `to` (the sender, TLS and credentials are the mailer's); raises
        `MailError`. `message_id` names the mail (its Message-ID: every attempt repeats
        it, so a receiving server can deduplicate)."""


class Sender(Protocol):
    def send(self, url: str, headers: dict[str, str], body: bytes) -> Reply:
        """POST `body` to `url` with `headers`, following no redirect; the reply, or
        `DeliveryError`. Outside local/test it refuses non-public addresses, checked on the
        addresses the host resolves to at this moment (DNS rebinding)."""


@dataclass
class DispatchResult:
    delivered: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lost: int = 0
    """Messages another dispatcher claimed first."""


def sign(message_id: str, at: datetime, body: bytes, secrets: list[str]) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per secret, space-separated."""
    return " ".join(Signer(secret).sign(message_id, at, body) for secret in secrets)


def headers_for(endpoint: Webhook, message: OutboxMessage, at: datetime) -> dict[str, str]:
    body = message.body.encode()
    stamp = format_ts(at)
    keys = signing_secrets(
        endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_until, stamp
    )
    return {
        "content-type": "application/json",
        "user-agent": "DataOps-Webhooks/1",
        "webhook-id": message.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(message.id, at, body, keys),
    }


def due(ws: Workspace, at: datetime, limit: int = BATCH) -> list[OutboxMessage]:
    """Up to `limit` pending messages whose `next_attempt_at` has passed, oldest first."""
    stamp = format_ts(at)
    found: list[OutboxMessage] = []
    cursor: str | None = None
    with ws.store.unit_of_work() as uow:
        while len(found) < limit:
            page = uow.outbox.find(
                Filters({"due_key": "pending"}), PageRequest(min(limit, BATCH), cursor)
            )
            for item in page.items:
                if item.next_attempt_at > stamp:
                    return found
                found.append(item)
            cursor = page.next_cursor
            if cursor is None:
                break
    return found[:limit]


def claim(ws: Workspace, message_id: str, at: datetime) -> OutboxMessage | None:
    """The message, claimed for one attempt at `at` under a lease; None when it is no
    longer due (delivered, or claimed by another dispatcher meanwhile)."""
    stamp = format_ts(at)
    try:
        with ws.store.unit_of_work(write=True) as uow:
            current = uow.outbox.get(message_id)
            if current is None or current.status != "pending" or current.next_attempt_at > stamp:
                return None
            claimed = copy.deepcopy(current)
            claimed.lease_until = claimed.next_attempt_at = format_ts(at + LEASE)
            claimed.attempts += 1
            claimed.last_attempt_at = stamp
            claimed.version = current.version + 1
            uow.outbox.update(claimed, current.version)
            uow.commit()
            return claimed
    except Conflict:  # VersionConflict: another dispatcher claimed it first
        return None


def _finish(ws: Workspace, claimed: OutboxMessage, outcome: OutboxMessage) -> bool:
    """Record `outcome` unless the claim was lost (its lease ran out and another
    dispatcher claimed the message again): that dispatcher's record wins."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            outcome.version = claimed.version + 1
            uow.outbox.update(outcome, claimed.version)
            uow.commit()
            return True
    except Conflict:
        log.warning(
            "outbox message %s: the lease ran out before its outcome was recorded", claimed.id
        )
        return False


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    final: bool = False
    """No retry can succeed: the endpoint is gone or disabled, or its URL is refused."""


def attempt(
    ws: Workspace,
    sender: Sender,
    message: OutboxMessage,
    at: datetime,
    mailer: Mailer | None = None,
) -> Attempt:
    """One delivery attempt of `message` through its channel's consumer."""
    if message.channel == EMAIL:
        return mail_attempt(ws, mailer, message)
    return webhook_attempt(ws, sender, message, at)


def mail_attempt(ws: Workspace, mailer: Mailer | None, message: OutboxMessage) -> Attempt:
    """One SMTP attempt of an e-mail, to its user's address as it is now."""
    if mailer is None:
        return Attempt(False, error="e-mail is not configured (DATAOPS_SMTP_URL)", final=True)
    with ws.store.unit_of_work() as uow:
        user = uow.users.get(message.target_id)
    if user is None:
        return Attempt(False, error="the user was deleted", final=True)
    if user.email_notifications == EmailNotifications.OFF:
        return Attempt(False, error="the user turned e-mail notifications off", final=True)
    try:
        mailer.send(user.email, Mail.from_body(message.body), message.id)
    except MailError as exc:
        return Attempt(False, exc.code, str(exc)[:ERROR_MAX], final=exc.permanent)
    return Attempt(True, 250)


def webhook_attempt(ws: Workspace, sender: Sender, message: OutboxMessage, at: datetime) -> Attempt:
    """One delivery attempt of `message` to its endpoint, as the endpoint is now."""
    with ws.store.unit_of_work() as uow:
        endpoint = uow.webhooks.get(message.target_id)
    if endpoint is None:
        return Attempt(False, error="the endpoint was deleted", final=True)
    if not endpoint.enabled:
        return Attempt(False, error="the endpoint is disabled", final=True)
    problem = url_problem(endpoint.url, public_only=public_only(ws))
    if problem is not None:
        return Attempt(False, error=f"refused: the URL {problem}", final=True)
    try:
        reply = sender.send(endpoint.url, headers_for(endpoint, message, at), message.body.encode())
    except DeliveryError as exc:
        return Attempt(False, error=str(exc)[:ERROR_MAX])
    if 200 <= reply.status_code < 300:
        return Attempt(True, reply.status_code, response=reply.body)
    why = f"HTTP {reply.status_code}"
    if 300 <= reply.status_code < 400:
        why += " (redirects are not followed)"
    return Attempt(False, reply.status_code, why, reply.body)


def public_only(ws: Workspace) -> bool:
    """Outside local/test webhooks go to https and public addresses only."""
    return ws.settings.env not in LOCAL_ENVIRONMENTS


def deliver(
    ws: Workspace,
    sender: Sender,
    claimed: OutboxMessage,
    at: datetime,
    mailer: Mailer | None = None,
) -> str:
    """Attempt a claimed message and record the outcome; which it was: `delivered`,
    `retried`, `failed`, or `lost` (the lease ran out first)."""
    outcome = copy.deepcopy(claimed)
    outcome.lease_until = None
    outcome.next_attempt_at = stamp = format_ts(at)
    if stamp >= claimed.give_up_at:  # re-claimed after a lease ran out past the deadline
        outcome.attempts -= 1  # (this claim makes no attempt)
        outcome.status = "failed"
        outcome.last_error = (
            f"gave up after {outcome.attempts} attempt(s) over 24 h; "
            f"last: {claimed.last_error or 'no reply recorded'}"
        )[:ERROR_MAX]
        return "failed" if _finish(ws, claimed, outcome) else "lost"
    result = attempt(ws, sender, claimed, at, mailer)
    outcome.last_status_code, outcome.last_response = result.status_code, result.response
    outcome.last_error = result.error
    retry_at = at + retry_delay(outcome.attempts)
    if result.delivered:
        outcome.status, outcome.delivered_at, kind = "delivered", stamp, "delivered"
    elif result.final:
        outcome.status, kind = "failed", "failed"
    elif format_ts(retry_at) > claimed.give_up_at:
        outcome.status, kind = "failed", "failed"
        outcome.last_error = (
            f"gave up after {outcome.attempts} attempt(s) over 24 h; last: {result.error}"
        )[:ERROR_MAX]
    else:
        outcome.next_attempt_at, kind = format_ts(retry_at), "retried"
    return kind if _finish(ws, claimed, outcome) else "lost"


def dispatch(
    ws: Workspace,
    sender: Sender,
    now: datetime | None = None,
    limit: int = BATCH,
    deadline: float | None = None,
    mailer: Mailer | None = None,
) -> DispatchResult:
    """One pass: claim, deliver and mark up to `limit` due messages at `now`; no new claim
    once `time.monotonic()` has passed `deadline` (a Lambda invocation's budget). E-mails
    go through `mailer` (None: e-mail is not configured, and they fail)."""
    moment = now or clock_now()
    result = DispatchResult()
    for message in due(ws, moment, limit):
        if deadline is not None and time.monotonic() >= deadline:
            break
        claimed = claim(ws, message.id, moment)
        if claimed is None:
            result.lost += 1
            continue
        kind = deliver(ws, sender, claimed, moment, mailer)
        if kind == "lost":
            result.lost += 1
        else:
            getattr(result, kind).append(claimed.id)
    return result


def lease_remaining(message: OutboxMessage, at: datetime) -> bool:
    """Whether a claim's lease on `message` still runs at `at`."""
    return message.lease_until is not None and parse_ts(message.lease_until) > at
