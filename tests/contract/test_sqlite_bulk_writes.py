"""`SqliteStore.bulk_writes` (the import's bulk writes): a rollback journal while nothing
else has the file open, WAL again after; WAL and bounded units while another connection
has it open. New files are made in pages of `PAGE_SIZE`; older files keep theirs."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from dataops.store.port import Filters, PageRequest
from dataops.store.sqlite import SqliteStore
from dataops.store.sqlite.store import PAGE_SIZE, WAL_BULK_UNIT
from tests.contract import records as r


def _pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def _journal(store: SqliteStore) -> str:
    with store.unit_of_work() as uow:
        mode: str = uow._connection().execute("PRAGMA journal_mode").fetchone()[0]
    return mode


def test_alone_the_bulk_writes_use_a_rollback_journal_then_wal(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert _journal(store) == "wal"
    tasks = [r.task(f"tsk_{n}", date=f"2025-01-{n + 1:02d}") for n in range(3)]
    with store.bulk_writes() as unit:
        assert unit is None  # a whole entity per unit
        assert _journal(store) == "delete"
        with store.unit_of_work(write=True) as uow:
            with uow.bulk_insert("tasks", rebuild_indexes=True):
                uow.add_encoded(store.encode("tasks", tasks))
            uow.commit()
    assert _journal(store) == "wal"
    store.close()
    assert _pragma(tmp_path / "s.db", "journal_mode") == "wal"
    again = SqliteStore(tmp_path / "s.db")
    with again.unit_of_work() as uow:
        found = uow.tasks.find(Filters(), PageRequest(limit=10)).items
    assert [t.id for t in found] == [t.id for t in tasks]
    again.close()


def test_another_connection_open_keeps_wal_and_bounded_units(tmp_path: Path) -> None:
    """A running server holds the file: its journal is not switched under it."""
    store = SqliteStore(tmp_path / "s.db")
    other = sqlite3.connect(tmp_path / "s.db")
    other.execute("SELECT count(*) FROM tasks").fetchone()  # (opens the WAL index)
    try:
        with store.bulk_writes() as unit:
            assert unit == WAL_BULK_UNIT
            assert _journal(store) == "wal"
            with store.unit_of_work(write=True) as uow:
                uow.tasks.add(r.task("tsk_1"))
                uow.commit()
        assert other.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1
    finally:
        other.close()
        store.close()


def test_a_failed_bulk_unit_in_a_rollback_journal_leaves_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    tasks = [r.task(f"tsk_{n}", date=f"2025-01-{n + 1:02d}") for n in range(3)]
    with (
        store.bulk_writes(),
        contextlib.suppress(RuntimeError),
        store.unit_of_work(write=True) as uow,
        uow.bulk_insert("tasks", rebuild_indexes=True),
    ):
        uow.add_encoded(store.encode("tasks", tasks))
        raise RuntimeError("stop")
    assert not (tmp_path / "s.db-journal").exists()
    with store.unit_of_work() as uow:
        assert uow.tasks.find(Filters(), PageRequest(limit=10)).items == []
    store.close()


def test_new_files_have_the_page_size_and_old_files_keep_theirs(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "new.db").close()
    assert _pragma(tmp_path / "new.db", "page_size") == PAGE_SIZE
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE kept (x)")
    old.close()
    store = SqliteStore(tmp_path / "old.db")
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1"))
        uow.commit()
    store.close()
    assert _pragma(tmp_path / "old.db", "page_size") == 4096


@pytest.mark.parametrize("size", [4096, PAGE_SIZE])
def test_an_import_into_either_page_size_stores_the_same_rows(tmp_path: Path, size: int) -> None:
    path = tmp_path / f"{size}.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size = {size}")
    conn.execute("VACUUM")
    conn.close()
    store = SqliteStore(path)
    tasks = [r.task(f"tsk_{n}", date=f"2025-02-{n + 1:02d}") for n in range(20)]
    with store.bulk_writes(), store.unit_of_work(write=True) as uow:
        with uow.bulk_insert("tasks", rebuild_indexes=True):
            uow.add_encoded(store.encode("tasks", tasks))
        uow.commit()
    with store.unit_of_work() as uow:
        found = uow.tasks.find(Filters({"status": "todo"}), PageRequest(limit=50)).items
    assert [t.id for t in found] == [t.id for t in tasks]
    store.close()
    assert _pragma(path, "page_size") == size
