"""The recurring-work runner at the edges: one pass as the CLI and the Lambda handler run
it (`run_pass`), and the background loop inside `dataops serve` (`BackgroundRunner`).

Passes are safe in parallel (each occurrence is claimed in its bundle's own transaction:
`services/recurring_pass.py`), so a `dataops serve`, a cron `dataops scheduler run-due` and the
EventBridge schedule may all run against one store at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from dataops.delivery import HttpSender
from dataops.domain.clock import now as clock_now
from dataops.domain.enums import NotificationType
from dataops.services import mail, proofs
from dataops.services.context import Workspace
from dataops.services.notifications import notify_due
from dataops.services.outbox import DispatchResult, Mailer, Sender, dispatch, public_only
from dataops.services.people import SYSTEM
from dataops.services.recurring_pass import PassResult, run_due
from dataops.smtp import build_mailer

log = logging.getLogger("dataops.scheduler")


def run_pass(workspace: Workspace, now: datetime | None = None) -> PassResult:
    """One pass at `now` (default: the current time): the due occurrences, the expiry
    sweep of withdrawn proof, the notifications of due work, then the daily e-mail
    digests due (users past 08:00 in their time zone)."""
    moment = now or clock_now()
    result = run_due(workspace, moment)
    for occurrence in result.created:
        result.notified[NotificationType.RECURRING_DUE] += occurrence.notified
    # Evidence expires by the real clock: a pass planned ahead (`--now` later than now)
    # must not record days the sweep has not really reached yet.
    swept_on = min(moment, clock_now()).astimezone(UTC).date().isoformat()
    proofs.sweep_expired(workspace, SYSTEM, swept_on)
    result.notified.update(notify_due(workspace, moment))
    result.digests = len(mail.send_digests(workspace.store, moment))
    return result


def describe(result: PassResult) -> list[str]:
    """One line per bundle made, then one per config that failed."""
    lines = [
        f"created {o.bundle.id} {o.occurrence_date} #{o.sequence} ({o.task_count} tasks) "
        f"for recurring config {o.config_id}: {o.bundle.title}"
        for o in result.created
    ]
    lines += [f"failed recurring config {config_id}: {why}" for config_id, why in result.failed]
    return lines


def summary(result: PassResult) -> str:
    """The pass in one line: bundles made, notifications made (by type), configs failed."""
    notified = sum(result.notified.values())
    kinds = ", ".join(f"{n} {kind.value}" for kind, n in sorted(result.notified.items()) if n)
    return (
        f"{len(result.created)} bundle(s) created, {notified} notification(s) made"
        + (f" ({kinds})" if kinds else "")
        + f", {len(result.failed)} config(s) failed"
        + (f", {result.digests} e-mail digest(s) queued" if result.digests else "")
    )


class BackgroundRunner:
    """A daemon thread that runs a pass every `interval` seconds until `stop()`. It never
    holds a request up (its own thread, its own units of work) and logs what fails."""

    def __init__(self, workspace: Workspace, interval: float) -> None:
        self._workspace = workspace
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dataops-scheduler", daemon=True)

    def start(self) -> BackgroundRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self._pass()
            except Exception:  # a pass must never end the loop
                log.exception("%s pass failed", self._thread.name)
            self._stopped.wait(self._interval)

    def _pass(self) -> None:
        result = run_pass(self._workspace)
        for line in describe(result):
            log.info("%s", line)
        if result.notified or result.digests:
            log.info("%s", summary(result))


# --- the outbox dispatcher ---------------------------------------------------------------


def dispatch_until_idle(
    workspace: Workspace,
    now: datetime | None = None,
    sender: Sender | None = None,
    budget_seconds: float | None = None,
    mailer: Mailer | None = None,
) -> DispatchResult:
    """Dispatcher passes at `now` until a pass finds nothing due (what `--once` runs), or
    until `budget_seconds` have passed (what is left waits for the next pass)."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    own = sender is None
    active = sender or HttpSender(public_only=public_only(workspace))
    if mailer is None:
        mailer = build_mailer(workspace.settings)
    total = DispatchResult()
    try:
        while True:
            result = dispatch(workspace, active, now, deadline=deadline, mailer=mailer)
            total.delivered += result.delivered
            total.retried += result.retried
            total.failed += result.failed
            total.lost += result.lost
            if not (result.delivered or result.retried or result.failed or result.lost):
                return total
            if deadline is not None and time.monotonic() >= deadline:
                return total
            if now is not None and not result.delivered and not result.failed:
                return total  # a planned time: what is left waits for a later one
    finally:
        if own and isinstance(active, HttpSender):
            active.close()


class OutboxRunner(BackgroundRunner):
    """The dispatcher's loop: a pass every `interval` seconds (until nothing is due)."""

    def __init__(self, workspace: Workspace, interval: float) -> None:
        super().__init__(workspace, interval)
        self._thread.name = "dataops-outbox"
        self._sender = HttpSender(public_only=public_only(workspace))
        self._mailer = build_mailer(workspace.settings)

    def run_forever(self) -> None:
        self._loop()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._sender.close()

    def _pass(self) -> None:
        result = dispatch_until_idle(self._workspace, sender=self._sender, mailer=self._mailer)
        if result.delivered or result.failed or result.retried:
            log.info(
                "outbox: %d delivered, %d to retry, %d failed",
                len(result.delivered),
                len(result.retried),
                len(result.failed),
            )
