"""`dataops tokens`, `dataops users` and `dataops blobs sweep`: administration on the
configured store."""

from __future__ import annotations

import argparse
import getpass
import sys

from dataops.config import Settings
from dataops.domain.enums import Role
from dataops.domain.errors import DataOpsError


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


def _days(value: str) -> int:
    from dataops.services.auth import MAX_TOKEN_DAYS

    if not (value.isascii() and value.isdigit()) or int(value) > MAX_TOKEN_DAYS:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of days from 0 (never) to {MAX_TOKEN_DAYS}"
        )
    return int(value)


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


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError("must be a whole number of seconds")
    return int(value)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """tokens, users, blobs."""
    _add_tokens(sub)
    _add_users(sub)
    _add_blobs(sub)


def _add_tokens(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """tokens create, list, revoke."""
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


def _add_users(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """users add, passwd, list, disable, enable."""
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


def _add_blobs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """blobs sweep."""
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
