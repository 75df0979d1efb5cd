"""DynamoDB backend of the metadata-store port.

Reads go straight to DynamoDB: `get`/`get_many` are strongly consistent (GetItem,
BatchGetItem with ConsistentRead); `find` is a Query on a global secondary index, which
is eventually consistent (a record committed a moment ago may be missing from a list, or
show its previous values). Decisions that must hold are protected at commit instead: the
services `guard` the records a decision was based on, and a stale read then fails the
condition check (`VersionConflict`), never the rule.

Writes are buffered in the unit of work and sent at `commit()` as ONE TransactWriteItems:
`add` → Put with attribute_not_exists, `update` → Put conditional on the stored version,
`guard` → ConditionCheck on the version. Reads inside the unit see its own buffered
writes (get, get_many and find). Leaving the unit without `commit()` sends nothing.
A unit of more than 100 operations is refused (`PayloadTooLarge`) unless it only inserts
new records: such a unit is sent as consecutive transactions of at most 100 operations
(each record with its uniqueness claims); if one fails, the records the earlier ones
inserted are deleted again (best effort), so readers may briefly see part of it.

No request path Scans. boto3/botocore are imported lazily and their errors are
translated here: nothing from botocore crosses the port.
"""

from __future__ import annotations

import base64
import heapq
import importlib
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType
from typing import Any, Generic, TypeVar

from dataops.config import LOCAL_ENVIRONMENTS, Settings
from dataops.domain import models
from dataops.domain.codec import camel
from dataops.domain.errors import (
    ConfigurationError,
    Conflict,
    DataOpsError,
    PayloadTooLarge,
    StorageUnavailable,
    ValidationFailed,
    VersionConflict,
)
from dataops.domain.search import ENTITY_OF_KIND, KINDS, record_words
from dataops.store.dynamodb.tables import (
    ALL_INDEX,
    DATA,
    ENTITY,
    KEY,
    MAX_KEY_BYTES,
    MAX_PARTITION_BYTES,
    MAX_SORT_BYTES,
    OWNER,
    SEARCH_ID,
    SEARCH_INDEX,
    SEARCH_WORD,
    SPECS,
    VERSION,
    Item,
    Spec,
    compose,
    fits,
    search_item,
    search_key,
    table_definitions,
    ttl_specification,
    unique_key,
)
from dataops.store.port import (
    MAX_PAGE_SIZE,
    EncodedRecords,
    Filters,
    Page,
    PageRequest,
    Repository,
    SearchHit,
    StoredRecords,
    StoredRow,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
BATCH_GET_KEYS = 100
_ATTEMPTS = 6  # BatchGetItem UnprocessedKeys, contended transactions
_QUERY_PAGE_MAX = 1000
_WAIT_SECONDS = 300
_INSERTS = frozenset({"add", "claim"})  # a failed condition here means Conflict
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


# --- cursors ------------------------------------------------------------------------------


def encode_cursor(values: Sequence[str]) -> str:
    """The last returned item's order values: its index sort key, the part of its
    LastEvaluatedKey the filters do not already fix (base64url JSON, unpadded)."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.one("cursor", "is not a valid cursor") from exc
    if (
        not isinstance(values, list)
        or len(values) != width
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise ValidationFailed.one("cursor", "is not a valid cursor")
    return values


# --- the unit of work's buffer --------------------------------------------------------------


@dataclass
class _Op:
    """What a unit will do to one record at commit."""

    spec: Spec
    key: str
    kind: str  # "add" | "update" | "guard"
    expected: int | None  # the stored version the commit requires (update, guard)
    item: Item | None  # what the commit writes (None: a guard only)
    stored_unique: dict[str, str | None] = field(default_factory=dict)
    stored_words: list[str] = field(default_factory=list)
    """The search words of the record as stored (an update of a searched entity)."""

    @property
    def version(self) -> int | None:
        return int(self.item[VERSION]["N"]) if self.item is not None else self.expected


@dataclass(frozen=True)
class _Action:
    """One TransactWriteItems entry and how its failed condition reads."""

    request: dict[str, Any]
    kind: str  # add | claim (→ Conflict); update | guard | release (→ VersionConflict)
    what: str


class DynamoRepository(Generic[T]):
    def __init__(self, uow: DynamoUnitOfWork, spec: Spec) -> None:
        self._uow = uow
        self._spec = spec

    def get(self, record_id: str) -> T | None:
        op = self._uow._ops.get((self._spec.entity, record_id))
        if op is not None and op.item is not None:
            found: T = self._spec.from_item(op.item)
            return found
        stored: T | None = self._uow._store._get(self._spec, record_id)
        return stored

    def get_many(self, record_ids: Sequence[str]) -> list[T]:
        pending: dict[str, T] = {}
        for record_id in record_ids:
            op = self._uow._ops.get((self._spec.entity, record_id))
            if op is not None and op.item is not None:
                pending[record_id] = self._spec.from_item(op.item)
        missing = [i for i in dict.fromkeys(record_ids) if i not in pending]
        found = {**self._uow._store._get_many(self._spec, missing), **pending}
        return [found[i] for i in record_ids if i in found]

    def add(self, record: T) -> None:
        self._uow._add(self._spec, record)

    def update(self, record: T, expected_version: int) -> None:
        self._uow._update(self._spec, record, expected_version)

    def find(self, filters: Filters, page: PageRequest) -> Page[T]:
        spec = self._spec
        active = filters.active()
        unknown = set(active) - set(spec.filters) - {spec.key}
        if unknown:
            raise ValueError(f"{spec.entity} has no index for {sorted(unknown)}")
        after = None
        if page.cursor:
            after = decode_cursor(page.cursor, len(spec.order))
            if not fits(spec.sort_value(after), MAX_SORT_BYTES):
                raise ValidationFailed.one("cursor", "is not a valid cursor")
        limit = max(page.limit, 1)
        buffered = {
            op.key: spec.from_item(op.item)
            for op in self._uow._ops.values()
            if op.spec is spec and op.item is not None
        }
        down = page.descending
        committed = (
            pair
            for pair in self._uow._store._stream(
                spec, active, after, limit + 1, down, bounds=(filters.since, filters.through)
            )
            if spec.key_of(pair[1]) not in buffered
        )
        own = sorted(
            (
                (spec.order_values(record), record)
                for record in buffered.values()
                if spec.matches(record, active)
                and filters.in_range(spec.order_values(record)[0])
                and (after is None or _beyond(spec.order_values(record), after, down))
            ),
            key=lambda pair: pair[0],
            reverse=down,
        )
        merged = heapq.merge(committed, own, key=lambda pair: pair[0], reverse=down)
        rows = list(islice(merged, limit + 1))
        next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
        return Page([record for _, record in rows[:limit]], next_cursor)

    def count(self, filters: Filters) -> int:
        spec = self._spec
        active = filters.active()
        unknown = set(active) - set(spec.filters) - {spec.key}
        if unknown:
            raise ValueError(f"{spec.entity} has no index for {sorted(unknown)}")
        return self._uow._store._count(spec, active, (filters.since, filters.through))

    def cursor_after(self, record: T) -> str:
        return encode_cursor(self._spec.order_values(record))


class DynamoUnitOfWork:
    users: Repository[models.User]
    credentials: Repository[models.Credential]
    sessions: Repository[models.Session]
    api_tokens: Repository[models.ApiToken]
    idempotency: Repository[models.IdempotencyRecord]
    login_throttles: Repository[models.LoginThrottle]
    settings: Repository[models.WorkspaceSettings]
    uploads: Repository[models.Upload]
    templates: Repository[models.Template]
    recurring_configs: Repository[models.RecurringConfig]
    bundles: Repository[models.Bundle]
    tasks: Repository[models.Task]
    files: Repository[models.FileRecord]
    artifacts: Repository[models.Artifact]
    audit_events: Repository[models.AuditEvent]
    notifications: Repository[models.Notification]
    webhooks: Repository[models.Webhook]
    outbox: Repository[models.OutboxMessage]

    def __init__(self, store: DynamoStore) -> None:
        self._store = store
        self._ops: dict[tuple[str, str], _Op] = {}
        self._committed = False
        for entity, spec in SPECS.items():
            setattr(self, entity, DynamoRepository(self, spec))

    @property
    def store(self) -> DynamoStore:
        return self._store

    def __enter__(self) -> DynamoUnitOfWork:
        return self

    def guard(self, entity: str, record_id: str, version: int) -> None:
        if entity not in SPECS:
            raise ValueError(f"unknown entity {entity!r}")
        self._writable()
        op = self._ops.get((entity, record_id))
        if op is None:
            if not fits(record_id, MAX_KEY_BYTES):
                raise VersionConflict(f"{entity} {record_id!r} changed while this request ran")
            self._ops[(entity, record_id)] = _Op(SPECS[entity], record_id, "guard", version, None)
        elif op.version != version:
            raise VersionConflict(f"{entity} {record_id!r} changed while this request ran")

    def add_encoded(self, encoded: EncodedRecords) -> None:
        repo: Repository[Any] = getattr(self, encoded.entity)
        for record in encoded.rows:  # the records themselves (`DynamoStore.encode`)
            repo.add(record)

    def commit(self) -> None:
        self._writable()
        groups = [self._store._actions(op) for op in self._ops.values()]
        self._store._write(groups)
        self._ops.clear()
        self._committed = True

    def search(
        self, words: Sequence[str], kinds: Sequence[str], page: PageRequest
    ) -> Page[SearchHit]:
        after = decode_cursor(page.cursor, 2) if page.cursor else None
        if after is not None and (after[0] not in KINDS or not fits(after[1], MAX_SORT_BYTES)):
            raise ValidationFailed.one("cursor", "is not a valid cursor")
        limit = max(page.limit, 1)
        hits: list[SearchHit] = []
        for kind in KINDS:
            if kind not in kinds or not words:
                continue
            if after is not None and KINDS.index(kind) < KINDS.index(after[0]):
                continue
            below = after[1] if after is not None and after[0] == kind else None
            spec = SPECS[ENTITY_OF_KIND[kind]]
            for record_key in self._store._search_keys(spec, words, below, limit + 1):
                hits.append(SearchHit(kind, record_key))
                if len(hits) > limit:
                    last = hits[limit - 1]
                    return Page(hits[:limit], encode_cursor([last.kind, last.id]))
        return Page(hits, None)

    def purge_expired(self, entity: str, before: str, limit: int) -> int:
        if SPECS[entity].expires is None:
            raise ValueError(f"{entity} records do not expire")
        self._writable()
        return 0  # the table's TTL deletes them (`ttl_specification`)

    def stored(self, entity: str, batch_size: int = MAX_PAGE_SIZE) -> StoredRecords:
        spec = self._reading(entity)
        return StoredRecords(
            self._store._stored_pages(spec, max(batch_size, 1)),
            key_ordered=spec.sort_attribute == KEY,  # the `all` index sorts by the key
        )

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]:
        spec = self._reading(entity)
        items = self._store._get_items(spec, list(dict.fromkeys(keys)))
        return [spec.stored_row(item) for item in items.values()]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ops.clear()  # not committed: nothing was sent

    def _reading(self, entity: str) -> Spec:
        """The spec of `entity` for a raw read, which cannot show buffered writes."""
        if entity not in SPECS:
            raise ValueError(f"unknown entity {entity!r}")
        if self._ops:
            raise RuntimeError("stored rows are read as committed: not in a unit that wrote")
        return SPECS[entity]

    def _writable(self) -> None:
        if self._committed:
            raise RuntimeError("this unit of work has already committed")

    def _add(self, spec: Spec, record: Any) -> None:
        self._writable()
        key = spec.key_of(record)
        item = spec.to_item(record)
        if (spec.entity, key) in self._ops:
            raise Conflict(f"{spec.entity} record already exists")
        self._ops[(spec.entity, key)] = _Op(spec, key, "add", None, item)

    def _update(self, spec: Spec, record: Any, expected: int) -> None:
        self._writable()
        key = spec.key_of(record)
        item = spec.to_item(record)
        op = self._ops.get((spec.entity, key))
        if op is not None and op.version != expected:
            raise VersionConflict(f"{spec.entity} {key!r} is no longer at version {expected}")
        if op is not None and op.item is not None:
            op.item = item  # one Put of the newest content, under the first condition
            return
        stored: dict[str, str | None] = {}  # (a guard becomes the update's condition)
        words: list[str] = []
        if spec.unique or spec.searched:  # claims to release, word items to delete
            current = self._store._current(spec, key, expected)
            stored = dict(zip(spec.unique, spec.values(current, spec.unique), strict=True))
            words = record_words(spec.entity, current) if spec.searched else []
        self._ops[(spec.entity, key)] = _Op(spec, key, "update", expected, item, stored, words)


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
        self._errors = importlib.import_module("botocore.exceptions")
        self.client = _make_client(settings)
        if settings.auto_create_tables:
            if settings.env not in LOCAL_ENVIRONMENTS:
                raise ConfigurationError(
                    "DATAOPS_AUTO_CREATE_TABLES is honoured only in local/test"
                )
            self.ensure_tables()

    def unit_of_work(self, *, write: bool = False) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self)

    def is_empty(self) -> bool:
        for entity in ("templates", "bundles", "tasks", "files", "artifacts"):
            for _ in self._stream(SPECS[entity], {}, None, 1):
                return False
        return True

    def encode(self, entity: str, records: Sequence[Any]) -> EncodedRecords:
        return EncodedRecords(entity, list(records))  # items are built when added

    def close(self) -> None:
        self.client.close()

    # --- tables ---------------------------------------------------------------------------

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
                        self._call(
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
        for _, record in self._stream(spec, {}, None, _QUERY_PAGE_MAX):
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
            except self._errors.ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":  # deleted meanwhile
                    raise _translate(exc, f"backfill {index_name} of {entity}") from exc

    def _ensure_ttl(self, entity: str, name: str) -> None:
        wanted = ttl_specification(entity)
        if wanted is None:
            return
        status = self._call("describe_time_to_live", TableName=name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        self._call("update_time_to_live", TableName=name, TimeToLiveSpecification=wanted)

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self.client.describe_table(TableName=name)["Table"]
        except self._errors.ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise _translate(exc, f"describe table {name}") from exc
        except self._errors.BotoCoreError as exc:
            raise _translate(exc, f"describe table {name}") from exc
        return table

    def _create_table(self, definition: dict[str, Any]) -> dict[str, Any] | None:
        try:
            created: dict[str, Any] = self.client.create_table(**definition)["TableDescription"]
        except self._errors.ClientError as exc:
            if _code(exc) == "ResourceInUseException":  # another process made it meanwhile
                return None
            raise _translate(exc, f"create table {definition['TableName']}") from exc
        except self._errors.BotoCoreError as exc:
            raise _translate(exc, "create table") from exc
        return created

    def _wait_active(self, name: str) -> None:
        deadline, pause = time.monotonic() + _WAIT_SECONDS, 0.1
        while not _active(self._call("describe_table", TableName=name)["Table"]):
            if time.monotonic() > deadline:
                raise StorageUnavailable(f"DynamoDB table {name} did not become active")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    # --- reads ----------------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**params)
        except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
            raise _translate(exc, f"{operation} on {params.get('TableName', '')}") from exc
        return result

    def _get(self, spec: Spec, record_id: str) -> Any:
        if not fits(record_id, MAX_KEY_BYTES):
            return None
        item = self._call(
            "get_item",
            TableName=self.tables[spec.entity],
            Key={KEY: {"S": record_id}},
            ConsistentRead=True,
        ).get("Item")
        return spec.from_item(item) if item and DATA in item else None

    def _get_many(self, spec: Spec, record_ids: Sequence[str]) -> dict[str, Any]:
        items = self._get_items(spec, record_ids)
        return {key: spec.from_item(item) for key, item in items.items()}

    def _get_items(self, spec: Spec, record_ids: Sequence[str]) -> dict[str, Item]:
        """The stored items among `record_ids` (BatchGetItem, strongly consistent)."""
        table = self.tables[spec.entity]
        keys = [i for i in record_ids if fits(i, MAX_KEY_BYTES)]
        found: dict[str, Item] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{KEY: {"S": i}} for i in keys[start : start + BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(_ATTEMPTS + 1):
                result = self._call("batch_get_item", RequestItems=request)
                for item in result.get("Responses", {}).get(table, []):
                    if DATA in item:
                        found[item[KEY]["S"]] = item
                request = result.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == _ATTEMPTS:
                    raise StorageUnavailable(f"DynamoDB kept keys of {table} unprocessed")
                _backoff(attempt)
        return found

    def _stream(
        self,
        spec: Spec,
        filters: Mapping[str, str],
        after: list[str] | None,
        want: int,
        descending: bool = False,
        bounds: tuple[str | None, str | None] = (None, None),
    ) -> Iterator[tuple[list[str], Any]]:
        """Committed records matching `filters`, in list order (or reversed) after
        `after`, their first order value within `bounds` (inclusive): one Query page
        after another (lazily) on the index that covers the most filters; a record by
        its key, or by a unique field no index covers (its claim), is read directly."""
        claimed = [name for name in spec.unique if name in filters and not spec.indexed(name)]
        if claimed:
            owner = self._claim_owner(spec, claimed[0], filters[claimed[0]])
            if owner is None or filters.get(spec.key, owner) != owner:
                return
            filters = {**filters, spec.key: owner}
        if spec.key in filters:
            record = self._get(spec, filters[spec.key])
            if record is not None and spec.matches(record, filters):
                order = spec.order_values(record)
                inside = Filters({}, *bounds).in_range(order[0])
                if inside and (after is None or _beyond(order, after, descending)):
                    yield order, record
            return
        params = self._query_params(spec, filters, after, descending, bounds)
        if params is None:
            return
        page_size = min(want, _QUERY_PAGE_MAX)
        rest = "FilterExpression" in params
        while True:
            result = self._call("query", Limit=page_size, **params)
            for item in result.get("Items", []):
                record = spec.from_item(item)
                order = spec.order_values(record)
                if after is None or _beyond(order, after, descending):  # (BETWEEN: inclusive)
                    yield order, record
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]
            if rest:  # a FilterExpression drops items after Limit: read wider pages
                page_size = min(page_size * 2, _QUERY_PAGE_MAX)

    def _count(
        self, spec: Spec, filters: Mapping[str, str], bounds: tuple[str | None, str | None]
    ) -> int:
        """How many committed records match: Select=COUNT Queries of the index `_stream`
        would read (no items are returned; DynamoDB still reads them, 1 MB a page)."""
        if spec.key in filters or any(n in filters and not spec.indexed(n) for n in spec.unique):
            return sum(1 for _ in self._stream(spec, filters, None, 1, bounds=bounds))
        params = self._query_params(spec, filters, None, False, bounds)
        if params is None:
            return 0
        total = 0
        while True:
            result = self._call("query", Select="COUNT", **params)
            total += int(result.get("Count", 0))
            if "LastEvaluatedKey" not in result:
                return total
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _query_params(
        self,
        spec: Spec,
        filters: Mapping[str, str],
        after: list[str] | None,
        descending: bool,
        bounds: tuple[str | None, str | None],
    ) -> dict[str, Any] | None:
        """The Query of the index covering the most `filters`: the partition, the sort
        key from `after` (exclusive) and within `bounds` on the first order value
        (inclusive), a FilterExpression for the filters the partition leaves; None when
        no stored item can match."""
        index, rest = spec.choose_index(filters)
        partition = spec.partition_value(index, filters)
        if partition is None or not all(fits(v, MAX_PARTITION_BYTES) for v in rest.values()):
            return None  # no stored item can hold such a value
        names = {"#p": index.partition_attribute}
        values: dict[str, Any] = {":p": {"S": partition}}
        condition = "#p = :p"
        low, high = _sort_bounds(spec, after, descending, bounds)
        if low is not None or high is not None:
            names["#s"] = spec.sort_attribute
        if low is not None and high is not None:
            if low > high:
                return None
            values[":lo"], values[":hi"] = {"S": low}, {"S": high}
            condition += " AND #s BETWEEN :lo AND :hi"
        elif low is not None:
            values[":lo"] = {"S": low}
            condition += " AND #s >= :lo"
        elif high is not None:
            values[":hi"] = {"S": high}
            condition += " AND #s <= :hi"
        params: dict[str, Any] = {
            "TableName": self.tables[spec.entity],
            "IndexName": index.name,
            "KeyConditionExpression": condition,
            "ScanIndexForward": not descending,
        }
        if rest:
            terms = []
            for number, (name, value) in enumerate(sorted(rest.items())):
                names[f"#f{number}"] = camel(name)
                values[f":f{number}"] = {"S": value}
                terms.append(f"#f{number} = :f{number}")
            params["FilterExpression"] = " AND ".join(terms)
        params["ExpressionAttributeNames"] = names
        params["ExpressionAttributeValues"] = values
        return params

    def _search_keys(
        self, spec: Spec, words: Sequence[str], below: str | None, want: int
    ) -> Iterator[str]:
        """The keys of the records of `spec` holding every word, descending, below the key
        `below`: one Query stream per word on the `by-search-word` index, intersected by
        a merge (each stream advances to the smallest head until all heads agree)."""
        streams = [
            self._word_keys(spec, word, below, want if len(words) == 1 else 0) for word in words
        ]
        heads = [next(stream, None) for stream in streams]
        while all(head is not None for head in heads):
            low = min(h for h in heads if h is not None)
            if all(head == low for head in heads):
                yield low
                heads = [next(stream, None) for stream in streams]
                continue
            for number, stream in enumerate(streams):
                while (head := heads[number]) is not None and head > low:
                    heads[number] = next(stream, None)

    def _word_keys(self, spec: Spec, word: str, below: str | None, want: int) -> Iterator[str]:
        """The keys of the records holding `word`, descending (lazily, page by page)."""
        if not fits(word, MAX_PARTITION_BYTES):
            return
        names = {"#w": SEARCH_WORD}
        values: dict[str, Any] = {":w": {"S": word}}
        condition = "#w = :w"
        if below is not None:
            names["#i"] = SEARCH_ID
            values[":i"] = {"S": below}
            condition += " AND #i < :i"
        params: dict[str, Any] = {
            "TableName": self.tables[spec.entity],
            "IndexName": SEARCH_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": min(want, _QUERY_PAGE_MAX) if want else _QUERY_PAGE_MAX,
        }
        while True:
            result = self._call("query", **params)
            for item in result.get("Items", []):
                yield item[SEARCH_ID]["S"]
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _backfill_search(self, entity: str) -> None:
        """Write the word items of every stored record (the index was added to an
        existing table): a Query of the `all` index, no Scan; a Put per word."""
        spec = SPECS[entity]
        for _, record in self._stream(spec, {}, None, _QUERY_PAGE_MAX):
            key = spec.key_of(record)
            for word in record_words(entity, record):
                self._call("put_item", TableName=self.tables[entity], Item=search_item(word, key))

    def _claim_owner(self, spec: Spec, name: str, value: str) -> str | None:
        """The key of the record holding the unique `value` of `name` (its claim item,
        read strongly consistent), or None."""
        claim = unique_key(name, value)
        if not fits(claim, MAX_KEY_BYTES):
            return None
        item = self._call(
            "get_item",
            TableName=self.tables[spec.entity],
            Key={KEY: {"S": claim}},
            ConsistentRead=True,
        ).get("Item")
        return item[OWNER]["S"] if item and OWNER in item else None

    def _stored_pages(self, spec: Spec, batch_size: int) -> Iterator[list[StoredRow]]:
        """Every committed record of `spec` as stored: one Query page of its `all` index
        (the constant partition, sorted by the list order) after another."""
        params: dict[str, Any] = {
            "TableName": self.tables[spec.entity],
            "IndexName": ALL_INDEX,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": ENTITY},
            "ExpressionAttributeValues": {":p": {"S": spec.entity}},
            "Limit": min(batch_size, _QUERY_PAGE_MAX),
        }
        while True:
            result = self._call("query", **params)
            rows = [spec.stored_row(item) for item in result.get("Items", []) if DATA in item]
            if rows:
                yield rows
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _current(self, spec: Spec, key: str, expected: int) -> Any:
        """The record as stored, read before an update that must know its unique values
        (its claims) or search words (its word items)."""
        current = self._get(spec, key)
        if current is None or spec.version_of(current) != expected:
            raise VersionConflict(f"{spec.entity} {key!r} is no longer at version {expected}")
        return current

    # --- writes ---------------------------------------------------------------------------

    def _actions(self, op: _Op) -> list[_Action]:
        table = self.tables[op.spec.entity]
        what = f"{op.spec.entity} {op.key!r}"
        key = {KEY: {"S": op.key}}
        if op.item is None:
            return [_Action(_condition_check(table, key, op.expected), "guard", what)]
        if op.kind == "add":
            put = {
                "TableName": table,
                "Item": op.item,
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": KEY},
            }
        else:
            put = {
                "TableName": table,
                "Item": op.item,
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": VERSION},
                "ExpressionAttributeValues": {":v": {"N": str(op.expected)}},
            }
        actions = [_Action({"Put": put}, op.kind, what)]
        for name in op.spec.unique:
            new = op.item.get(camel(name), {}).get("S")
            old = op.stored_unique.get(name)
            if new == old:
                continue
            if old:
                release = {
                    "TableName": table,
                    "Key": {KEY: {"S": unique_key(name, old)}},
                    "ConditionExpression": "attribute_not_exists(#k) OR #o = :o",
                    "ExpressionAttributeNames": {"#k": KEY, "#o": OWNER},
                    "ExpressionAttributeValues": {":o": {"S": op.key}},
                }
                actions.append(_Action({"Delete": release}, "release", what))
            if new:
                claim = {
                    "TableName": table,
                    "Item": {KEY: {"S": unique_key(name, new)}, OWNER: {"S": op.key}},
                    "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": KEY},
                }
                what_claim = f"{op.spec.entity} with {camel(name)} {new!r}"
                actions.append(_Action({"Put": claim}, "claim", what_claim))
        if op.spec.searched:
            actions += _word_actions(table, op, what)
        return actions

    def _write(self, groups: list[list[_Action]]) -> None:
        actions = [a for group in groups for a in group]
        if not actions:
            return
        seen: set[tuple[str, str]] = set()
        for action in actions:  # one item twice: two records claiming one unique value
            ((_, body),) = action.request.items()
            target = (body["TableName"], (body.get("Item") or body["Key"])[KEY]["S"])
            if target in seen:
                raise Conflict(f"{action.what} is claimed twice in one change")
            seen.add(target)
        if len(actions) == 1 and "Put" in actions[0].request:
            self._put(actions[0])
        elif len(actions) <= MAX_TRANSACTION_ITEMS:
            self._transact(actions)
        elif all(a.kind in _INSERTS for a in actions):
            self._insert_in_chunks(groups)
        else:
            raise PayloadTooLarge(
                f"this change needs {len(actions)} DynamoDB operations in one transaction; "
                f"at most {MAX_TRANSACTION_ITEMS} are possible when it also updates records"
            )

    def _put(self, action: _Action) -> None:
        try:
            self.client.put_item(**action.request["Put"])
        except self._errors.ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise _failed([action]) from exc
            raise _translate(exc, f"put {action.what}") from exc
        except self._errors.BotoCoreError as exc:
            raise _translate(exc, f"put {action.what}") from exc

    def _transact(self, actions: list[_Action]) -> None:
        for attempt in range(_ATTEMPTS + 1):
            try:
                self.client.transact_write_items(
                    TransactItems=[a.request for a in actions],
                    ClientRequestToken=uuid.uuid4().hex,  # botocore's own retries replay it
                )
                return
            except self._errors.ClientError as exc:
                code = _code(exc)
                if code == "TransactionCanceledException":
                    reasons = _reasons(exc, len(actions))
                    failed = [a for a, r in zip(actions, reasons, strict=True) if r == _CCF]
                    if failed:
                        raise _failed(failed) from exc
                    busy = {r for r in reasons if r not in ("None", "")}
                    if busy <= _RETRYABLE and attempt < _ATTEMPTS:
                        _backoff(attempt)
                        continue
                    if busy <= {"TransactionConflict"}:
                        raise VersionConflict(
                            "a record changed by a concurrent request; try again"
                        ) from exc
                    raise StorageUnavailable(
                        f"DynamoDB cancelled the transaction: {', '.join(sorted(busy))}"
                    ) from exc
                if code == "TransactionInProgressException" and attempt < _ATTEMPTS:
                    _backoff(attempt)
                    continue
                raise _translate(exc, "transact_write_items") from exc
            except self._errors.BotoCoreError as exc:
                raise _translate(exc, "transact_write_items") from exc

    def _insert_in_chunks(self, groups: list[list[_Action]]) -> None:
        chunks: list[list[_Action]] = [[]]
        for group in groups:
            if len(chunks[-1]) + len(group) > MAX_TRANSACTION_ITEMS:
                chunks.append([])
            chunks[-1].extend(group)
        written: list[_Action] = []
        for chunk in chunks:
            try:
                self._transact(chunk)
            except DataOpsError:
                self._undo(written)
                raise
            written += chunk

    def _undo(self, written: list[_Action]) -> None:
        """Best effort: delete what the earlier chunks of a failed insert wrote, each only
        while it is still as written."""
        for action in written:
            put = action.request["Put"]
            item = put["Item"]
            same = OWNER if action.kind == "claim" else VERSION
            try:
                self.client.delete_item(
                    TableName=put["TableName"],
                    Key={KEY: item[KEY]},
                    ConditionExpression="#a = :a",
                    ExpressionAttributeNames={"#a": same},
                    ExpressionAttributeValues={":a": item[same]},
                )
            except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
                log.warning("could not undo the insert of %s: %s", action.what, exc)


_CCF = "ConditionalCheckFailed"


def _word_actions(table: str, op: _Op, what: str) -> list[_Action]:
    """The search word items to delete and to put so the index holds the record's new
    words: unconditional (the record's own Put carries the condition), the puts undone
    like claims (`owner`) when an insert sent in parts fails."""
    assert op.item is not None
    new = record_words(op.spec.entity, op.spec.from_item(op.item))
    gone = [w for w in op.stored_words if w not in set(new)]
    added = [w for w in new if w not in set(op.stored_words)]
    actions = [
        _Action(
            {"Delete": {"TableName": table, "Key": {KEY: {"S": search_key(word, op.key)}}}},
            "release",
            what,
        )
        for word in gone
    ]
    actions += [
        _Action({"Put": {"TableName": table, "Item": search_item(word, op.key)}}, "claim", what)
        for word in added
    ]
    return actions


def _sort_bounds(
    spec: Spec,
    after: list[str] | None,
    descending: bool,
    bounds: tuple[str | None, str | None],
) -> tuple[str | None, str | None]:
    """Inclusive sort-key bounds: the range on the first order value (a sort value is
    that value, `#`, the rest: `since` sorts below every value starting with it, and
    `through` followed by `$` — the character after `#` — above every one), narrowed by
    the cursor (inclusive here; the record at the cursor itself is dropped after)."""
    since, through = bounds
    if (since is not None or through is not None) and spec.sort_attribute == KEY:
        raise ValueError(f"{spec.entity} has no order range")
    low = compose([since]) if since is not None else None
    high = compose([through]) + "$" if through is not None else None
    if after is not None:
        at = spec.sort_value(after)
        if descending:
            high = at if high is None else min(high, at)
        else:
            low = at if low is None else max(low, at)
    return low, high


def _beyond(order: list[str], after: list[str], descending: bool) -> bool:
    """Whether a record at `order` comes after the cursor `after` in the list's direction."""
    return order < after if descending else order > after


def _active(table: Mapping[str, Any]) -> bool:
    statuses = [table.get("TableStatus")]
    statuses += [i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])]
    return all(status == "ACTIVE" for status in statuses)


def _condition_check(table: str, key: Item, version: int | None) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": VERSION},
            "ExpressionAttributeValues": {":v": {"N": str(version)}},
        }
    }


def _failed(actions: list[_Action]) -> Conflict:
    """The domain error for failed conditions: a stale version (VersionConflict) wins over
    an existing key (Conflict) — a retry may succeed after the former."""
    stale = [a for a in actions if a.kind not in _INSERTS]
    if stale:
        return VersionConflict(f"{stale[0].what} changed while this request ran")
    return Conflict(f"{actions[0].what} already exists")


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reasons(exc: Any, count: int) -> list[str]:
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


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.05 * 2**attempt, 1.0)))


def _translate(exc: Any, what: str) -> Exception:
    """A botocore error as a domain error (the cause stays chained for logs)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = _code(exc)
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


def _make_client(settings: Settings) -> Any:
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
