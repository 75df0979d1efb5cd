"""The MetadataStore contract (store/port.py), run against every backend.

A backend is done when it passes this suite. Backends that detect conflicts only at
commit (DynamoDB: one TransactWriteItems) may raise `Conflict` / `VersionConflict` from
the write call or from `commit()`, so each such check wraps the whole unit of work.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from dataops.domain.codec import to_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    BundleStatus,
    EntityType,
    Role,
    TaskStatus,
    UploadStatus,
)
from dataops.domain.errors import Conflict, ValidationFailed, VersionConflict
from dataops.store.dynamodb import DynamoStore
from dataops.store.dynamodb.tables import SPECS
from dataops.store.port import (
    ENTITIES,
    EXPIRING,
    Filters,
    MetadataStore,
    PageRequest,
    Repository,
    UnitOfWork,
)
from dataops.store.sqlite import SqliteStore
from dataops.store.sqlite.tables import TABLES
from tests.contract import records as r
from tests.contract.dynamo import drop_tables, dynamo_store

BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], MetadataStore]] = {
    "sqlite": lambda request, root: SqliteStore(root / "contract.db"),
    # On the session's moto server (real HTTP, real botocore; or DATAOPS_DYNAMODB_ENDPOINT),
    # with tables of its own per test.
    "dynamodb": lambda request, root: dynamo_store(
        request.getfixturevalue("dynamodb_endpoint"), root
    ),
}


@pytest.fixture(params=list(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    backend = BACKENDS[request.param](request, tmp_path)
    yield backend
    if isinstance(backend, DynamoStore):
        drop_tables(backend)
    backend.close()


# --- helpers ----------------------------------------------------------------------------


def repo(uow: UnitOfWork, entity: str) -> Repository[Any]:
    found: Repository[Any] = getattr(uow, entity)
    return found


def key_of(record: Any) -> str:
    """The repository key: `id`, or `user_id` for credentials."""
    return str(getattr(record, "id", None) or record.user_id)


def seed(store: MetadataStore, entity: str, records: Sequence[Any]) -> None:
    with store.unit_of_work(write=True) as uow:
        for record in records:
            repo(uow, entity).add(record)
        uow.commit()


def commit_unit(store: MetadataStore, *steps: Callable[[UnitOfWork], object]) -> None:
    """Run `steps` in one write unit of work and commit it."""
    with store.unit_of_work(write=True) as uow:
        for step in steps:
            step(uow)
        uow.commit()


def read(store: MetadataStore, entity: str, record_id: str) -> Any:
    with store.unit_of_work() as uow:
        return repo(uow, entity).get(record_id)


def bumped(record: Any, **changes: Any) -> Any:
    """A changed copy carrying the next version, as the services write it."""
    updated = copy.deepcopy(record)
    for name, value in changes.items():
        setattr(updated, name, value)
    updated.version = record.version + 1
    return updated


def page_through(
    store: MetadataStore, entity: str, filters: Mapping[str, str | None], limit: int
) -> list[list[str]]:
    """Every page (its IDs) from the first to the one without a cursor, each page read in
    its own unit of work as separate requests would."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        with store.unit_of_work() as uow:
            page = repo(uow, entity).find(Filters(filters), PageRequest(limit, cursor))
        assert len(page.items) <= limit
        pages.append([key_of(item) for item in page.items])
        assert len(pages) <= 1000, "paging does not terminate"
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def find_ids(store: MetadataStore, entity: str, filters: Mapping[str, str | None]) -> list[str]:
    return [i for page in page_through(store, entity, filters, 500) for i in page]


def column_value(record: Any, column: str) -> str | None:
    value = getattr(record, column)
    return None if value is None else str(value.value if isinstance(value, enum.Enum) else value)


def stable_order(entity: str, records: Sequence[Any]) -> list[Any]:
    columns = r.STABLE_ORDER.get(entity, ("id",))
    return sorted(records, key=lambda x: tuple(getattr(x, c) for c in columns))


# --- add / get / get_many ---------------------------------------------------------------

ROUND_TRIP: dict[str, Callable[[], Any]] = {
    "users": lambda: r.user("usr_1"),
    "credentials": lambda: r.credential("usr_1"),
    "sessions": lambda: r.session("ses_1", user_id="usr_1"),
    "api_tokens": lambda: r.api_token("tok_1", user_id="usr_1"),
    "idempotency": lambda: r.idempotency("idm_1"),
    "login_throttles": lambda: r.login_throttle("thr_1"),
    "settings": lambda: r.settings("workspace"),
    "uploads": lambda: r.upload("upl_1"),
    "templates": lambda: r.template("tpl_1"),
    "recurring_configs": lambda: r.recurring_config("rcf_1", template_id="tpl_1"),
    "bundles": lambda: r.bundle("bun_1", template_id="tpl_1"),
    "tasks": lambda: r.task("tsk_1", bundle_id="bun_1", assignee_id="usr_1"),
    "files": lambda: r.file_record("fil_1", task_id="tsk_1", bundle_id="bun_1"),
    "artifacts": lambda: r.artifact(
        "art_1", task_id="tsk_1", bundle_id="bun_1", assistant_job_id="job_1", file_id="fil_1"
    ),
    "audit_events": lambda: r.audit_event(
        "evt_1", entity_type=EntityType.ARTIFACT, entity_id="art_1"
    ),
    "notifications": lambda: r.notification("ntf_1", user_id="usr_1", task_id="tsk_1"),
    "webhooks": lambda: r.webhook("whk_1"),
    "outbox": lambda: r.outbox_message("msg_1", target_id="whk_1"),
}


def test_every_repository_of_the_port_is_covered() -> None:
    assert set(ROUND_TRIP) == set(ENTITIES)


def test_each_backend_stores_every_entity_of_the_port() -> None:
    """The units of work open a repository per `ENTITIES`, from their backend's table of
    that name: each backend has one, and none the port does not declare."""
    assert set(SPECS) == set(ENTITIES)
    assert set(TABLES) == set(ENTITIES)


def test_a_unit_of_work_has_a_repository_of_every_entity(store: MetadataStore) -> None:
    with store.unit_of_work() as uow:
        for entity in ENTITIES:
            assert repo(uow, entity).get("nothing_here") is None


@pytest.mark.parametrize("entity", list(ROUND_TRIP))
def test_get_returns_the_record_that_was_added(store: MetadataStore, entity: str) -> None:
    record = ROUND_TRIP[entity]()
    seed(store, entity, [record])
    assert read(store, entity, key_of(record)) == record
    assert read(store, entity, "missing") is None


def test_get_many_keeps_the_order_asked_and_skips_missing(store: MetadataStore) -> None:
    ids = [f"art_{i:03d}" for i in range(120)]
    seed(store, "artifacts", [r.artifact(i) for i in ids])
    wanted = [ids[5], "art_missing", ids[99], ids[0], ids[119], "nope", ids[42]]
    with store.unit_of_work() as uow:
        assert [a.id for a in uow.artifacts.get_many(wanted)] == [
            ids[5],
            ids[99],
            ids[0],
            ids[119],
            ids[42],
        ]
        shuffled = ids[:]
        random.Random(3).shuffle(shuffled)
        assert [a.id for a in uow.artifacts.get_many(shuffled)] == shuffled
        assert uow.artifacts.get_many([]) == []
        assert uow.artifacts.get_many(["missing"]) == []


def test_add_of_an_existing_key_is_a_conflict_and_keeps_the_original(
    store: MetadataStore,
) -> None:
    original = r.artifact("art_1", title="original")
    seed(store, "artifacts", [original])
    with pytest.raises(Conflict):
        commit_unit(store, lambda uow: uow.artifacts.add(r.artifact("art_1", title="clobbered")))
    assert read(store, "artifacts", "art_1") == original


def test_encoded_records_are_added_as_add_adds_them(store: MetadataStore) -> None:
    """`encode` + `add_encoded` (the import's bulk path): each record stored, listed and
    found by search as if added one by one; an existing key is a conflict."""
    artifacts = [r.artifact(f"art_{n}", title=f"quokka take {n}") for n in range(3)]
    encoded = store.encode("artifacts", artifacts)
    commit_unit(store, lambda uow: uow.add_encoded(encoded))
    for artifact in artifacts:
        assert read(store, "artifacts", artifact.id) == artifact
    with store.unit_of_work() as uow:
        listed = uow.artifacts.find(Filters(), PageRequest(limit=10)).items
        hits = uow.search(["quokka"], ["artifact"], PageRequest(limit=10)).items
    assert [a.id for a in listed] == ["art_0", "art_1", "art_2"]
    assert sorted(hit.id for hit in hits) == ["art_0", "art_1", "art_2"]
    again = store.encode("artifacts", [r.artifact("art_1", title="clobbered")])
    with pytest.raises(Conflict):
        commit_unit(store, lambda uow: uow.add_encoded(again))
    assert read(store, "artifacts", "art_1") == artifacts[1]


def test_a_bulk_insert_stores_what_add_encoded_stores(store: MetadataStore) -> None:
    """`bulk_insert` (the import of an entity the store holds none of): the records are
    stored, listed through the entity's indexes and found by search as if added one by
    one; a unit that fails inside it leaves the entity empty and every index working; on
    an entity that holds records it is a conflict."""
    artifacts = [
        r.artifact(f"art_{n}", title=f"quokka take {n}", task_id="tsk_1", bundle_id="bdl_1")
        for n in range(4)
    ]
    encoded = store.encode("artifacts", artifacts)

    def failing(uow: UnitOfWork) -> None:
        with uow.bulk_insert("artifacts", rebuild_indexes=True):
            uow.add_encoded(encoded)
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        commit_unit(store, failing)
    assert find_ids(store, "artifacts", {}) == []

    def bulk(uow: UnitOfWork) -> None:
        with uow.bulk_insert("artifacts", rebuild_indexes=True):
            uow.add_encoded(store.encode("artifacts", artifacts[:2]))
            uow.add_encoded(store.encode("artifacts", artifacts[2:]))

    commit_unit(store, bulk)
    for artifact in artifacts:
        assert read(store, "artifacts", artifact.id) == artifact
    ids = ["art_0", "art_1", "art_2", "art_3"]
    assert find_ids(store, "artifacts", {"task_id": "tsk_1"}) == ids
    assert find_ids(store, "artifacts", {"bundle_id": "bdl_1", "status": "draft"}) == ids
    with store.unit_of_work() as uow:
        hits = uow.search(["quokka"], ["artifact"], PageRequest(limit=10)).items
    assert sorted(hit.id for hit in hits) == ids

    def again(uow: UnitOfWork) -> None:
        with uow.bulk_insert("artifacts", rebuild_indexes=True):
            uow.add_encoded(store.encode("artifacts", [r.artifact("art_9")]))

    if store.name == "sqlite":  # (DynamoDB puts each item as `add` does: no check)
        with pytest.raises(Conflict):
            commit_unit(store, again)
    assert find_ids(store, "artifacts", {"task_id": "tsk_1"}) == ids

    def more(uow: UnitOfWork) -> None:  # (the import's later units of a large entity)
        with uow.bulk_insert("artifacts", rebuild_indexes=False):
            more = [r.artifact("art_4", title="quokka more", task_id="tsk_1")]
            uow.add_encoded(store.encode("artifacts", more))

    commit_unit(store, more)
    assert find_ids(store, "artifacts", {"task_id": "tsk_1"}) == [*ids, "art_4"]
    with store.unit_of_work() as uow:
        hits = uow.search(["quokka"], ["artifact"], PageRequest(limit=10)).items
    assert sorted(hit.id for hit in hits) == [*ids, "art_4"]


def test_is_empty_ignores_users(store: MetadataStore) -> None:
    assert store.is_empty()
    seed(store, "users", [r.user("usr_1")])
    assert store.is_empty()
    seed(store, "tasks", [r.task("tsk_1")])
    assert not store.is_empty()


# --- update and versions ----------------------------------------------------------------


def test_update_at_the_expected_version_stores_the_next_version(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1")])
    current = read(store, "artifacts", "art_1")
    assert current.version == 1
    for step in (2, 3):
        updated = bumped(current, title=f"title {step}", status=ArtifactStatus.APPROVED)
        with store.unit_of_work(write=True) as uow:
            uow.artifacts.update(updated, current.version)
            uow.commit()
        current = read(store, "artifacts", "art_1")
        assert current == updated
        assert current.version == step


def test_update_at_a_stale_version_is_a_version_conflict(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1")])
    first = read(store, "artifacts", "art_1")
    winner = bumped(first, title="winner")
    with store.unit_of_work(write=True) as uow:
        uow.artifacts.update(winner, 1)
        uow.commit()
    loser = bumped(first, title="loser")
    with pytest.raises(VersionConflict):
        commit_unit(store, lambda uow: uow.artifacts.update(loser, 1))
    assert read(store, "artifacts", "art_1") == winner


def test_update_of_a_missing_record_is_a_version_conflict(store: MetadataStore) -> None:
    ghost = bumped(r.artifact("art_ghost"))
    with pytest.raises(VersionConflict):
        commit_unit(store, lambda uow: uow.artifacts.update(ghost, 1))
    assert read(store, "artifacts", "art_ghost") is None


def test_a_failed_update_discards_the_other_writes_of_its_unit(store: MetadataStore) -> None:
    seed(store, "bundles", [r.bundle("bun_1")])
    stale = bumped(read(store, "bundles", "bun_1"))
    stale.version = 7  # as if read at version 6
    with pytest.raises(VersionConflict):
        commit_unit(
            store,
            lambda uow: uow.tasks.add(r.task("tsk_1")),
            lambda uow: uow.bundles.update(stale, 6),
        )
    assert read(store, "tasks", "tsk_1") is None
    assert read(store, "bundles", "bun_1").version == 1


# --- unit of work -----------------------------------------------------------------------


def test_unit_rolls_back_when_the_block_raises(store: MetadataStore) -> None:
    seed(store, "bundles", [r.bundle("bun_1")])
    current = read(store, "bundles", "bun_1")

    class Boom(Exception):
        pass

    def fail_midway() -> None:
        with store.unit_of_work(write=True) as uow:
            uow.tasks.add(r.task("tsk_1"))
            uow.bundles.update(bumped(current, title="changed"), 1)
            raise Boom

    with pytest.raises(Boom):
        fail_midway()
    assert read(store, "tasks", "tsk_1") is None
    assert read(store, "bundles", "bun_1") == current


def test_unit_rolls_back_when_left_without_commit(store: MetadataStore) -> None:
    seed(store, "bundles", [r.bundle("bun_1")])
    current = read(store, "bundles", "bun_1")
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1"))
        uow.bundles.update(bumped(current, title="changed"), 1)
    assert read(store, "tasks", "tsk_1") is None
    assert read(store, "bundles", "bun_1") == current
    assert store.is_empty() is False  # the bundle seeded before is still there


def test_commit_makes_every_write_visible_together(store: MetadataStore) -> None:
    seed(store, "bundles", [r.bundle("bun_1")])
    before = read(store, "bundles", "bun_1")
    changed = bumped(before, title="changed")
    with store.unit_of_work(write=True) as uow:
        uow.tasks.add(r.task("tsk_1", bundle_id="bun_1"))
        uow.artifacts.add(r.artifact("art_1", task_id="tsk_1", bundle_id="bun_1"))
        uow.bundles.update(changed, 1)
        # A reader outside the unit sees none of it before the commit ...
        assert read(store, "tasks", "tsk_1") is None
        assert read(store, "artifacts", "art_1") is None
        assert read(store, "bundles", "bun_1") == before
        uow.commit()
    # ... and all of it after.
    assert read(store, "tasks", "tsk_1") is not None
    assert read(store, "artifacts", "art_1") is not None
    assert read(store, "bundles", "bun_1") == changed
    assert find_ids(store, "artifacts", {"task_id": "tsk_1"}) == ["art_1"]


# --- guard ------------------------------------------------------------------------------


def test_guard_at_the_current_version_lets_the_unit_commit(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1")])
    with store.unit_of_work(write=True) as uow:
        uow.guard("artifacts", "art_1", 1)
        uow.tasks.add(r.task("tsk_1"))
        uow.commit()
    assert read(store, "tasks", "tsk_1") is not None


@pytest.mark.parametrize(("record_id", "version"), [("art_1", 2), ("art_1", 0), ("missing", 1)])
def test_guard_at_another_version_is_a_version_conflict(
    store: MetadataStore, record_id: str, version: int
) -> None:
    seed(store, "artifacts", [r.artifact("art_1")])
    with pytest.raises(VersionConflict):
        commit_unit(
            store,
            lambda uow: uow.tasks.add(r.task("tsk_1")),
            lambda uow: uow.guard("artifacts", record_id, version),
        )
    assert read(store, "tasks", "tsk_1") is None


def test_guard_sees_a_change_committed_after_the_read(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1", status=ArtifactStatus.APPROVED)])
    seen = read(store, "artifacts", "art_1")
    with store.unit_of_work(write=True) as uow:  # someone rejects it meanwhile
        uow.artifacts.update(bumped(seen, status=ArtifactStatus.REJECTED), seen.version)
        uow.commit()
    with pytest.raises(VersionConflict):
        commit_unit(
            store,
            lambda uow: uow.guard("artifacts", "art_1", seen.version),
            lambda uow: uow.tasks.add(r.task("tsk_done")),
        )
    assert read(store, "tasks", "tsk_done") is None


# --- find: filters, order, paging -------------------------------------------------------


def _artifacts(count: int) -> list[Any]:
    rng = random.Random(11)
    out = [
        r.artifact(
            f"art_{i:03d}",
            task_id=rng.choice(["tsk_a", "tsk_b", "tsk_c", None]),
            bundle_id=rng.choice(["bun_a", "bun_b", None]),
            assistant_job_id=rng.choice(["job_a", None]),
            file_id=rng.choice(["fil_a", "fil_b", None]),
            status=rng.choice(list(ArtifactStatus)),
            type=rng.choice([ArtifactType.REPORT, ArtifactType.TRANSCRIPT]),
            storage_uri=rng.choice(["local-dev://files/a", "s3://b/files/b", None]),
            created_by=("usr_a", "usr_b", None)[i % 3],
        )
        for i in range(count)
    ]
    rng.shuffle(out)  # insertion order must not matter
    return out


def _tasks(count: int) -> list[Any]:
    rng = random.Random(12)
    out = [
        r.task(
            f"tsk_{rng.randrange(10**6):06d}_{i:03d}",  # ID order unrelated to date order
            date=rng.choice(["2025-03-01", "2025-01-15", "2025-02-28", "2024-12-31"]),
            bundle_id=rng.choice(["bun_a", "bun_b", None]),
            status=rng.choice(list(TaskStatus)),
            assignee_id=rng.choice(["usr_a", "usr_b", None]),
            completed_by=("usr_a", "usr_b", None)[i % 3],
            proof_withdrawn=i % 2 == 0,
        )
        for i in range(count)
    ]
    rng.shuffle(out)
    return out


def _dataset(entity: str) -> list[Any]:
    rng = random.Random(13)
    if entity == "artifacts":
        return _artifacts(80)
    if entity == "tasks":
        return _tasks(60)
    if entity == "files":
        return [
            r.file_record(
                f"fil_{i:03d}",
                task_id=rng.choice(["tsk_a", "tsk_b", None]),
                bundle_id=rng.choice(["bun_a", None]),
                storage_uri=rng.choice(["local-dev://files/a", "local-dev://files/b", None]),
                # a legacy path is found under its local-dev:// location
                storage_path=rng.choice([None, "\\files\\a"]),
            )
            for i in range(30)
        ]
    if entity == "recurring_configs":
        return [
            r.recurring_config(
                f"rcf_{i:03d}",
                template_id=rng.choice(["tpl_a", "tpl_b"]),
                enabled=rng.choice([True, False]),
                deleted_at=rng.choice([None, None, r.STAMP]),
            )
            for i in range(30)
        ]
    if entity == "bundles":
        return [
            r.bundle(
                f"bun_{i:03d}",
                status=rng.choice(list(BundleStatus)),
                template_id=rng.choice(["tpl_a", "tpl_b", None]),
                recurring_config_id=(config := rng.choice(["rcf_a", "rcf_b", None])),
                occurrence_date=f"2025-01-{i + 1:02d}" if config else None,
            )
            for i in range(30)
        ]
    if entity == "audit_events":
        return [
            r.audit_event(
                f"evt_{i:03d}",
                entity_type=rng.choice([EntityType.TASK, EntityType.ARTIFACT]),
                entity_id=rng.choice(["x_1", "x_2", "x_3"]),
            )
            for i in range(40)
        ]
    if entity == "notifications":
        return [
            r.notification(
                f"ntf_{i:03d}",
                user_id=rng.choice(["usr_a", "usr_b", None]),
                task_id=rng.choice(["tsk_a", "tsk_b", None]),
                read_at=rng.choice([None, r.STAMP]),
                dismissed=rng.choice([False, False, True]),
                dedupe_key=rng.choice([None, f"key-{i:03d}"]),
            )
            for i in range(30)
        ]
    if entity == "users":
        return [r.user(f"usr_{i:03d}", role=rng.choice(list(Role))) for i in range(12)]
    if entity == "templates":
        return [r.template(f"tpl_{i:03d}") for i in range(8)]
    if entity == "api_tokens":
        return [
            r.api_token(f"tok_{i:03d}", user_id=rng.choice(["usr_a", "usr_b"])) for i in range(12)
        ]
    if entity == "credentials":
        return [r.credential(f"usr_{i:03d}") for i in range(8)]
    if entity == "sessions":
        return [r.session(f"ses_{i:03d}", user_id="usr_a") for i in range(8)]
    if entity == "uploads":
        return [
            r.upload(
                f"upl_{rng.randrange(1000):03d}_{i:02d}",
                status=rng.choice(list(UploadStatus)),
                expires_at=f"2025-01-0{rng.randrange(1, 4)}T00:00:00.000Z",
            )
            for i in range(30)
        ]
    if entity == "idempotency":
        return [r.idempotency(f"idm_{i:03d}") for i in range(8)]
    if entity == "login_throttles":
        return [r.login_throttle(f"thr_{i:03d}") for i in range(8)]
    raise AssertionError(entity)


@pytest.mark.parametrize("entity", list(r.ENGINE_FILTERS))
def test_find_with_every_filter_the_engine_uses(store: MetadataStore, entity: str) -> None:
    records = _dataset(entity)
    seed(store, entity, records)
    failures = []
    for columns in r.ENGINE_FILTERS[entity]:
        probes = [records[0], records[len(records) // 2], records[-1]] if columns else [None]
        for probe in probes:
            filters = {c: column_value(probe, c) for c in columns}
            active = {c: v for c, v in filters.items() if v is not None}
            expected = [
                key_of(x)
                for x in stable_order(entity, records)
                if all(column_value(x, c) == v for c, v in active.items())
            ]
            got = find_ids(store, entity, filters)
            if got != expected:
                failures.append(f"{filters}: expected {expected}, got {got}")
        nothing = {c: "no-such-value" for c in columns}
        if columns and find_ids(store, entity, nothing):
            failures.append(f"{nothing}: expected nothing")
    assert not failures, "\n".join(failures)


def test_find_orders_tasks_by_date_then_id(store: MetadataStore) -> None:
    seed(
        store,
        "tasks",
        [
            r.task("tsk_c", date="2025-01-01"),
            r.task("tsk_a", date="2025-02-01"),
            r.task("tsk_b", date="2025-01-01"),
            r.task("tsk_0", date="2025-03-01"),
        ],
    )
    assert find_ids(store, "tasks", {}) == ["tsk_b", "tsk_c", "tsk_a", "tsk_0"]


def test_find_ignores_none_values(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1", task_id="tsk_1"), r.artifact("art_2")])
    assert find_ids(store, "artifacts", {"task_id": None, "status": None}) == ["art_1", "art_2"]


@pytest.mark.parametrize("count", [1, 6, 7, 8, 50])
@pytest.mark.parametrize("filtered", [True, False])
def test_paging_returns_every_item_once_in_order(
    store: MetadataStore, count: int, filtered: bool
) -> None:
    mine = [r.artifact(f"art_{i:03d}", task_id="tsk_mine") for i in range(count)]
    others = [r.artifact(f"art_{i:03d}x", task_id="tsk_other") for i in range(0, count, 3)]
    seed(store, "artifacts", mine + others)
    filters: dict[str, str | None] = {"task_id": "tsk_mine"} if filtered else {}
    expected = sorted(a.id for a in (mine if filtered else mine + others))
    pages = page_through(store, "artifacts", filters, 7)
    flat = [i for page in pages for i in page]
    assert flat == expected
    assert len(flat) == len(set(flat))
    assert pages[0] == expected[:7]
    assert len(pages) <= -(-len(expected) // 7) + 1


@pytest.mark.parametrize("entity", ["tasks", "artifacts"])
def test_a_cursor_after_a_record_continues_right_after_it(
    store: MetadataStore, entity: str
) -> None:
    """`cursor_after` (for services that stop part-way through a page they read): the
    page it starts is the rest of the list after that record, tied dates included."""
    records = _dataset(entity)
    seed(store, entity, records)
    ordered = [key_of(x) for x in stable_order(entity, records)]
    with store.unit_of_work() as uow:
        listing = repo(uow, entity)
        for position in (0, 1, len(ordered) // 2, len(ordered) - 2, len(ordered) - 1):
            record = listing.get(ordered[position])
            cursor = listing.cursor_after(record)
            page = listing.find(Filters({}), PageRequest(5, cursor))
            assert [key_of(x) for x in page.items] == ordered[position + 1 : position + 6]


@pytest.mark.parametrize("filters", [{}, {"bundle_id": "bun_a"}, {"status": "todo"}])
def test_paging_tasks_with_tied_dates(store: MetadataStore, filters: dict[str, str]) -> None:
    records = [
        r.task(
            f"tsk_{(i * 37) % 101:03d}",
            date=f"2025-01-0{1 + i % 3}",
            bundle_id="bun_a" if i % 5 else "bun_b",
            status=TaskStatus.TODO if i % 4 else TaskStatus.DONE,
        )
        for i in range(50)
    ]
    seed(store, "tasks", records)
    expected = [
        t.id
        for t in stable_order("tasks", records)
        if all(column_value(t, c) == v for c, v in filters.items())
    ]
    pages = page_through(store, "tasks", dict(filters), 7)
    flat = [i for page in pages for i in page]
    assert flat == expected
    assert len(flat) == len(set(flat))


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "not a cursor", "e30", "W10", "WzFd", "WyJhIiwiYiIsImMiXQ", "%%%%", "a" * 300],
)
@pytest.mark.parametrize("entity", ["artifacts", "tasks"])
def test_malformed_cursor_is_a_validation_failure(
    store: MetadataStore, entity: str, cursor: str
) -> None:
    seed(store, entity, _dataset(entity)[:3])
    with pytest.raises(ValidationFailed), store.unit_of_work() as uow:
        repo(uow, entity).find(Filters(), PageRequest(limit=2, cursor=cursor))


@pytest.mark.parametrize(
    ("entity", "column"),
    [("artifacts", "title"), ("tasks", "description"), ("users", "name"), ("files", "nope")],
)
def test_unknown_filter_is_a_programming_error(
    store: MetadataStore, entity: str, column: str
) -> None:
    with pytest.raises(ValueError, match=column), store.unit_of_work() as uow:
        repo(uow, entity).find(Filters({column: "x"}), PageRequest())


def test_users_are_found_by_email(store: MetadataStore) -> None:
    seed(store, "users", [r.user("usr_1", email="a@example.com"), r.user("usr_2")])
    assert find_ids(store, "users", {"email": "a@example.com"}) == ["usr_1"]
    assert find_ids(store, "users", {"email": "A@example.com"}) == []


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_write_units_serialise_without_lost_updates(store: MetadataStore) -> None:
    """Two threads x 50 read-modify-write increments, retried on VersionConflict."""
    seed(store, "bundles", [r.bundle("bun_counter")])
    threads_n, increments = 2, 50
    start = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    retries = [0] * threads_n

    def work(worker: int) -> None:
        try:
            start.wait()
            for step in range(increments):
                for _attempt in range(200):
                    try:
                        with store.unit_of_work(write=True) as uow:
                            current = uow.bundles.get("bun_counter")
                            assert current is not None
                            tags = [*current.tags, f"w{worker}-{step}"]
                            uow.bundles.update(bumped(current, tags=tags), current.version)
                            uow.commit()
                        break
                    except VersionConflict:
                        retries[worker] += 1
                else:
                    raise AssertionError("gave up after 200 version conflicts")
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in workers), "a writer is stuck"
    assert not errors, errors
    final = read(store, "bundles", "bun_counter")
    assert final.version == 1 + threads_n * increments
    assert len(final.tags) == threads_n * increments
    assert set(final.tags) == {f"w{w}-{s}" for w in range(threads_n) for s in range(increments)}


def test_records_are_copies_not_shared_state(store: MetadataStore) -> None:
    record = r.artifact("art_1")
    seed(store, "artifacts", [record])
    record.title = "mutated after add"
    loaded = read(store, "artifacts", "art_1")
    assert loaded.title == "A report"
    loaded.tags.append("local change")
    assert read(store, "artifacts", "art_1").tags == ["contract"]
    assert dataclasses.asdict(read(store, "artifacts", "art_1"))["metadata"] == {
        "pages": 3,
        "nested": {"list": [1, "two", None]},
    }


# --- stored rows (bulk reads for the export) ---------------------------------------------


def _stored_json(record: Any) -> bytes:
    """What both backends store: the record's runtime JSON, compact, UTF-8."""
    return json.dumps(to_dict(record), separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("entity", list(ROUND_TRIP))
def test_stored_gives_every_record_as_stored(store: MetadataStore, entity: str) -> None:
    first = ROUND_TRIP[entity]()
    records = [first]
    if hasattr(first, "id") and entity not in ("users", "api_tokens"):  # (unique values)
        records += [dataclasses.replace(first, id=f"{key_of(first)}_{n}") for n in (3, 1, 2)]
    seed(store, entity, records)
    versioned = hasattr(first, "version")
    if versioned:
        commit_unit(store, lambda uow: repo(uow, entity).update(bumped(first), first.version))
        records[0] = bumped(first)
    with store.unit_of_work() as uow:
        stored = uow.stored(entity, batch_size=2)
        batches = list(stored.batches)
    assert all(0 < len(batch) <= 2 for batch in batches)
    rows = [row for batch in batches for row in batch]
    by_key = {key_of(record): record for record in records}
    assert sorted(key for key, _, _ in rows) == sorted(by_key)
    for key, raw, version in rows:
        assert raw == _stored_json(by_key[key])
        assert version == (by_key[key].version if versioned else None)
    if stored.key_ordered:
        assert [key for key, _, _ in rows] == sorted(by_key)


def test_stored_keeps_key_order_where_the_backend_says_so(store: MetadataStore) -> None:
    tasks = [r.task(f"tsk_{n}", date=f"2025-01-{28 - n:02d}") for n in range(12)]
    artifacts = [r.artifact(f"art_{(n * 7) % 12:02d}") for n in range(12)]
    seed(store, "tasks", tasks)
    seed(store, "artifacts", artifacts)
    with store.unit_of_work() as uow:
        for entity, expected in (("tasks", tasks), ("artifacts", artifacts)):
            stored = uow.stored(entity, batch_size=5)
            keys = [key for batch in stored.batches for key, _, _ in batch]
            assert sorted(keys) == sorted(key_of(x) for x in expected)
            if stored.key_ordered:
                assert keys == sorted(keys)
        assert uow.stored("artifacts").key_ordered  # every backend orders this one by key


def test_stored_many_reads_by_key(store: MetadataStore) -> None:
    seed(store, "artifacts", [r.artifact("art_1"), r.artifact("art_2", title="Ünïcode ✓")])
    with store.unit_of_work() as uow:
        rows = uow.stored_many("artifacts", ["art_2", "missing", "art_1", "art_2"])
        assert uow.stored_many("artifacts", []) == []
    assert sorted(key for key, _, _ in rows) == ["art_1", "art_2"]
    for key, raw, version in rows:
        assert json.loads(raw)["id"] == key
        assert version == 1
    assert "Ünïcode ✓".encode() in dict((k, v) for k, v, _ in rows)["art_2"]


# --- expiry ------------------------------------------------------------------------------

EXPIRY_NOW = "2025-06-01T00:00:00.000Z"


def _expiring(entity: str, record_id: str, expires_at: str) -> Any:
    if entity == "sessions":
        return r.session(record_id, user_id="usr_1", expires_at=expires_at)
    if entity == "login_throttles":
        return r.login_throttle(record_id, expires_at=expires_at)
    return r.idempotency(record_id, expires_at=expires_at)


def _expiry_dataset(entity: str) -> dict[str, Any]:
    """Three expired records (oldest first by expiry, not by ID), one expiring at the
    very moment of the purge and two still live."""
    expiries = {
        "rec_e": "2025-05-01T00:00:00.000Z",
        "rec_c": "2025-05-02T00:00:00.000Z",
        "rec_a": "2025-05-31T23:59:59.999Z",
        "rec_b": EXPIRY_NOW,
        "rec_d": "2025-06-01T00:00:00.001Z",
        "rec_f": "2026-01-01T00:00:00.000Z",
    }
    return {key: _expiring(entity, key, moment) for key, moment in expiries.items()}


def _present(store: MetadataStore, entity: str, keys: Sequence[str]) -> list[str]:
    with store.unit_of_work() as uow:
        return sorted(key_of(record) for record in repo(uow, entity).get_many(keys))


@pytest.mark.parametrize("entity", EXPIRING)
def test_purge_expired_deletes_expired_records_oldest_first_and_nothing_live(
    store: MetadataStore, entity: str
) -> None:
    records = _expiry_dataset(entity)
    seed(store, entity, list(records.values()))
    with store.unit_of_work(write=True) as uow:
        first = uow.purge_expired(entity, EXPIRY_NOW, 2)
        uow.commit()
    with store.unit_of_work(write=True) as uow:
        rest = uow.purge_expired(entity, EXPIRY_NOW, 100)
        uow.commit()
    left = _present(store, entity, list(records))
    if isinstance(store, DynamoStore):
        # DynamoDB deletes none here: the table's TTL does, on the attribute every item
        # carries (expiry rounded up to the second, so never before the record expires).
        assert (first, rest) == (0, 0)
        assert left == sorted(records)
        name = store.tables[entity]
        ttl = store.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAtEpoch"}
        epochs = {
            key: store.client.get_item(TableName=name, Key={"id": {"S": key}})["Item"][
                "expiresAtEpoch"
            ]["N"]
            for key in records
        }
        assert epochs["rec_e"] == "1746057600"  # 2025-05-01T00:00:00Z
        assert epochs["rec_a"] == epochs["rec_b"] == "1748736000"  # 2025-06-01T00:00:00Z
        assert epochs["rec_d"] == "1748736001"
    else:
        assert (first, rest) == (2, 1)
        assert left == ["rec_b", "rec_d", "rec_f"]  # expiring at `before` is not expired


@pytest.mark.parametrize("entity", EXPIRING)
def test_purge_expired_is_undone_with_its_unit(store: MetadataStore, entity: str) -> None:
    records = _expiry_dataset(entity)
    seed(store, entity, list(records.values()))
    with store.unit_of_work(write=True) as uow:
        uow.purge_expired(entity, EXPIRY_NOW, 100)  # left without commit
    assert _present(store, entity, list(records)) == sorted(records)


@pytest.mark.parametrize("entity", ["artifacts", "api_tokens", "uploads", "audit_events"])
def test_purge_expired_refuses_records_that_do_not_expire(
    store: MetadataStore, entity: str
) -> None:
    with store.unit_of_work(write=True) as uow, pytest.raises(ValueError, match="do not expire"):
        uow.purge_expired(entity, EXPIRY_NOW, 10)


def _add_in_one_unit(store: MetadataStore, records: list[tuple[str, Any]]) -> None:
    with store.unit_of_work(write=True) as uow:
        for entity, record in records:
            getattr(uow, entity).add(record)
        uow.commit()


def test_one_bundle_per_recurring_occurrence(store: MetadataStore) -> None:
    """A bundle's (recurringConfigId, occurrenceDate) is unique, like a user's email:
    the claim that makes each occurrence exactly one bundle."""

    def made(bundle_id: str, config_id: str, day: str) -> Any:
        return r.bundle(bundle_id, recurring_config_id=config_id, occurrence_date=day)

    seed(
        store,
        "bundles",
        [
            made("bun_1", "rcf_1", "2025-01-07"),
            made("bun_2", "rcf_1", "2025-01-14"),
            made("bun_3", "rcf_2", "2025-01-07"),
            r.bundle("bun_4"),  # bundles made by hand claim nothing
            r.bundle("bun_5"),
        ],
    )
    twin = [
        ("bundles", made("bun_6", "rcf_1", "2025-01-14")),
        ("tasks", r.task("tsk_1", bundle_id="bun_6")),
    ]
    with pytest.raises(Conflict):
        _add_in_one_unit(store, twin)
    assert read(store, "bundles", "bun_6") is None
    assert read(store, "tasks", "tsk_1") is None  # nothing of the unit was written
    pair = [
        ("bundles", made("bun_7", "rcf_3", "2025-02-01")),
        ("bundles", made("bun_8", "rcf_3", "2025-02-01")),
    ]
    with pytest.raises(Conflict):  # two in one unit: refused too
        _add_in_one_unit(store, pair)
    assert read(store, "bundles", "bun_7") is None


# --- notifications: newest first, unread, one per dedupe key ---------------------------------


def _newest_first(
    store: MetadataStore, filters: Mapping[str, str | None], limit: int
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        with store.unit_of_work() as uow:
            page = uow.notifications.find(
                Filters(filters), PageRequest(limit, cursor, descending=True)
            )
        pages.append([n.id for n in page.items])
        assert len(pages) <= 100, "paging does not terminate"
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 4, 50])
@pytest.mark.parametrize("unread", [False, True])
def test_descending_pages_give_every_item_once_newest_first(
    store: MetadataStore, limit: int, unread: bool
) -> None:
    records = _dataset("notifications")
    seed(store, "notifications", records)
    filters = {"user_id": "usr_a", "unread_key": "true" if unread else None}
    expected = sorted(
        (
            n.id
            for n in records
            if n.user_id == "usr_a" and (not unread or (n.read_at is None and not n.dismissed))
        ),
        reverse=True,
    )
    assert expected, "the dataset must give this filter something to list"
    pages = _newest_first(store, filters, limit)
    assert [i for page in pages for i in page] == expected
    assert pages[0] == expected[:limit]


def test_descending_pages_merge_the_units_own_writes(store: MetadataStore) -> None:
    seed(store, "notifications", [r.notification(f"ntf_{i}", user_id="usr_a") for i in (1, 3)])
    with store.unit_of_work(write=True) as uow:
        uow.notifications.add(r.notification("ntf_2", user_id="usr_a"))
        uow.notifications.add(r.notification("ntf_4", user_id="usr_a"))
        first = uow.notifications.find(
            Filters({"user_id": "usr_a"}), PageRequest(3, descending=True)
        )
        assert [n.id for n in first.items] == ["ntf_4", "ntf_3", "ntf_2"]
        rest = uow.notifications.find(
            Filters({"user_id": "usr_a"}), PageRequest(3, first.next_cursor, descending=True)
        )
        assert [n.id for n in rest.items] == ["ntf_1"]
        assert rest.next_cursor is None


def test_reading_a_notification_takes_it_out_of_the_unread_index(store: MetadataStore) -> None:
    note = r.notification("ntf_1", user_id="usr_a")
    seed(store, "notifications", [note])
    assert find_ids(store, "notifications", {"user_id": "usr_a", "unread_key": "true"}) == ["ntf_1"]
    commit_unit(store, lambda uow: uow.notifications.update(bumped(note, read_at=r.STAMP), 1))
    assert find_ids(store, "notifications", {"user_id": "usr_a", "unread_key": "true"}) == []
    assert find_ids(store, "notifications", {"user_id": "usr_a"}) == ["ntf_1"]


def test_one_notification_per_dedupe_key(store: MetadataStore) -> None:
    """The dedupe key is unique, like a user's email; it is found by key at once (no
    index lag), also among the unit's own writes; notifications without one claim
    nothing."""
    seed(
        store,
        "notifications",
        [
            r.notification("ntf_1", user_id="usr_a", dedupe_key="k1"),
            r.notification("ntf_2", user_id="usr_a"),
            r.notification("ntf_3", user_id="usr_a"),
        ],
    )
    with store.unit_of_work() as uow:
        found = uow.notifications.find(Filters({"dedupe_key": "k1"}), PageRequest(limit=1))
        assert [n.id for n in found.items] == ["ntf_1"]
        none = uow.notifications.find(Filters({"dedupe_key": "k2"}), PageRequest(limit=1))
        assert none.items == []
    with pytest.raises(Conflict):
        _add_in_one_unit(
            store, [("notifications", r.notification("ntf_4", user_id="usr_b", dedupe_key="k1"))]
        )
    assert read(store, "notifications", "ntf_4") is None
    with store.unit_of_work(write=True) as uow:
        uow.notifications.add(r.notification("ntf_5", user_id="usr_b", dedupe_key="k5"))
        own = uow.notifications.find(Filters({"dedupe_key": "k5"}), PageRequest(limit=1))
        assert [n.id for n in own.items] == ["ntf_5"]
        uow.commit()
    note = read(store, "notifications", "ntf_5")
    commit_unit(store, lambda uow: uow.notifications.update(bumped(note, read_at=r.STAMP), 1))
    assert find_ids(store, "notifications", {"dedupe_key": "k5"}) == ["ntf_5"]


_RANGED = [
    r.task(f"tsk_{day}{n}", date=f"2025-01-{day:02d}", status=status)
    for day in (1, 2, 3, 5, 8)
    for n, status in enumerate((TaskStatus.TODO, TaskStatus.WAITING, TaskStatus.DONE))
]


@pytest.mark.parametrize("limit", [1, 2, 50])
@pytest.mark.parametrize(
    ("since", "through"),
    [
        ("2025-01-02", "2025-01-05"),
        (None, "2025-01-02"),
        ("2025-01-05", None),
        ("2025-01-04", "2025-01-04"),
    ],
)
def test_a_range_of_the_order_pages_and_counts_like_a_filter(
    store: MetadataStore, limit: int, since: str | None, through: str | None
) -> None:
    """`Filters.since`/`through` bound the first order field (tasks: date), inclusive,
    with the equality filters, through cursors; `count` agrees with the pages."""
    seed(store, "tasks", _RANGED)
    for values in ({}, {"open_key": "true"}, {"status": "done"}):
        filters = Filters(values, since=since, through=through)
        expected = [
            t.id
            for t in sorted(_RANGED, key=lambda t: (t.date, t.id))
            if filters.in_range(t.date)
            and all(getattr(t, name) == value for name, value in values.items())
        ]
        got: list[str] = []
        cursor = None
        with store.unit_of_work() as uow:
            for _ in range(50):
                page = uow.tasks.find(filters, PageRequest(limit, cursor))
                got += [t.id for t in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert got == expected, (values, since, through)
            assert uow.tasks.count(filters) == len(expected)


def test_count_is_zero_for_a_value_no_record_has(store: MetadataStore) -> None:
    seed(store, "tasks", _RANGED)
    with store.unit_of_work() as uow:
        assert uow.tasks.count(Filters({"bundle_id": "bun_none"})) == 0
        assert uow.tasks.count(Filters({})) == len(_RANGED)
        assert uow.tasks.count(Filters({"open_key": "true"}, since="2026-01-01")) == 0
