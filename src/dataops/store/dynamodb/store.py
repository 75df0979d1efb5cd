"""DynamoDB backend of the metadata-store port: the `DynamoStore` facade over its parts.

- `client.py`: the boto3 client (imported lazily), retries, botocore errors translated
  (nothing from botocore crosses the port);
- `reads.py`: committed reads by key (strongly consistent), by index (a Query,
  eventually consistent) and by search word, and the cursors of lists;
- `unit_of_work.py`: the unit of work, buffering writes and reading its own;
- `transactions.py`: the commit, ONE TransactWriteItems (inserts of more than 100
  operations in parts, undone if one fails);
- `provisioning.py`: the table definitions and the local/test auto-create;
- `tables.py`: the item layout, keys and indexes of every entity.

No request path Scans.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dataops.config import LOCAL_ENVIRONMENTS, Settings
from dataops.domain.errors import ConfigurationError
from dataops.store.dynamodb.client import make_client
from dataops.store.dynamodb.provisioning import Provisioning
from dataops.store.dynamodb.reads import Reads
from dataops.store.dynamodb.tables import SPECS
from dataops.store.dynamodb.transactions import MAX_TRANSACTION_ITEMS, Transactions
from dataops.store.dynamodb.unit_of_work import DynamoUnitOfWork
from dataops.store.port import EncodedRecords


class DynamoStore:
    """Metadata in one DynamoDB table per entity (names from `DATAOPS_*_TABLE`)."""

    name = "dynamodb"
    atomic_write_limit: int | None = MAX_TRANSACTION_ITEMS
    snapshot_reads = False

    def __init__(self, settings: Settings) -> None:
        missing = [e for e in SPECS if e not in settings.table_names]
        if missing:
            raise ConfigurationError(f"no DynamoDB table names for {', '.join(missing)}")
        self.tables = {entity: settings.table_names[entity] for entity in SPECS}
        self.client = make_client(settings)
        self.reads = Reads(self.client, self.tables)
        self.transactions = Transactions(self.client, self.tables)
        if settings.auto_create_tables:
            if settings.env not in LOCAL_ENVIRONMENTS:
                raise ConfigurationError(
                    "DATAOPS_AUTO_CREATE_TABLES is honoured only in local/test"
                )
            self.ensure_tables()

    def unit_of_work(self, *, write: bool = False) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self)  # type: ignore[abstract]  # (`open_repositories`)

    def is_empty(self) -> bool:
        for entity in ("templates", "bundles", "tasks", "files", "artifacts"):
            for _ in self.reads.stream(SPECS[entity], {}, None, 1):
                return False
        return True

    @contextmanager
    def bulk_writes(self) -> Iterator[int | None]:
        yield None  # (units bounded by `atomic_write_limit`)

    def encode(
        self, entity: str, records: Sequence[Any], data: Sequence[str | None] | None = None
    ) -> EncodedRecords:
        if data is not None:  # (items are built from entities when added)
            raise ValueError("DynamoDB encodes entities only")
        return EncodedRecords(entity, list(records))

    def ensure_tables(self) -> None:
        """Create missing tables and indexes (local/test only) and wait until active."""
        Provisioning(self.reads).ensure_tables()

    def close(self) -> None:
        self.client.close()
