"""AWS Lambda entry points (SAM: `dataops.lambda_handlers.portal_handler` and
`dataops.lambda_handlers.engine_handler`).

- `portal_handler`: the public portal behind a Function URL. Its broker reaches the
  engine through `LambdaInvokeTransport` (a synchronous invoke of
  WORK_ENGINE_FUNCTION_NAME); nothing else can call the engine.
- `engine_handler`: the private work-engine, invoked by the portal (no Function URL),
  still requiring the portal's shared secret on every request; and by the EventBridge
  Scheduler schedule, whose event (`is_scheduler_event`) runs one recurring-work pass.

Each container reads and validates its settings once, on its first event, and keeps the
app it built (with the portal secret, read from Secrets Manager when
WORK_ENGINE_PORTAL_SECRET_NAME is set) for its lifetime. Start-up refuses what would keep
durable data on Lambda's local disk — SQLite metadata, local-dev blobs — and a portal
without WORK_ENGINE_FUNCTION_NAME; the error names the setting to change.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI
from mangum import Mangum

from dataops import runtime, scheduler
from dataops.config import Settings
from dataops.domain import clock
from dataops.domain.errors import ConfigurationError, Conflict
from dataops.engine.app import create_engine_app
from dataops.portal.app import create_portal_app
from dataops.portal.connectors import HttpEngine
from dataops.portal.lambda_invoke import LambdaInvokeTransport
from dataops.services import people
from dataops.services.context import Workspace

log = logging.getLogger("dataops.lambda")

ENGINE_FUNCTION_VARIABLE = "WORK_ENGINE_FUNCTION_NAME"
ENGINE_URL = "https://engine.lambda.internal"
"""The broker's base URL; the invoke transport ignores the host."""


def portal_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _portal()(event, context)


def engine_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_scheduler_event(event):
        return run_scheduled_pass(_engine_workspace(), event)
    return _engine()(event, context)


SCHEDULER_SOURCE = "dataops.scheduler"
OUTBOX_BUDGET_SECONDS = 12.0
"""The outbox's share of one scheduled invocation (30 s timeout; one attempt takes at most
10 s, so a claim made before the budget ends finishes in time)."""


def is_scheduler_event(event: Any) -> bool:
    """The event EventBridge Scheduler sends (the schedule's `Input` in
    infra/template.yaml, its placeholders filled in): `{"source": "dataops.scheduler",
    "action": "run-due", "scheduledTime": ..., "executionId": ...}`."""
    return (
        isinstance(event, dict)
        and event.get("source") == SCHEDULER_SOURCE
        and event.get("action") == "run-due"
    )


def run_scheduled_pass(workspace: Workspace, event: Mapping[str, Any]) -> dict[str, Any]:
    """One recurring-work pass at the schedule's time (now if it has none), logged line
    by line; the result is what the invocation returns."""
    moment = clock.now()
    scheduled = event.get("scheduledTime")
    if isinstance(scheduled, str):
        try:
            moment = clock.parse_ts(scheduled)
        except ValueError:
            log.warning("scheduler event with an unreadable scheduledTime %r", scheduled)
    result = scheduler.run_pass(workspace, moment)
    for line in scheduler.describe(result):
        log.info("%s", line)
    log.info("%s", scheduler.summary(result))
    # The same schedule drives the outbox: first deliveries and due retries, within the
    # function's time budget (what is left, or claimed when the time ran out, is due
    # again at the next invocation: leases end). See docs/v1-runtime-architecture.md.
    sent = scheduler.dispatch_until_idle(workspace, budget_seconds=OUTBOX_BUDGET_SECONDS)
    log.info(
        "outbox: %d delivered, %d to retry, %d failed",
        len(sent.delivered),
        len(sent.retried),
        len(sent.failed),
    )
    return {
        "created": [
            {
                "recurringConfigId": o.config_id,
                "occurrenceDate": o.occurrence_date,
                "bundleId": o.bundle.id,
            }
            for o in result.created
        ],
        "failed": [{"recurringConfigId": c, "reason": why} for c, why in result.failed],
        "notified": {kind.value: n for kind, n in sorted(result.notified.items())},
    }


def lambda_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for a Lambda container. AWS_LAMBDA_FUNCTION_NAME (always set by Lambda)
    makes `Settings.from_env` refuse SQLite and local-dev blobs (`durability_problems`)."""
    return Settings.from_env(environ)


def engine_function_name(environ: Mapping[str, str] | None = None) -> str:
    name = (os.environ if environ is None else environ).get(ENGINE_FUNCTION_VARIABLE, "")
    if not name:
        raise ConfigurationError(
            f"the portal needs {ENGINE_FUNCTION_VARIABLE}: the name or ARN of the engine "
            f"function it invokes"
        )
    return name


def build_engine(settings: Settings) -> Mangum:
    secret = runtime.configured_portal_secret(settings)
    workspace = runtime.build_workspace(settings)
    return Mangum(create_engine_app(workspace, secret), lifespan="off")


def build_portal(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Mangum:
    function_name = engine_function_name()
    secret = runtime.configured_portal_secret(settings)
    workspace = runtime.build_workspace(settings)
    _bootstrap_admin(workspace)
    engine = HttpEngine(transport or LambdaInvokeTransport(function_name), ENGINE_URL)
    app = create_portal_app(workspace, engine, secret)
    # lifespan off: a lifespan per event would close the broker's client after each one.
    return Mangum(app, lifespan="off")


def _bootstrap_admin(workspace: Workspace) -> None:
    """The first admin, only from DATAOPS_ADMIN_EMAIL/PASSWORD: on Lambda a generated
    password would have to be printed to the logs, so none is generated."""
    settings = workspace.settings
    if settings.admin_email and settings.admin_password:
        with contextlib.suppress(Conflict):  # another container created it first
            runtime.bootstrap_admin(workspace)
        return
    if not people.has_users(workspace):
        log.warning(
            "no users yet: create the first admin with `dataops users add` against this "
            "deployment's tables, or set DATAOPS_ADMIN_EMAIL and DATAOPS_ADMIN_PASSWORD"
        )


def _engine_workspace() -> Workspace:
    """The workspace of the container's engine app (one store client for both kinds of
    event)."""
    app: FastAPI = _engine().app  # type: ignore[assignment]
    workspace: Workspace = app.state.workspace
    return workspace


@functools.cache
def _engine() -> Mangum:
    return build_engine(lambda_settings())


@functools.cache
def _portal() -> Mangum:
    return build_portal(lambda_settings())
