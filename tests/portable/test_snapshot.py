"""A DynamoDB export is one consistent snapshot although its reads are live
(`portable/writing/snapshot.py`): writers racing the export (moto server) never leave a dangling
reference, every record committed before the export started is in it, and a set of
records that keeps changing fails the export instead of tearing it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dataops import runtime
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactType
from dataops.domain.errors import StorageUnavailable
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import EXPORTED, SPECS
from dataops.portable.writing import snapshot
from dataops.portable.writing.export import write_export
from dataops.services import artifacts, files, tasks
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from tests.portable.conftest import INFO
from tests.portable.support import ExportDir, HookedStore


@pytest.fixture
def dynamo_ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    from tests.contract.dynamo import drop_tables, dynamo_settings

    ws = runtime.build_workspace(dynamo_settings(request.getfixturevalue("moto"), tmp_path))
    runtime.bootstrap_admin(ws)
    yield ws
    drop_tables(ws.store)  # type: ignore[arg-type]
    ws.store.close()


def _task_with_children(ws: Workspace, actor: Actor, label: str) -> tuple[str, str, str]:
    """A task, then an artifact and a file that point to it (three transactions)."""
    task = tasks.create_task(ws, actor, {"description": label, "date": "2025-01-01"})
    artifact = artifacts.register_artifact(
        ws,
        actor,
        {
            "type": ArtifactType.REPORT,
            "title": f"{label} report",
            "storage_uri": f"https://example.com/{label}/report",
            "task_id": task.id,
        },
    )
    record = files.register_file(
        ws,
        actor,
        {
            "storage_uri": f"https://example.com/{label}/file.pdf",
            "filename": "file.pdf",
            "task_id": task.id,
        },
    )
    return task.id, artifact.id, record.id


def _exported_ids(root: Path) -> set[tuple[str, str]]:
    export = ExportDir(root)
    return {
        (name, record[SPECS[name].id_field]) for name in EXPORTED for record in export.records(name)
    }


def _stored_ids(ws: Workspace) -> set[tuple[str, str]]:
    with ws.store.unit_of_work() as uow:
        batches = ((name, rows) for name in EXPORTED for rows in uow.stored(name).batches)
        return {(name, key) for name, rows in batches for key, *_ in rows}


@pytest.mark.slow
@pytest.mark.parametrize("settle", [snapshot.SETTLE, timedelta(0)], ids=["settle", "no-settle"])
def test_writers_racing_a_dynamodb_export_leave_it_consistent(
    dynamo_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settle: timedelta
) -> None:
    """With the real margin every record here is recent, so the repair pass re-reads them
    all; without one, the records written before the export count as untouched (copied as
    read) and only those written during it are repaired."""
    monkeypatch.setattr(snapshot, "SETTLE", settle)
    ws = dynamo_ws
    for index in range(5):
        _task_with_children(ws, SYSTEM, f"before-{index}")
    before = _stored_ids(ws)
    stop = threading.Event()
    written: list[tuple[str, str, str]] = []
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        count = 0
        try:
            while not stop.is_set():
                written.append(_task_with_children(ws, SYSTEM, f"{name}-{count}"))
                count += 1
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    raced: list[tuple[str, str, str]] = []

    def race(entity: str) -> None:  # once `tasks` has been read: a task and its children
        if entity == "files" and not raced:
            raced.append(_task_with_children(ws, SYSTEM, "raced"))

    try:
        write_export(HookedStore(ws.store, race), tmp_path / "export", INFO)  # type: ignore[arg-type]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    assert written, "the writers wrote nothing while the export ran"
    report = validate_export(tmp_path / "export")
    assert report.valid, report.lines()
    exported = _exported_ids(tmp_path / "export")
    assert before <= exported  # every record committed before the export started
    ((task_id, artifact_id, file_id),) = raced
    # The artifact and the file were read after they were written: their task is there.
    assert {("artifacts", artifact_id), ("files", file_id)} <= exported
    assert ("tasks", task_id) in exported


@pytest.mark.slow
def test_records_that_never_settle_fail_the_export(dynamo_ws: Workspace, tmp_path: Path) -> None:
    """A record rewritten before every repair read never reads the same twice."""
    ws = dynamo_ws
    task = tasks.create_task(ws, SYSTEM, {"description": "busy", "date": "2025-01-01"})

    def touch(entity: str) -> None:
        current = tasks.get_task(ws, task.id)
        tasks.update_task(ws, SYSTEM, task.id, {"description": f"v{current.version}"}, None)

    busy = HookedStore(ws.store, before_many=touch)
    with pytest.raises(StorageUnavailable, match="did not settle"):
        write_export(busy, tmp_path / "export", INFO)  # type: ignore[arg-type]
    assert not (tmp_path / "export").exists()
    assert not list(tmp_path.glob(".export.*"))
