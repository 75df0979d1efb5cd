"""One rich workspace and its export per session (building it costs a few password
hashes); tests that tamper work on copies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dataops import runtime
from dataops.portable.format import SourceInfo
from dataops.portable.writing.export import write_export
from dataops.services.context import Workspace
from tests.conftest import make_settings
from tests.portable.support import ExportDir, Rich, build_rich_workspace, copy_export

INFO = SourceInfo(environment="test", stack="local", region="local", git_sha="unknown")


@dataclass
class Golden:
    ws: Workspace
    ids: Rich
    directory: Path
    archive: Path


@pytest.fixture(scope="session")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    home = tmp_path_factory.mktemp("rich")
    ws = runtime.build_workspace(make_settings(home))
    runtime.bootstrap_admin(ws)
    ids = build_rich_workspace(ws)
    out = tmp_path_factory.mktemp("golden")
    write_export(ws.store, out / "export", INFO)
    write_export(ws.store, out / "export.tar.gz", INFO)
    yield Golden(ws, ids, out / "export", out / "export.tar.gz")
    ws.store.close()


@pytest.fixture
def tampered(golden: Golden, tmp_path: Path) -> ExportDir:
    """A private copy of the golden export directory."""
    return copy_export(golden.directory, tmp_path / "copy")


@pytest.fixture
def empty_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh store with no records at all (no bootstrap admin)."""
    ws = runtime.build_workspace(make_settings(tmp_path / "target"))
    yield ws
    ws.store.close()
