"""The local-dev blob sweeper (`services/blobsweep.py`, `dataops blobs sweep`, and at each
start of `dataops serve`): bytes that no record names go once they are older than the
age; anything a record names — a file record (also a legacy `storagePath`), an artifact,
a pending upload — and anything younger stays. On SQLite and DynamoDB, whose indexes
answer "does any record name this object?"."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest

from dataops import cli, runtime
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactType
from dataops.domain.models import FileRecord
from dataops.services import artifacts, blobsweep, files, people, tasks, uploads
from dataops.services.context import Workspace
from dataops.store.dynamodb import DynamoStore
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login, make_settings
from tests.contract.dynamo import drop_tables, dynamo_env

HOUR = 3600
ACTOR: Actor = people.SYSTEM


@pytest.fixture(params=["sqlite", "dynamodb"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    env = dynamo_env(request.getfixturevalue("dynamodb_endpoint"))
    settings = make_settings(tmp_path, **(env if request.param == "dynamodb" else {}))
    ws = runtime.build_workspace(settings)
    yield ws
    if isinstance(ws.store, DynamoStore):
        drop_tables(cast(DynamoStore, ws.store))
    ws.store.close()


def age(ws: Workspace, name: str, seconds: float = 2 * HOUR) -> None:
    """Make a stored file look `seconds` old."""
    path = ws.settings.blob_root / name
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def put(ws: Workspace, key: str, data: bytes = b"bytes") -> str:
    return ws.blobs.put(key, io.BytesIO(data), content_type="text/plain", max_bytes=100).uri


def on_disk(ws: Workspace) -> set[str]:
    root = ws.settings.blob_root
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def world(ws: Workspace) -> dict[str, str]:
    """One stored file of every kind, all two hours old unless named young."""
    task = tasks.create_task(ws, ACTOR, {"description": "Send invoice", "date": "2026-03-02"})
    uploaded = files.upload_file(
        ws, ACTOR, files.Upload("a.txt", "text/plain", io.BytesIO(b"uploaded"), task.id)
    )
    uri = put(ws, "files/dem_transcript", b"demo transcript")  # named by an artifact only
    artifacts.register_artifact(
        ws, ACTOR, {"type": ArtifactType.TRANSCRIPT, "title": "T", "storage_uri": uri}
    )
    put(ws, "files/fil_legacy", b"legacy")  # named by a legacy storagePath only
    with ws.store.unit_of_work(write=True) as uow:
        uow.files.add(
            FileRecord(
                "fil_old",
                "old.txt",
                "2024-01-01T00:00:00.000Z",
                task_id=task.id,
                storage_path="\\files\\fil_legacy",
            )
        )
        uow.commit()
    ticket = uploads.create_upload(
        ws,
        ACTOR,
        {
            "filename": "b.txt",
            "content_type": "text/plain",
            "size_bytes": 7,
            "checksum": "sha256:" + hashlib.sha256(b"pending").hexdigest(),
        },
    )
    uploads.receive_content(ws, ACTOR, ticket.upload.id, io.BytesIO(b"pending"))
    put(ws, "files/fil_orphan", b"crash")  # the record was never written
    put(ws, "files/fil_young_orphan", b"crash, just now")
    temp = ws.settings.blob_root / "files" / ".upload-x1y2"  # a put cut short
    temp.write_bytes(b"half")
    stray = ws.settings.blob_root / "Notes.TXT"  # not written by the store
    stray.write_bytes(b"mine")
    names = {
        "uploaded": (uploaded.storage_uri or "").removeprefix("local-dev://"),
        "artifact": "files/dem_transcript",
        "legacy": "files/fil_legacy",
        "pending": ticket.upload.key,
        "orphan": "files/fil_orphan",
        "young": "files/fil_young_orphan",
        "temp": "files/.upload-x1y2",
        "stray": "Notes.TXT",
    }
    for kind, name in names.items():
        if kind != "young":
            age(ws, name)
    return names


def test_only_old_unreferenced_blobs_and_temp_files_go(workspace: Workspace) -> None:
    names = world(workspace)
    before = on_disk(workspace)
    assert set(names.values()) <= before

    listed = blobsweep.sweep_blobs(workspace, dry_run=True)
    assert sorted(listed.removed) == sorted([names["orphan"], names["temp"]])
    assert on_disk(workspace) == before  # a dry run removes nothing

    report = blobsweep.sweep_blobs(workspace)
    assert sorted(report.removed) == sorted([names["orphan"], names["temp"]])
    assert (report.referenced, report.young) == (4, 1)
    assert on_disk(workspace) == before - {names["orphan"], names["temp"]}
    # What stays is still served.
    assert b"".join(workspace.blobs.read("local-dev://" + names["artifact"])) == (
        b"demo transcript"
    )
    # Younger than the age asked: kept; at age zero, the young orphan goes too.
    assert blobsweep.sweep_blobs(workspace, older_than=timedelta(0)).removed == [names["young"]]


def test_a_sweep_of_s3_or_disabled_blobs_is_refused(tmp_path: Path) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path, DATAOPS_BLOB_STORE="disabled"))
    try:
        with pytest.raises(Exception, match="only the local-dev blob store is swept"):
            blobsweep.sweep_blobs(ws)
    finally:
        ws.store.close()


def test_the_cli_prints_what_it_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path))
    try:
        names = world(ws)
    finally:
        ws.store.close()
    for name, value in {"DATAOPS_ENV": "test", "DATAOPS_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[list[str], str]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["blobs", "sweep", *args])
        assert exit_info.value.code == 0
        out, err = capsys.readouterr()
        return sorted(out.split()), err

    removed, summary = run("--dry-run")
    assert removed == sorted([names["orphan"], names["temp"]])
    assert "would remove 2" in summary
    assert (tmp_path / "blobs" / names["orphan"]).exists()
    removed, summary = run("--older-than", "0")
    assert removed == sorted([names["orphan"], names["temp"], names["young"]])
    assert "removed 3" in summary
    assert "kept 4 referenced" in summary
    assert not (tmp_path / "blobs" / names["orphan"]).exists()
    assert (tmp_path / "blobs" / names["artifact"]).exists()
    with pytest.raises(SystemExit):
        cli.main(["blobs", "sweep", "--older-than", "-5"])


def test_dataops_serve_sweeps_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ws = runtime.build_workspace(make_settings(home))
    runtime.bootstrap_admin(ws)
    try:
        names = world(ws)
    finally:
        ws.store.close()
    served = ServedPortal(home)
    try:
        with httpx.Client(base_url=served.base_url, timeout=30) as client:
            login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        left = {p.relative_to(home / "blobs").as_posix() for p in (home / "blobs").rglob("*")}
        assert names["orphan"] not in left
        assert names["temp"] not in left
        kept = {names[k] for k in ("uploaded", "artifact", "legacy", "pending", "young", "stray")}
        assert kept <= left
    finally:
        served.stop()
    assert "swept 2 unreferenced blob(s)" in (home / "serve.log").read_text()
