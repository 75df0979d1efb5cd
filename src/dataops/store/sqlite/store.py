"""SQLite backend of the metadata-store port."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from dataops.domain.errors import Conflict, StorageUnavailable, ValidationFailed, VersionConflict
from dataops.domain.search import KINDS, SEARCHED_ENTITIES
from dataops.localfs import private_dir, private_file
from dataops.store.cursor import decode_cursor, encode_cursor
from dataops.store.port import (
    MAX_PAGE_SIZE,
    EncodedRecords,
    Filters,
    Page,
    PageRequest,
    Repositories,
    SearchHit,
    StoredRecords,
    StoredRow,
    open_repositories,
)
from dataops.store.sqlite import search as search_index
from dataops.store.sqlite.migrations import MIGRATIONS
from dataops.store.sqlite.tables import TABLES, Table

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 10_000
_KEYS_PER_QUERY = 500  # bound parameters per `IN (...)`, well under SQLite's limit
SIDE_FILES = ("-wal", "-shm", "-journal")
PAGE_SIZE = 16384
"""Bytes per page of a new store file (SQLite's default is 4096). Rows of 1 to 2 KB (a task,
an audit event) and their indexes take a quarter of the pages, so reading a table
(building an index, an export) makes a quarter of the system calls: importing 400k
tasks took 7.7 to 8.9 s instead of 11.5 to 15.5 (`bench/README.md`, import). Files made
before keep their page size."""
WAL_BULK_UNIT = 50_000
"""Records per unit of work of a bulk insert in WAL mode (`SqliteStore.bulk_writes`):
about 90 MB of pages in the WAL, which each commit checkpoints."""
_BULK_CACHE_KIB = 64 << 10
"""The page cache of a bulk insert (`SqliteUnitOfWork.bulk_insert`), in KiB (SQLite's
default is 2 MiB); a fixed bound, so memory does not grow with the table."""
_SORT_CACHE_KIB = 16 << 10
"""The page cache while a bulk insert builds its indexes, in KiB: a build sorts in memory
up to the cache's size, so this bounds the sort's memory too (peak RSS at 1M records
207 -> 186 MB, the builds no slower)."""


class SqliteRepository(Generic[T]):
    def __init__(self, conn: sqlite3.Connection, table: Table) -> None:
        self._conn = conn
        self._t = table

    def get(self, record_id: str) -> T | None:
        row = self._conn.execute(
            f"SELECT data, version FROM {self._t.name} WHERE {self._t.key} = ?",  # noqa: S608
            (record_id,),
        ).fetchone()
        return None if row is None else self._load(row)

    def get_many(self, record_ids: Sequence[str]) -> list[T]:
        if not record_ids:
            return []
        marks = ",".join("?" * len(record_ids))
        rows = self._conn.execute(
            f"SELECT data, version, {self._t.key} FROM {self._t.name} "  # noqa: S608
            f"WHERE {self._t.key} IN ({marks})",
            list(record_ids),
        ).fetchall()
        found = {row[2]: self._load(row) for row in rows}
        return [found[i] for i in record_ids if i in found]

    def add(self, record: T) -> None:
        columns = [self._t.key, "version", "data", *self._t.written]
        values = [getattr(record, self._t.key), self._version(record), self._t.encode(record)]
        values += self._t.column_values(record)
        marks = ",".join("?" * len(columns))
        try:
            self._conn.execute(
                f"INSERT INTO {self._t.name} ({','.join(columns)}) VALUES ({marks})",  # noqa: S608
                values,
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{self._t.entity} record already exists") from exc
        search_index.reindex(self._conn, self._t.entity, record)

    def update(self, record: T, expected_version: int) -> None:
        sets = ["version = ?", "data = ?", *(f"{c} = ?" for c in self._t.written)]
        values = [self._version(record), self._t.encode(record), *self._t.column_values(record)]
        cursor = self._conn.execute(
            f"UPDATE {self._t.name} SET {', '.join(sets)} "  # noqa: S608
            f"WHERE {self._t.key} = ? AND version = ?",
            [*values, getattr(record, self._t.key), expected_version],
        )
        if cursor.rowcount != 1:
            raise VersionConflict(
                f"{self._t.entity} {getattr(record, self._t.key)!r} is no longer at version "
                f"{expected_version}"
            )
        search_index.reindex(self._conn, self._t.entity, record)

    def find(self, filters: Filters, page: PageRequest) -> Page[T]:
        where, params = self._where(filters)
        order = self._t.order
        beyond, direction = ("<", " DESC") if page.descending else (">", "")
        if page.cursor:
            after = decode_cursor(page.cursor, len(order))
            where.append(f"({', '.join(order)}) {beyond} ({', '.join('?' * len(order))})")
            params += after
        sql = f"SELECT data, version, {', '.join(order)} FROM {self._t.name}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {', '.join(c + direction for c in order)} LIMIT ?"
        rows = self._conn.execute(sql, [*params, page.limit + 1]).fetchall()
        items = [self._load(row) for row in rows[: page.limit]]
        next_cursor = None
        if len(rows) > page.limit:
            next_cursor = encode_cursor(rows[page.limit - 1][2 : 2 + len(order)])
        return Page(items, next_cursor)

    def count(self, filters: Filters) -> int:
        where, params = self._where(filters)
        sql = f"SELECT COUNT(*) FROM {self._t.name}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        return int(self._conn.execute(sql, params).fetchone()[0])

    def cursor_after(self, record: T) -> str:
        return encode_cursor(self._t.order_values(record))

    def _where(self, filters: Filters) -> tuple[list[str], list[Any]]:
        """The WHERE terms and parameters of `filters` (equality, then the order range)."""
        active = filters.active()
        unknown = set(active) - set(self._t.columns) - {self._t.key}
        if unknown:
            raise ValueError(f"{self._t.entity} has no index for {sorted(unknown)}")
        where = [f"{column} = ?" for column in active]
        params: list[Any] = list(active.values())
        first = self._t.order[0]
        if (filters.since is not None or filters.through is not None) and first == self._t.key:
            raise ValueError(f"{self._t.entity} has no order range")
        if filters.since is not None:
            where.append(f"{first} >= ?")
            params.append(filters.since)
        if filters.through is not None:
            where.append(f"{first} <= ?")
            params.append(filters.through)
        return where, params

    def _load(self, row: Sequence[Any]) -> T:
        record: T = self._t.decode(row[0])
        if self._t.versioned:
            record.version = row[1]  # type: ignore[attr-defined]
        return record

    def _version(self, record: T) -> int:
        return int(getattr(record, "version", 1))


class SqliteUnitOfWork(Repositories):
    def __init__(self, store: SqliteStore, write: bool) -> None:
        self._store = store
        self._write = write
        self._conn: sqlite3.Connection | None = None
        self._committed = False

    @property
    def store(self) -> SqliteStore:
        return self._store

    def __enter__(self) -> SqliteUnitOfWork:
        conn = self._store._acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
        except sqlite3.Error as exc:
            self._store._release(conn)
            raise StorageUnavailable(f"SQLite store is unavailable: {exc}") from exc
        self._conn = conn
        open_repositories(self, lambda entity: SqliteRepository(conn, TABLES[entity]))
        return self

    def guard(self, entity: str, record_id: str, version: int) -> None:
        table = TABLES[entity]
        row = (
            self._connection()
            .execute(
                f"SELECT version FROM {table.name} WHERE {table.key} = ?",  # noqa: S608
                (record_id,),
            )
            .fetchone()
        )
        if row is None or row[0] != version:
            raise VersionConflict(f"{entity} {record_id!r} changed while this request ran")

    def commit(self) -> None:
        self._connection().execute("COMMIT")
        self._committed = True

    def add_encoded(self, encoded: EncodedRecords) -> None:
        """The rows (`SqliteStore.encode`) in one statement, their search words in two:
        what `add` writes, record by record."""
        table = TABLES[encoded.entity]
        conn = self._connection()
        rows = encoded.rows
        if not rows:
            return
        columns = [table.key, "version", "data", *table.written]
        marks = ",".join("?" * len(columns))
        try:
            conn.executemany(
                f"INSERT INTO {table.name} ({','.join(columns)}) VALUES ({marks})",  # noqa: S608
                [row[:-1] for row in rows],
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{table.entity} record already exists") from exc
        if encoded.entity in SEARCHED_ENTITIES:
            search_index.index_new(conn, encoded.entity, [(row[0], row[-1]) for row in rows])

    @contextmanager
    def bulk_insert(self, entity: str, *, rebuild_indexes: bool) -> Iterator[None]:
        """A bigger page cache while the block inserts (`_BULK_CACHE_KIB`: the pages of
        the table and of its indexes being appended to stay in memory). With
        `rebuild_indexes`, the table of `entity` must be empty; its secondary indexes
        are dropped (each insert then only appends to the table, in key order for an
        export) and, on a normal exit, created again from their own `CREATE INDEX`
        text, one sort of the table each. All in this unit's transaction: a rollback
        restores the indexes."""
        table = TABLES[entity]
        conn = self._connection()
        if not self._write:
            raise RuntimeError("bulk_insert needs a write unit of work")
        indexes = []
        if rebuild_indexes:
            if conn.execute(f"SELECT 1 FROM {table.name} LIMIT 1").fetchone():  # noqa: S608
                raise Conflict(f"{entity} records exist: its indexes cannot be rebuilt")
            indexes = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL ORDER BY rowid",  # (NULL: the primary key's own index)
                (table.name,),
            ).fetchall()
        cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
        try:
            for name, _ in indexes:
                conn.execute(f"DROP INDEX {name}")
            yield
            conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
            for _, sql in indexes:
                conn.execute(sql)
        finally:
            conn.execute(f"PRAGMA cache_size = {int(cache)}")

    def search(
        self, words: Sequence[str], kinds: Sequence[str], page: PageRequest
    ) -> Page[SearchHit]:
        after = decode_cursor(page.cursor, 2) if page.cursor else None
        if after is not None and after[0] not in KINDS:
            raise ValidationFailed.one("cursor", "is not a valid cursor")
        hits, more = search_index.search(self._connection(), words, kinds, page, after)
        cursor = encode_cursor([hits[-1].kind, hits[-1].id]) if more and hits else None
        return Page(hits, cursor)

    def purge_expired(self, entity: str, before: str, limit: int) -> int:
        table = TABLES[entity]
        if table.expires is None:
            raise ValueError(f"{entity} records do not expire")
        if not self._write:
            raise RuntimeError("purge_expired needs a write unit of work")
        name, column = table.name, table.expires
        cursor = self._connection().execute(
            f"DELETE FROM {name} WHERE id IN (SELECT id FROM {name} "  # noqa: S608
            f"WHERE {column} < ? ORDER BY {column}, id LIMIT ?)",
            (before, max(limit, 0)),
        )
        return cursor.rowcount

    def stored(self, entity: str, batch_size: int = MAX_PAGE_SIZE) -> StoredRecords:
        table = TABLES[entity]
        # Primary-key order: the walk of the key's own index, no sort, no second pass.
        cursor = self._connection().execute(
            f"SELECT {_stored_columns(table)} FROM {table.name} "  # noqa: S608
            f"ORDER BY {table.key}"
        )
        return StoredRecords(_batches(cursor, max(batch_size, 1)), key_ordered=True)

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]:
        table = TABLES[entity]
        unique = list(dict.fromkeys(keys))
        rows: list[StoredRow] = []
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            rows += self._connection().execute(
                f"SELECT {_stored_columns(table)} FROM {table.name} "  # noqa: S608
                f"WHERE {table.key} IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        return rows

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._connection()
        try:
            if not self._committed:
                conn.execute("ROLLBACK")
        finally:
            self._conn = None
            self._store._release(conn)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work is not open")
        return self._conn


def _stored_columns(table: Table) -> str:
    """(key, data, version) of a `StoredRow`: the data as its UTF-8 bytes (no str is
    built), the version NULL for unversioned tables, whose version column is not the
    record's."""
    return f"{table.key}, CAST(data AS BLOB), {'version' if table.versioned else 'NULL'}"


def _batches(cursor: sqlite3.Cursor, size: int) -> Iterator[list[StoredRow]]:
    while rows := cursor.fetchmany(size):
        yield rows


class SqliteStore:
    """Metadata in one SQLite file: WAL, serialised writers, a pooled connection per thread."""

    name = "sqlite"
    atomic_write_limit: int | None = None
    snapshot_reads = True

    def __init__(self, path: Path) -> None:
        self.path = path
        # Password hashes live here (and in the WAL until a checkpoint): owner-only. SQLite
        # gives the -wal, -shm and -journal files the database file's mode.
        try:
            private_dir(path.parent)
            private_file(path, *SIDE_FILES)
        except OSError as exc:
            raise StorageUnavailable(f"cannot open SQLite store {path}: {exc}") from exc
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._rollback_journal = False
        """Connections write with a rollback journal (`bulk_writes`), not WAL."""
        self._migrate()

    def unit_of_work(self, *, write: bool = False) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, write)  # type: ignore[abstract]  # (`open_repositories`)

    def is_empty(self) -> bool:
        conn = self._acquire()
        try:
            for table in ("templates", "bundles", "tasks", "files", "artifacts"):
                if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():  # noqa: S608
                    return False
            return True
        finally:
            self._release(conn)

    def encode(
        self, entity: str, records: Sequence[Any], data: Sequence[str | None] | None = None
    ) -> EncodedRecords:
        """Per record (key, version, data, the table's columns, its search words). `data`:
        a record's JSON where the caller has it, exactly `Table.encode`'s (the import's
        compiled codec, `domain.structs`, whose records have the entity's attributes)."""
        table = TABLES[entity]
        searched = entity in SEARCHED_ENTITIES
        texts = data if data is not None else [None] * len(records)
        rows = [
            (
                getattr(record, table.key),
                int(getattr(record, "version", 1)),
                table.encode(record) if text is None else text,
                *table.column_values(record),
                search_index.words_text(entity, record) if searched else None,
            )
            for record, text in zip(records, texts, strict=True)
        ]
        return EncodedRecords(entity, rows)

    @contextmanager
    def bulk_writes(self) -> Iterator[int | None]:
        """A block of bulk inserts (the import), by the calling thread alone; yields the
        most records a unit of work should insert (None: any number).

        While no other connection has the file open, this store's connections write with
        a rollback journal instead of WAL. Rows added to a table then go once into the
        file, and the journal holds only the few pages that existed before (WAL writes
        every page twice: to the log, then to the file when a commit checkpoints), so a
        unit may hold a whole entity, its indexes built once after its rows. Another
        connection open (a running server) keeps WAL, and units of at most
        `WAL_BULK_UNIT` records: one unit's WAL would grow to the size of the entity.
        WAL comes back when the block ends (or, if the file is busy then, with the next
        connection)."""
        self.close()
        self._rollback_journal = True
        try:
            conn = self._acquire()
        except StorageUnavailable:  # another connection holds the file: WAL stays
            self._rollback_journal = False
            yield WAL_BULK_UNIT
            return
        self._release(conn)
        try:
            yield None
        finally:
            self.close()
            self._rollback_journal = False
            with contextlib.suppress(StorageUnavailable):  # (else the next connection)
                self._release(self._acquire())  # (a connection sets WAL)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._pool = queue.LifoQueue()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        # A new file's pages (a no-op once the file has any): see `PAGE_SIZE`.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        try:
            if self._rollback_journal:  # (`bulk_writes`; "database is locked" at once
                conn.execute("PRAGMA journal_mode = DELETE")  # if another has it open)
            else:
                _switch_to_wal(conn)
        except sqlite3.Error:
            conn.close()
            raise
        # FULL: a commit is on disk before it returns, so a session, an audit event or any
        # other write survives a power loss (NORMAL in WAL mode may lose the last
        # commits). It costs ~0.25 ms per commit here (bench/bench_sqlite_synchronous.py).
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
            with self._lock:
                self._all.append(conn)
            return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        self._pool.put(conn)

    def _migrate(self) -> None:
        conn = self._acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                if callable(script):
                    script(conn)
                else:
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._release(conn)


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, retried while another connection holds the file: on a
    new file, first opens racing to switch it answer "database is locked" at once (SQLite
    does not call the busy handler there; seen once in ~100 rounds of four racing opens)."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
