"""`plan_import` / `apply_import`: dry runs write nothing; a round trip through an empty
store gives identical entity files; re-imports change nothing; refusals write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops.domain.accounts import User
from dataops.domain.clock import now_ts
from dataops.portable.format import EXPORTED, MANIFEST, SPECS
from dataops.portable.importing.importer import ImportRefused, apply_import, plan_import
from dataops.portable.writing.export import write_export
from dataops.services import auth
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest
from tests.portable.conftest import INFO, Golden
from tests.portable.support import ExportDir

Counts = dict[str, tuple[int, int, int, int]]


def counts(plan_entities: dict[str, object]) -> Counts:
    out: Counts = {}
    for name, plan in plan_entities.items():
        out[name] = (plan.insert, plan.update, plan.skip, plan.invalid)  # type: ignore[attr-defined]
    return out


def snapshot(ws: Workspace, directory: Path) -> dict[str, bytes]:
    write_export(ws.store, directory, INFO)
    return {name: (directory / f"{name}.jsonl").read_bytes() for name in EXPORTED}


def record_total(ws: Workspace) -> int:
    total = 0
    with ws.store.unit_of_work() as uow:
        for name in (*EXPORTED, "credentials", "sessions", "api_tokens"):
            page = getattr(uow, name).find(Filters(), PageRequest(limit=500))
            total += len(page.items)
    return total


@pytest.mark.parametrize("source", ["directory", "archive"])
def test_dry_run_counts_and_writes_nothing(
    golden: Golden, empty_workspace: Workspace, source: str
) -> None:
    path = golden.directory if source == "directory" else golden.archive
    plan = plan_import(path, empty_workspace.store)
    expected = ExportDir(golden.directory).manifest()["entity_counts"]
    assert counts(plan.entities) == {name: (expected[name], 0, 0, 0) for name in EXPORTED}
    assert list(plan.entities) == list(EXPORTED)  # dependency order
    assert plan.importable
    assert plan.report.relationships["artifacts.task_id -> tasks"] > 0
    assert record_total(empty_workspace) == 0


def test_round_trip_gives_identical_entity_files(
    golden: Golden, empty_workspace: Workspace, tmp_path: Path
) -> None:
    plan = apply_import(golden.archive, empty_workspace.store)
    assert plan.applied
    assert plan.users_without_credentials == 4  # admin, operator, viewer, demo assistant
    again = snapshot(empty_workspace, tmp_path / "again")
    for name in EXPORTED:
        assert again[name] == (golden.directory / f"{name}.jsonl").read_bytes(), name
    original = ExportDir(golden.directory).manifest()
    exported = ExportDir(tmp_path / "again").manifest()
    assert exported["checksums"] == original["checksums"]
    assert exported["entity_counts"] == original["entity_counts"]
    with empty_workspace.store.unit_of_work() as uow:  # no credentials came along
        assert uow.credentials.find(Filters(), PageRequest()).items == []
        assert uow.sessions.find(Filters(), PageRequest()).items == []
        assert uow.api_tokens.find(Filters(), PageRequest()).items == []


def test_reimport_changes_nothing(
    golden: Golden, empty_workspace: Workspace, tmp_path: Path
) -> None:
    apply_import(golden.directory, empty_workspace.store)
    before = snapshot(empty_workspace, tmp_path / "before")
    plan = apply_import(golden.directory, empty_workspace.store, allow_existing=True)
    assert all(c[0] == c[1] == c[3] == 0 for c in counts(plan.entities).values())
    assert sum(c[2] for c in counts(plan.entities).values()) == sum(
        ExportDir(golden.directory).manifest()["entity_counts"].values()
    )
    assert snapshot(empty_workspace, tmp_path / "after") == before


def test_non_empty_target_is_refused(golden: Golden, empty_workspace: Workspace) -> None:
    apply_import(golden.directory, empty_workspace.store)
    total = record_total(empty_workspace)
    with pytest.raises(ImportRefused, match="already holds records"):
        apply_import(golden.directory, empty_workspace.store)
    assert record_total(empty_workspace) == total


def test_users_alone_do_not_make_a_target_non_empty(
    golden: Golden, empty_workspace: Workspace
) -> None:
    """A bootstrap admin (the same user, as after a previous restore) is fine."""
    admin = ExportDir(golden.directory).records("users")[0]
    with empty_workspace.store.unit_of_work(write=True) as uow:
        uow.users.add(
            User(
                admin["user_id"], admin["email"], admin["name"], admin["role"], admin["created_at"]
            )
        )
        uow.commit()
    plan = apply_import(golden.directory, empty_workspace.store)
    assert counts(plan.entities)["users"][2] == 1


def test_user_email_held_by_another_user_is_a_conflict(
    golden: Golden, empty_workspace: Workspace
) -> None:
    email = ExportDir(golden.directory).records("users")[0]["email"]
    with empty_workspace.store.unit_of_work(write=True) as uow:
        uow.users.add(User("usr_other", email, "Someone", "admin", now_ts()))  # type: ignore[arg-type]
        uow.commit()
    with pytest.raises(ImportRefused, match="conflicts") as refused:
        apply_import(golden.directory, empty_workspace.store)
    assert refused.value.plan is not None
    assert [c.field for c in refused.value.plan.conflicts] == ["email"]
    assert record_total(empty_workspace) == 1


def test_invalid_export_is_refused_and_counted(
    tampered: ExportDir, golden: Golden, empty_workspace: Workspace
) -> None:
    tampered.edit("tasks", golden.ids.waiting_task, bundle_id="gone")
    plan = plan_import(tampered.root, empty_workspace.store)
    assert not plan.importable
    assert counts(plan.entities)["tasks"][3] == 1
    with pytest.raises(ImportRefused, match="not valid"):
        apply_import(tampered.root, empty_workspace.store)
    assert record_total(empty_workspace) == 0


def test_changed_records_are_updated_on_their_stored_version(
    golden: Golden, tampered: ExportDir, empty_workspace: Workspace
) -> None:
    apply_import(golden.directory, empty_workspace.store)
    _, task = tampered.find("tasks", golden.ids.waiting_task)
    tampered.edit("tasks", golden.ids.waiting_task, description="Wait for the new sponsor")
    plan = apply_import(tampered.root, empty_workspace.store, allow_existing=True)
    assert counts(plan.entities)["tasks"][:3] == (0, 1, len(tampered.records("tasks")) - 1)
    with empty_workspace.store.unit_of_work() as uow:
        stored = uow.tasks.get(golden.ids.waiting_task)
    assert stored is not None
    assert stored.description == "Wait for the new sponsor"
    assert stored.version == task["version"] + 1


def test_audit_trail_is_append_only(
    golden: Golden, tampered: ExportDir, empty_workspace: Workspace
) -> None:
    apply_import(golden.directory, empty_workspace.store)
    event = tampered.records("audit_events")[0]
    tampered.edit("audit_events", event["audit_event_id"], summary="rewritten history")
    with pytest.raises(ImportRefused, match="conflicts") as refused:
        apply_import(tampered.root, empty_workspace.store, allow_existing=True)
    assert refused.value.plan is not None
    assert refused.value.plan.conflicts[0].entity == "audit_events"


def test_imported_users_cannot_log_in_until_a_password_is_set(
    golden: Golden, empty_workspace: Workspace
) -> None:
    from dataops.domain.errors import Unauthorized
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    apply_import(golden.directory, empty_workspace.store)
    with pytest.raises(Unauthorized):
        auth.login(empty_workspace, ADMIN_EMAIL, ADMIN_PASSWORD)


def test_pre_artifact_export_imports(tampered: ExportDir, empty_workspace: Workspace) -> None:
    tampered.path("artifacts").unlink()
    manifest = tampered.manifest()
    for key in ("entity_files", "entity_counts"):
        del manifest[key]["artifacts"]
    del manifest["checksums"]["artifacts.jsonl"]
    manifest["omitted_entities"].append("artifacts")
    tampered.write_manifest(manifest)
    plan = apply_import(tampered.root, empty_workspace.store)
    assert "artifacts" not in plan.entities
    assert (tampered.root / MANIFEST).exists()


@pytest.mark.slow
def test_round_trip_on_dynamodb(
    golden: Golden, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same round trip into DynamoDB (moto server): identical entity files, and a
    re-import skips everything."""
    from tests.contract.dynamo import drop_tables, dynamo_store

    store = dynamo_store(request.getfixturevalue("moto"), tmp_path / "home")
    try:
        assert store.is_empty()
        dry = plan_import(golden.archive, store)
        assert store.is_empty()
        applied = apply_import(golden.archive, store)
        assert counts(applied.entities) == counts(dry.entities)
        write_export(store, tmp_path / "again", INFO)
        for name in EXPORTED:
            again = (tmp_path / "again" / f"{name}.jsonl").read_bytes()
            assert again == (golden.directory / f"{name}.jsonl").read_bytes(), name
        again_plan = apply_import(golden.archive, store, allow_existing=True)
        assert all(c[0] == c[1] == c[3] == 0 for c in counts(again_plan.entities).values())
    finally:
        drop_tables(store)
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_imported_records_are_found_by_search_also_after_an_updating_import(
    golden: Golden,
    tampered: ExportDir,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
) -> None:
    """Import writes through the repositories, so the search index follows: imported
    records are found, and an --allow-existing import that rewrites the text of every task
    (up to 80 word items each on DynamoDB) replaces their words."""
    from dataops.domain.search import query_words
    from dataops.store.dynamodb import DynamoStore
    from dataops.store.sqlite import SqliteStore
    from tests.contract.dynamo import drop_tables, dynamo_store

    store = (
        dynamo_store(request.getfixturevalue("moto"), tmp_path / "home")
        if backend == "dynamodb"
        else SqliteStore(tmp_path / "target.db")
    )

    def found(q: str) -> set[str]:
        with store.unit_of_work() as uow:
            page = uow.search(query_words(q), ["task"], PageRequest(limit=500))
        return {hit.id for hit in page.items}

    try:
        apply_import(golden.directory, store)
        key = SPECS["tasks"].id_field
        tasks = tampered.records("tasks")
        first_word = tasks[0]["description"].split()[0]
        assert tasks[0][key] in found(first_word)
        for task in tasks:
            words = " ".join(f"w{n}x{task[key][-4:]}" for n in range(45))
            tampered.edit("tasks", task[key], description=f"Rewritten {words}")
        plan = apply_import(tampered.root, store, allow_existing=True)
        assert counts(plan.entities)["tasks"][1] == len(tasks)
        assert found("rewritten") == {task[key] for task in tasks}
        assert tasks[0][key] not in found(first_word) or first_word.lower() == "rewritten"
    finally:
        if isinstance(store, DynamoStore):
            drop_tables(store)
        store.close()
