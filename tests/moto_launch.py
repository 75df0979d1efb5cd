"""Run moto's server with DynamoDB's write isolation: `python -m tests.moto_launch -H ... -p ...`.

moto serves each request on its own thread, and its TransactWriteItems is not isolated
from the others: it deep-copies each table it touches, applies the items one by one, and on
a failed condition puts the copies back — undoing whatever other threads wrote meanwhile.
Two racing transactions that each claim one key with `attribute_not_exists` can then both
commit (seen: 1 round in ~100 of four racing threads). Real DynamoDB serialises conflicting
transactions and never rolls back another caller's write, and the store's exactly-once
claims rely on that. This launcher gives moto the same guarantee by running every DynamoDB
write of the server process under one lock, then starts moto's own server unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_LOCK = threading.RLock()


def _isolated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return write


for _name in _WRITES:
    setattr(DynamoDBBackend, _name, _isolated(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
