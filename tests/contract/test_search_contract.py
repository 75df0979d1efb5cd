"""Search (`UnitOfWork.search`, CONTRACT §9) on every backend: the same queries give the
same hits on SQLite (FTS5) and DynamoDB (word items, moto), equal to a brute-force
reference over `domain.search.record_words`, page by page; the index follows each write
in its own transaction, and records stored before the index existed are found."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops.domain.errors import ValidationFailed
from dataops.domain.models import Artifact, Bundle, BundleLink, Task
from dataops.domain.search import (
    KIND_OF_ENTITY,
    KINDS,
    MAX_RECORD_WORDS,
    query_words,
    record_words,
)
from dataops.store.dynamodb import DynamoStore
from dataops.store.dynamodb.tables import SEARCH_INDEX
from dataops.store.port import MetadataStore, PageRequest, SearchHit
from dataops.store.sqlite import SqliteStore
from tests.contract import records as r
from tests.contract.dynamo import drop_tables, dynamo_store
from tests.contract.test_store_contract import BACKENDS

VOCABULARY = [
    "Ada",
    "Lovelace",
    "guest",
    "prep",
    "transcript",
    "Café",
    "CAFE",
    "naïve",
    "東京",
    "Straße",
    "e-mail",
    "ep42",
    "2026",
]
HOSTS = ["https://docs.google.com/d/1", "https://www.dropbox.com/x", "s3://media-bucket/a"]
QUERIES = [
    "ada",
    "ADA lovelace",
    "guest prep",
    "café",
    "cafe",
    "東京",
    "strasse",
    "e-mail",
    "mail",
    "google",
    "docs.google.com",
    "dropbox ada",
    "media-bucket",
    "ep42 2026",
    "word45",
    "word3",
    "nothing-here",
    "contract",
]


@pytest.fixture(params=list(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    backend = BACKENDS[request.param](request, tmp_path)
    yield backend
    if isinstance(backend, DynamoStore):
        drop_tables(backend)
    backend.close()


@pytest.fixture
def both(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[MetadataStore, MetadataStore]]:
    sqlite = SqliteStore(tmp_path / "search.db")
    dynamo = dynamo_store(request.getfixturevalue("dynamodb_endpoint"), tmp_path)
    yield sqlite, dynamo
    drop_tables(dynamo)
    dynamo.close()
    sqlite.close()


def _text(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(count))


def _dataset() -> list[tuple[str, Any]]:
    rng = random.Random(19)
    out: list[tuple[str, Any]] = []
    for i in range(14):
        artifact = r.artifact(
            f"art_{rng.randrange(10**6):06d}_{i:02d}",
            title=_text(rng, 3),
            storage_uri=rng.choice(HOSTS),
        )
        artifact.description = _text(rng, 4) if i % 2 else None
        out.append(("artifacts", artifact))
        task = r.task(f"tsk_{rng.randrange(10**6):06d}_{i:02d}")
        task.description = _text(rng, 4)
        task.link = rng.choice([*HOSTS, None])
        task.tags = [rng.choice(VOCABULARY)]
        out.append(("tasks", task))
        bundle = r.bundle(f"bun_{rng.randrange(10**6):06d}_{i:02d}")
        bundle.title = _text(rng, 2)
        bundle.bundle_links = [BundleLink("Doc", rng.choice(HOSTS))]
        out.append(("bundles", bundle))
    # Beyond the words a record is indexed by: word45 is past the cap, word3 within it.
    long = r.artifact("art_999999_long", title="Long description")
    long.description = " ".join(f"word{n}" for n in range(60))
    out.append(("artifacts", long))
    rng.shuffle(out)
    return out


def _seed(store: MetadataStore, records: list[tuple[str, Any]]) -> None:
    for start in range(0, len(records), 10):
        with store.unit_of_work(write=True) as uow:
            for entity, record in records[start : start + 10]:
                getattr(uow, entity).add(record)
            uow.commit()


def _update(store: MetadataStore, entity: str, record: Any, **changes: Any) -> Any:
    updated = dataclasses.replace(record, **changes, version=record.version + 1)
    with store.unit_of_work(write=True) as uow:
        getattr(uow, entity).update(updated, record.version)
        uow.commit()
    return updated


def _hits(store: MetadataStore, q: str, kinds: list[str], limit: int) -> list[SearchHit]:
    found: list[SearchHit] = []
    cursor = None
    for _ in range(100):
        with store.unit_of_work() as uow:
            page = uow.search(query_words(q), kinds, PageRequest(limit=limit, cursor=cursor))
        assert len(page.items) <= limit
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("paging did not end")


def _expected(records: dict[tuple[str, str], Any], q: str, kinds: list[str]) -> list[SearchHit]:
    wanted = set(query_words(q))
    hits = [
        SearchHit(KIND_OF_ENTITY[entity], record_id)
        for (entity, record_id), record in records.items()
        if KIND_OF_ENTITY[entity] in kinds and wanted <= set(record_words(entity, record))
    ]
    hits.sort(key=lambda hit: hit.id, reverse=True)
    hits.sort(key=lambda hit: KINDS.index(hit.kind))
    return hits


def test_both_stores_give_the_same_hits_as_the_reference_page_by_page(
    both: tuple[MetadataStore, MetadataStore],
) -> None:
    records = _dataset()
    current = {(entity, record.id): record for entity, record in records}
    for store in both:
        _seed(store, records)
    # Updates: new words in, old words out; a change that keeps the words.
    changes = [
        ("artifacts", {"title": "Straße transcript", "tags": ["ep42"]}),
        ("tasks", {"description": "guest CAFE 2026"}),
        ("bundles", {"title": "Lovelace ep42"}),
        ("artifacts", {"description": None}),
    ]
    for entity, change in changes:
        key = next(k for k in current if k[0] == entity)
        for store in both:
            updated = _update(store, entity, current[key], **change)
        current[key] = updated
    for q in QUERIES:
        for kinds in (list(KINDS), ["task"], ["artifact", "bundle"]):
            expected = _expected(current, q, kinds)
            for limit in (1, 3, 50):
                got = [_hits(store, q, kinds, limit) for store in both]
                assert got[0] == expected, (q, kinds, limit, "sqlite")
                assert got[1] == expected, (q, kinds, limit, "dynamodb")
    assert _expected(current, "ada", list(KINDS))  # the data set holds hits
    assert _expected(current, "word3", ["artifact"])
    assert not _expected(current, "word45", ["artifact"])  # beyond MAX_RECORD_WORDS
    assert MAX_RECORD_WORDS < 47


def test_a_record_is_found_by_its_new_words_only(store: MetadataStore) -> None:
    task = r.task("tsk_1")
    task.description = "Book the guest"
    _seed(store, [("tasks", task)])
    assert _hits(store, "guest", ["task"], 10) == [SearchHit("task", "tsk_1")]
    task = _update(store, "tasks", task, description="Edit the transcript")
    assert _hits(store, "guest", ["task"], 10) == []
    assert _hits(store, "transcript", list(KINDS), 10) == [SearchHit("task", "tsk_1")]
    _update(store, "tasks", task, comment="no change of words")
    assert _hits(store, "edit transcript", ["task"], 10) == [SearchHit("task", "tsk_1")]


def test_a_unit_left_without_commit_leaves_the_index_alone(store: MetadataStore) -> None:
    bundle = r.bundle("bun_1")
    _seed(store, [("bundles", bundle)])
    with store.unit_of_work(write=True) as uow:
        uow.bundles.add(r.bundle("bun_2"))
        uow.bundles.update(
            dataclasses.replace(bundle, title="Renamed", version=bundle.version + 1),
            bundle.version,
        )
    assert _hits(store, "bundle", ["bundle"], 10) == [SearchHit("bundle", "bun_1")]
    assert _hits(store, "renamed", list(KINDS), 10) == []


def test_a_malformed_cursor_is_a_validation_failure(store: MetadataStore) -> None:
    for cursor in ("not-a-cursor", "WyJ4Il0", "WyJub3BlIiwiaWQiXQ"):  # ["x"], ["nope","id"]
        with store.unit_of_work() as uow, pytest.raises(ValidationFailed):
            uow.search(["ada"], list(KINDS), PageRequest(limit=5, cursor=cursor))


def _searchable() -> list[tuple[str, Any]]:
    artifact: Artifact = r.artifact("art_old", title="Old transcript")
    task: Task = r.task("tsk_old")
    task.description = "Old guest booking"
    bundle: Bundle = r.bundle("bun_old")
    bundle.title = "Old episode"
    return [("artifacts", artifact), ("tasks", task), ("bundles", bundle)]


def test_sqlite_indexes_the_records_stored_before_search_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    _seed(store, _searchable())
    store.close()
    conn = sqlite3.connect(path)  # back to the schema before migration 15 (and 17-19)
    conn.executescript(
        "DROP TABLE search_words; DROP TABLE search_refs; DROP INDEX tasks_open;"
        " DROP INDEX artifacts_valid_until_status;"
        " CREATE INDEX artifacts_valid_until ON artifacts (valid_until, id)"
        "  WHERE valid_until IS NOT NULL;"
        " DROP INDEX tasks_blocked; ALTER TABLE tasks DROP COLUMN blocked_key;"
        " PRAGMA user_version = 14;"
    )
    conn.close()
    store = SqliteStore(path)
    try:
        assert _hits(store, "old", list(KINDS), 10) == [
            SearchHit("artifact", "art_old"),
            SearchHit("bundle", "bun_old"),
            SearchHit("task", "tsk_old"),
        ]
    finally:
        store.close()


def test_dynamodb_indexes_the_records_stored_before_search_existed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = dynamo_store(request.getfixturevalue("dynamodb_endpoint"), tmp_path)
    try:
        _seed(store, _searchable())
        for entity in ("artifacts", "tasks", "bundles"):  # as before the index existed
            table = store.tables[entity]
            keys = store.client.query(
                TableName=table,
                IndexName=SEARCH_INDEX,
                KeyConditionExpression="searchWord = :w",
                ExpressionAttributeValues={":w": {"S": "old"}},
            )["Items"]
            for item in keys:
                store.client.delete_item(TableName=table, Key={"id": item["id"]})
            store.client.update_table(
                TableName=table,
                GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": SEARCH_INDEX}}],
            )
        store.ensure_tables()
        assert _hits(store, "old", list(KINDS), 10) == [
            SearchHit("artifact", "art_old"),
            SearchHit("bundle", "bun_old"),
            SearchHit("task", "tsk_old"),
        ]
    finally:
        drop_tables(store)
        store.close()
