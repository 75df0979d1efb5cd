"""The optional `aws` extra (boto3, mangum). Every import of them is lazy, so an install
without the extra runs on SQLite and local-dev blobs; a setting that needs AWS fails at
start-up with the command that installs it, not with a ModuleNotFoundError."""

from __future__ import annotations

import importlib

from dataops.domain.errors import ConfigurationError

INSTALL = "pip install 'dataops[aws]'"


def require_aws(what: str) -> None:
    """Refuse `what` (e.g. "DATAOPS_STORE=dynamodb") unless boto3 can be imported."""
    try:
        importlib.import_module("boto3")
    except ImportError:
        raise ConfigurationError(f"{what} needs the aws extra: {INSTALL}") from None
