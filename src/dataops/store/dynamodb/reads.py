"""Committed reads of the DynamoDB store.

Reads go straight to DynamoDB: `get`/`get_many` are strongly consistent (GetItem,
BatchGetItem with ConsistentRead); `stream` (a list) is a Query on a global secondary
index, which is eventually consistent (a record committed a moment ago may be missing
from a list, or show its previous values). No request path Scans.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dataops.domain.codec import camel
from dataops.domain.errors import StorageUnavailable, VersionConflict
from dataops.store.dynamodb.client import ATTEMPTS, TableClient, backoff
from dataops.store.dynamodb.tables import (
    ALL_INDEX,
    DATA,
    ENTITY,
    KEY,
    MAX_KEY_BYTES,
    MAX_PARTITION_BYTES,
    OWNER,
    SEARCH_ID,
    SEARCH_INDEX,
    SEARCH_WORD,
    Item,
    Spec,
    compose,
    fits,
    unique_key,
)
from dataops.store.port import Filters, StoredRow

BATCH_GET_KEYS = 100
QUERY_PAGE_MAX = 1000


class Reads(TableClient):
    """What the store reads as committed: by key, through an index, by search word."""

    def get(self, spec: Spec, record_id: str) -> Any:
        item = self._item(spec, record_id)
        return spec.from_item(item) if item and DATA in item else None

    def _item(self, spec: Spec, key: str) -> Item | None:
        """The item of `spec`'s table under `key`, read strongly consistent (None: none,
        or a key longer than DynamoDB takes, which no item can have)."""
        if not fits(key, MAX_KEY_BYTES):
            return None
        item: Item | None = self.call(
            "get_item",
            TableName=self.tables[spec.entity],
            Key={KEY: {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        return item

    def get_many(self, spec: Spec, record_ids: Sequence[str]) -> dict[str, Any]:
        items = self.get_items(spec, record_ids)
        return {key: spec.from_item(item) for key, item in items.items()}

    def get_items(self, spec: Spec, record_ids: Sequence[str]) -> dict[str, Item]:
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
            for attempt in range(ATTEMPTS + 1):
                result = self.call("batch_get_item", RequestItems=request)
                for item in result.get("Responses", {}).get(table, []):
                    if DATA in item:
                        found[item[KEY]["S"]] = item
                request = result.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == ATTEMPTS:
                    raise StorageUnavailable(f"DynamoDB kept keys of {table} unprocessed")
                backoff(attempt)
        return found

    def stream(
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
            yield from self._by_key(spec, filters, after, descending, bounds)
            return
        params = self._query_params(spec, filters, after, descending, bounds)
        if params is None:
            return
        page_size = min(want, QUERY_PAGE_MAX)
        rest = "FilterExpression" in params
        while True:
            result = self.call("query", Limit=page_size, **params)
            for item in result.get("Items", []):
                record = spec.from_item(item)
                order = spec.order_values(record)
                if after is None or beyond(order, after, descending):  # (BETWEEN: inclusive)
                    yield order, record
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]
            if rest:  # a FilterExpression drops items after Limit: read wider pages
                page_size = min(page_size * 2, QUERY_PAGE_MAX)

    def _by_key(
        self,
        spec: Spec,
        filters: Mapping[str, str],
        after: list[str] | None,
        descending: bool,
        bounds: tuple[str | None, str | None],
    ) -> Iterator[tuple[list[str], Any]]:
        """The record whose key `filters` names, if it matches them, lies within
        `bounds` and comes after `after` (GetItem, strongly consistent)."""
        record = self.get(spec, filters[spec.key])
        if record is not None and spec.matches(record, filters):
            order = spec.order_values(record)
            inside = Filters({}, *bounds).in_range(order[0])
            if inside and (after is None or beyond(order, after, descending)):
                yield order, record

    def count(
        self, spec: Spec, filters: Mapping[str, str], bounds: tuple[str | None, str | None]
    ) -> int:
        """How many committed records match: Select=COUNT Queries of the index `stream`
        would read (no items are returned; DynamoDB still reads them, 1 MB a page)."""
        if spec.key in filters or any(n in filters and not spec.indexed(n) for n in spec.unique):
            return sum(1 for _ in self.stream(spec, filters, None, 1, bounds=bounds))
        params = self._query_params(spec, filters, None, False, bounds)
        if params is None:
            return 0
        total = 0
        while True:
            result = self.call("query", Select="COUNT", **params)
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
        sort = _sort_condition(spec, after, descending, bounds)
        if sort is None:
            return None
        sort_condition, sort_names, sort_values = sort
        names = {"#p": index.partition_attribute, **sort_names}
        values: dict[str, Any] = {":p": {"S": partition}, **sort_values}
        params: dict[str, Any] = {
            "TableName": self.tables[spec.entity],
            "IndexName": index.name,
            "KeyConditionExpression": "#p = :p" + sort_condition,
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

    def search_keys(
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
            "Limit": min(want, QUERY_PAGE_MAX) if want else QUERY_PAGE_MAX,
        }
        while True:
            result = self.call("query", **params)
            for item in result.get("Items", []):
                yield item[SEARCH_ID]["S"]
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _claim_owner(self, spec: Spec, name: str, value: str) -> str | None:
        """The key of the record holding the unique `value` of `name` (its claim item,
        read strongly consistent), or None."""
        item = self._item(spec, unique_key(name, value))
        return item[OWNER]["S"] if item and OWNER in item else None

    def stored_pages(self, spec: Spec, batch_size: int) -> Iterator[list[StoredRow]]:
        """Every committed record of `spec` as stored: one Query page of its `all` index
        (the constant partition, sorted by the list order) after another."""
        params: dict[str, Any] = {
            "TableName": self.tables[spec.entity],
            "IndexName": ALL_INDEX,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": ENTITY},
            "ExpressionAttributeValues": {":p": {"S": spec.entity}},
            "Limit": min(batch_size, QUERY_PAGE_MAX),
        }
        while True:
            result = self.call("query", **params)
            rows = [spec.stored_row(item) for item in result.get("Items", []) if DATA in item]
            if rows:
                yield rows
            if "LastEvaluatedKey" not in result:
                return
            params["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def current(self, spec: Spec, key: str, expected: int) -> Any:
        """The record as stored, read before an update that must know its unique values
        (its claims) or search words (its word items)."""
        current = self.get(spec, key)
        if current is None or spec.version_of(current) != expected:
            raise VersionConflict(f"{spec.entity} {key!r} is no longer at version {expected}")
        return current


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


def _sort_condition(
    spec: Spec,
    after: list[str] | None,
    descending: bool,
    bounds: tuple[str | None, str | None],
) -> tuple[str, dict[str, str], dict[str, Any]] | None:
    """The sort-key part of a Query's key condition (`_sort_bounds`), with its names
    and values; None when the range is empty."""
    low, high = _sort_bounds(spec, after, descending, bounds)
    names = {"#s": spec.sort_attribute}
    if low is not None and high is not None:
        if low > high:
            return None
        return " AND #s BETWEEN :lo AND :hi", names, {":lo": {"S": low}, ":hi": {"S": high}}
    if low is not None:
        return " AND #s >= :lo", names, {":lo": {"S": low}}
    if high is not None:
        return " AND #s <= :hi", names, {":hi": {"S": high}}
    return "", {}, {}


def beyond(order: list[str], after: list[str], descending: bool) -> bool:
    """Whether a record at `order` comes after the cursor `after` in the list's direction."""
    return order < after if descending else order > after
