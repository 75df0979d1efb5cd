"""Signed webhooks through the outbox (CONTRACT §8, issue 18 items 1, 2 and 4), on both
stores, against a real local HTTP receiver: events written with their change (and only
when an endpoint wants them), signed deliveries that verify with the `standardwebhooks`
reference library, retries after a 500, giving up after 24 h, secret rotation, refused
addresses outside local/test, two dispatchers racing, and kill -9 between the change and
its delivery."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpcore
import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from dataops import runtime
from dataops.delivery import HttpSender, RefusedAddress, _GuardedBackend
from dataops.domain.accounts import Actor
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import ArtifactStatus, ArtifactType, DataClass, Role
from dataops.domain.errors import ValidationFailed
from dataops.domain.webhooks import EVENTS, address_problem, url_problem
from dataops.scheduler import dispatch_until_idle
from dataops.services import artifact_review, artifacts, events, outbox, people, webhooks, workflow
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest
from tests.api.webhook_receiver import Receiver, start_receiver
from tests.conftest import ADMIN_EMAIL, make_settings

API = "/work/api"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.stop()


def _admin(ws: Workspace) -> Actor:
    with ws.store.unit_of_work() as uow:
        user = people.find_user_by_email(uow, ADMIN_EMAIL)
    assert user is not None
    return Actor(user.id, user.email, user.role, user.name)


def _hook(ws: Workspace, url: str, events: list[str] | None = None) -> webhooks.Created:
    return webhooks.create_webhook(ws, _admin(ws), {"url": url, "events": events or list(EVENTS)})


def _artifact(ws: Workspace, **data: Any) -> Any:
    fields: dict[str, Any] = {
        "type": ArtifactType.REPORT,
        "title": "Q1 report",
        "storage_uri": "https://example.com/q1.pdf",
    }
    fields.update(data)
    return artifacts.register_artifact(ws, _admin(ws), fields)


def _messages(ws: Workspace, webhook_id: str) -> list[Any]:
    with ws.store.unit_of_work() as uow:
        return uow.outbox.find(Filters({"target_id": webhook_id}), PageRequest(500)).items


def _sender(ws: Workspace) -> HttpSender:
    return HttpSender(public_only=outbox.public_only(ws))


# --- events and payloads ------------------------------------------------------------------------


def test_a_delivery_is_signed_and_verifies_with_the_reference_library(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["artifact.created"])
    art = _artifact(
        ws,
        data_class=DataClass.PRIVATE,
        storage_uri="https://private-bucket.example.com/q1.pdf",
        metadata={"internal": "do not send"},
    )
    result = dispatch_until_idle(ws, sender=_sender(ws))
    assert len(result.delivered) == 1
    assert not result.failed
    (got,) = receiver.received
    payload = Verifier(made.secret).verify(got.body, got.headers)
    assert payload["type"] == "artifact.created"
    assert set(payload) == {"type", "timestamp", "data"}
    data = payload["data"]
    assert data["id"] == art.id
    assert data["title"] == "Q1 report"
    assert data["status"] == art.status.value
    assert data["portalUrl"] == f"/work/artifacts/{art.id}"
    assert "storageUri" not in data
    assert "metadata" not in data
    assert b"private-bucket" not in got.body
    assert b"do not send" not in got.body
    assert got.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Verifier("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    (logged,) = _messages(ws, made.webhook.id)
    assert logged.status == "delivered"
    assert logged.attempts == 1
    assert logged.last_status_code == 200
    assert len(logged.last_response.encode()) <= 1024


def test_an_internal_artifact_shows_its_uri_and_status_changes_are_events(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    _hook(ws, receiver.url, ["artifact.created", "artifact.status-changed"])
    art = _artifact(ws, status=ArtifactStatus.NEEDS_REVIEW)
    artifact_review.review_artifact(ws, _admin(ws), art.id, artifacts.ReviewAction.APPROVE)
    dispatch_until_idle(ws, sender=_sender(ws))
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["artifact.created", "artifact.status-changed"]
    assert bodies[0]["data"]["storageUri"] == "https://example.com/q1.pdf"
    assert bodies[1]["data"]["status"] == "approved"
    assert bodies[1]["data"]["previousStatus"] == "needs-review"


def test_no_subscriber_no_outbox_message(any_workspace: Workspace, receiver: Receiver) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["bundle.created"])
    _artifact(ws)  # nobody subscribed to artifact events
    assert _messages(ws, made.webhook.id) == []
    webhooks.update_webhook(ws, _admin(ws), made.webhook.id, {"enabled": False}, None)
    workflow.create_bundle(ws, _admin(ws), {"title": "B"})  # subscribed, but disabled
    assert _messages(ws, made.webhook.id) == []
    webhooks.update_webhook(ws, _admin(ws), made.webhook.id, {"enabled": True}, None)
    bundle = workflow.create_bundle(ws, _admin(ws), {"title": "B2"})
    (queued,) = _messages(ws, made.webhook.id)
    assert json.loads(queued.body)["data"]["id"] == bundle.id


# --- retries, giving up, rotation -----------------------------------------------------------------


def test_a_500_is_retried_with_backoff_then_delivered(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["bundle.created"])
    answers = iter([500, 200])
    receiver.answer = lambda _: next(answers)
    workflow.create_bundle(ws, _admin(ws), {"title": "B"})
    start = clock_now()
    first = outbox.dispatch(ws, _sender(ws), start)
    assert len(first.retried) == 1
    (waiting,) = _messages(ws, made.webhook.id)
    assert waiting.status == "pending"
    assert waiting.last_status_code == 500
    delay = datetime.fromisoformat(waiting.next_attempt_at) - start
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)  # 10 s with jitter
    assert outbox.dispatch(ws, _sender(ws), start + timedelta(seconds=1)).delivered == []
    second = outbox.dispatch(ws, _sender(ws), start + timedelta(seconds=11))
    assert second.delivered == first.retried
    assert receiver.ids() == [waiting.id, waiting.id]  # the same webhook-id each time
    (done,) = _messages(ws, made.webhook.id)
    assert done.status == "delivered"
    assert done.attempts == 2


def test_it_gives_up_after_24_hours_and_says_why(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["bundle.created"])
    receiver.answer = lambda _: 503
    workflow.create_bundle(ws, _admin(ws), {"title": "B"})
    at = clock_now()
    for _ in range(100):
        result = outbox.dispatch(ws, _sender(ws), at)
        if result.failed:
            break
        at += timedelta(hours=1, seconds=1)  # past the longest backoff
    (gone,) = _messages(ws, made.webhook.id)
    assert gone.status == "failed"
    assert gone.last_error.startswith(f"gave up after {gone.attempts} attempt(s) over 24 h")
    assert "HTTP 503" in gone.last_error
    assert 10 < gone.attempts == len(receiver.received) < 40
    assert outbox.dispatch(ws, _sender(ws), at + timedelta(days=2)).delivered == []


def test_after_a_rotation_both_secrets_sign_for_24_hours(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["bundle.created"])
    rotated = webhooks.rotate_secret(ws, _admin(ws), made.webhook.id, None)
    assert rotated.secret != made.secret
    assert rotated.secret.startswith("whsec_")
    webhooks.send_test(ws, _admin(ws), made.webhook.id)
    dispatch_until_idle(ws, sender=_sender(ws))
    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (made.secret, rotated.secret):
        assert Verifier(secret).verify(got.body, got.headers)["type"] == "webhook.test"
    # after the overlap only the new secret signs
    endpoint = webhooks.get_webhook(ws, _admin(ws), made.webhook.id)
    message = _messages(ws, made.webhook.id)[0]
    later = clock_now() + timedelta(hours=25)
    headers = outbox.headers_for(endpoint, message, later)
    assert len(headers["webhook-signature"].split(" ")) == 1


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # not https
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "https://[::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://224.0.0.1/",
        "https://240.0.0.1/",
        "https://0.0.0.0/",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
    ],
)
def test_production_refuses_private_and_plain_urls(url: str, tmp_path: Path) -> None:
    assert url_problem(url, public_only=True) is not None
    settings = make_settings(tmp_path, DATAOPS_ENV="production", DATAOPS_BLOB_STORE="disabled")
    ws = runtime.build_workspace(settings)
    try:
        runtime.bootstrap_admin(ws)
        with pytest.raises(ValidationFailed):
            _hook(ws, url)
    finally:
        ws.store.close()


def test_public_https_urls_pass_validation() -> None:
    for url in ("https://hooks.example.com/in", "https://93.184.216.34:8443/x"):
        assert url_problem(url, public_only=True) is None
    assert address_problem(ipaddress.ip_address("8.8.8.8")) is None
    assert address_problem(ipaddress.ip_address("fd00:ec2::254")) is not None


def test_the_address_is_checked_when_connecting_dns_rebinding() -> None:
    """A name that resolves to a private address is refused at connect time, before any
    connection is made (the check that a public name at creation cannot dodge)."""
    with pytest.raises(RefusedAddress, match="loopback"):
        _GuardedBackend().connect_tcp("localhost", 9, timeout=1)
    assert issubclass(RefusedAddress, httpcore.ConnectError)


# --- races and crashes ---------------------------------------------------------------------------


def test_two_dispatchers_racing_deliver_each_message_exactly_once(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    count = 1000  # the issue: two dispatchers racing over 1,000 events
    _hook(ws, receiver.url, ["bundle.created"])
    for start in range(0, count, 50):  # enqueued as a change would, 50 per unit of work
        with ws.store.unit_of_work(write=True) as uow:
            for n in range(start, start + 50):
                events.emit(uow, "bundle.created", {"id": f"bnd_{n}", "title": f"B{n}"})
            uow.commit()
    totals: list[outbox.DispatchResult] = []

    def run() -> None:
        totals.append(dispatch_until_idle(ws, sender=_sender(ws)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [i for t in totals for i in t.delivered]
    assert len(delivered) == len(set(delivered)) == count
    seen = Counter(receiver.ids())
    assert len(seen) == count
    assert set(seen.values()) == {1}


def _dataops(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(home),
        "DATAOPS_OUTBOX_INTERVAL_SECONDS": "1",
    }
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dataops"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_kill_9_between_the_change_and_its_delivery_loses_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path))
    runtime.bootstrap_admin(ws)
    made = _hook(ws, receiver.url, ["bundle.created"])
    arrived = threading.Event()
    release = threading.Event()

    def stall(_: Any) -> int:  # the first attempt hangs until its sender is dead
        if not arrived.is_set():
            arrived.set()
            release.wait(30)
            return 500
        return 200

    receiver.answer = stall
    workflow.create_bundle(ws, _admin(ws), {"title": "committed"})
    (message,) = _messages(ws, made.webhook.id)
    dispatcher = _dataops(tmp_path, "outbox", "run")
    try:
        assert arrived.wait(60), dispatcher.stderr.read() if dispatcher.stderr else ""
        dispatcher.send_signal(signal.SIGKILL)
        dispatcher.wait(10)
    finally:
        release.set()
        if dispatcher.poll() is None:
            dispatcher.kill()
    (claimed,) = _messages(ws, made.webhook.id)
    assert claimed.status == "pending"
    assert claimed.lease_until is not None
    # a new dispatcher after the dead one's lease ran out delivers it, once
    after_lease = (clock_now() + timedelta(minutes=2)).isoformat()
    again = _dataops(tmp_path, "outbox", "run", "--once", "--now", after_lease)
    assert again.wait(60) == 0, again.stderr.read() if again.stderr else ""
    once_more = _dataops(tmp_path, "outbox", "run", "--once", "--now", after_lease)
    assert once_more.wait(60) == 0
    (done,) = _messages(ws, made.webhook.id)
    assert done.status == "delivered"
    assert done.id == message.id
    answered = [r for r in receiver.received if r.headers["webhook-id"] == message.id]
    assert len(answered) == 2  # the killed attempt (never acknowledged) and the delivery
    ws.store.close()


# --- the API ---------------------------------------------------------------------------------


def test_the_api_shows_the_secret_once_and_is_admin_only(
    api: Any, client_as: Any, receiver: Receiver
) -> None:
    made = api.post(f"{API}/webhooks", json={"url": receiver.url, "events": ["bundle.created"]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) >= 6 + 32
    hook_id = body["id"]
    for shown in (api.get(f"{API}/webhooks/{hook_id}").json(), api.get(f"{API}/webhooks").json()):
        assert body["secret"] not in json.dumps(shown)
        assert "secret" not in (shown["items"][0] if "items" in shown else shown)
    bad = api.post(f"{API}/webhooks", json={"url": receiver.url, "events": ["nope"]})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    test = api.post(f"{API}/webhooks/{hook_id}/test")
    assert test.status_code == 202
    assert test.json()["eventType"] == "webhook.test"
    log = api.get(f"{API}/webhooks/{hook_id}/deliveries").json()["items"]
    assert [d["status"] for d in log] == ["pending"]
    rotated = api.post(f"{API}/webhooks/{hook_id}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != body["secret"]
    for role in (Role.OPERATOR, Role.VIEWER, Role.ASSISTANT):
        other = client_as(role)
        assert other.get(f"{API}/webhooks").status_code == 403
        assert other.post(f"{API}/webhooks/{hook_id}/test").status_code == 403
    assert api.delete(f"{API}/webhooks/{hook_id}").status_code == 204
    assert api.get(f"{API}/webhooks/{hook_id}").status_code == 404
    assert api.get(f"{API}/webhooks").json()["items"] == []


def test_redelivery_sends_the_same_message_again(
    any_workspace: Workspace, receiver: Receiver
) -> None:
    ws = any_workspace
    made = _hook(ws, receiver.url, ["bundle.created"])
    workflow.create_bundle(ws, _admin(ws), {"title": "B"})
    dispatch_until_idle(ws, sender=_sender(ws))
    (sent,) = _messages(ws, made.webhook.id)
    again = webhooks.redeliver(ws, _admin(ws), made.webhook.id, sent.id)
    assert again.status == "pending"
    dispatch_until_idle(ws, sender=_sender(ws))
    assert receiver.ids() == [sent.id, sent.id]
    first, second = receiver.received
    assert first.body == second.body


def test_the_scheduled_lambda_invocation_also_dispatches_the_outbox(
    workspace: Workspace, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS the EventBridge schedule that runs the recurring-work pass drives the
    outbox too (docs/v1-runtime-architecture.md)."""
    from dataops import lambda_handlers

    made = _hook(workspace, receiver.url, ["bundle.created"])
    workflow.create_bundle(workspace, _admin(workspace), {"title": "B"})
    monkeypatch.setattr(lambda_handlers, "_engine_workspace", lambda: workspace)
    event = {"source": "dataops.scheduler", "action": "run-due", "scheduledTime": "x"}
    lambda_handlers.engine_handler(event, None)
    (sent,) = _messages(workspace, made.webhook.id)
    assert sent.status == "delivered"
    assert receiver.ids() == [sent.id]


@pytest.mark.parametrize(("value", "seconds"), [(None, 5), ("0", 0), ("30", 30), ("86400", 86400)])
def test_the_outbox_interval_setting(value: str | None, seconds: int) -> None:
    from dataops.config import Settings

    env = {} if value is None else {"DATAOPS_OUTBOX_INTERVAL_SECONDS": value}
    assert Settings.from_env(env).outbox_interval_seconds == seconds


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "86401", "\u0661\u0660"])
def test_a_bad_outbox_interval_refuses_to_start(value: str) -> None:
    from dataops.config import Settings
    from dataops.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="DATAOPS_OUTBOX_INTERVAL_SECONDS"):
        Settings.from_env({"DATAOPS_OUTBOX_INTERVAL_SECONDS": value})
