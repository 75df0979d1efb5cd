"""SQLite backend specifics: every query the engine can make goes through an index
(checked with EXPLAIN QUERY PLAN on the SQL the repository really issues), and schema
migrations are numbered and applied once."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactStatus, ArtifactType, Role, TaskStatus
from dataops.domain.errors import VersionConflict
from dataops.domain.search import KINDS
from dataops.services.evidence import StoreEvidence
from dataops.services.mywork import WorkList, work_list
from dataops.store.cursor import encode_cursor
from dataops.store.port import EXPIRING, Filters, PageRequest
from dataops.store.sqlite import SqliteStore
from dataops.store.sqlite import search as search_index
from dataops.store.sqlite.migrations import MIGRATIONS
from dataops.store.sqlite.store import SqliteUnitOfWork
from dataops.store.sqlite.tables import TABLES
from tests.contract import records as r

_SCAN = re.compile(r"^SCAN (\w+)")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    sqlite_store = SqliteStore(tmp_path_factory.mktemp("plans") / "plans.db")
    yield sqlite_store
    sqlite_store.close()


def issued_plans(
    store: SqliteStore, call: Callable[[SqliteUnitOfWork], Any]
) -> list[tuple[str, list[str]]]:
    """Run `call` in a unit of work and return each SELECT it issued with its query plan."""
    statements: list[str] = []
    with store.unit_of_work() as uow:
        conn = uow._connection()
        conn.set_trace_callback(statements.append)
        try:
            call(uow)
        finally:
            conn.set_trace_callback(None)
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert selects, "the call issued no query"
        return [
            (sql, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()])
            for sql in selects
        ]


def full_scans(plan: list[str]) -> list[str]:
    """Plan rows that read a whole table (or build a throw-away index by doing so)."""
    return [
        row
        for row in plan
        if "AUTOMATIC" in row
        or (_SCAN.match(row) and "USING INDEX" not in row and "USING COVERING INDEX" not in row)
    ]


def _cursor_for(entity: str) -> str:
    return encode_cursor(["m"] * len(TABLES[entity].order))


_CASES = [
    (entity, columns, with_cursor)
    for entity, combos in r.ENGINE_FILTERS.items()
    for columns in combos
    for with_cursor in (False, True)
]


@pytest.mark.parametrize(
    ("entity", "columns", "with_cursor"),
    _CASES,
    ids=[f"{e}-{'+'.join(c) or 'all'}{'-next' if n else ''}" for e, c, n in _CASES],
)
def test_every_engine_filter_uses_an_index(
    store: SqliteStore, entity: str, columns: tuple[str, ...], with_cursor: bool
) -> None:
    filters = Filters({c: "value" for c in columns})
    page = PageRequest(limit=50, cursor=_cursor_for(entity) if with_cursor else None)
    plans = issued_plans(store, lambda uow: getattr(uow, entity).find(filters, page))
    for sql, plan in plans:
        assert not full_scans(plan), f"full scan for {sql}: {plan}"
        if columns:
            # A filtered list must seek into an index, not walk all of one.
            assert any(row.startswith(f"SEARCH {TABLES[entity].name} ") for row in plan), (
                f"no index search for {sql}: {plan}"
            )


@pytest.mark.parametrize("with_cursor", [False, True])
@pytest.mark.parametrize("unread", [False, True])
def test_the_inbox_seeks_its_index_newest_first_without_sorting(
    store: SqliteStore, unread: bool, with_cursor: bool
) -> None:
    """`GET /api/notifications[?unread=true]`: the user's (unread) notifications walked
    backwards along their index, no sort of the user's whole inbox per page."""
    filters = Filters({"user_id": "usr_1", "unread_key": "true" if unread else None})
    cursor = _cursor_for("notifications") if with_cursor else None
    page = PageRequest(limit=50, cursor=cursor, descending=True)
    index = "notifications_unread" if unread else "notifications_user"
    for sql, plan in issued_plans(store, lambda uow: uow.notifications.find(filters, page)):
        assert not full_scans(plan), f"full scan for {sql}: {plan}"
        assert any(index in row for row in plan), f"{index} not used: {sql} -> {plan}"
        assert not any("TEMP B-TREE" in row for row in plan), f"sorted: {sql} -> {plan}"


_PROOF_LOOKUPS: dict[str, tuple[Callable[[StoreEvidence], Any], str | None]] = {
    "file-of-task": (lambda ev: ev.first_file_id("tsk_1"), "task_id=?"),
    "approved-artifact-of-task": (
        lambda ev: ev.approved_artifacts(
            task_id="tsk_1", bundle_id=None, artifact_type=None, limit=50
        ),
        "task_id=?",
    ),
    "approved-typed-artifact-of-task": (
        lambda ev: ev.approved_artifacts(
            task_id="tsk_1", bundle_id=None, artifact_type=ArtifactType.REPORT, limit=50
        ),
        "task_id=?",
    ),
    "approved-artifact-of-bundle": (
        lambda ev: ev.approved_artifacts(
            task_id=None, bundle_id="bun_1", artifact_type=None, limit=50
        ),
        "bundle_id=?",
    ),
    "approved-typed-artifact-of-bundle": (
        lambda ev: ev.approved_artifacts(
            task_id=None, bundle_id="bun_1", artifact_type=ArtifactType.TRANSCRIPT, limit=50
        ),
        "bundle_id=?",
    ),
    "referenced-artifacts": (lambda ev: ev.artifacts_by_id(["art_1", "art_2", "art_3"]), "id"),
}


@pytest.mark.parametrize("lookup", list(_PROOF_LOOKUPS))
def test_proof_lookups_use_an_index(store: SqliteStore, lookup: str) -> None:
    call, _ = _PROOF_LOOKUPS[lookup]
    for sql, plan in issued_plans(store, lambda uow: call(StoreEvidence(uow))):
        assert not full_scans(plan), f"full scan for {sql}: {plan}"


@pytest.mark.parametrize("lookup", list(_PROOF_LOOKUPS))
def test_proof_lookups_seek_by_the_task_or_bundle(store: SqliteStore, lookup: str) -> None:
    """The proof gate runs on every completion and every proof view: its lookups must seek
    on the task (or bundle) key, not walk every approved artifact of the workspace."""
    call, key = _PROOF_LOOKUPS[lookup]
    for sql, plan in issued_plans(store, lambda uow: call(StoreEvidence(uow))):
        assert any(row.startswith("SEARCH") and f"({key}" in row for row in plan), (
            f"{lookup} does not seek on {key}: {sql} -> {plan}"
        )


def test_record_reads_and_guard_use_the_primary_key(store: SqliteStore) -> None:
    def reads(uow: SqliteUnitOfWork) -> None:
        uow.tasks.get("tsk_1")
        uow.bundles.get("bun_1")
        uow.artifacts.get_many(["art_1", "art_2"])
        uow.credentials.get("usr_1")
        with contextlib.suppress(VersionConflict):  # no such record; only the plan matters
            uow.guard("artifacts", "art_1", 1)

    for sql, plan in issued_plans(store, reads):
        assert not full_scans(plan), f"full scan for {sql}: {plan}"
        assert any(row.startswith("SEARCH") for row in plan), f"{sql}: {plan}"


@pytest.mark.parametrize("entity", EXPIRING)
def test_purging_expired_records_seeks_by_expiry(store: SqliteStore, entity: str) -> None:
    statements: list[str] = []
    with store.unit_of_work(write=True) as uow:
        conn = uow._connection()
        conn.set_trace_callback(statements.append)
        try:
            uow.purge_expired(entity, "2025-06-01T00:00:00.000Z", 20)
        finally:
            conn.set_trace_callback(None)
        (sql,) = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
    assert not full_scans(plan), f"full scan for {sql}: {plan}"
    assert any(f"{entity}_expiry" in row for row in plan), plan


# --- migrations -------------------------------------------------------------------------


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_migrations_are_numbered_and_recorded(tmp_path: Path) -> None:
    assert MIGRATIONS, "at least one migration"
    assert all(callable(step) or step.strip() for step in MIGRATIONS)
    path = tmp_path / "fresh.db"
    SqliteStore(path).close()
    assert user_version(path) == len(MIGRATIONS)
    assert {t.name for t in TABLES.values()} <= tables(path)


def test_reopening_does_not_rerun_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "existing.db"
    first = SqliteStore(path)
    with first.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_kept"))
        uow.commit()
    first.close()
    # A new release adds step N+1; it must run once, on top of the existing data.
    probe = "CREATE TABLE probe (n INTEGER); INSERT INTO probe VALUES (1)"
    monkeypatch.setattr("dataops.store.sqlite.store.MIGRATIONS", [*MIGRATIONS, probe])
    for _ in range(3):
        reopened = SqliteStore(path)
        with reopened.unit_of_work() as uow:
            assert uow.tasks.get("tsk_kept") is not None
        reopened.close()
        assert user_version(path) == len(MIGRATIONS) + 1
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM probe").fetchone()[0] == 1


def test_a_failing_migration_leaves_the_schema_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "existing.db"
    SqliteStore(path).close()
    broken = "CREATE TABLE probe (n INTEGER); INSERT INTO no_such_table VALUES (1)"
    monkeypatch.setattr("dataops.store.sqlite.store.MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(sqlite3.Error):
        SqliteStore(path)
    assert user_version(path) == len(MIGRATIONS)
    assert "probe" not in tables(path)


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    opened: list[SqliteStore] = []

    def open_store() -> None:
        try:
            start.wait()
            opened.append(SqliteStore(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in opened:
        store.close()
    assert not errors, errors
    assert user_version(path) == len(MIGRATIONS)


def test_expiry_columns_are_filled_from_the_records_already_stored(tmp_path: Path) -> None:
    """Migration 6 adds `expires_at` to sessions and idempotency records and takes it
    from each stored record, so a store made before it purges its old records too."""
    path = tmp_path / "before-6.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        for step in MIGRATIONS[:5]:
            conn.executescript(step)
        conn.execute("PRAGMA user_version = 5")
        old = "2025-01-01T00:00:00.000Z"
        session = r.session("ses_old", user_id="usr_1", expires_at=old)
        conn.execute(
            "INSERT INTO sessions (id, version, data, user_id) VALUES (?, 1, ?, ?)",
            (session.id, TABLES["sessions"].encode(session), session.user_id),
        )
        claim = r.idempotency("idem_old", expires_at=old)
        conn.execute(
            "INSERT INTO idempotency (id, version, data) VALUES (?, 1, ?)",
            (claim.id, TABLES["idempotency"].encode(claim)),
        )
    conn.close()
    migrated = SqliteStore(path)
    try:
        with migrated.unit_of_work(write=True) as uow:
            counts = [
                uow.purge_expired(e, "2025-06-01T00:00:00.000Z", 10)
                for e in ("sessions", "idempotency")
            ]
            uow.commit()
        assert counts == [1, 1]
    finally:
        migrated.close()
    assert user_version(path) == len(MIGRATIONS)


def test_object_locations_are_filled_from_the_records_already_stored(tmp_path: Path) -> None:
    """Migration 8 adds the indexed `files.location` and `artifacts.storage_uri` and takes
    them from each stored record (a legacy storagePath as its local-dev:// URI), so the
    blob sweeper sees the references a store made before it holds."""
    path = tmp_path / "before-8.db"
    records = {
        "files": [
            r.file_record("fil_uri", storage_uri="local-dev://files/a"),
            r.file_record("fil_legacy", storage_path="\\files\\b"),
        ],
        "artifacts": [r.artifact("art_1", storage_uri="local-dev://files/c")],
    }
    with sqlite3.connect(path, isolation_level=None) as conn:
        for step in MIGRATIONS[:7]:
            conn.executescript(step)
        conn.execute("PRAGMA user_version = 7")
        for entity, rows in records.items():
            table = TABLES[entity]
            later = (
                *("location", "storage_uri", "valid_until", "withdrawn_key", "proof_expires_on"),
                *("open_key", "completed_by", "created_by", "blocked_key"),
            )
            before = [c for c in table.written if c not in later]
            marks = ", ".join("?" * (len(before) + 3))
            for record in rows:
                values = dict(zip(table.written, table.column_values(record), strict=True))
                conn.execute(
                    f"INSERT INTO {entity} (id, version, data, {', '.join(before)}) "  # noqa: S608
                    f"VALUES ({marks})",
                    [record.id, 1, table.encode(record), *(values[c] for c in before)],
                )
    conn.close()
    migrated = SqliteStore(path)
    try:
        with migrated.unit_of_work() as uow:
            found = {
                uri: [f.id for f in uow.files.find(Filters({"location": uri}), PageRequest()).items]
                for uri in ("local-dev://files/a", "local-dev://files/b")
            }
            artifacts = uow.artifacts.find(
                Filters({"storage_uri": "local-dev://files/c"}), PageRequest()
            )
        assert found == {"local-dev://files/a": ["fil_uri"], "local-dev://files/b": ["fil_legacy"]}
        assert [a.id for a in artifacts.items] == ["art_1"]
        assert records["files"][1].location == "local-dev://files/b"
    finally:
        migrated.close()


# --- my work ---------------------------------------------------------------------------

_MY_WORK_INDEX = {
    WorkList.DUE: "tasks_assignee_open",
    WorkList.REVIEWS: "artifacts_status",
    WorkList.REJECTED: "artifacts_creator_status",
    WorkList.WITHDRAWN: "tasks_completer_withdrawn",
}


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first", "next"])
@pytest.mark.parametrize("which", list(WorkList), ids=str)
def test_my_work_lists_seek_their_own_index(
    store: SqliteStore, which: WorkList, with_cursor: bool
) -> None:
    """Each list of `GET /api/my-work` seeks into the index made for it (the reviews list:
    the status index), never a walk of all tasks or artifacts."""
    actor = Actor(id="usr_1", email="a@example.com", role=Role.OPERATOR)
    entity = "artifacts" if which in (WorkList.REVIEWS, WorkList.REJECTED) else "tasks"
    page = PageRequest(limit=50, cursor=_cursor_for(entity) if with_cursor else None)
    plans = issued_plans(store, lambda uow: work_list(uow, actor, which, page, "2025-06-01"))
    listing = [(sql, plan) for sql, plan in plans if f"FROM {entity}" in sql]
    assert listing, plans
    for sql, plan in listing:
        assert not full_scans(plan), f"full scan for {sql}: {plan}"
        assert any(
            row.startswith(f"SEARCH {entity} USING INDEX {_MY_WORK_INDEX[which]} ") for row in plan
        ), f"{which} does not seek {_MY_WORK_INDEX[which]}: {sql} -> {plan}"


def test_my_work_columns_are_filled_from_the_records_already_stored(tmp_path: Path) -> None:
    """Migration 12 adds tasks' `open_key` and `completed_by` and artifacts' `created_by`
    and takes them from each stored record, so a store made before it lists them."""
    path = tmp_path / "before-12.db"
    records = {
        "tasks": [
            r.task("tsk_open", assignee_id="usr_1", status=TaskStatus.WAITING),
            r.task("tsk_done", assignee_id="usr_1", status=TaskStatus.DONE),
            r.task(
                "tsk_withdrawn",
                status=TaskStatus.DONE,
                completed_by="usr_1",
                proof_withdrawn=True,
            ),
        ],
        "artifacts": [r.artifact("art_1", status=ArtifactStatus.REJECTED, created_by="usr_1")],
    }
    later = ("open_key", "completed_by", "created_by", "blocked_key")
    steps = 11  # the store as it was before migration 12 (my work) added those columns
    with sqlite3.connect(path, isolation_level=None) as conn:
        for step in MIGRATIONS[:steps]:
            conn.executescript(step)
        conn.execute(f"PRAGMA user_version = {steps}")
        for entity, rows in records.items():
            table = TABLES[entity]
            before = [c for c in table.written if c not in later]
            marks = ", ".join("?" * (len(before) + 3))
            for record in rows:
                values = dict(zip(table.written, table.column_values(record), strict=True))
                conn.execute(
                    f"INSERT INTO {entity} (id, version, data, {', '.join(before)}) "  # noqa: S608
                    f"VALUES ({marks})",
                    [record.id, 1, table.encode(record), *(values[c] for c in before)],
                )
    conn.close()
    migrated = SqliteStore(path)
    try:
        with migrated.unit_of_work() as uow:
            found = {
                name: [x.id for x in repo.find(Filters(filters), PageRequest()).items]
                for name, repo, filters in (
                    ("due", uow.tasks, {"assignee_id": "usr_1", "open_key": "true"}),
                    ("withdrawn", uow.tasks, {"completed_by": "usr_1", "withdrawn_key": "true"}),
                    ("rejected", uow.artifacts, {"created_by": "usr_1", "status": "rejected"}),
                )
            }
        assert found == {
            "due": ["tsk_open"],
            "withdrawn": ["tsk_withdrawn"],
            "rejected": ["art_1"],
        }
    finally:
        migrated.close()
    assert user_version(path) == len(MIGRATIONS)


@pytest.mark.parametrize("with_cursor", [False, True])
def test_search_reads_the_full_text_index_and_joins_by_key(
    store: SqliteStore, with_cursor: bool
) -> None:
    cursor = encode_cursor(["bundle", "bun_m"]) if with_cursor else None
    page = PageRequest(limit=20, cursor=cursor)
    plans = issued_plans(store, lambda uow: uow.search(["ada", "guest"], list(KINDS), page))
    for sql, plan in plans:
        if "'main'.'search_words_" in sql:
            continue  # FTS5's own read of its shadow tables (once a schema change is seen)
        # The FTS5 table answers MATCH from its own index (a virtual-table "scan" whose
        # index number says so); each hit's (kind, id) is read by its rowid.
        assert any(row.startswith("SCAN search_words VIRTUAL TABLE INDEX 0:M") for row in plan)
        assert "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
        assert not [row for row in full_scans(plan) if "VIRTUAL TABLE" not in row], sql


def test_reindexing_a_record_seeks_its_search_entry(store: SqliteStore) -> None:
    def reindex_twice(uow: SqliteUnitOfWork) -> None:
        task = r.task("tsk_reindexed")
        search_index.reindex(uow._connection(), "tasks", task)  # (rolled back with the unit)
        task.description = "Other words"
        search_index.reindex(uow._connection(), "tasks", task)

    plans = issued_plans(store, reindex_twice)
    assert len(plans) == 3
    for sql, plan in plans:
        # The FTS5 row is read by its rowid ("INDEX 0:=", no walk of the table).
        scans = [
            row for row in full_scans(plan) if row != "SCAN search_words VIRTUAL TABLE INDEX 0:="
        ]
        assert not scans, f"full scan for {sql}: {plan}"


_LANES = {
    "overdue": Filters({"open_key": "true"}, through="2025-05-31"),
    "today": Filters({"open_key": "true"}, since="2025-06-01", through="2025-06-01"),
    "soon": Filters({"open_key": "true"}, since="2025-06-02", through="2025-06-08"),
    "blocked": Filters({"blocked_key": "true"}, through="2025-06-01"),
}


@pytest.mark.parametrize("lane", list(_LANES))
@pytest.mark.parametrize("call", ["find", "find-next", "count"])
def test_task_lanes_seek_the_open_tasks_index(store: SqliteStore, lane: str, call: str) -> None:
    """Home's date lanes (`GET /api/tasks?due=`) and their counts are range reads of the
    open tasks' index (migration 17), the Blocked lane (`blocked=true`) of the blocked
    tasks' index (migration 19), never a walk of every task."""
    filters = _LANES[lane]
    index = "tasks_blocked" if lane == "blocked" else "tasks_open"
    cursor = _cursor_for("tasks") if call == "find-next" else None

    def run(uow: SqliteUnitOfWork) -> Any:
        if call == "count":
            return uow.tasks.count(filters)
        return uow.tasks.find(filters, PageRequest(limit=50, cursor=cursor))

    for sql, plan in issued_plans(store, run):
        assert not full_scans(plan), f"full scan for {sql}: {plan}"
        assert any(row.startswith("SEARCH tasks USING") and index in row for row in plan), (
            f"{lane} does not seek {index}: {sql} -> {plan}"
        )


def _schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        return rows.fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("fail", [False, True])
def test_a_bulk_insert_leaves_the_schema_of_a_new_store(tmp_path: Path, fail: bool) -> None:
    """`bulk_insert` drops a table's secondary indexes and creates them again: after it
    (committed or rolled back) every index is there, its `CREATE` text unchanged, and the
    connection's page cache is back to SQLite's default."""
    schema_of_new = _schema(_new_store(tmp_path / "new.db"))
    assert any(name == "tasks_order" for _, name, _, _ in schema_of_new)
    store = SqliteStore(tmp_path / "bulk.db")
    tasks = [r.task(f"tsk_{n}", date=f"2025-01-{n + 1:02d}") for n in range(5)]
    with contextlib.suppress(RuntimeError), store.unit_of_work(write=True) as uow:
        conn = uow._connection()
        default_cache = conn.execute("PRAGMA cache_size").fetchone()[0]
        with uow.bulk_insert("tasks", rebuild_indexes=True):
            uow.add_encoded(store.encode("tasks", tasks))
            assert conn.execute("PRAGMA cache_size").fetchone()[0] != default_cache
            assert not {n for (n,) in conn.execute(_TASK_INDEXES)}, "indexes dropped"
            if fail:
                raise RuntimeError("stop")
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == default_cache
        uow.commit()
    assert _schema(tmp_path / "bulk.db") == schema_of_new
    with store.unit_of_work() as uow:
        found = uow.tasks.find(Filters({"status": "todo"}), PageRequest(limit=10)).items
    assert [t.id for t in found] == ([] if fail else [t.id for t in tasks])
    store.close()


_TASK_INDEXES = (
    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' AND sql IS NOT NULL"
)


def _new_store(path: Path) -> Path:
    SqliteStore(path).close()
    return path
