"""`dataops serve`, `dataops engine serve` and `dataops portal serve`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dataops.config import Settings

if TYPE_CHECKING:
    from dataops.runtime import Admin
    from dataops.scheduler import BackgroundRunner
    from dataops.services.context import Workspace


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dataops import runtime
    from dataops.demo import load_demo

    settings = Settings.from_env()
    workspace = runtime.build_workspace(settings)
    admin = runtime.bootstrap_admin(workspace)
    if args.demo:
        created = load_demo(workspace)
        print(
            "Demo podcast workflow " + ("loaded." if created else "already present."),
            file=sys.stderr,
        )
    app = runtime.build_single_process(workspace)
    url = f"http://{args.host}:{args.port}/work"
    print(f"DataOps is running at {url}", file=sys.stderr)
    print(
        f"  store: {workspace.store.name}"
        f"{f' ({settings.sqlite_path})' if settings.store == 'sqlite' else ''}, blobs: "
        f"{workspace.blobs.name}, environment: {settings.env}",
        file=sys.stderr,
    )
    _announce_admin(admin)
    _sweep_at_start(workspace)
    runners = _start_background(workspace)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        for runner in runners:
            runner.stop()
    workspace.store.close()
    return 0


def _start_background(workspace: Workspace) -> list[BackgroundRunner]:
    """The recurring-work runner and the outbox dispatcher, each unless its interval is 0."""
    from dataops.scheduler import BackgroundRunner, OutboxRunner

    settings = workspace.settings
    runners: list[BackgroundRunner] = []
    if settings.scheduler_interval_seconds > 0:
        runners.append(BackgroundRunner(workspace, settings.scheduler_interval_seconds).start())
        print(
            f"  recurring work: a pass every {settings.scheduler_interval_seconds} s "
            f"(DATAOPS_SCHEDULER_INTERVAL_SECONDS; 0 turns it off)",
            file=sys.stderr,
        )
    if settings.outbox_interval_seconds > 0:
        runners.append(OutboxRunner(workspace, settings.outbox_interval_seconds).start())
        print(
            f"  outbox: a dispatcher pass every {settings.outbox_interval_seconds} s "
            f"(DATAOPS_OUTBOX_INTERVAL_SECONDS; 0 turns it off)",
            file=sys.stderr,
        )
    return runners


def _sweep_at_start(workspace: Workspace) -> None:
    """Local-dev blobs that no record names and that are over an hour old go at start."""
    from dataops.services import blobsweep

    settings = workspace.settings
    if settings.blob_store != "local-dev" or not settings.local_storage_allowed:
        return
    report = blobsweep.sweep_blobs(workspace)
    if report.removed:
        print(
            f"  swept {len(report.removed)} unreferenced blob(s) older than "
            f"{blobsweep.ORPHAN_AGE} (see `dataops blobs sweep --help`)",
            file=sys.stderr,
        )


def _announce_admin(admin: Admin | None) -> None:
    if admin is not None and admin.password is not None:
        print(f"  first admin created: {admin.email} / password: {admin.password}", file=sys.stderr)
        print("  (shown once; change it with `dataops users passwd EMAIL`)", file=sys.stderr)
    elif admin is not None:
        print(
            f"  first admin created: {admin.email} (password from DATAOPS_ADMIN_PASSWORD)",
            file=sys.stderr,
        )
    else:
        print("  log in with an existing user (`dataops users add` creates one)", file=sys.stderr)


def _engine_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dataops import runtime
    from dataops.engine.app import create_engine_app

    settings = Settings.from_env()
    secret = runtime.configured_portal_secret(settings)
    workspace = runtime.build_workspace(settings)
    print(
        f"DataOps work-engine listening on http://{args.host}:{args.port}/api "
        f"(portal auth; store: {workspace.store.name}, blobs: {workspace.blobs.name})",
        file=sys.stderr,
    )
    _sweep_at_start(workspace)
    uvicorn.run(
        create_engine_app(workspace, secret), host=args.host, port=args.port, log_level="warning"
    )
    workspace.store.close()
    return 0


def _portal_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dataops import runtime
    from dataops.portal.app import create_portal_app
    from dataops.portal.http1 import Http1Engine

    try:
        engine = Http1Engine(args.engine_url)
    except ValueError as exc:
        runtime.fail(str(exc))
    settings = Settings.from_env()
    secret = runtime.configured_portal_secret(settings)
    workspace = runtime.build_workspace(settings)
    admin = runtime.bootstrap_admin(workspace)
    app = create_portal_app(workspace, engine, secret)
    print(
        f"DataOps portal at http://{args.host}:{args.port}/work, brokering to {args.engine_url}",
        file=sys.stderr,
    )
    _announce_admin(admin)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    workspace.store.close()
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """serve, engine serve, portal serve."""
    serve = sub.add_parser("serve", help="portal + engine on the embedded defaults")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="load the podcast demo workflow")
    serve.set_defaults(handler=_serve)

    engine = sub.add_parser("engine", help="the private work-engine alone").add_subparsers(
        dest="action", required=True
    )
    engine_serve = engine.add_parser("serve", help="serve /api/* (portal auth mode)")
    engine_serve.add_argument("--host", default="127.0.0.1")
    engine_serve.add_argument("--port", type=int, default=8001)
    engine_serve.set_defaults(handler=_engine_serve)

    portal = sub.add_parser("portal", help="the public portal alone").add_subparsers(
        dest="action", required=True
    )
    portal_serve = portal.add_parser("serve", help="serve the portal, brokering to an engine")
    portal_serve.add_argument("--host", default="127.0.0.1")
    portal_serve.add_argument("--port", type=int, default=8000)
    portal_serve.add_argument("--engine-url", default="http://127.0.0.1:8001")
    portal_serve.set_defaults(handler=_portal_serve)
