"""The DynamoDB client of the store: boto3/botocore are imported lazily here, their
errors translated to domain errors (nothing from botocore crosses the port), and the
retries the store adds to botocore's own (unprocessed keys, contended transactions)."""

from __future__ import annotations

import importlib
import random
import re
import time
from collections.abc import Mapping
from typing import Any

from dataops.config import Settings
from dataops.domain.errors import ConfigurationError, PayloadTooLarge, StorageUnavailable

ATTEMPTS = 6  # BatchGetItem UnprocessedKeys, contended transactions


class TableClient:
    """The boto3 client and the table name of each entity: what the reads, the
    transactions and the provisioning of the store share."""

    def __init__(self, client: Any, tables: Mapping[str, str]) -> None:
        self.client = client
        self.tables = tables
        self.errors = importlib.import_module("botocore.exceptions")

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**params)
        except (self.errors.ClientError, self.errors.BotoCoreError) as exc:
            raise translate(exc, f"{operation} on {params.get('TableName', '')}") from exc
        return result


def error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_reasons(exc: Any, count: int) -> list[str]:
    """Cancellation reason codes, one per TransactItems entry (from the response, or from
    the message `... [None, ConditionalCheckFailed]` when a server sends only that)."""
    reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
    if not reasons:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        found = re.search(r"\[([^\]]*)\]\s*$", message)
        reasons = [r.strip() for r in found.group(1).split(",")] if found else []
    if len(reasons) != count:
        return ["Unknown"] * count
    return reasons


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.05 * 2**attempt, 1.0)))


def translate(exc: Any, what: str) -> Exception:
    """A botocore error as a domain error (the cause stays chained for logs)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = error_code(exc)
        message = str(response.get("Error", {}).get("Message", ""))
        if code == "ResourceNotFoundException":
            return StorageUnavailable(
                f"DynamoDB {what}: the table or index does not exist; deploy the tables "
                f"(infra/template.yaml), check DATAOPS_*_TABLE, or in local/test set "
                f"DATAOPS_AUTO_CREATE_TABLES=true"
            )
        if code == "ValidationException":
            if "size" in message.lower():
                return PayloadTooLarge(f"a record is too large for DynamoDB: {message}")
            return RuntimeError(f"DynamoDB refused {what}: {message}")
        return StorageUnavailable(f"DynamoDB {what} failed: {code} {message}".rstrip())
    return StorageUnavailable(f"DynamoDB is unreachable ({what}): {exc}")


def make_client(settings: Settings) -> Any:
    boto3 = importlib.import_module("boto3")
    botocore_config = importlib.import_module("botocore.config")
    session = boto3.session.Session()
    region = session.region_name or ("us-east-1" if settings.dynamodb_endpoint else None)
    if region is None:
        raise ConfigurationError(
            "DATAOPS_STORE=dynamodb needs an AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"
        )
    config = botocore_config.Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=15,
        max_pool_connections=50,
    )
    return session.client(
        "dynamodb", region_name=region, endpoint_url=settings.dynamodb_endpoint, config=config
    )
