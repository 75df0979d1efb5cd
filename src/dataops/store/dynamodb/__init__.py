"""The production metadata store: one DynamoDB table per entity, a global secondary
index per list filter and proof lookup, units of work as TransactWriteItems."""

from dataops.store.dynamodb.provisioning import table_definitions, ttl_specification
from dataops.store.dynamodb.store import DynamoStore

__all__ = ["DynamoStore", "table_definitions", "ttl_specification"]
