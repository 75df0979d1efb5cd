"""The unit of work of the DynamoDB store: its writes are buffered (`transactions.Op`)
and sent at `commit()` as one transaction; reads inside the unit see its own buffered
writes (get, get_many and find). Leaving the unit without `commit()` sends nothing.

Decisions that must hold are protected at commit: the services `guard` the records a
decision was based on, and a stale read then fails the condition check
(`VersionConflict`), never the rule.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import islice
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from dataops.domain.errors import Conflict, ValidationFailed, VersionConflict
from dataops.domain.search import ENTITY_OF_KIND, KINDS, record_words
from dataops.store.cursor import decode_cursor, encode_cursor
from dataops.store.dynamodb.reads import Reads, beyond
from dataops.store.dynamodb.tables import (
    KEY,
    MAX_KEY_BYTES,
    MAX_SORT_BYTES,
    SPECS,
    Spec,
    fits,
)
from dataops.store.dynamodb.transactions import Op, Transactions
from dataops.store.port import (
    MAX_PAGE_SIZE,
    EncodedRecords,
    Filters,
    MetadataStore,
    Page,
    PageRequest,
    Repositories,
    Repository,
    SearchHit,
    StoredRecords,
    StoredRow,
    open_repositories,
)

T = TypeVar("T")


class UnitStore(MetadataStore, Protocol):
    """What a unit of work needs of its store (`DynamoStore`): the committed reads, the
    transactions that send a commit, and to be the store `uow.store` names."""

    reads: Reads
    transactions: Transactions


class DynamoRepository(Generic[T]):
    def __init__(self, uow: DynamoUnitOfWork, spec: Spec) -> None:
        self._uow = uow
        self._spec = spec

    def get(self, record_id: str) -> T | None:
        op = self._uow._ops.get((self._spec.entity, record_id))
        if op is not None and op.item is not None:
            found: T = self._spec.from_item(op.item)
            return found
        stored: T | None = self._uow._store.reads.get(self._spec, record_id)
        return stored

    def get_many(self, record_ids: Sequence[str]) -> list[T]:
        pending: dict[str, T] = {}
        for record_id in record_ids:
            op = self._uow._ops.get((self._spec.entity, record_id))
            if op is not None and op.item is not None:
                pending[record_id] = self._spec.from_item(op.item)
        missing = [i for i in dict.fromkeys(record_ids) if i not in pending]
        found = {**self._uow._store.reads.get_many(self._spec, missing), **pending}
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
            after = decode_cursor(page.cursor, len(spec.order), blank=False)
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
            for pair in self._uow._store.reads.stream(
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
                and (after is None or beyond(spec.order_values(record), after, down))
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
        return self._uow._store.reads.count(spec, active, (filters.since, filters.through))

    def cursor_after(self, record: T) -> str:
        return encode_cursor(self._spec.order_values(record))


class DynamoUnitOfWork(Repositories):
    """Writes buffered by record until `commit()`; reads that see them."""

    def __init__(self, store: UnitStore) -> None:
        self._store = store
        self._ops: dict[tuple[str, str], Op] = {}
        self._committed = False
        open_repositories(self, lambda entity: DynamoRepository(self, SPECS[entity]))

    @property
    def store(self) -> UnitStore:
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
            self._ops[(entity, record_id)] = Op(SPECS[entity], record_id, "guard", version, None)
        elif op.version != version:
            raise VersionConflict(f"{entity} {record_id!r} changed while this request ran")

    def add_encoded(self, encoded: EncodedRecords) -> None:
        repo: Repository[Any] = getattr(self, encoded.entity)
        for record in encoded.rows:  # the records themselves (`DynamoStore.encode`)
            repo.add(record)

    def bulk_insert(self, entity: str, *, rebuild_indexes: bool) -> AbstractContextManager[None]:
        return nullcontext()  # the items are put as `add` puts them

    def commit(self) -> None:
        self._writable()
        self._store.transactions.commit(self._ops.values())
        self._ops.clear()
        self._committed = True

    def search(
        self, words: Sequence[str], kinds: Sequence[str], page: PageRequest
    ) -> Page[SearchHit]:
        after = decode_cursor(page.cursor, 2, blank=False) if page.cursor else None
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
            for record_key in self._store.reads.search_keys(spec, words, below, limit + 1):
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
            self._store.reads.stored_pages(spec, max(batch_size, 1)),
            key_ordered=spec.sort_attribute == KEY,  # the `all` index sorts by the key
        )

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]:
        spec = self._reading(entity)
        items = self._store.reads.get_items(spec, list(dict.fromkeys(keys)))
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
        self._ops[(spec.entity, key)] = Op(spec, key, "add", None, item)

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
            current = self._store.reads.current(spec, key, expected)
            stored = dict(zip(spec.unique, spec.values(current, spec.unique), strict=True))
            words = record_words(spec.entity, current) if spec.searched else []
        self._ops[(spec.entity, key)] = Op(spec, key, "update", expected, item, stored, words)
