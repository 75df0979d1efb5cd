"""The public API description (CONTRACT §9): `/work/api/openapi.json` without a session,
valid OpenAPI, `/work/api` as its server, no internal headers, problem+json errors and the
two security schemes on every operation; `/work/api/docs` a reference page from the
portal's own files under the strict CSP; and every documented path answers through the
portal (IDs of real records put into the paths)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from dataops import runtime
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_settings
from tests.portal.support import seed_records

API = "/work/api"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home: Path = tmp_path_factory.mktemp("openapi")
    ws = runtime.build_workspace(make_settings(home))
    runtime.bootstrap_admin(ws)
    yield ws
    ws.store.close()


@pytest.fixture(scope="module")
def served(workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(workspace)) as client:
        yield client


@pytest.fixture(scope="module")
def document(served: TestClient) -> dict[str, Any]:
    served.cookies.clear()
    response = served.get(f"{API}/openapi.json")  # no cookie, no token
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_description_is_public_and_valid(document: dict[str, Any]) -> None:
    validate(document)
    assert document["servers"] == [{"url": "/work/api"}]
    assert len(document["paths"]) >= 40


def test_only_the_description_and_its_page_are_public(served: TestClient) -> None:
    served.cookies.clear()
    assert served.get(f"{API}/tasks").status_code == 401
    assert served.post(f"{API}/openapi.json").status_code == 401  # GET and HEAD only
    assert served.get(f"{API}/openapi.json/x").status_code == 401


def test_paths_resolve_under_the_server_url(document: dict[str, Any]) -> None:
    paths = list(document["paths"])
    assert "/tasks" in paths
    assert "/tasks/{task_id}/proof" in paths
    assert not [p for p in paths if p.startswith("/api/") or p.startswith("/work")]


def test_no_internal_header_is_a_parameter(document: dict[str, Any]) -> None:
    internal = [
        (path, method, p["name"])
        for path, method, op in _operations(document)
        for p in op.get("parameters", [])
        if p["name"].lower().startswith(("x-user-", "x-portal-"))
    ]
    assert internal == []
    assert "x-user-" not in str(document).lower()


def test_every_operation_documents_problem_responses(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    shared = document["components"]["responses"]
    for status in ("400", "401", "403", "404", "409", "422"):
        content = shared[status]["content"]
        assert list(content) == ["application/problem+json"]
        assert content["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        for status in ("400", "401", "403", "422"):
            assert responses[status] == {"$ref": f"#/components/responses/{status}"}, (
                path,
                method,
            )
        if "{" in path:
            assert "404" in responses, (path, method)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert "$ref" in response, (path, method, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["cookie"]["in"] == "cookie"
    assert schemes["cookie"]["name"] == "dataops_session"
    assert document["security"] == [{"bearer": []}, {"cookie": []}]


def test_the_reference_page_is_served_from_the_portal_under_the_csp(served: TestClient) -> None:
    served.cookies.clear()
    page = served.get(f"{API}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'self'" in csp
    assert '<script type="module" src="/work/static/apidocs.js"></script>' in page.text
    assert "http" not in page.text.replace('"/work/api/openapi.json"', "")  # no CDN
    script = served.get("/work/static/apidocs.js")
    assert script.status_code == 200
    assert "/work/api/openapi.json" in script.text
    assert "innerHTML" not in script.text


REQUIRED_QUERY = {"q": "episode"}
"""A value for each query parameter the description marks required."""


def test_every_documented_path_answers_through_the_portal(
    served: TestClient, workspace: Workspace, document: dict[str, Any]
) -> None:
    """Each (path, method) is sent through the portal as the admin with real IDs: none is
    a 404 for want of a route (`no route ...`) or a 405; every read of a real record is
    served. Writes go last (a delete last of all), so they cannot remove what a read
    needs."""
    login(served, ADMIN_EMAIL, ADMIN_PASSWORD)
    ids = seed_records(workspace, served)
    user = served.post(
        f"{API}/users",
        json={"email": "doc@example.com", "name": "Doc", "role": "viewer", "password": "x" * 12},
    )
    assert user.status_code == 201, user.text
    hook = served.post(
        f"{API}/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["task.completed"]},
    )
    assert hook.status_code == 201, hook.text
    config = served.post(
        f"{API}/recurring-configs",
        json={
            "templateId": ids["template_id"],
            "title": "Episode {n}",
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "startDate": "2026-03-03",
        },
    )
    assert config.status_code == 201, config.text
    ids |= {
        "user_id": user.json()["id"],
        "webhook_id": hook.json()["id"],
        "config_id": config.json()["id"],
        "delivery_id": "dlv_unknown",  # no delivery exists yet: a 404 of the record
    }
    order = {"get": 0, "post": 1, "put": 1, "patch": 1, "delete": 2}
    calls = sorted(_operations(document), key=lambda call: order[call[1]])
    no_route, unread = [], []
    for path, method, operation in calls:
        url = API + path.format(**ids)
        if method == "get":
            required = [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p.get("required")
            ]
            params = {name: REQUIRED_QUERY[name] for name in required}  # KeyError: add one
            response = served.get(url, params=params, follow_redirects=False)
        else:
            response = served.request(method.upper(), url, json={})
        problem = response.json() if response.content and "json" in _type(response) else {}
        detail = str(problem.get("detail", "")) if isinstance(problem, dict) else ""
        if response.status_code == 405 or detail.startswith("no route"):
            no_route.append((method, path, response.status_code))
        elif method == "get" and response.status_code >= 400 and "delivery_id" not in path:
            if response.status_code == 409 and path.endswith("/content"):
                continue  # an external link's record: its bytes are not DataOps's to serve
            unread.append((method, path, response.status_code, detail))
    assert no_route == []
    assert unread == []


def _type(response: Any) -> str:
    return str(response.headers.get("content-type", ""))
