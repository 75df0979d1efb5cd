"""E-mail through the outbox (CONTRACT §8, issue 18 item 3), against a real local SMTP
server (aiosmtpd on 127.0.0.1, started by the tests), on both stores: a user who chose
`immediate` gets each notification by e-mail (queued in the notification's own unit of
work), one who chose `off` gets none, one who chose `daily` gets one digest once 08:00
has passed in their time zone — and not twice; a 451 reply is retried with the
dispatcher's backoff, a 550 reply is given up with the reason; the mail never carries
a storage URI, a password or metadata. Also the settings and `PATCH /api/me`."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.config import Settings
from dataops.domain.accounts import Actor
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    DataClass,
    EmailNotifications,
    NotificationType,
    Role,
)
from dataops.domain.errors import ConfigurationError
from dataops.domain.mail import digest_id
from dataops.domain.status import ReviewAction
from dataops.scheduler import dispatch_until_idle, run_pass
from dataops.services import artifact_review, artifacts, mail, notifications, people
from dataops.services.context import Workspace
from dataops.smtp import SmtpMailer, build_mailer
from dataops.store.port import Filters, PageRequest
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, SettingsFor, login

FROM = "dataops@example.com"
SMTP_PASSWORD = "smtp-pass-Zq81"
PRIVATE_URI = "https://private-evidence-bucket.example.com/hr/salaries.xlsx"


class Sink:
    """The SMTP server's handler: keeps every accepted message; `replies` (consumed in
    order) answers DATA with an error first."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.replies: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            parsed = message_from_bytes(raw, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            parsed["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.received.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on 127.0.0.1 (a free port), stopped after the test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def _mail_settings(settings: Settings, port: int) -> Settings:
    env = {"DATAOPS_ENV": "test", "DATAOPS_MAIL_FROM": FROM}
    env["DATAOPS_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    parsed = Settings.from_env(env)
    return dataclasses.replace(settings, smtp=parsed.smtp, mail_from=parsed.mail_from)


@pytest.fixture
def mail_ws(backend: SettingsFor, tmp_path: Path, smtp: tuple[Sink, int]) -> Iterator[Workspace]:
    """A workspace on each backend with e-mail going to the test's SMTP server."""
    ws = runtime.build_workspace(_mail_settings(backend(tmp_path), smtp[1]))
    runtime.bootstrap_admin(ws)
    yield ws
    from dataops.store.dynamodb import DynamoStore

    if isinstance(ws.store, DynamoStore):
        from tests.contract.dynamo import drop_tables

        drop_tables(ws.store)
    ws.store.close()


def _user(
    ws: Workspace, email: str, choice: str, zone: str = "UTC", role: Role = Role.OPERATOR
) -> Actor:
    user = people.add_user(ws, people.SYSTEM, email, email.split("@")[0].title(), role, PASSWORD)
    actor = Actor(user.id, user.email, user.role, user.name)
    people.update_me(ws, actor, {"email_notifications": choice, "timezone": zone}, None)
    return actor


def _admin(ws: Workspace) -> Actor:
    with ws.store.unit_of_work() as uow:
        user = people.find_user_by_email(uow, ADMIN_EMAIL)
    assert user is not None
    return Actor(user.id, user.email, user.role, user.name)


def _notify(ws: Workspace, who: Actor, message: str, subject: str, at: datetime) -> None:
    with ws.store.unit_of_work(write=True) as uow:
        made = notifications.notify(
            uow, NotificationType.TASK_DUE, message, who.id, subject, at=at, task_id=subject
        )
        assert made is not None
        uow.commit()


def _email_messages(ws: Workspace, user_id: str) -> list[Any]:
    with ws.store.unit_of_work() as uow:
        found = uow.outbox.find(Filters({"target_id": user_id}), PageRequest(100)).items
    return [m for m in found if m.channel == mail.EMAIL]


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


# --- immediate and off ------------------------------------------------------------------


def test_an_immediate_user_gets_the_email_and_an_off_user_none(
    mail_ws: Workspace, smtp: tuple[Sink, int]
) -> None:
    sink, _ = smtp
    ws = mail_ws
    ada = _user(ws, "ada@example.com", "immediate", role=Role.VIEWER)  # no review requests
    bob = _user(ws, "bob@example.com", "off")
    ops = _user(ws, "ops@example.com", "immediate")
    # ops's own artifact, private, with metadata, rejected by the admin: ops is told
    made = artifacts.register_artifact(
        ws,
        ops,
        {
            "type": ArtifactType.REPORT,
            "title": "Payroll <b>export</b> & more",
            "storage_uri": PRIVATE_URI,
            "data_class": DataClass.PRIVATE,
            "status": ArtifactStatus.NEEDS_REVIEW,
            "metadata": {"owner": "finance-internal-marker"},
        },
    )
    artifact_review.review_artifact(
        ws, _admin(ws), made.id, ReviewAction.REJECT, reason="wrong <month>"
    )
    now = datetime.now(UTC)
    _notify(ws, ada, "Quarterly access review: due today", "tsk_1", now)
    _notify(ws, bob, "Quarterly access review: due today", "tsk_1", now)
    assert len(_email_messages(ws, bob.id)) == 0  # nothing queued for `off`

    result = dispatch_until_idle(ws)
    assert not result.failed
    assert not result.retried
    by_rcpt = {m["X-Envelope-To"]: m for m in sink.received}
    assert "bob@example.com" not in by_rcpt
    assert set(by_rcpt) >= {"ada@example.com", "ops@example.com"}

    got = by_rcpt["ada@example.com"]
    assert got["From"] == FROM
    assert got["To"] == "ada@example.com"
    assert got["Subject"] == "[DataOps] Due today: Quarterly access review: due today"
    assert got["Message-ID"]
    assert "Quarterly access review" in _text(got)
    assert "/work/tasks/tsk_1" in _text(got)
    assert 'href="/work/tasks/tsk_1"' in _html(got)

    rejected = by_rcpt["ops@example.com"]
    whole = rejected.as_string()
    assert f"/work/artifacts/{made.id}" in _text(rejected)
    assert "wrong <month>" in _text(rejected)
    assert "wrong &lt;month&gt;" in _html(rejected)  # the user's text is escaped in HTML
    assert "<b>export</b>" not in _html(rejected)
    assert "private-evidence-bucket" not in whole
    assert "finance-internal-marker" not in whole
    assert SMTP_PASSWORD not in whole
    assert len(rejected["Subject"]) <= 78

    (logged,) = _email_messages(ws, ada.id)
    assert (logged.status, logged.attempts, logged.last_status_code) == ("delivered", 1, 250)


def test_the_email_is_queued_with_the_notification_or_not_at_all(mail_ws: Workspace) -> None:
    ws = mail_ws
    ada = _user(ws, "ada@example.com", "immediate")
    with ws.store.unit_of_work(write=True) as uow:
        notifications.notify(uow, NotificationType.TASK_DUE, "x", ada.id, "tsk_9")
        # no commit: the notification and its e-mail are dropped together
    assert _email_messages(ws, ada.id) == []
    _notify(ws, ada, "x", "tsk_9", datetime.now(UTC))
    assert len(_email_messages(ws, ada.id)) == 1


def test_without_smtp_nothing_is_queued(any_workspace: Workspace) -> None:
    ws = any_workspace
    ada = _user(ws, "ada@example.com", "immediate")
    _notify(ws, ada, "x", "tsk_1", datetime.now(UTC))
    assert _email_messages(ws, ada.id) == []


# --- retries and giving up --------------------------------------------------------------


def test_a_451_is_retried_then_delivered_and_a_550_given_up_with_the_reason(
    mail_ws: Workspace, smtp: tuple[Sink, int]
) -> None:
    sink, _ = smtp
    ws = mail_ws
    ada = _user(ws, "ada@example.com", "immediate")
    start = datetime.now(UTC)
    sink.replies = ["451 4.3.0 try again later"]
    _notify(ws, ada, "first", "tsk_1", start)
    first = dispatch_until_idle(ws, start)
    assert len(first.retried) == 1
    assert not first.delivered
    (waiting,) = _email_messages(ws, ada.id)
    assert waiting.status == "pending"
    assert waiting.last_status_code == 451
    assert "451" in (waiting.last_error or "")
    assert waiting.next_attempt_at > waiting.last_attempt_at  # the dispatcher's backoff
    assert sink.received == []
    later = dispatch_until_idle(ws, start + timedelta(minutes=1))
    assert len(later.delivered) == 1
    assert [m["To"] for m in sink.received] == ["ada@example.com"]

    sink.replies = ["550 5.1.1 mailbox unavailable"]
    _notify(ws, ada, "second", "tsk_2", start)
    gone = dispatch_until_idle(ws, start + timedelta(minutes=2))
    assert len(gone.failed) == 1
    failed = [m for m in _email_messages(ws, ada.id) if m.status == "failed"]
    assert len(failed) == 1
    assert failed[0].last_status_code == 550
    assert "550" in (failed[0].last_error or "")
    assert "mailbox unavailable" in (failed[0].last_error or "")
    assert len(sink.received) == 1


def test_no_server_is_retried(mail_ws: Workspace) -> None:
    ws = mail_ws
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    ada = _user(ws, "ada@example.com", "immediate")
    _notify(ws, ada, "x", "tsk_1", datetime.now(UTC))
    assert ws.settings.smtp is not None
    mailer = SmtpMailer(dataclasses.replace(ws.settings.smtp, port=dead), FROM)
    result = dispatch_until_idle(ws, datetime.now(UTC), mailer=mailer)
    assert len(result.retried) == 1
    (message,) = _email_messages(ws, ada.id)
    assert message.status == "pending"
    assert message.last_status_code is None


# --- the daily digest -------------------------------------------------------------------


def test_a_daily_digest_at_0800_local_once_per_day(
    mail_ws: Workspace, smtp: tuple[Sink, int]
) -> None:
    sink, _ = smtp
    ws = mail_ws
    ny = _user(ws, "ny@example.com", "daily", "America/New_York")
    utc = _user(ws, "utc@example.com", "daily", "UTC")
    off = _user(ws, "off@example.com", "off", "UTC")
    made_at = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
    for who in (ny, utc, off):
        _notify(ws, who, "Vendor <review> due", "tsk_1", made_at)
        _notify(ws, who, "Backups checked", "tsk_2", made_at + timedelta(minutes=5))
    assert all(not _email_messages(ws, w.id) for w in (ny, utc, off))  # none immediate

    # 07:59 UTC (02:59 in New York): no digest yet
    assert run_pass(ws, datetime(2025, 3, 3, 7, 59, tzinfo=UTC)).digests == 0
    # 08:00 UTC: the UTC user's digest; New York is at 03:00
    assert run_pass(ws, datetime(2025, 3, 3, 8, 0, tzinfo=UTC)).digests == 1
    assert run_pass(ws, datetime(2025, 3, 3, 9, 0, tzinfo=UTC)).digests == 0  # not twice
    # 13:00 UTC is 08:00 in New York (EST, UTC-5)
    assert run_pass(ws, datetime(2025, 3, 3, 12, 59, tzinfo=UTC)).digests == 0
    assert run_pass(ws, datetime(2025, 3, 3, 13, 0, tzinfo=UTC)).digests == 1
    assert run_pass(ws, datetime(2025, 3, 3, 23, 0, tzinfo=UTC)).digests == 0
    assert mail.send_digests(ws.store, datetime(2025, 3, 3, 23, 30, tzinfo=UTC)) == []

    dispatch_until_idle(ws, datetime(2025, 3, 3, 23, 30, tzinfo=UTC))
    by_rcpt = {m["To"]: m for m in sink.received}
    assert set(by_rcpt) == {"ny@example.com", "utc@example.com"}
    digest = by_rcpt["ny@example.com"]
    assert digest["Subject"] == "[DataOps] 2 unread notification(s) — 2025-03-03"
    assert "Vendor <review> due" in _text(digest)
    assert "Vendor &lt;review&gt; due" in _html(digest)
    assert "/work/tasks/tsk_1" in _text(digest)
    assert "/work/notifications" in _text(digest)
    assert (digest_id(ny.id, datetime(2025, 3, 3).date())) in {
        m.id for m in _email_messages(ws, ny.id)
    }

    # the next day: only what is new since the last digest, none without anything new
    assert run_pass(ws, datetime(2025, 3, 4, 8, 30, tzinfo=UTC)).digests == 0
    _notify(ws, utc, "Firewall rules", "tsk_3", datetime(2025, 3, 4, 7, 0, tzinfo=UTC))
    # (a day later: the runner's own due-work notifications come too, made by the pass)
    assert run_pass(ws, datetime(2025, 3, 4, 8, 45, tzinfo=UTC)).digests == 1
    dispatch_until_idle(ws, datetime(2025, 3, 4, 9, 0, tzinfo=UTC))
    latest = [m for m in sink.received if m["To"] == "utc@example.com"][-1]
    assert "Firewall rules" in _text(latest)
    assert "Backups checked" not in _text(latest)


# --- settings and PATCH /api/me ---------------------------------------------------------


def test_smtp_settings_are_checked_and_the_password_never_shown(tmp_path: Path) -> None:
    base = {"DATAOPS_ENV": "test", "DATAOPS_HOME": str(tmp_path), "DATAOPS_MAIL_FROM": FROM}
    ok = Settings.from_env({**base, "DATAOPS_SMTP_URL": f"smtps://me:{SMTP_PASSWORD}@mx:2465"})
    assert ok.smtp is not None
    assert (ok.smtp.host, ok.smtp.port, ok.smtp.implicit_tls) == ("mx", 2465, True)
    assert ok.smtp.password == SMTP_PASSWORD
    assert SMTP_PASSWORD not in repr(ok)
    assert SMTP_PASSWORD not in ok.smtp.shown
    plain = Settings.from_env({**base, "DATAOPS_SMTP_URL": "smtp://mx"})
    assert plain.smtp is not None
    assert plain.smtp.port == 25
    assert not plain.smtp.require_tls
    staging = {**base, "DATAOPS_ENV": "staging", "DATAOPS_BLOB_STORE": "disabled"}
    assert Settings.from_env({**staging, "DATAOPS_SMTP_URL": "smtp://mx"}).smtp.require_tls  # type: ignore[union-attr]
    for env, named in [
        ({"DATAOPS_SMTP_URL": f"http://me:{SMTP_PASSWORD}@mx"}, "DATAOPS_SMTP_URL"),
        ({"DATAOPS_SMTP_URL": "smtp://mx:99999"}, "DATAOPS_SMTP_URL"),
        ({"DATAOPS_SMTP_URL": "smtp://mx/path"}, "DATAOPS_SMTP_URL"),
        ({"DATAOPS_MAIL_FROM": "not an address"}, "DATAOPS_MAIL_FROM"),
        ({"DATAOPS_PORTAL_URL": "ftp://x"}, "DATAOPS_PORTAL_URL"),
        ({"DATAOPS_SMTP_PASSWORD_SECRET_NAME": "smtp-pass"}, "DATAOPS_SMTP_PASSWORD_SECRET_NAME"),
    ]:
        with pytest.raises(ConfigurationError) as caught:
            Settings.from_env({**base, **env})
        assert named in str(caught.value)
        assert SMTP_PASSWORD not in str(caught.value)
    with pytest.raises(ConfigurationError, match="DATAOPS_MAIL_FROM"):
        Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_SMTP_URL": "smtp://mx"})
    assert build_mailer(Settings.from_env(base)) is None


def test_starttls_is_required_outside_local_and_test(
    mail_ws: Workspace, smtp: tuple[Sink, int]
) -> None:
    """The test server offers no STARTTLS: in production mode the mail is not sent in
    the clear (the attempt fails and is retried), in test mode it is."""
    ws = mail_ws
    sink, _ = smtp
    assert ws.settings.smtp is not None
    strict = SmtpMailer(dataclasses.replace(ws.settings.smtp, require_tls=True), FROM)
    ada = _user(ws, "ada@example.com", "immediate")
    _notify(ws, ada, "x", "tsk_1", datetime.now(UTC))
    result = dispatch_until_idle(ws, datetime.now(UTC), mailer=strict)
    assert len(result.retried) == 1
    assert sink.received == []
    (message,) = _email_messages(ws, ada.id)
    assert "STARTTLS" in (message.last_error or "")


def test_patch_me(portal: TestClient) -> None:
    client = portal
    login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = client.get("/work/api/me").json()
    assert (me["emailNotifications"], me["timezone"]) == ("off", "UTC")
    changed = client.patch(
        "/work/api/me",
        json={"emailNotifications": "daily", "timezone": "America/New_York"},
        headers={"If-Match": f'"{me["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == f'"{me["version"] + 1}"'
    body = changed.json()
    assert (body["emailNotifications"], body["timezone"]) == ("daily", "America/New_York")
    stale = client.patch(
        "/work/api/me", json={"emailNotifications": "off"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 409
    bad = client.patch("/work/api/me", json={"timezone": "Nowhere/City"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "timezone" in bad.text
    assert client.get("/work/api/me").json()["emailNotifications"] == "daily"


def test_an_import_refuses_a_bad_user_timezone_or_choice() -> None:
    from dataops.domain.accounts import User
    from dataops.domain.rules import user_errors

    user = User("usr_1", "a@example.com", "A", Role.VIEWER, "2025-01-01T00:00:00.000Z")
    assert user_errors(user) == []
    user.timezone = "Mars/Base"
    assert [e.field for e in user_errors(user)] == ["timezone"]
    assert EmailNotifications("daily") == EmailNotifications.DAILY
