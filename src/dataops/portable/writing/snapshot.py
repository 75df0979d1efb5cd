"""One consistent set of stored rows from a store whose reads are live (DynamoDB).

SQLite exports from one read transaction. DynamoDB has no such thing across tables (or
across the pages of one), so the export first copies every entity into a scratch SQLite
file and makes that copy consistent; the entity files are then written from the copy
(`SnapshotReader` offers the two reads the export uses, `stored` and `stored_many`).

1. **Read pass.** `start` is taken before the first read. Every record is copied as it is
   read. A record whose newest time stamp (`updatedAt`, `createdAt`, `readAt`) is older
   than `start - SETTLE`, and which is not a user updated since its creation (user
   updates carry no stamp), was committed before `start` (a write commits within
   `SETTLE` of its stamp: a request lives at most 30 s) and was still current when read,
   after `start`: the copy holds it as it was at `start`. Every other record was
   written during the export or just before it: the *changed* set.
2. **Repair pass, bounded.** The changed records and every record they refer to (the
   relationships the validator checks, `checks.edges`), recursively, are read again by
   key, strongly consistent, into the copy, until a round adds no record and reads every
   one with the bytes and version the copy held from its previous read (the read pass or
   the round before; at most `MAX_ROUNDS` rounds). Each of them then held that value
   from that previous read to this one, so all of them at the round's start: the set is
   as of one instant E, and its references resolve. A set that never settles fails
   the export (`StorageUnavailable`) rather than writing a torn one.

So every record committed before `start` is in the export; records untouched during the
export are as of `start`, the ones written during it (and what they point to) as of E.
(Not datable: a notification dismissed after it was read keeps its `readAt`; dismissed
after `start` but before the read pass reaches it, it is copied dismissed.)
Memory: the copy is on disk; only the changed set's keys are held (and one batch).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from dataops.domain.clock import now, parse_ts
from dataops.domain.codec import snake
from dataops.domain.errors import StorageUnavailable
from dataops.portable.checking.checks import edges
from dataops.portable.format import EXPORTED, SPECS
from dataops.store.port import StoredRecords, StoredRow, UnitOfWork

SETTLE = timedelta(seconds=120)
"""Longest time between a write's stamp and its commit (requests time out at 30 s),
with room for clock skew between hosts."""
MAX_ROUNDS = 10
"""Reads of the changed set before the export gives up on it settling."""
_STAMPS = ("updatedAt", "createdAt", "readAt")
_UNSTAMPED_UPDATES = frozenset({"users"})
"""Entities whose updates set no time stamp: any record past version 1 is changed."""


class SnapshotReader:
    """The consistent copy, read as the export reads a unit of work."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE rows (entity TEXT, key TEXT, data BLOB, version INTEGER, "
            "PRIMARY KEY (entity, key)) WITHOUT ROWID"
        )

    def put(self, entity: str, rows: Iterable[StoredRow]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?)",
            ((entity, key, raw, version) for key, raw, version in rows),
        )

    def drop(self, entity: str, keys: Iterable[str]) -> None:
        self._db.executemany(
            "DELETE FROM rows WHERE entity = ? AND key = ?", ((entity, k) for k in keys)
        )

    def stored(self, entity: str, batch_size: int = 500) -> StoredRecords:
        cursor = self._db.execute(
            "SELECT key, data, version FROM rows WHERE entity = ? ORDER BY key", (entity,)
        )
        return StoredRecords(_batches(cursor, max(batch_size, 1)), key_ordered=True)

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]:
        found: list[StoredRow] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            found += self._db.execute(
                f"SELECT key, data, version FROM rows WHERE entity = ? AND key IN ({marks})",  # noqa: S608
                (entity, *part),
            ).fetchall()
        return found

    def close(self) -> None:
        self._db.close()
        self._path.unlink(missing_ok=True)


def _batches(cursor: sqlite3.Cursor, size: int) -> Iterator[list[StoredRow]]:
    while rows := cursor.fetchmany(size):
        yield rows


def take_snapshot(
    uow: UnitOfWork,
    path: Path,
    *,
    page_size: int = 500,
    on_page: Callable[[str, int], None] | None = None,
) -> SnapshotReader:
    """Copy every exported entity of `uow`'s store into a new SQLite file at `path` and
    make the copy consistent (see the module docstring). `on_page(entity, count)` is
    called after each page read."""
    since = now() - SETTLE
    reader = SnapshotReader(path)
    try:
        changed: set[tuple[str, str]] = set()
        for entity in EXPORTED:
            count = 0
            for rows in uow.stored(entity, page_size).batches:
                reader.put(entity, rows)
                changed.update(
                    (entity, key)
                    for key, raw, version in rows
                    if _written_since(entity, raw, version, since)
                )
                count += len(rows)
                if on_page is not None:
                    on_page(entity, count)
        settle(uow, changed, reader)
    except BaseException:
        reader.close()
        raise
    return reader


def settle(uow: UnitOfWork, changed: set[tuple[str, str]], copy: SnapshotReader) -> None:
    """Bring the records of `changed` and every exported record they refer to,
    recursively, into `copy` as of one instant. Each round reads the set by key and
    writes what it read into the copy (a record gone is dropped); the set has settled
    when a round adds no record and finds every one as the copy held it. The copy then
    holds, for each record, a read before the round started (the read pass or an earlier
    round) and one after with the same bytes and version: it held them at the round's
    start. Only keys are held in memory, never the rows."""
    members = set(changed)
    for _ in range(MAX_ROUNDS):
        same, targets = _read(uow, members, copy)
        if same and targets <= members:
            return
        members |= targets
    raise StorageUnavailable(
        f"the store kept changing during the export: {len(members)} records written "
        f"during it did not settle in {MAX_ROUNDS} reads; try again"
    )


def _read(
    uow: UnitOfWork, keys: set[tuple[str, str]], copy: SnapshotReader
) -> tuple[bool, set[tuple[str, str]]]:
    """Read `keys` into `copy`: whether every one was as the copy held it, and the
    records they refer to."""
    same = True
    targets: set[tuple[str, str]] = set()
    for entity in EXPORTED:
        wanted = sorted(k for e, k in keys if e == entity)
        if not wanted:
            continue
        held = {key: (raw, version) for key, raw, version in copy.stored_many(entity, wanted)}
        rows = uow.stored_many(entity, wanted)
        found = {key: (raw, version) for key, raw, version in rows}
        same = same and found == held
        copy.put(entity, rows)
        copy.drop(entity, (k for k in wanted if k not in found))
        for _, raw, _ in rows:
            targets.update(_targets(entity, raw))
    return same, targets


def _targets(entity: str, raw: bytes) -> Iterator[tuple[str, str]]:
    """(entity, key) of every exported record the stored row refers to."""
    stored = orjson.loads(raw)
    record = {snake(name): value for name, value in stored.items()}
    for _, target, key, _ in edges(SPECS[entity], record):
        if target in EXPORTED:
            yield target, key


def _written_since(entity: str, raw: bytes, version: int | None, since: datetime) -> bool:
    """Whether the row may have been written at or after `since` (see the docstring)."""
    if entity in _UNSTAMPED_UPDATES and version is not None and version > 1:
        return True
    stored = orjson.loads(raw)
    for name in _STAMPS:
        stamp = stored.get(name)
        if isinstance(stamp, str):
            try:
                if parse_ts(stamp) >= since:
                    return True
            except ValueError:
                return True  # cannot be dated: treat as changed
    return False
