"""Small guarantees found in review: template assignees must exist; the demo loads on a
workspace without binary storage."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from dataops import runtime
from dataops.demo import load_demo
from dataops.services import workflow
from dataops.store.port import PageRequest
from tests.conftest import make_settings


def test_an_unknown_task_definition_assignee_is_404_and_nothing_is_stored(
    api: TestClient,
) -> None:
    body = {
        "name": "Newsletter",
        "taskDefinitions": [
            {"refId": "draft", "description": "Draft the issue", "assigneeId": "usr_nobody"}
        ],
    }
    response = api.post("/work/api/templates", json=body)
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "Assignee ID (task definition 1): user 'usr_nobody' does not exist"
    )
    assert api.get("/work/api/templates").json()["items"] == []


def test_the_demo_loads_without_binary_storage(tmp_path: Path) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path, DATAOPS_BLOB_STORE="disabled"))
    runtime.bootstrap_admin(ws)
    try:
        assert load_demo(ws) is True
        assert load_demo(ws) is False
        templates = workflow.list_templates(ws, PageRequest(limit=10)).items
        assert [t.name for t in templates] == ["Podcast episode (demo)"]
    finally:
        ws.store.close()
    assert not (tmp_path / "blobs").exists()
