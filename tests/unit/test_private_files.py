"""What DataOps keeps on local disk is the owner's alone: the SQLite database and its
WAL hold password hashes, local-dev blobs hold users' files."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops import runtime
from dataops.services import files, people, tasks
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files are created 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_database_wal_and_blobs_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    ws = runtime.build_workspace(make_settings(home))
    try:
        runtime.bootstrap_admin(ws)  # a write: the WAL and shared-memory files exist now
        db = ws.settings.sqlite_path
        side = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in side)
        assert mode(home) == 0o700
        assert mode(home.parent) == 0o700  # created by DataOps too
        assert {path.name: mode(path) for path in (db, *side)} == {
            path.name: 0o600 for path in (db, *side)
        }
        task = tasks.create_task(
            ws, people.SYSTEM, {"description": "Send invoice", "date": "2026-03-02"}
        )
        record = files.upload_file(
            ws,
            people.SYSTEM,
            files.Upload("a.txt", "text/plain", io.BytesIO(b"bytes"), task.id),
        )
        blob = ws.settings.blob_root / (record.storage_uri or "").removeprefix("local-dev://")
        assert mode(blob) == 0o600
        assert mode(blob.parent) == 0o700
        assert mode(ws.settings.blob_root) == 0o700
    finally:
        ws.store.close()


def test_existing_files_left_readable_are_tightened_at_start(tmp_path: Path) -> None:
    """A database, WAL and shared-memory file that an older version left 0644 are 0600
    once the next process starts; an existing home directory is left alone (it may be
    shared on purpose)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    first = runtime.build_workspace(make_settings(home))
    second = None
    try:
        runtime.bootstrap_admin(first)  # still open: its WAL and -shm files stay
        db = first.settings.sqlite_path
        paths = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        for path in paths:
            path.chmod(0o644)
        second = runtime.build_workspace(make_settings(home))
        assert [mode(path) for path in paths] == [0o600, 0o600, 0o600]
        assert mode(home) == 0o755
        assert people.has_users(second)  # the tightened database still opens and reads
    finally:
        first.store.close()
        if second is not None:
            second.store.close()
