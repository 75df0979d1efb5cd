"""The `dataops` command."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataops.config import Settings
from dataops.domain.enums import Role
from dataops.domain.errors import DataOpsError

if TYPE_CHECKING:
    from dataops.runtime import Admin


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
        f"  store: {workspace.store.name} ({settings.sqlite_path}), blobs: "
        f"{workspace.blobs.name}, environment: {settings.env}",
        file=sys.stderr,
    )
    _announce_admin(admin)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    workspace.store.close()
    return 0


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
    uvicorn.run(
        create_engine_app(workspace, secret), host=args.host, port=args.port, log_level="warning"
    )
    workspace.store.close()
    return 0


def _portal_serve(args: argparse.Namespace) -> int:
    import httpx
    import uvicorn

    from dataops import runtime
    from dataops.portal.app import create_portal_app

    settings = Settings.from_env()
    secret = runtime.configured_portal_secret(settings)
    workspace = runtime.build_workspace(settings)
    admin = runtime.bootstrap_admin(workspace)
    app = create_portal_app(workspace, httpx.AsyncHTTPTransport(), args.engine_url, secret)
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
    token, secret = auth.create_token(workspace, people.SYSTEM, args.user, args.name)
    print(f"created API token {token.id} ({token.name}); it is shown once:", file=sys.stderr)
    print(secret)
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import auth
    from dataops.store.port import PageRequest

    workspace = runtime.build_workspace(Settings.from_env())
    cursor = None
    while True:
        page = auth.list_tokens(workspace, PageRequest(limit=500, cursor=cursor))
        for token in page.items:
            state = f"revoked {token.revoked_at}" if token.revoked_at else "active"
            print(f"{token.id}\t{token.user_id}\t{token.name}\t{state}")
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


def _users_passwd(args: argparse.Namespace) -> int:
    from dataops import runtime
    from dataops.services import people

    workspace = runtime.build_workspace(Settings.from_env())
    user = people.set_password(workspace, people.SYSTEM, args.email, _read_password(args))
    print(f"password changed for {user.email}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataops", description="DataOps V1 work-engine")
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
    create.set_defaults(handler=_tokens_create)
    tokens.add_parser("list", help="list tokens").set_defaults(handler=_tokens_list)
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
    passwd = users.add_parser("passwd", help="set a user's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=_users_passwd)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except DataOpsError as exc:
        print(f"dataops: {exc.detail}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
