"""DynamoDB backend specifics, on the session's moto server (real HTTP, real botocore):
the item/index mapping and its CreateTable definitions, paging at scale, units of work as
one TransactWriteItems (read-your-writes, size limits), uniqueness claims, error
translation, and the completion gate under concurrency (guard → ConditionCheck)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from dataops import runtime
from dataops.config import Settings
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactStatus, ArtifactType, ProofType, Role, TaskStatus
from dataops.domain.errors import (
    ConfigurationError,
    Conflict,
    PayloadTooLarge,
    StorageUnavailable,
    ValidationFailed,
    VersionConflict,
)
from dataops.domain.models import Artifact, ProofRequirement, Task
from dataops.domain.status import ReviewAction
from dataops.services import artifact_review, artifacts, people, tasks, workflow
from dataops.services.context import Workspace
from dataops.services.evidence import StoreEvidence
from dataops.store.cursor import encode_cursor
from dataops.store.dynamodb import DynamoStore, table_definitions
from dataops.store.dynamodb.tables import SEARCH_INDEX, SPECS
from dataops.store.port import EXPIRING, Filters, PageRequest
from dataops.store.sqlite.tables import TABLES
from tests.conftest import free_port, make_settings
from tests.contract import records as r
from tests.contract.dynamo import drop_tables, dynamo_settings, dynamo_store, table_env


@pytest.fixture
def store(dynamodb_endpoint: str, tmp_path: Path) -> Iterator[DynamoStore]:
    backend = dynamo_store(dynamodb_endpoint, tmp_path)
    yield backend
    drop_tables(backend)
    backend.close()


@pytest.fixture
def workspace(dynamodb_endpoint: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = runtime.build_workspace(dynamo_settings(dynamodb_endpoint, tmp_path))
    yield ws
    store = cast(DynamoStore, ws.store)
    drop_tables(store)
    store.close()


class Operations:
    """The DynamoDB operations a client sends, with their parameters."""

    def __init__(self, store: DynamoStore) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        store.client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.sent.append((model.name, params))

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.sent)


def page_ids(store: DynamoStore, filters: dict[str, str], limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        with store.unit_of_work() as uow:
            page = uow.artifacts.find(Filters(filters), PageRequest(limit, cursor))
        pages.append([a.id for a in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


# --- mapping and table definitions ----------------------------------------------------------


def test_item_specs_agree_with_the_sqlite_tables() -> None:
    """One idea of each entity across backends: record class, key, filterable columns,
    list order and versioning."""
    assert set(SPECS) == set(TABLES)
    for entity, spec in SPECS.items():
        table = TABLES[entity]
        assert spec.cls is table.cls, entity
        assert spec.key == table.key, entity
        assert set(spec.filters) == set(table.columns), entity
        assert spec.order == table.order, entity
        assert spec.versioned == table.versioned, entity
        assert spec.expires == table.expires, entity
        assert (spec.expires is not None) is (entity in EXPIRING), entity
        assert spec.order[-1] == spec.key, "the last order value must be the record key"
        for index in spec.indexes:
            assert set(index.fields) <= set(spec.filters), (entity, index.name)


def test_table_definitions_are_valid_create_table_requests() -> None:
    names = {entity: f"name-of-{entity}" for entity in SPECS}
    definitions = table_definitions(names)
    assert [d["TableName"] for d in definitions] == list(names.values())
    for definition in definitions:
        indexes = definition["GlobalSecondaryIndexes"]
        assert len(indexes) <= 20, "DynamoDB allows 20 GSIs per table"
        assert len({i["IndexName"] for i in indexes}) == len(indexes)
        used = {k["AttributeName"] for k in definition["KeySchema"]}
        used |= {k["AttributeName"] for i in indexes for k in i["KeySchema"]}
        defined = [a["AttributeName"] for a in definition["AttributeDefinitions"]]
        assert sorted(defined) == sorted(used), "every key attribute defined, nothing else"
        assert definition["BillingMode"] == "PAY_PER_REQUEST"
        for index in indexes:  # the search index needs only the keys it lists
            projection = "KEYS_ONLY" if index["IndexName"] == SEARCH_INDEX else "ALL"
            assert index["Projection"] == {"ProjectionType": projection}


def test_auto_created_tables_match_the_definitions(store: DynamoStore) -> None:
    for definition in table_definitions(store.tables):
        table = store.client.describe_table(TableName=definition["TableName"])["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["KeySchema"] == definition["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            definition["AttributeDefinitions"], key=str
        )
        created = {
            i["IndexName"]: (i["KeySchema"], i["Projection"]["ProjectionType"])
            for i in table["GlobalSecondaryIndexes"]
        }
        wanted = {
            i["IndexName"]: (i["KeySchema"], i["Projection"]["ProjectionType"])
            for i in definition["GlobalSecondaryIndexes"]
        }
        assert created == wanted


def test_auto_create_adds_an_index_a_table_is_missing(store: DynamoStore) -> None:
    table = store.tables["artifacts"]
    store.client.update_table(
        TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-file"}}]
    )
    store.ensure_tables()
    described = store.client.describe_table(TableName=table)["Table"]
    assert "by-file" in {i["IndexName"] for i in described["GlobalSecondaryIndexes"]}
    with store.unit_of_work(write=True) as uow:
        uow.artifacts.add(r.artifact("art_1", file_id="fil_1"))
        uow.commit()
    with store.unit_of_work() as uow:
        found = uow.artifacts.find(Filters({"file_id": "fil_1"}), PageRequest())
    assert [a.id for a in found.items] == ["art_1"]


def test_auto_create_backfills_an_added_index_for_items_written_before_it(
    store: DynamoStore,
) -> None:
    """Items stored before `by-storage-uri` / `by-location` existed lack their attribute;
    adding the index sets it on them, so the blob sweeper finds every reference."""
    from dataops.store.dynamodb.tables import SPECS

    old = [
        (
            "artifacts",
            "by-storage-uri",
            "storageUri",
            r.artifact("art_old", storage_uri="local-dev://files/x"),
        ),
        ("files", "by-location", "location", r.file_record("fil_old", storage_path="files\\x")),
    ]
    for entity, index, attribute, record in old:
        table = store.tables[entity]
        store.client.update_table(
            TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}]
        )
        item = SPECS[entity].to_item(record)
        del item[attribute]  # as an older release wrote it
        store.client.put_item(TableName=table, Item=item)
    store.ensure_tables()
    with store.unit_of_work() as uow:
        artifacts = uow.artifacts.find(
            Filters({"storage_uri": "local-dev://files/x"}), PageRequest()
        )
        files = uow.files.find(Filters({"location": "local-dev://files/x"}), PageRequest())
    assert [a.id for a in artifacts.items] == ["art_old"]
    assert [f.id for f in files.items] == ["fil_old"]


@pytest.mark.parametrize(
    ("entity", "filters"),
    [
        # proof lookups (services/evidence.py)
        ("artifacts", ("task_id", "status")),
        ("artifacts", ("task_id", "status", "type")),
        ("artifacts", ("bundle_id", "status")),
        ("artifacts", ("bundle_id", "status", "type")),
        ("files", ("task_id",)),
        # list routes' single filters and the services' lookups
        ("artifacts", ("task_id",)),
        ("artifacts", ("bundle_id",)),
        ("artifacts", ("assistant_job_id",)),
        ("artifacts", ("file_id",)),
        ("artifacts", ("status",)),
        ("artifacts", ("status", "type")),
        ("artifacts", ("type",)),
        ("tasks", ("bundle_id",)),
        ("tasks", ("status",)),
        ("tasks", ("date",)),
        ("tasks", ("assignee_id",)),
        ("files", ("bundle_id",)),
        ("bundles", ("status",)),
        ("bundles", ("template_id",)),
        ("audit_events", ("entity_type",)),
        ("audit_events", ("entity_type", "entity_id")),
        ("notifications", ("user_id",)),
        ("notifications", ("task_id",)),
        ("notifications", ("user_id", "unread_key")),
        ("users", ("role",)),
        ("users", ("email",)),
        ("api_tokens", ("token_hash",)),
        ("api_tokens", ("user_id",)),
        ("uploads", ("status",)),
        ("sessions", ("user_id",)),
        # the blob sweeper: does any record name this object?
        ("files", ("location",)),
        ("artifacts", ("storage_uri",)),
        # my work: due tasks, withdrawn proofs, rejected artifacts (reviews: status)
        ("tasks", ("assignee_id", "open_key")),
        ("tasks", ("completed_by", "withdrawn_key")),
        ("artifacts", ("created_by", "status")),
    ],
)
def test_lookups_are_key_conditions_not_filter_expressions(
    entity: str, filters: tuple[str, ...]
) -> None:
    index, rest = SPECS[entity].choose_index({f: "x" for f in filters})
    assert set(index.fields) == set(filters)
    assert rest == {}


def test_unfiltered_lists_and_is_empty_are_queries(store: DynamoStore) -> None:
    sent = Operations(store)
    assert store.is_empty()
    with store.unit_of_work() as uow:
        for entity in SPECS:
            getattr(uow, entity).find(Filters(), PageRequest(limit=10))
    assert set(sent.names()) == {"Query"}


def test_stored_rows_are_queries_of_the_all_index_and_refused_after_a_write(
    store: DynamoStore,
) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1"))
        uow.commit()
    sent = Operations(store)
    with store.unit_of_work() as uow:
        stored = uow.stored("tasks")
        assert not stored.key_ordered  # the `all` index sorts tasks by date, then id
        assert [key for batch in stored.batches for key, _, _ in batch] == ["tsk_1"]
        assert [key for key, _, _ in uow.stored_many("tasks", ["tsk_1", "none"])] == ["tsk_1"]
    assert sent.names() == Counter({"Query": 1, "BatchGetItem": 1})
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_2"))
        with pytest.raises(RuntimeError, match="not in a unit that wrote"):
            uow.stored("tasks")
        with pytest.raises(RuntimeError, match="not in a unit that wrote"):
            uow.stored_many("tasks", ["tsk_1"])


# --- paging ----------------------------------------------------------------------------------


def test_1234_artifacts_on_one_task_page_by_100_each_once_in_order(store: DynamoStore) -> None:
    rng = random.Random(5)
    mine = [
        r.artifact(f"art_{i:05d}", task_id="tsk_big", file_id="fil_a" if i % 3 else None)
        for i in range(1234)
    ]
    others = [r.artifact(f"art_{i:05d}x", task_id="tsk_other") for i in range(0, 1234, 7)]
    records = mine + others
    rng.shuffle(records)
    # Seeded with BatchWriteItem of the store's own items: moto slows down on 1,400
    # conditional writes (units of work are covered by the contract suite).
    items = [{"PutRequest": {"Item": SPECS["artifacts"].to_item(a)}} for a in records]
    for start in range(0, len(items), 25):
        chunk = {store.tables["artifacts"]: items[start : start + 25]}
        while chunk:
            chunk = store.client.batch_write_item(RequestItems=chunk)["UnprocessedItems"]
    expected = sorted(a.id for a in mine)

    pages = page_ids(store, {"task_id": "tsk_big"}, 100)
    assert [len(p) for p in pages] == [100] * 12 + [34]
    flat = [i for page in pages for i in page]
    assert flat == expected
    assert len(set(flat)) == len(flat) == 1234

    # task + file: the file filter is a FilterExpression on the task index; pages stay full
    with_file = sorted(a.id for a in mine if a.file_id == "fil_a")
    pages = page_ids(store, {"task_id": "tsk_big", "file_id": "fil_a"}, 100)
    assert all(len(p) == 100 for p in pages[:-1])
    assert [i for page in pages for i in page] == with_file


# --- units of work ---------------------------------------------------------------------------


def test_reads_inside_a_unit_see_its_own_buffered_writes(store: DynamoStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.artifacts.add(r.artifact("art_1", task_id="tsk_1"))
        uow.commit()
    with store.unit_of_work(write=True) as uow:
        uow.artifacts.add(r.artifact("art_0", task_id="tsk_1"))
        uow.artifacts.add(r.artifact("art_2", task_id="tsk_1"))
        current = uow.artifacts.get("art_1")
        assert current is not None
        moved = Artifact(**{**current.__dict__, "task_id": "tsk_2", "version": 2})
        uow.artifacts.update(moved, 1)
        assert uow.artifacts.get("art_0") is not None
        assert [a.id for a in uow.artifacts.get_many(["art_2", "art_1", "art_0"])] == [
            "art_2",
            "art_1",
            "art_0",
        ]
        assert uow.artifacts.get("art_1").task_id == "tsk_2"  # type: ignore[union-attr]
        first = uow.artifacts.find(Filters({"task_id": "tsk_1"}), PageRequest(limit=1))
        assert [a.id for a in first.items] == ["art_0"]
        rest = uow.artifacts.find(Filters({"task_id": "tsk_1"}), PageRequest(5, first.next_cursor))
        assert [a.id for a in rest.items] == ["art_2"]
        assert rest.next_cursor is None
        moved_again = Artifact(**{**moved.__dict__, "title": "again", "version": 3})
        with pytest.raises(VersionConflict):
            uow.artifacts.update(moved_again, 1)  # the unit already holds version 2
        uow.artifacts.update(moved_again, 2)
        uow.guard("artifacts", "art_1", 3)
        with pytest.raises(VersionConflict):
            uow.guard("artifacts", "art_1", 1)
        # a reader outside the unit sees none of it
        with store.unit_of_work() as other:
            assert other.artifacts.get("art_0") is None
            assert other.artifacts.get("art_1").version == 1  # type: ignore[union-attr]
        uow.commit()
    with store.unit_of_work() as uow:
        stored = uow.artifacts.get("art_1")
        assert stored is not None
        assert (stored.version, stored.title, stored.task_id) == (3, "again", "tsk_2")
        assert [
            a.id for a in uow.artifacts.find(Filters({"task_id": "tsk_2"}), PageRequest()).items
        ] == ["art_1"]


def test_a_unit_commits_as_one_transact_write_items(store: DynamoStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.artifacts.add(r.artifact("art_1", status=ArtifactStatus.APPROVED))
        uow.bundles.add(r.bundle("bun_1"))
        uow.commit()
    sent = Operations(store)
    with store.unit_of_work(write=True) as uow:
        bundle = uow.bundles.get("bun_1")
        assert bundle is not None
        bundle.title, bundle.version = "changed", 2
        uow.bundles.update(bundle, 1)
        uow.tasks.add(r.task("tsk_1", bundle_id="bun_1"))
        uow.guard("artifacts", "art_1", 1)
        uow.commit()
    writes = [(name, params) for name, params in sent.sent if name != "GetItem"]
    assert [name for name, _ in writes] == ["TransactWriteItems"]
    every = writes[0][1]["TransactItems"]

    def key_of(item: dict[str, Any]) -> str:
        body = next(iter(item.values()))
        return str((body.get("Item") or body["Key"])["id"]["S"])

    items = [i for i in every if not key_of(i).startswith("#search#")]
    assert sorted(next(iter(item)) for item in items) == ["ConditionCheck", "Put", "Put"]
    # The search word items travel in the same transaction: the bundle's changed words
    # ("bundle bun_1" -> "changed") and the new task's.
    words = {(next(iter(i)), key_of(i)) for i in every if key_of(i).startswith("#search#")}
    assert words == {
        ("Delete", "#search#bundle#bun_1"),
        ("Delete", "#search#bun#bun_1"),
        ("Delete", "#search#1#bun_1"),
        ("Put", "#search#changed#bun_1"),
        ("Put", "#search#task#tsk_1"),
        ("Put", "#search#tsk#tsk_1"),
        ("Put", "#search#1#tsk_1"),
    }
    check = next(item["ConditionCheck"] for item in items if "ConditionCheck" in item)
    assert check["TableName"] == store.tables["artifacts"]
    assert check["ExpressionAttributeValues"] == {":v": {"N": "1"}}

    sent.sent.clear()
    with store.unit_of_work(write=True) as uow:  # a single write needs no transaction
        uow.templates.add(r.template("tpl_2"))  # (templates have no search words)
        uow.commit()
    assert sent.names() == Counter({"PutItem": 1})


def test_leaving_a_unit_without_commit_sends_nothing(store: DynamoStore) -> None:
    sent = Operations(store)
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1"))
        uow.guard("tasks", "tsk_1", 1)
    assert sent.sent == []


def test_an_oversized_unit_that_updates_is_refused_and_writes_nothing(
    store: DynamoStore,
) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.bundles.add(r.bundle("bun_1"))
        uow.commit()
    with store.unit_of_work(write=True) as uow:
        for i in range(100):
            uow.tasks.add(r.task(f"tsk_{i:03d}"))
        bundle = uow.bundles.get("bun_1")
        assert bundle is not None
        bundle.version = 2
        uow.bundles.update(bundle, 1)
        with pytest.raises(PayloadTooLarge, match="at most 100"):
            uow.commit()
    with store.unit_of_work() as uow:
        assert uow.tasks.find(Filters(), PageRequest()).items == []
        assert uow.bundles.get("bun_1").version == 1  # type: ignore[union-attr]


def test_a_cursor_with_a_blank_value_is_refused(store: DynamoStore) -> None:
    """No index key holds an empty string, so no cursor this store made does."""
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1", date="2024-01-01"))
        uow.commit()
    blank = PageRequest(cursor=encode_cursor(["", "tsk_0"]))
    with store.unit_of_work() as uow, pytest.raises(ValidationFailed):
        uow.tasks.find(Filters(), blank)


def test_a_large_insert_that_fails_part_way_is_undone(store: DynamoStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_149", date="2024-01-01"))
        uow.commit()
    with store.unit_of_work(write=True) as uow:
        for i in range(150):  # chunk 1 (100) is written, chunk 2 collides on tsk_149
            uow.tasks.add(r.task(f"tsk_{i:03d}"))
        with pytest.raises(Conflict):
            uow.commit()
    with store.unit_of_work() as uow:
        assert [t.id for t in uow.tasks.find(Filters(), PageRequest()).items] == ["tsk_149"]
        assert uow.tasks.get("tsk_149").date == "2024-01-01"  # type: ignore[union-attr]


def test_emails_and_token_hashes_stay_unique(store: DynamoStore) -> None:
    def add(*records: Any, entity: str = "users") -> None:
        with store.unit_of_work(write=True) as uow:
            for record in records:
                getattr(uow, entity).add(record)
            uow.commit()

    add(r.user("usr_1", email="a@example.com"))
    with pytest.raises(Conflict):
        add(r.user("usr_2", email="a@example.com"))
    with pytest.raises(Conflict):
        add(r.user("usr_3", email="c@example.com"), r.user("usr_4", email="c@example.com"))
    with store.unit_of_work(write=True) as uow:  # usr_1 moves to b@: a@ is free again
        user = uow.users.get("usr_1")
        assert user is not None
        user.email, user.version = "b@example.com", 2
        uow.users.update(user, 1)
        uow.commit()
    add(r.user("usr_2", email="a@example.com"))
    with pytest.raises(Conflict):
        add(r.user("usr_5", email="b@example.com"))
    with store.unit_of_work() as uow:
        assert [u.id for u in uow.users.find(Filters(), PageRequest()).items] == [
            "usr_1",
            "usr_2",
        ]
        assert uow.users.get("#unique#email#a@example.com") is None  # claims are not records

    with store.unit_of_work(write=True) as uow:  # guard, then two updates in one unit
        uow.guard("users", "usr_2", 1)
        user = uow.users.get("usr_2")
        assert user is not None
        user.email, user.version = "d@example.com", 2
        uow.users.update(user, 1)
        user.email, user.version = "e@example.com", 3
        uow.users.update(user, 2)
        uow.commit()
    add(r.user("usr_6", email="a@example.com"), r.user("usr_7", email="d@example.com"))
    with pytest.raises(Conflict):
        add(r.user("usr_8", email="e@example.com"))

    add(r.api_token("tok_1", user_id="usr_1", token_hash="h" * 64), entity="api_tokens")
    with pytest.raises(Conflict):
        add(r.api_token("tok_2", user_id="usr_2", token_hash="h" * 64), entity="api_tokens")


# --- errors at the adapter edge --------------------------------------------------------------


def test_an_unreachable_endpoint_is_storage_unavailable(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    settings = make_settings(
        tmp_path,
        DATAOPS_STORE="dynamodb",
        DATAOPS_DYNAMODB_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    store = DynamoStore(settings)
    try:
        with pytest.raises(StorageUnavailable), store.unit_of_work() as uow:
            uow.tasks.get("tsk_1")
    finally:
        store.close()


def test_missing_tables_are_storage_unavailable_naming_the_setting(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    settings = make_settings(
        tmp_path,
        DATAOPS_STORE="dynamodb",
        DATAOPS_DYNAMODB_ENDPOINT=dynamodb_endpoint,
        **table_env("never-created-"),
    )
    store = DynamoStore(settings)
    try:
        with pytest.raises(StorageUnavailable, match="DATAOPS_AUTO_CREATE_TABLES"):
            store.is_empty()
        with store.unit_of_work(write=True) as uow:
            uow.tasks.add(r.task("tsk_1"))
            with pytest.raises(StorageUnavailable):
                uow.commit()
    finally:
        store.close()


def test_tables_are_never_created_outside_local_and_test(dynamodb_endpoint: str) -> None:
    names = {entity: f"prod-{entity}" for entity in SPECS}
    with pytest.raises(ConfigurationError, match="AUTO_CREATE"):
        DynamoStore(
            Settings(
                env="production",
                store="dynamodb",
                dynamodb_endpoint=dynamodb_endpoint,
                table_names=names,
                auto_create_tables=True,
                blob_store="disabled",
            )
        )
    existing = table_names(dynamodb_endpoint)
    assert not any(name.startswith("prod-") for name in existing)


def table_names(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names += page["TableNames"]
    client.close()
    return names


# --- the completion gate under concurrency ---------------------------------------------------


def operator(ws: Workspace) -> Actor:
    user = people.add_user(
        ws, people.SYSTEM, "racer@example.com", "Racer", Role.OPERATOR, "racer-password-1"
    )
    return Actor(id=user.id, email=user.email, role=user.role, name=user.name)


def gated_task(ws: Workspace, actor: Actor, on_bundle: bool) -> tuple[Task, Artifact]:
    """A task that needs an approved artifact, and one approved artifact attached to the
    task itself or to its bundle."""
    data: dict[str, Any] = {
        "description": "Publish",
        "date": "2025-05-01",
        "proof_requirement": ProofRequirement(type=ProofType.ARTIFACT, label="Proof"),
    }
    holder: dict[str, Any] = {}
    if on_bundle:
        bundle = workflow.create_bundle(ws, actor, {"title": "Race bundle"})
        data["bundle_id"] = holder["bundle_id"] = bundle.id
    task = tasks.create_task(ws, actor, data)
    if not on_bundle:
        holder["task_id"] = task.id
    artifact = artifacts.register_artifact(
        ws,
        actor,
        {
            "type": ArtifactType.REPORT,
            "title": "Proof artifact",
            "storage_uri": f"https://example.com/proof/{task.id}",
            "status": ArtifactStatus.APPROVED,
            **holder,
        },
    )
    return task, artifact


def all_events(ws: Workspace) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page = people.list_audit_events(ws, None, None, PageRequest(limit=500, cursor=cursor))
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def test_an_archive_between_the_proof_check_and_the_commit_fails_the_completion(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = operator(workspace)
    task, _ = gated_task(workspace, actor, on_bundle=False)
    task = tasks.get_task(workspace, task.id)  # attaching the artifact bumped it
    seen = len([e for e in all_events(workspace) if e.entity_id == task.id])
    original = StoreEvidence.approved_artifacts
    slipped: list[Artifact] = []

    def check_then_archive(self: StoreEvidence, **kwargs: Any) -> list[Artifact]:
        found = original(self, **kwargs)
        if found and not slipped:  # another request archives it meanwhile
            archived = artifact_review.review_artifact(
                workspace, actor, found[0].id, ReviewAction.ARCHIVE
            )
            slipped.append(archived)
        return found

    monkeypatch.setattr(StoreEvidence, "approved_artifacts", check_then_archive)
    with pytest.raises(VersionConflict):
        tasks.update_task(workspace, actor, task.id, {"status": TaskStatus.DONE}, None)
    assert [a.status for a in slipped] == [ArtifactStatus.ARCHIVED]
    stored = tasks.get_task(workspace, task.id)
    # The archive re-judged the task (its stored verdict: blocked now), one write of its
    # own; the refused completion wrote nothing.
    assert (stored.status, stored.version, stored.completion_proof, stored.proof_blocked) == (
        TaskStatus.TODO,
        task.version + 1,
        None,
        True,
    )
    actions = [e.action for e in all_events(workspace) if e.entity_id == task.id]
    assert actions[seen:] == ["proof-rechecked"]

    # Without the slip, the same completion goes through, guarded by a ConditionCheck.
    monkeypatch.setattr(StoreEvidence, "approved_artifacts", original)
    other, proof = gated_task(workspace, actor, on_bundle=True)
    sent = Operations(cast(DynamoStore, workspace.store))
    done = tasks.update_task(workspace, actor, other.id, {"status": TaskStatus.DONE}, None)
    assert done.status == TaskStatus.DONE
    [transaction] = [p for name, p in sent.sent if name == "TransactWriteItems"]
    checks = [i["ConditionCheck"] for i in transaction["TransactItems"] if "ConditionCheck" in i]
    assert [c["Key"]["id"]["S"] for c in checks] == [proof.id]


@dataclass
class Log:
    successes: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)
    unexpected: list[BaseException] = field(default_factory=list)


def test_concurrent_reviews_never_let_a_completion_through_without_approved_proof(
    workspace: Workspace,
) -> None:
    """Threads approve, reject, resubmit and archive the proof artifacts while others
    complete and reopen the tasks gated on them. Afterwards every completion ever made
    (the task's `complete` audit events, and the tasks done now) names an artifact that
    was approved at exactly the version its proof records."""
    actor = operator(workspace)
    pairs = [gated_task(workspace, actor, on_bundle=bool(i % 2)) for i in range(6)]
    threads_n, ops_per_thread = 6, 40
    barrier = threading.Barrier(threads_n)
    logs = [Log() for _ in range(threads_n)]
    calls: dict[str, Callable[[Task, Artifact], object]] = {
        "complete": lambda t, a: tasks.update_task(
            workspace, actor, t.id, {"status": TaskStatus.DONE}, None
        ),
        "reopen": lambda t, a: tasks.update_task(
            workspace, actor, t.id, {"status": TaskStatus.TODO}, None
        ),
        "approve": lambda t, a: artifact_review.review_artifact(
            workspace, actor, a.id, ReviewAction.APPROVE
        ),
        "reject": lambda t, a: artifact_review.review_artifact(
            workspace, actor, a.id, ReviewAction.REJECT, reason="not yet"
        ),
        "submit": lambda t, a: artifact_review.review_artifact(
            workspace, actor, a.id, ReviewAction.SUBMIT
        ),
        "archive": lambda t, a: artifact_review.review_artifact(
            workspace, actor, a.id, ReviewAction.ARCHIVE
        ),
    }
    weights = {"complete": 8, "reopen": 4, "approve": 5, "reject": 4, "submit": 5, "archive": 1}

    def work(seed: int) -> None:
        rng, log = random.Random(seed), logs[seed]
        barrier.wait()
        for _ in range(ops_per_thread):
            op = rng.choices(list(weights), list(weights.values()))[0]
            task, artifact = rng.choice(pairs[:2] if op == "archive" else pairs)
            try:
                calls[op](task, artifact)
                log.successes[op] += 1
            except Conflict as exc:  # ProofMissing, VersionConflict, IllegalTransition
                log.conflicts[f"{op}:{type(exc).__name__}"] += 1
            except BaseException as exc:
                log.unexpected.append(exc)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(180)
    assert not [w for w in workers if w.is_alive()], "a worker hung"
    assert not [e for log in logs for e in log.unexpected], [log.unexpected for log in logs]
    assert sum(log.successes["complete"] for log in logs) > 0

    events = all_events(workspace)
    status_at = {
        (e.entity_id, e.after["version"]): e.after["status"]
        for e in events
        if e.entity_type.value == "artifact" and e.after is not None
    }
    proofs: list[tuple[str, list[Any]]] = [
        (e.entity_id, e.after["completionProof"])
        for e in events
        if e.entity_type.value == "task" and e.action == "complete"
    ]
    for task, _ in pairs:
        current = tasks.get_task(workspace, task.id)
        if current.status == TaskStatus.DONE:
            assert current.completion_proof is not None
            proofs.append(
                (
                    task.id,
                    [
                        {"kind": v.kind, "satisfiedBy": v.satisfied_by}
                        for v in current.completion_proof
                    ],
                )
            )
    assert proofs
    for task_id, proof in proofs:
        [verdict] = [v for v in proof if v["kind"] == "artifact"]
        by = verdict["satisfiedBy"]
        assert status_at[(by["artifactId"], by["version"])] == "approved", (task_id, by)
