"""`dataops scheduler run-due` and `dataops outbox run`: recurring work and webhook
deliveries outside `serve`."""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import datetime

from dataops.config import Settings


def _scheduler_run_due(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.scheduler import describe, run_pass, summary

    workspace = runtime.build_workspace(Settings.from_env())
    try:
        result = run_pass(workspace, args.now)
    finally:
        workspace.store.close()
    for line in describe(result):
        print(line)
    print(summary(result), file=sys.stderr)
    return 0


def _outbox_run(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.scheduler import dispatch_until_idle

    workspace = runtime.build_workspace(Settings.from_env())
    try:
        if args.once:
            result = dispatch_until_idle(workspace, args.now)
            print(
                f"{len(result.delivered)} delivered, {len(result.retried)} to retry, "
                f"{len(result.failed)} failed, {result.lost} claimed by another dispatcher",
                file=sys.stderr,
            )
            return 0
        from dataops.scheduler import OutboxRunner

        interval = workspace.settings.outbox_interval_seconds or 5
        print(f"outbox dispatcher: a pass every {interval} s (Ctrl-C stops)", file=sys.stderr)
        runner = OutboxRunner(workspace, interval)
        with contextlib.suppress(KeyboardInterrupt):
            runner.run_forever()
        return 0
    finally:
        workspace.store.close()


def _moment(value: str) -> datetime:
    from dataops.domain.clock import parse_ts

    try:
        return parse_ts(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"must be an ISO 8601 time with a zone, e.g. 2026-01-05T09:00:00Z ({exc})"
        ) from None


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """scheduler run-due, outbox run."""
    scheduler = sub.add_parser("scheduler", help="recurring work").add_subparsers(
        dest="action", required=True
    )
    run_due = scheduler.add_parser(
        "run-due",
        help="one pass: a bundle for every due occurrence of every enabled recurring config",
    )
    run_due.add_argument(
        "--now",
        type=_moment,
        default=None,
        metavar="ISO-8601",
        help="run the pass as if it were this time (planning, tests); default: now",
    )
    run_due.set_defaults(handler=_scheduler_run_due)
    outbox = sub.add_parser("outbox", help="webhook deliveries").add_subparsers(
        dest="action", required=True
    )
    outbox_run = outbox.add_parser(
        "run", help="deliver what the outbox holds: a pass every few seconds, or --once"
    )
    outbox_run.add_argument(
        "--once", action="store_true", help="deliver everything due now, then stop"
    )
    outbox_run.add_argument(
        "--now",
        type=_moment,
        default=None,
        metavar="ISO-8601",
        help="with --once: dispatch as if it were this time (tests); default: now",
    )
    outbox_run.set_defaults(handler=_outbox_run)
