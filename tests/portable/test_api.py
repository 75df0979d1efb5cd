"""`GET /work/api/export` through the portal: an admin download of a valid archive."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from dataops.domain.enums import Role
from dataops.portable.checking.validate import validate_export
from dataops.services.context import Workspace


def _temp_exports() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("dataops-export-*")}


def test_admin_downloads_a_valid_archive(api: TestClient, tmp_path: Path) -> None:
    created = api.post("/work/api/tasks", json={"description": "Export me", "date": "2025-04-01"})
    assert created.status_code == 201, created.text
    before = _temp_exports()
    response = api.get("/work/api/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    disposition = response.headers["content-disposition"]
    assert re.match(r'attachment; filename="dataops-execution-[0-9TZ-]+\.tar\.gz"', disposition)
    assert response.headers["cache-control"] == "private, no-store"
    path = tmp_path / "download.tar.gz"
    path.write_bytes(response.content)
    report = validate_export(path)
    assert report.valid, report.lines()
    assert report.entity_counts["tasks"] == 1
    assert report.entity_counts["users"] == 1
    assert _temp_exports() <= before  # the temporary archive is gone


def test_viewer_and_operator_are_refused(
    client_as: Callable[[Role], TestClient], workspace: Workspace
) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        response = client_as(role).get("/work/api/export")
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_anonymous_is_refused(portal: TestClient) -> None:
    assert portal.get("/work/api/export").status_code == 401
