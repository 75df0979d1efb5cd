"""The `dataops` command: the parser is assembled from one module per command group."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dataops.cli import admin, artifacts, background, portable, serve
from dataops.domain.errors import DataOpsError


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
    for group in (serve, admin, background, portable, artifacts):
        group.add_commands(sub)
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
