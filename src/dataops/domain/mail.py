"""E-mail rules (CONTRACT §8, issue 18): what a notification e-mail and a daily digest
say, and when a user's digest is due. Pure: the outbox, the store and SMTP live elsewhere.

A mail carries what the notification shows in the app — its message (titles, reasons:
the users' text, HTML-escaped in the HTML part), its type, its due date — and links into
the portal (`/work/...`, absolute when `DATAOPS_PORTAL_URL` is set). Never a storage
URI, a signed URL, metadata or a secret: nothing of the artifact but its ID is read.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dataops.domain.messages import Notification

NOTIFICATION_EVENT = "email.notification"
DIGEST_EVENT = "email.digest"
DIGEST_AT = time(8, 0)
"""A daily digest is due from 08:00 in the user's time zone."""
DIGEST_LISTED = 50
"""A digest lists at most this many notifications (the rest: "and more in the portal")."""
DIGEST_LOOKBACK_DAYS = 7
"""How far back a digest looks for the previous one (and for unread notifications)."""
SUBJECT_MAX = 78
PREFIX = "[DataOps] "

_KIND = {
    "task-due": "Due today",
    "task-overdue": "Overdue",
    "follow-up-due": "Follow up",
    "missing-evidence": "Evidence missing",
    "recurring-due": "New occurrence",
    "stage-change": "Stage changed",
    "automation-failure": "Automation failed",
    "review-requested": "Review requested",
    "artifact-rejected": "Rejected",
    "proof-withdrawn": "Proof withdrawn",
}


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str

    def body(self) -> str:
        """The outbox body: the exact parts every attempt sends."""
        data = {"subject": self.subject, "text": self.text, "html": self.html}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_body(cls, body: str) -> Mail:
        data = json.loads(body)
        return cls(data["subject"], data["text"], data["html"])


def _short(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def link(note: Notification, base: str = "") -> str:
    """Where in the portal the notification's subject is: its artifact, task or bundle,
    else the notifications list."""
    if note.artifact_id:
        path = f"/work/artifacts/{note.artifact_id}"
    elif note.task_id:
        path = f"/work/tasks/{note.task_id}"
    elif note.bundle_id:
        path = f"/work/bundles/{note.bundle_id}"
    else:
        path = "/work/notifications"
    return base.rstrip("/") + path


def kind_label(note: Notification) -> str:
    return _KIND.get(note.type.value, note.type.value)


def notification_mail(note: Notification, base: str = "") -> Mail:
    """One notification as an e-mail (a user who chose `immediate`)."""
    label = kind_label(note)
    subject = _short(f"{PREFIX}{label}: {note.message}", SUBJECT_MAX)
    url = link(note, base)
    settings_url = base.rstrip("/") + "/work/notifications"
    due = f"\nDue: {note.due_at[:10]}" if note.due_at else ""
    text = (
        f"{label}\n\n{note.message}{due}\n\nOpen: {url}\n\n"
        f"You get this e-mail because you chose immediate e-mail notifications in "
        f"DataOps ({settings_url})."
    )
    due_html = f"<p>Due: {html.escape(note.due_at[:10])}</p>" if note.due_at else ""
    body_html = (
        f"<p><strong>{html.escape(label)}</strong></p>"
        f"<p>{html.escape(note.message)}</p>{due_html}"
        f'<p><a href="{html.escape(url, quote=True)}">Open in DataOps</a></p>'
        f"<p><small>You get this e-mail because you chose immediate e-mail "
        f"notifications in DataOps.</small></p>"
    )
    return Mail(subject, text, _page(subject, body_html))


def digest_mail(notes: list[Notification], day: date, more: bool, base: str = "") -> Mail:
    """The day's digest of unread notifications, newest first (`more`: some not listed)."""
    count = f"{len(notes)}{'+' if more else ''}"
    subject = _short(f"{PREFIX}{count} unread notification(s) — {day.isoformat()}", SUBJECT_MAX)
    inbox = base.rstrip("/") + "/work/notifications"
    lines = [f"Your unread DataOps notifications ({day.isoformat()}):", ""]
    items = []
    for note in notes:
        url = link(note, base)
        lines.append(f"- {kind_label(note)}: {note.message}\n  {url}")
        items.append(
            f"<li><strong>{html.escape(kind_label(note))}</strong>: "
            f'{html.escape(note.message)} (<a href="{html.escape(url, quote=True)}">open</a>)'
            f"</li>"
        )
    if more:
        lines.append("- … and more in the portal")
        items.append("<li>… and more in the portal</li>")
    lines += ["", f"All notifications: {inbox}", "", "You chose a daily e-mail digest."]
    body_html = (
        f"<p>Your unread DataOps notifications ({day.isoformat()}):</p>"
        f"<ul>{''.join(items)}</ul>"
        f'<p><a href="{html.escape(inbox, quote=True)}">All notifications</a></p>'
        f"<p><small>You chose a daily e-mail digest.</small></p>"
    )
    return Mail(subject, "\n".join(lines), _page(subject, body_html))


def _page(subject: str, body: str) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(subject)}'
        f"</title></head><body>{body}</body></html>"
    )


def digest_day(now: datetime, zone: ZoneInfo) -> date | None:
    """The local day whose digest is due at `now` (08:00 has passed there), or None."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= DIGEST_AT else None


def digest_id(user_id: str, day: date) -> str:
    """The outbox ID of a user's digest for a local day: unique in the store, so two
    passes (or two processes) never make a second digest for one user and day."""
    digest = hashlib.sha256(f"{user_id}\n{day.isoformat()}".encode()).hexdigest()
    return f"dgst_{digest[:32]}"


def earlier_days(day: date) -> list[date]:
    """The days before `day` a digest looks back over, latest first."""
    return [day - timedelta(days=n) for n in range(1, DIGEST_LOOKBACK_DAYS + 1)]
