"""DynamoDB test helpers: settings for a store on the session's moto server with table
names of its own (a unique prefix per call), so tests never see each other's data."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from dataops.config import TABLE_ENTITIES, Settings
from dataops.store.dynamodb import DynamoStore
from tests.conftest import make_settings

if TYPE_CHECKING:
    from tests.moto_server import MotoServer


def table_env(prefix: str) -> dict[str, str]:
    """DATAOPS_*_TABLE for every entity, named `<prefix><entity>`."""
    return {
        f"DATAOPS_{entity.upper()}_TABLE": f"{prefix}{entity.replace('_', '-')}"
        for entity in TABLE_ENTITIES
    }


def dynamo_env(moto: MotoServer) -> dict[str, str]:
    """The settings that select DynamoDB on `moto`, with fresh auto-created tables."""
    return {
        "DATAOPS_STORE": "dynamodb",
        "DATAOPS_DYNAMODB_ENDPOINT": moto.endpoint,
        "DATAOPS_AUTO_CREATE_TABLES": "true",
        **table_env(f"t{uuid.uuid4().hex[:12]}-"),
    }


def dynamo_settings(moto: MotoServer, home: Path, **overrides: str) -> Settings:
    return make_settings(home, **{**dynamo_env(moto), **overrides})


def dynamo_store(moto: MotoServer, home: Path) -> DynamoStore:
    return DynamoStore(dynamo_settings(moto, home))


def drop_tables(store: DynamoStore) -> None:
    """Delete the store's tables (keeps the session's moto server small)."""
    for name in store.tables.values():
        store.client.delete_table(TableName=name)
