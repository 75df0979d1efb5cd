"""Issue 19 item 4 through the portal, on SQLite and DynamoDB: `GET /api/search`, the
artifact list's filters (All artifacts, review queue) and the bundles list's artifact
count."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services import artifact_reads, people
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login

JsonDict = dict[str, Any]


@pytest.fixture
def client(any_workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(any_workspace)) as test_client:
        login(test_client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield test_client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def register(client: TestClient, **fields: Any) -> JsonDict:
    body = {
        "type": "report",
        "title": "A report",
        "storageUri": f"https://example.com/{uuid.uuid4().hex[:8]}",
        **fields,
    }
    return ok(client.post("/work/api/artifacts", json=body), 201)


def pages(client: TestClient, path: str, limit: int, **params: str) -> list[list[JsonDict]]:
    out: list[list[JsonDict]] = []
    query: dict[str, str] = {**params, "limit": str(limit)}
    for _ in range(200):
        body = ok(client.get(path, params=query))
        assert len(body["items"]) <= limit
        out.append(body["items"])
        if body["nextCursor"] is None:
            return out
        query["cursor"] = body["nextCursor"]
    raise AssertionError("paging did not end")


def flat(found: list[list[JsonDict]]) -> list[JsonDict]:
    return [item for page in found for item in page]


def search(client: TestClient, q: str, limit: int = 50, **params: str) -> list[JsonDict]:
    return flat(pages(client, "/work/api/search", limit, q=q, **params))


# --- search ------------------------------------------------------------------------------


def test_search_finds_tasks_bundles_and_artifacts_by_their_words(client: TestClient) -> None:
    bundle = ok(
        client.post(
            "/work/api/bundles",
            json={
                "title": "Episode 43 — Grace Hopper",
                "bundleLinks": [{"name": "Notes", "url": "https://notion.so/ep43"}],
            },
        ),
        201,
    )
    task = ok(
        client.post(
            "/work/api/tasks",
            json={
                "description": "Book Grace for the interview",
                "date": "2026-03-01",
                "bundleId": bundle["id"],
                "tags": ["Guest"],
            },
        ),
        201,
    )
    artifact = register(
        client,
        title="Grace Hopper transcript",
        description="Cleaned up by the editor",
        storageUri="https://docs.google.com/document/d/ep43/edit",
        tags=["ep43"],
    )
    other = register(client, title="Unrelated invoice")

    hits = search(client, "GRACE")
    assert [(h["kind"], h["id"]) for h in hits] == [
        ("artifact", artifact["id"]),
        ("bundle", bundle["id"]),
        ("task", task["id"]),
    ]
    assert hits[0] == {
        "kind": "artifact",
        "id": artifact["id"],
        "title": "Grace Hopper transcript",
        "snippet": "Cleaned up by the editor",
        "status": "draft",
    }
    assert hits[2]["title"] == "Book Grace for the interview"
    assert hits[2]["status"] == "todo"
    # Every word must match; tags, descriptions and URL hosts count.
    assert [h["id"] for h in search(client, "grace transcript")] == [artifact["id"]]
    assert [h["id"] for h in search(client, "guest grace")] == [task["id"]]
    assert [h["id"] for h in search(client, "editor")] == [artifact["id"]]
    assert [h["id"] for h in search(client, "docs.google.com")] == [artifact["id"]]
    assert [h["id"] for h in search(client, "notion")] == [bundle["id"]]
    assert [h["id"] for h in search(client, "grace", kind="task")] == [task["id"]]
    assert search(client, "grace invoice") == []
    assert [h["id"] for h in search(client, "invoice")] == [other["id"]]
    # Paging: one at a time, each once, the same order.
    one_by_one = pages(client, "/work/api/search", 1, q="grace")
    assert [page[0]["id"] for page in one_by_one] == [h["id"] for h in hits]
    # An edit changes what finds the record.
    version = artifact["version"]
    ok(
        client.patch(
            f"/work/api/artifacts/{artifact['id']}",
            json={"title": "Hopper final cut"},
            headers={"If-Match": str(version)},
        )
    )
    assert [h["id"] for h in search(client, "transcript")] == []
    assert [h["id"] for h in search(client, "final cut")] == [artifact["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"q": "a"}, "q"),
        ({"q": " x "}, "q"),
        ({"q": "--"}, "q"),
        ({}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "one two three four five six seven eight nine"}, "q"),
        ({"q": "grace", "kind": "file"}, "kind"),
        ({"q": "grace", "cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ],
)
def test_search_refuses_a_bad_query_with_a_422_naming_the_field(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    response = client.get("/work/api/search", params=query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}


# --- the bundles list's artifact count ---------------------------------------------------


def test_the_bundles_list_counts_the_artifacts_of_the_bundle_and_its_tasks(
    client: TestClient,
) -> None:
    template = ok(
        client.post(
            "/work/api/templates",
            json={
                "name": "Episode",
                "taskDefinitions": [
                    {"refId": "prep", "description": "Prep", "offsetDays": 0},
                    {"refId": "cut", "description": "Cut", "offsetDays": 1},
                ],
            },
        ),
        201,
    )
    made = ok(
        client.post(
            f"/work/api/templates/{template['id']}/instantiate",
            json={"title": "Episode 44", "anchorDate": "2026-04-01"},
        ),
        201,
    )
    bundle, (prep, cut) = made["bundle"], made["tasks"]
    on_bundle = register(client, bundleId=bundle["id"])
    register(client, taskId=prep["id"])
    register(client, taskId=prep["id"])
    moved = register(client, taskId=cut["id"])
    register(client, title="Elsewhere")  # no bundle, no task
    # Attached to the bundle as well as its task: counted once.
    ok(
        client.post(
            f"/work/api/artifacts/{moved['id']}/attach",
            json={"taskId": cut["id"], "bundleId": bundle["id"]},
            headers={"If-Match": str(moved["version"])},
        )
    )

    listed = flat(pages(client, "/work/api/bundles", 50, include="artifactCount"))
    row = next(b for b in listed if b["id"] == bundle["id"])
    assert row["artifactCount"] == 4
    # What the list showed before: only the refs held by the bundle itself.
    assert {r["artifactId"] for r in row["artifactRefs"]} == {on_bundle["id"], moved["id"]}
    assert "artifactCount" not in flat(pages(client, "/work/api/bundles", 50))[0]


# --- artifact list filters -----------------------------------------------------------------


@pytest.fixture
def assistant(any_workspace: Workspace) -> Iterator[TestClient]:
    email = f"assistant-{uuid.uuid4().hex[:6]}@example.com"
    people.add_user(any_workspace, people.SYSTEM, email, "Assistant", Role.ASSISTANT, PASSWORD)
    with TestClient(runtime.build_single_process(any_workspace)) as test_client:
        login(test_client, email, PASSWORD)
        yield test_client


def ids(items: list[JsonDict]) -> list[str]:
    return [item["id"] for item in items]


def test_artifact_list_filters_by_class_provider_creator_and_created_dates(
    client: TestClient, assistant: TestClient
) -> None:
    admin_id = ok(client.get("/work/api/me"))["id"]
    assistant_id = ok(assistant.get("/work/api/me"))["id"]
    public = register(client, dataClass="public")
    dropbox = register(client, storageUri="https://www.dropbox.com/s/x/ep.wav")
    by_assistant = register(assistant, status="needs-review", dataClass="sensitive")
    by_admin_review = register(client, status="needs-review")
    everything = [public, dropbox, by_assistant, by_admin_review]
    today = date.today().isoformat()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    cases: list[tuple[dict[str, str], list[JsonDict]]] = [
        ({"dataClass": "public"}, [public]),
        ({"dataClass": "sensitive"}, [by_assistant]),
        ({"provider": "dropbox"}, [dropbox]),
        ({"createdBy": assistant_id}, [by_assistant]),
        ({"createdBy": admin_id}, [public, dropbox, by_admin_review]),
        ({"createdBy": admin_id, "status": "needs-review"}, [by_admin_review]),
        ({"status": "needs-review", "dataClass": "sensitive"}, [by_assistant]),
        ({"createdFrom": today, "createdTo": today}, everything),
        ({"createdFrom": yesterday}, everything),
        ({"createdFrom": tomorrow}, []),
        ({"createdTo": yesterday}, []),
        ({"provider": "dropbox", "dataClass": "public"}, []),
    ]
    for params, expected in cases:
        for limit in (1, 2, 50):
            found = flat(pages(client, "/work/api/artifacts", limit, **params))
            assert ids(found) == sorted(ids(expected)), (params, limit)


def test_a_sparse_filter_pages_on_with_short_pages_and_misses_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact_reads, "NARROWING_BOUND", 3)
    plain = [register(client) for _ in range(7)]
    wanted = register(client, dataClass="private")
    found = pages(client, "/work/api/artifacts", 2, dataClass="private")
    assert ids(flat(found)) == [wanted["id"]]
    assert found[0] == []  # a short page (3 read, none matched), and the cursor went on
    assert len(found) > 1
    assert len(plain) == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"dataClass": "secret"}, "dataClass"),
        ({"provider": "ftp"}, "provider"),
        ({"createdFrom": "2026-02-30"}, "createdFrom"),
        ({"createdTo": "yesterday"}, "createdTo"),
        ({"createdFrom": "2026-03-02", "createdTo": "2026-03-01"}, "createdTo"),
        ({"createdBy": "x" * 201}, "createdBy"),
        ({"expiringWithinDays": "3", "dataClass": "public"}, "expiringWithinDays"),
    ],
)
def test_artifact_list_refuses_bad_filters(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get("/work/api/artifacts", params=params)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_a_page_of_artifacts_brings_the_titles_of_its_context(client: TestClient) -> None:
    """`include=context`: the page's tasks (ID: description) and bundles (ID: title), so
    the review queue names every card's context in its one call; without it, nothing
    extra; an unknown include is 422."""
    bundle = ok(
        client.post("/work/api/bundles", json={"title": "Episode 7", "anchorDate": "2030-01-01"}),
        201,
    )
    task = ok(
        client.post(
            "/work/api/tasks",
            json={"bundleId": bundle["id"], "description": "Check the mix", "date": "2030-01-02"},
        ),
        201,
    )
    register(client, title="On the task", taskId=task["id"])
    register(client, title="On the bundle", bundleId=bundle["id"])
    register(client, title="On nothing")
    page = ok(client.get("/work/api/artifacts", params={"include": "context", "limit": 10}))
    assert len(page["items"]) == 3
    assert page["tasks"] == {task["id"]: "Check the mix"}
    assert page["bundles"] == {bundle["id"]: "Episode 7"}
    plain = ok(client.get("/work/api/artifacts", params={"limit": 10}))
    assert "tasks" not in plain
    assert "bundles" not in plain
    refused = client.get("/work/api/artifacts", params={"include": "context,owner"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "include"


def test_the_task_page_reads_what_it_shows_in_one_call(client: TestClient) -> None:
    """`GET /api/tasks/{id}?include=proof,bundle,files,artifacts`: the proof verdict as
    `/proof` gives it, the bundle, and the first page of the task's files, its artifacts
    and its bundle's artifacts — the task page's one call; an unknown include is 422."""
    bundle = ok(
        client.post("/work/api/bundles", json={"title": "Episode 8", "anchorDate": "2030-01-01"}),
        201,
    )
    task = ok(
        client.post(
            "/work/api/tasks",
            json={
                "bundleId": bundle["id"],
                "description": "Approve the cut",
                "date": "2030-01-02",
                "proofRequirement": {"type": "artifact", "artifactType": "report"},
            },
        ),
        201,
    )
    on_task = register(client, title="Cut notes", taskId=task["id"])
    on_bundle = register(client, title="Bundle notes", bundleId=bundle["id"])
    path = f"/work/api/tasks/{task['id']}"
    view = ok(client.get(path, params={"include": "proof,bundle,files,artifacts"}))
    included = view.pop("included")
    assert view == ok(client.get(path))
    assert included["proof"] == ok(client.get(f"{path}/proof"))
    assert included["proof"]["canComplete"] is False
    assert included["bundle"] == ok(client.get(f"/work/api/bundles/{bundle['id']}"))
    assert included["files"] == {"items": [], "nextCursor": None}
    assert [a["id"] for a in included["artifacts"]["items"]] == [on_task["id"]]
    assert [a["id"] for a in included["bundleArtifacts"]["items"]] == [on_bundle["id"]]
    only_proof = ok(client.get(path, params={"include": "proof"}))["included"]
    assert set(only_proof) == {"proof"}
    refused = client.get(path, params={"include": "proof,comments"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "include"


def test_the_artifact_page_reads_what_it_shows_in_one_call(client: TestClient) -> None:
    """`GET /api/artifacts/{id}?include=task,bundle,audit`: its task, its bundle and the
    first page of its history, as their own routes give them; 422 for an unknown one."""
    bundle = ok(
        client.post("/work/api/bundles", json={"title": "Episode 9", "anchorDate": "2030-01-01"}),
        201,
    )
    task = ok(
        client.post(
            "/work/api/tasks",
            json={"bundleId": bundle["id"], "description": "Edit", "date": "2030-01-02"},
        ),
        201,
    )
    made = register(client, title="Edit notes", taskId=task["id"], bundleId=bundle["id"])
    path = f"/work/api/artifacts/{made['id']}"
    ok(client.patch(path, json={"title": "Edit notes (v2)"}))
    view = ok(client.get(path, params={"include": "task,bundle,audit"}))
    included = view.pop("included")
    assert view == ok(client.get(path))
    assert included["task"]["id"] == task["id"]
    assert included["task"]["status"] == "todo"
    assert included["bundle"] == ok(client.get(f"/work/api/bundles/{bundle['id']}"))
    history = ok(
        client.get(
            "/work/api/audit-events",
            params={"entityType": "artifact", "entityId": made["id"], "limit": 500},
        )
    )
    assert included["audit"] == history
    assert [e["action"] for e in included["audit"]["items"]] == ["create", "update"]
    alone = ok(client.get(path, params={"include": "bundle"}))["included"]
    assert set(alone) == {"bundle"}
    refused = client.get(path, params={"include": "task,owner"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "include"
