"""The tables of the DynamoDB store: their definitions (`table_definitions`, the one
source the local auto-create and the SAM template are checked against) and, in
local/test only (DATAOPS_AUTO_CREATE_TABLES), their creation: missing tables and
indexes are made, an index added to an existing table is backfilled, TTL is enabled."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dataops.domain.errors import StorageUnavailable
from dataops.domain.search import record_words
from dataops.store.dynamodb.client import TableClient, error_code, translate
from dataops.store.dynamodb.reads import QUERY_PAGE_MAX, Reads
from dataops.store.dynamodb.tables import (
    KEY,
    SEARCH_ID,
    SEARCH_INDEX,
    SEARCH_WORD,
    SPECS,
    TTL_ATTRIBUTE,
    search_item,
)

_WAIT_SECONDS = 300


class Provisioning(TableClient):
    """Creates what is missing of the store's tables (local/test only)."""

    def __init__(self, reads: Reads) -> None:
        super().__init__(reads.client, reads.tables)
        self._reads = reads

    def ensure_tables(self) -> None:
        """Create missing tables and indexes (local/test only) and wait until active."""
        waiting = []
        for entity, definition in zip(SPECS, table_definitions(self.tables), strict=True):
            name = definition["TableName"]
            table = self._describe(name)
            if table is None:
                table = self._create_table(definition)
            else:
                existing = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
                for index in definition["GlobalSecondaryIndexes"]:
                    if index["IndexName"] not in existing:  # added since the table was made
                        self._wait_active(name)
                        self.call(
                            "update_table",
                            TableName=name,
                            AttributeDefinitions=definition["AttributeDefinitions"],
                            GlobalSecondaryIndexUpdates=[{"Create": index}],
                        )
                        if index["IndexName"] == SEARCH_INDEX:
                            self._backfill_search(entity)
                        else:
                            self._backfill(entity, index["IndexName"])
                        table = None
            if table is None or not _active(table):
                waiting.append(name)
        for name in waiting:
            self._wait_active(name)
        for entity, name in self.tables.items():
            self._ensure_ttl(entity, name)

    def _backfill(self, entity: str, index_name: str) -> None:
        """Items written before the index existed lack its partition attribute, so the
        index would not find them: set it on each (a Query of the `all` index, no Scan)."""
        spec = SPECS[entity]
        attribute = next(i for i in spec.all_indexes if i.name == index_name).partition_attribute
        for _, record in self._reads.stream(spec, {}, None, QUERY_PAGE_MAX):
            value = spec.to_item(record).get(attribute)
            if value is None:
                continue
            try:
                self.client.update_item(
                    TableName=self.tables[entity],
                    Key={KEY: {"S": spec.key_of(record)}},
                    UpdateExpression="SET #a = :v",
                    ConditionExpression="attribute_exists(#k)",
                    ExpressionAttributeNames={"#a": attribute, "#k": KEY},
                    ExpressionAttributeValues={":v": value},
                )
            except self.errors.ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":  # deleted meanwhile
                    raise translate(exc, f"backfill {index_name} of {entity}") from exc

    def _ensure_ttl(self, entity: str, name: str) -> None:
        wanted = ttl_specification(entity)
        if wanted is None:
            return
        status = self.call("describe_time_to_live", TableName=name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        self.call("update_time_to_live", TableName=name, TimeToLiveSpecification=wanted)

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self.client.describe_table(TableName=name)["Table"]
        except self.errors.ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise translate(exc, f"describe table {name}") from exc
        except self.errors.BotoCoreError as exc:
            raise translate(exc, f"describe table {name}") from exc
        return table

    def _create_table(self, definition: dict[str, Any]) -> dict[str, Any] | None:
        try:
            created: dict[str, Any] = self.client.create_table(**definition)["TableDescription"]
        except self.errors.ClientError as exc:
            if error_code(exc) == "ResourceInUseException":  # another process made it meanwhile
                return None
            raise translate(exc, f"create table {definition['TableName']}") from exc
        except self.errors.BotoCoreError as exc:
            raise translate(exc, "create table") from exc
        return created

    def _wait_active(self, name: str) -> None:
        deadline, pause = time.monotonic() + _WAIT_SECONDS, 0.1
        while not _active(self.call("describe_table", TableName=name)["Table"]):
            if time.monotonic() > deadline:
                raise StorageUnavailable(f"DynamoDB table {name} did not become active")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _backfill_search(self, entity: str) -> None:
        """Write the word items of every stored record (the index was added to an
        existing table): a Query of the `all` index, no Scan; a Put per word."""
        spec = SPECS[entity]
        for _, record in self._reads.stream(spec, {}, None, QUERY_PAGE_MAX):
            key = spec.key_of(record)
            for word in record_words(entity, record):
                self.call("put_item", TableName=self.tables[entity], Item=search_item(word, key))


def _active(table: Mapping[str, Any]) -> bool:
    statuses = [table.get("TableStatus")]
    statuses += [i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])]
    return all(status == "ACTIVE" for status in statuses)


def table_definitions(table_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """CreateTable parameters for every entity table, in `SPECS` order. The property
    names are also those of `AWS::DynamoDB::Table` in CloudFormation (TableName,
    AttributeDefinitions, KeySchema, BillingMode, GlobalSecondaryIndexes), so the SAM
    template's tables can be compared with this one by one, matched by TableName."""
    definitions = []
    for entity, spec in SPECS.items():
        attributes = [KEY, spec.sort_attribute, *(i.partition_attribute for i in spec.all_indexes)]
        if spec.searched:
            attributes += [SEARCH_WORD, SEARCH_ID]
        definitions.append(
            {
                "TableName": table_names[entity],
                "AttributeDefinitions": [
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in dict.fromkeys(attributes)
                ],
                "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": index.name,
                        "KeySchema": [
                            {"AttributeName": index.partition_attribute, "KeyType": "HASH"},
                            {"AttributeName": spec.sort_attribute, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for index in spec.all_indexes
                ]
                + ([_search_index()] if spec.searched else []),
            }
        )
    return definitions


def ttl_specification(entity: str) -> dict[str, Any] | None:
    """The table's `TimeToLiveSpecification` (CloudFormation's property; the local
    auto-create passes it to UpdateTimeToLive), None for a table without TTL."""
    if SPECS[entity].expires is None:
        return None
    return {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def _search_index() -> dict[str, Any]:
    return {
        "IndexName": SEARCH_INDEX,
        "KeySchema": [
            {"AttributeName": SEARCH_WORD, "KeyType": "HASH"},
            {"AttributeName": SEARCH_ID, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
