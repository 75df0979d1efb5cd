"""`dataops artifacts register`: an assistant output through the work API."""

from __future__ import annotations

import argparse
import sys

from dataops.domain.enums import ArtifactType


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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """artifacts register."""
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
