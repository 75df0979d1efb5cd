"""Planning through the API (issue 19 item 1), on both stores: the instantiate preview
(`POST /api/templates/{id}/preview`) shows exactly what instantiate creates and writes
nothing; the planning writes the browser makes (add, reschedule, reassign, archive a task;
edit a bundle and a template) are audited and refused when stale (If-Match)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_settings

API = "/work/api"


@pytest.fixture(params=["sqlite", "dynamodb"])
def admin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
    else:
        from tests.contract.dynamo import dynamo_settings, endpoint_for

        settings = dynamo_settings(endpoint_for(request), tmp_path)
    ws: Workspace = runtime.build_workspace(settings)
    runtime.bootstrap_admin(ws)
    with TestClient(runtime.build_single_process(ws)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client
    ws.store.close()


def make_template(client: TestClient) -> dict[str, Any]:
    me = client.get(f"{API}/me").json()
    response = client.post(
        f"{API}/templates",
        json={
            "name": "Podcast episode",
            "defaultAssigneeId": me["id"],
            "bundleLinkDefinitions": [{"name": "Recording"}],
            "taskDefinitions": [
                {"refId": "book", "description": "Book the guest", "offsetDays": -7},
                {
                    "refId": "transcript",
                    "description": "Publish the transcript",
                    "offsetDays": 2,
                    "proofRequirement": {"type": "artifact", "artifactType": "transcript"},
                },
                {
                    "refId": "link",
                    "description": "Share the recording",
                    "requiredLinkName": "Recording",
                },
            ],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def counts(client: TestClient) -> tuple[int, int, int]:
    def n(path: str) -> int:
        return len(client.get(f"{API}/{path}", params={"limit": 500}).json()["items"])

    return n("bundles"), n("tasks"), n("audit-events")


def test_preview_is_what_instantiate_creates_and_writes_nothing(admin: TestClient) -> None:
    template = make_template(admin)
    body = {"title": "Episode 44", "anchorDate": "2030-03-04"}
    before = counts(admin)

    preview = admin.post(f"{API}/templates/{template['id']}/preview", json=body)
    assert preview.status_code == 200, preview.text
    assert counts(admin) == before  # nothing stored, nothing audited

    created = admin.post(f"{API}/templates/{template['id']}/instantiate", json=body)
    assert created.status_code == 201
    shown, made = preview.json(), created.json()

    def same(record: dict[str, Any]) -> dict[str, Any]:
        skip = {"id", "bundleId", "createdAt", "updatedAt", "version"}
        return {k: v for k, v in record.items() if k not in skip}

    assert same(shown["bundle"]) == same(made["bundle"])
    assert [same(t) for t in shown["tasks"]] == [same(t) for t in made["tasks"]]
    assert [t["date"] for t in shown["tasks"]] == ["2030-02-25", "2030-03-06", "2030-03-04"]
    assert shown["tasks"][1]["proofRequirement"]["artifactType"] == "transcript"
    assert {t["assigneeId"] for t in shown["tasks"]} == {template["defaultAssigneeId"]}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"title": "E", "anchorDate": "2030-02-30"}, 422, "anchorDate"),
        ({"anchorDate": "2030-03-04"}, 422, "title"),
        ({"title": "", "anchorDate": "2030-03-04"}, 422, "title"),
    ],
)
def test_preview_refuses_what_instantiate_refuses(
    admin: TestClient, body: dict[str, Any], status: int, field: str
) -> None:
    template = make_template(admin)
    for route in ("preview", "instantiate"):
        response = admin.post(f"{API}/templates/{template['id']}/{route}", json=body)
        assert response.status_code == status, (route, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}


def test_preview_of_unknown_template_is_404(admin: TestClient) -> None:
    response = admin.post(
        f"{API}/templates/tpl_missing/preview", json={"title": "E", "anchorDate": "2030-03-04"}
    )
    assert response.status_code == 404


def test_planning_writes_are_audited_and_refused_when_stale(admin: TestClient) -> None:
    template = make_template(admin)
    made = admin.post(
        f"{API}/templates/{template['id']}/instantiate",
        json={"title": "Episode 45", "anchorDate": "2030-03-11"},
    ).json()
    bundle, task = made["bundle"], made["tasks"][0]
    other = admin.post(
        f"{API}/users",
        json={
            "email": "host@example.com",
            "name": "Host",
            "role": "operator",
            "password": "long-enough-password",
        },
    ).json()

    added = admin.post(
        f"{API}/tasks",
        json={"description": "Thank the guest", "date": "2030-03-12", "bundleId": bundle["id"]},
    )
    assert added.status_code == 201

    for change in ({"date": "2030-03-01"}, {"assigneeId": other["id"]}, {"status": "archived"}):
        current = admin.get(f"{API}/tasks/{task['id']}").json()
        stale = admin.patch(
            f"{API}/tasks/{task['id']}",
            json=change,
            headers={"If-Match": f'"{current["version"] + 1}"'},
        )
        assert stale.status_code == 409
        ok = admin.patch(
            f"{API}/tasks/{task['id']}",
            json=change,
            headers={"If-Match": f'"{current["version"]}"'},
        )
        assert ok.status_code == 200, ok.text
    final = admin.get(f"{API}/tasks/{task['id']}").json()
    assert (final["date"], final["assigneeId"], final["status"]) == (
        "2030-03-01",
        other["id"],
        "archived",
    )
    actions = [
        e["action"]
        for e in admin.get(
            f"{API}/audit-events", params={"entityType": "task", "entityId": task["id"]}
        ).json()["items"]
    ]
    assert actions.count("update") == 3

    edited = admin.patch(
        f"{API}/bundles/{bundle['id']}",
        json={
            "title": "Episode 45 (moved)",
            "stage": "editing",
            "bundleLinks": [{"name": "Recording", "url": "https://example.com/rec"}],
        },
        headers={"If-Match": f'"{bundle["version"]}"'},
    )
    assert edited.status_code == 200
    stale_bundle = admin.patch(
        f"{API}/bundles/{bundle['id']}",
        json={"title": "Lost"},
        headers={"If-Match": f'"{bundle["version"]}"'},
    )
    assert stale_bundle.status_code == 409
    assert admin.get(f"{API}/bundles/{bundle['id']}").json()["title"] == "Episode 45 (moved)"
