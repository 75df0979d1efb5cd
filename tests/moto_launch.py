"""Run moto's server with DynamoDB's write isolation: `python -m tests.moto_launch -H ... -p ...`.

moto serves each request on its own thread, and its TransactWriteItems is not isolated
from the others: it deep-copies each table it touches, applies the items one by one, and on
a failed condition puts the copies back — undoing whatever other threads wrote meanwhile.
Two racing transactions that each claim one key with `attribute_not_exists` can then both
commit (seen: 1 round in ~100 of four racing threads). Real DynamoDB serialises conflicting
transactions and never rolls back another caller's write, and the store's exactly-once
claims rely on that. This launcher gives moto the same guarantee by running every DynamoDB
write of the server process under one lock, then starts moto's own server unchanged.

Under that lock a failed TransactWriteItems is also rolled back item by item: the items it
names are saved (deep copies) before it runs and put back if it fails. moto's own rollback
deep-copies every table a transaction touches, before every transaction, succeeded or not:
linear in the table's size per write, the largest cost of the long DynamoDB racing tests.
Nothing else writes meanwhile (the lock), so putting back the named items restores the
tables exactly. Its request log is off too (one line per request: errors are still logged),
and SIGTERM ends it at once (its log flushed), without the interpreter's teardown of moto's
whole heap: seconds on a busy machine, which the test session's end waited for.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import moto.dynamodb.models
import moto.server
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.server import main

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_LOCK = threading.RLock()


def _isolated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return write


Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]
"""A table, an item's key in it, and the item as it was (None: it did not exist)."""


def _saved(backend: DynamoDBBackend, operation: dict[str, Any]) -> Saved | None:
    """The item one operation of a transaction names, as it is now; None if the operation
    names no item of an existing table (moto then fails it without writing anything)."""
    table = backend.tables.get(operation.get("TableName", ""))
    if table is None:
        return None
    try:
        hash_key, range_key = backend.get_keys_value(
            table, operation.get("Item") or operation.get("Key") or {}
        )
        return table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))
    except (MockValidationException, KeyError, TypeError, ValueError):
        return None


def _put_back(saved: Saved) -> None:
    table, hash_key, range_key, item = saved
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    group = table.items[hash_key]
    if item is None:
        group.pop(range_key, None)
        if not group:
            del table.items[hash_key]
    else:
        group[range_key] = item


def _item_by_item_rollback(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[Any]) -> Any:
        saved = [
            found
            for entry in transact_items
            if isinstance(entry, dict)
            for operation in entry.values()
            if isinstance(operation, dict) and (found := _saved(self, operation))
        ]
        try:
            return method(self, transact_items)
        except BaseException:
            for one in reversed(saved):  # an item named twice gets its first state back
                _put_back(one)
            raise

    return transact_write_items


class _CopyWithoutTables:
    """The `copy` module as moto.dynamodb.models sees it, except that a Table's deep copy
    is the table itself: its only use there is TransactWriteItems' rollback copy, which
    `_item_by_item_rollback` replaces (moto's "rollback" then puts the same table back)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


moto.dynamodb.models.copy = _CopyWithoutTables()  # type: ignore[assignment]
DynamoDBBackend.transact_write_items = _item_by_item_rollback(  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items
)
for _name in _WRITES:
    setattr(DynamoDBBackend, _name, _isolated(getattr(DynamoDBBackend, _name)))
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _exit_at_once(signum: int, frame: Any) -> None:
    """moto's SIGTERM/SIGINT handler (it calls sys.exit): flush the log, then exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


moto.server.signal_handler = _exit_at_once

if __name__ == "__main__":
    main()
