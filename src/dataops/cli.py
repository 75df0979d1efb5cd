"""The `dataops` command."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dataops.config import Settings
from dataops.domain.enums import ArtifactType, Role
from dataops.domain.errors import DataOpsError

if TYPE_CHECKING:
    from dataops.portable.importing.importer import Plan as ImportPlan
    from dataops.runtime import Admin
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
    runner = None
    if settings.scheduler_interval_seconds > 0:
        from dataops.scheduler import BackgroundRunner

        runner = BackgroundRunner(workspace, settings.scheduler_interval_seconds).start()
        print(
            f"  recurring work: a pass every {settings.scheduler_interval_seconds} s "
            f"(DATAOPS_SCHEDULER_INTERVAL_SECONDS; 0 turns it off)",
            file=sys.stderr,
        )
    dispatcher = None
    if settings.outbox_interval_seconds > 0:
        from dataops.scheduler import OutboxRunner

        dispatcher = OutboxRunner(workspace, settings.outbox_interval_seconds).start()
        print(
            f"  outbox: a dispatcher pass every {settings.outbox_interval_seconds} s "
            f"(DATAOPS_OUTBOX_INTERVAL_SECONDS; 0 turns it off)",
            file=sys.stderr,
        )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        if runner is not None:
            runner.stop()
        if dispatcher is not None:
            dispatcher.stop()
    workspace.store.close()
    return 0


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


def _tokens_create(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import auth, people

    workspace = runtime.build_workspace(Settings.from_env())
    token, secret = auth.create_token(
        workspace, people.SYSTEM, args.user, args.name, args.expires_in
    )
    expiry = f"expires {token.expires_at}" if token.expires_at else "never expires"
    print(
        f"created API token {token.id} ({token.name}, {expiry}); it is shown once:",
        file=sys.stderr,
    )
    print(secret)
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    """One tab-separated line per token after a header line: ID, name, user email,
    created, expires (`never`), last used (`never`), status (`active`, `expired` or
    `revoked <when>`)."""
    from dataops import runtime
    from dataops.services import auth
    from dataops.store.port import PageRequest

    workspace = runtime.build_workspace(Settings.from_env())
    print("ID\tNAME\tUSER\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
    cursor = None
    while True:
        page = auth.list_token_infos(workspace, PageRequest(limit=500, cursor=cursor))
        for info in page.items:
            token = info.token
            if token.revoked_at:
                status = f"revoked {token.revoked_at}"
            else:
                status = "expired" if auth.is_expired(token) else "active"
            fields = (
                token.id,
                token.name,
                info.user_email or f"(deleted user {token.user_id})",
                token.created_at,
                token.expires_at or "never",
                token.last_used_at or "never",
                status,
            )
            print("\t".join(fields))
        if page.next_cursor is None:
            return 0
        cursor = page.next_cursor


def _tokens_revoke(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import auth, people

    workspace = runtime.build_workspace(Settings.from_env())
    token = auth.revoke_token(workspace, people.SYSTEM, args.token_id)
    print(f"revoked {token.id} ({token.name})", file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise DataOpsError("no terminal to ask for the password on; pipe it with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise DataOpsError("the passwords do not match")
    return first


def _users_add(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import people

    workspace = runtime.build_workspace(Settings.from_env())
    user = people.add_user(
        workspace, people.SYSTEM, args.email, args.name, Role(args.role), _read_password(args)
    )
    print(f"created {user.role.value} {user.email} ({user.id})", file=sys.stderr)
    print(user.id)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    """One tab-separated line per user after a header line: ID, email, name, role,
    status (`active` or `disabled`), created."""
    from dataops import runtime
    from dataops.services import people
    from dataops.store.port import PageRequest

    workspace = runtime.build_workspace(Settings.from_env())
    print("ID\tEMAIL\tNAME\tROLE\tSTATUS\tCREATED")
    cursor = None
    while True:
        page = people.list_users(workspace, PageRequest(limit=500, cursor=cursor))
        for user in page.items:
            status = "disabled" if user.disabled else "active"
            fields = (user.id, user.email, user.name, user.role.value, status, user.created_at)
            print("\t".join(fields))
        if page.next_cursor is None:
            return 0
        cursor = page.next_cursor


def _users_disable(args: argparse.Namespace) -> int:
    """`users disable|enable EMAIL`: a disabled user cannot log in; their sessions are
    revoked and their API tokens refused until they are enabled again."""
    from dataops import runtime
    from dataops.services import people

    workspace = runtime.build_workspace(Settings.from_env())
    disabled = args.action == "disable"
    user = people.set_disabled(workspace, people.SYSTEM, args.email, disabled)
    print(f"{user.email} is {'disabled' if user.disabled else 'enabled'}", file=sys.stderr)
    return 0


def _users_passwd(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import people

    workspace = runtime.build_workspace(Settings.from_env())
    user = people.set_password(
        workspace,
        people.SYSTEM,
        args.email,
        _read_password(args),
        revoke_tokens=args.revoke_tokens,
    )
    revoked = "sessions and API tokens" if args.revoke_tokens else "sessions"
    print(f"password changed for {user.email}; its {revoked} are revoked", file=sys.stderr)
    return 0


def _export_to_s3(settings: Settings) -> int:
    from dataops import runtime
    from dataops.blobs.s3 import S3Blobs
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import temporary_archive
    from dataops.portable.writing.offsite import upload_archive

    if not settings.export_archive_bucket:
        print("dataops: --to-s3 needs DATAOPS_EXPORT_ARCHIVE_BUCKET", file=sys.stderr)
        return 2
    store = runtime.build_store(settings)
    try:
        archive = temporary_archive(store, SourceInfo.from_environment(settings.env))
    finally:
        store.close()
    try:
        bucket = S3Blobs(settings.export_archive_bucket, endpoint_url=settings.s3_endpoint)
        stored = upload_archive(
            bucket, archive.path, archive.manifest, settings.export_archive_prefix, settings.env
        )
    finally:
        archive.remove()
    print(
        f"uploaded {stored.size_bytes} bytes ({stored.checksum}, version {stored.version or '-'})",
        file=sys.stderr,
    )
    print(stored.uri)
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.to_s3:
        return _export_to_s3(Settings.from_env())
    if args.out is None:
        print("dataops: give OUT (a directory or OUT.tar.gz) or --to-s3", file=sys.stderr)
        return 2
    from dataops import runtime
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import write_export

    settings = Settings.from_env()
    store = runtime.build_store(settings)
    try:
        result = write_export(
            store,
            Path(args.out),
            SourceInfo.from_environment(settings.env),
            progress=_terminal(),
        )
    except OSError as exc:
        print(f"dataops: export failed, nothing was written: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    counts = ", ".join(f"{n} {c}" for n, c in result.manifest["entity_counts"].items())
    print(f"exported {result.total} records to {result.path} ({counts})", file=sys.stderr)
    print(result.path)
    return 0


def _validate_export(args: argparse.Namespace) -> int:
    from dataops.portable.checking.validate import validate_export

    report = validate_export(Path(args.path), progress=_terminal())
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for line in report.lines():
            print(line)
        total = sum(report.entity_counts.values())
        files = len(report.entity_counts)
        warned = f", {report.warnings_total} warnings" if report.warnings_total else ""
        if report.valid:
            print(f"valid: {total} records in {files} entity files{warned}")
        elif report.stopped:
            print(f"NOT valid: {report.problem_count} problems or more ({total} records read)")
        else:
            print(f"NOT valid: {report.problem_count} problems ({total} records read)")
    return 0 if report.valid else 1


def _print_plan(plan: ImportPlan) -> None:
    print(f"{'entity':<16}{'insert':>8}{'update':>8}{'skip':>8}{'invalid':>9}")
    for name, counts in plan.entities.items():
        print(f"{name:<16}{counts.insert:>8}{counts.update:>8}{counts.skip:>8}{counts.invalid:>9}")
    edges = sum(plan.report.relationships.values())
    print(f"relationships: {edges} edges across {len(plan.report.relationships)} kinds")
    problems = [*plan.report.lines(), *(c.text() for c in plan.conflicts)]
    problems.sort(key=lambda line: line.startswith("warning: "))  # problems first
    for line in problems[:50]:
        print(f"  {line}")
    if len(problems) > 50:
        print(f"  ... {len(problems) - 50} more (see `dataops validate-export`)")


def _import(args: argparse.Namespace) -> int:
    import tempfile

    from dataops import runtime
    from dataops.portable.importing.importer import ImportRefused, apply_import, plan_import

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="dataops-import-") as scratch:
        if args.dry_run:
            store = runtime.build_reading_store(settings, Path(scratch))
        else:
            store = runtime.build_store(settings)
        try:
            if args.dry_run:
                plan = plan_import(
                    Path(args.path),
                    store,
                    allow_existing=args.allow_existing,
                    progress=_terminal(),
                )
            else:
                plan = apply_import(
                    Path(args.path),
                    store,
                    allow_existing=args.allow_existing,
                    progress=_terminal(),
                )
        except ImportRefused as exc:
            if exc.plan is not None:
                _print_plan(exc.plan)
            print(f"dataops: {exc.detail}", file=sys.stderr)
            return 1
        finally:
            store.close()
    _print_plan(plan)
    if args.dry_run:
        print("dry run: nothing was written", file=sys.stderr)
        return 0 if plan.importable else 1
    if plan.users_without_credentials:
        print(
            f"{plan.users_without_credentials} user(s) imported without passwords (exports "
            "carry none); set them with `dataops users passwd EMAIL`",
            file=sys.stderr,
        )
    return 0


def _terminal() -> TextIO | None:
    """Standard error when it is a terminal (for progress), else None: quiet when piped."""
    return sys.stderr if sys.stderr.isatty() else None


def _blobs_sweep(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from dataops import runtime
    from dataops.services import blobsweep

    workspace = runtime.build_workspace(Settings.from_env())
    age = timedelta(seconds=args.older_than)
    report = blobsweep.sweep_blobs(workspace, older_than=age, dry_run=args.dry_run)
    for name in report.removed:
        print(name)
    verb = "would remove" if report.dry_run else "removed"
    print(
        f"{verb} {len(report.removed)} unreferenced blob(s) older than {age}; kept "
        f"{report.referenced} referenced, {report.young} younger",
        file=sys.stderr,
    )
    return 0


def _days(value: str) -> int:
    from dataops.services.auth import MAX_TOKEN_DAYS

    if not (value.isascii() and value.isdigit()) or int(value) > MAX_TOKEN_DAYS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of days from 0 (never) to {MAX_TOKEN_DAYS}"
        )
    return int(value)


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError("must be a whole number of seconds")
    return int(value)


def _add_portable_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="portable export (a directory, or OUT.tar.gz)")
    export.add_argument("out", metavar="OUT", nargs="?")
    export.add_argument(
        "--to-s3",
        action="store_true",
        help="upload a .tar.gz to DATAOPS_EXPORT_ARCHIVE_BUCKET instead of writing OUT",
    )
    export.set_defaults(handler=_export)
    check = sub.add_parser("validate-export", help="validate a portable export")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(handler=_validate_export)
    load = sub.add_parser("import", help="import a portable export into the configured store")
    load.add_argument("path", metavar="PATH")
    load.add_argument("--dry-run", action="store_true", help="report what would change")
    load.add_argument(
        "--allow-existing", action="store_true", help="merge into a store that has records"
    )
    load.set_defaults(handler=_import)


def _artifacts_register(args: argparse.Namespace) -> int:
    from dataops.assistant import Target, register_output
    from dataops.client import ApiError, DataOpsClient

    try:
        client = DataOpsClient.from_env()
    except ValueError as exc:
        print(f"dataops: {exc}", file=sys.stderr)
        return 2
    target = Target(
        task_id=args.task,
        bundle_id=args.bundle,
        artifact_type=args.type,
        title=args.title,
        assistant_job_id=args.assistant_job,
    )
    try:
        with client:
            artifact = register_output(client, args.source, target)
    except ApiError as exc:
        print(f"dataops: the server refused the artifact: {exc}", file=sys.stderr)
        return 1
    print(
        f"registered {artifact['type']} artifact {artifact['id']} as {artifact['status']}",
        file=sys.stderr,
    )
    print(artifact["id"])
    return 0


def _add_artifact_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    artifacts = sub.add_parser("artifacts", help="artifacts through the API").add_subparsers(
        dest="action", required=True
    )
    register = artifacts.add_parser(
        "register",
        help="register an assistant output (file: uploaded first) or a URL, as needs-review",
        description="Uses DATAOPS_URL (the portal) and DATAOPS_TOKEN (an API token).",
    )
    register.add_argument("source", metavar="PATH_OR_URL")
    target = register.add_mutually_exclusive_group(required=True)
    target.add_argument("--task", help="the task the output belongs to")
    target.add_argument("--bundle", help="the bundle the output belongs to")
    register.add_argument(
        "--type",
        choices=[t.value for t in ArtifactType],  # checked before anything is uploaded
        help="artifact type (default: assistant-output for files, external-link for URLs)",
    )
    register.add_argument("--title", help="default: the file name or the URL")
    register.add_argument("--assistant-job", help="opaque assistant job ID")
    register.set_defaults(handler=_artifacts_register)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dataops")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataops", description="DataOps V1 work-engine")
    parser.add_argument("--version", action="version", version=f"dataops {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

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

    tokens = sub.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", help="create a token (printed once on stdout)")
    create.add_argument("--user", required=True, help="the user's email")
    create.add_argument("--name", required=True, help="a label, e.g. podcast-assistant")
    create.add_argument(
        "--expires-in",
        type=_days,
        default=90,
        metavar="DAYS",
        help="days until the token expires (default 90; 0: never)",
    )
    create.set_defaults(handler=_tokens_create)
    tokens.add_parser(
        "list", help="list tokens: ID, name, user, created, expires, last used, status"
    ).set_defaults(handler=_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=_tokens_revoke)

    users = sub.add_parser("users", help="portal users").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", help="add a user")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(handler=_users_add)
    passwd = users.add_parser("passwd", help="set a user's password (revokes the user's sessions)")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.add_argument(
        "--revoke-tokens", action="store_true", help="revoke the user's API tokens too"
    )
    passwd.set_defaults(handler=_users_passwd)
    users.add_parser(
        "list", help="list users: ID, email, name, role, status, created"
    ).set_defaults(handler=_users_list)
    for action, what in (
        ("disable", "disable a user (no login; sessions and tokens refused)"),
        ("enable", "enable a disabled user again"),
    ):
        toggle = users.add_parser(action, help=what)
        toggle.add_argument("email")
        toggle.set_defaults(handler=_users_disable)
    blobs = sub.add_parser("blobs", help="local-dev blob store").add_subparsers(
        dest="action", required=True
    )
    sweep = blobs.add_parser(
        "sweep", help="remove blobs no record names (an upload cut short by a crash)"
    )
    sweep.add_argument(
        "--older-than",
        type=_seconds,
        default=3600,
        metavar="SECONDS",
        help="keep anything younger (default 3600)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    sweep.set_defaults(handler=_blobs_sweep)
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
    _add_portable_commands(sub)
    _add_artifact_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    if getattr(args, "action", None) == "serve" or args.command == "serve":
        logging.getLogger("dataops").setLevel(logging.INFO)  # one line per request, with its ID
    try:
        code = args.handler(args)
    except DataOpsError as exc:
        print(f"dataops: {exc.detail}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
