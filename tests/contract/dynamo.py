"""DynamoDB test helpers: settings for a store with table names of its own (a unique
prefix per call), so tests never see each other's data.

The endpoint is the session's moto server, unless DATAOPS_DYNAMODB_ENDPOINT is set in the
environment pytest runs in: then the DynamoDB tests target that endpoint instead
(DynamoDB Local, or AWS with the usual credential chain, e.g.
https://dynamodb.eu-west-1.amazonaws.com) and the moto server is not started for them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dataops.config import TABLE_ENTITIES, Settings
from dataops.store.dynamodb import DynamoStore
from tests.conftest import make_settings
from tests.moto_server import MotoServer

ENDPOINT_VARIABLE = "DATAOPS_DYNAMODB_ENDPOINT"


def endpoint_for(request: pytest.FixtureRequest) -> str:
    """DATAOPS_DYNAMODB_ENDPOINT from the test environment, else the moto server's."""
    configured = os.environ.get(ENDPOINT_VARIABLE)
    if configured:
        return configured
    endpoint: str = request.getfixturevalue("moto").endpoint
    return endpoint


def table_env(prefix: str) -> dict[str, str]:
    """DATAOPS_*_TABLE for every entity, named `<prefix><entity>`."""
    return {
        f"DATAOPS_{entity.upper()}_TABLE": f"{prefix}{entity.replace('_', '-')}"
        for entity in TABLE_ENTITIES
    }


def dynamo_env(endpoint: str | MotoServer) -> dict[str, str]:
    """The settings that select DynamoDB at `endpoint` (a URL, or the moto server), with
    fresh auto-created tables."""
    url = endpoint if isinstance(endpoint, str) else endpoint.endpoint
    return {
        "DATAOPS_STORE": "dynamodb",
        "DATAOPS_DYNAMODB_ENDPOINT": url,
        "DATAOPS_AUTO_CREATE_TABLES": "true",
        **table_env(f"t{uuid.uuid4().hex[:12]}-"),
    }


def dynamo_settings(endpoint: str | MotoServer, home: Path, **overrides: str) -> Settings:
    return make_settings(home, **{**dynamo_env(endpoint), **overrides})


def dynamo_store(endpoint: str | MotoServer, home: Path) -> DynamoStore:
    return DynamoStore(dynamo_settings(endpoint, home))


def drop_tables(store: DynamoStore) -> None:
    """Delete the store's tables (keeps the session's moto server small)."""
    for name in store.tables.values():
        store.client.delete_table(TableName=name)


@contextmanager
def queries_and_scans(
    store: DynamoStore,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """The parameters of every Query and every Scan `store` sends inside the block."""
    queries: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []

    def record_query(params: dict[str, Any], **_: Any) -> None:
        queries.append(params)

    def record_scan(params: dict[str, Any], **_: Any) -> None:
        scans.append(params)

    events = store.client.meta.events
    events.register("before-parameter-build.dynamodb.Query", record_query)
    events.register("before-parameter-build.dynamodb.Scan", record_scan)
    try:
        yield queries, scans
    finally:
        events.unregister("before-parameter-build.dynamodb.Query", record_query)
        events.unregister("before-parameter-build.dynamodb.Scan", record_scan)
