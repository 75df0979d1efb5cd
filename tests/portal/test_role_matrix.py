"""The role-by-route matrix (CONTRACT §3, §7) on both stores: every route of the engine's
own route list, asked by a viewer, an assistant and an operator through the portal (cookie
and bearer token), on SQLite and on DynamoDB (the session's moto server). Each refusal is
a 403 problem that changed no stored record; each read the role may make is served.

What a role may do is `domain/permissions.py`; `test_perimeter.py` pins which routes an
assistant and a viewer may write, so a new route cannot slip into the allowed sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services import auth, people
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login, make_settings
from tests.contract.dynamo import drop_tables, dynamo_env, endpoint_for
from tests.portal.support import (
    SESSION_COOKIE,
    UNSAFE,
    Route,
    add_user,
    assert_problem,
    assert_unchanged,
    engine_guard_table,
    engine_route_table,
    roles_allowed,
    seed_records,
    store_snapshot,
)

ROUTES = engine_route_table()
GUARDS = engine_guard_table()
# A plain (non-API) route such as the OpenAPI document has no guard: every role passes.
ALLOWED = {route: roles_allowed(GUARDS.get(route, frozenset())) for route in ROUTES}
BODIES = {
    ("POST", "/api/users"): {
        "email": "smuggled@example.com",
        "name": "Smuggled",
        "role": "admin",
        "password": "long-enough-password",
    },
}


@dataclass
class Matrix:
    ws: Workspace
    client: TestClient
    ids: dict[str, str]
    headers: dict[tuple[Role, str], dict[str, str]]  # (role, "cookie" | "token") -> headers


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    home = tmp_path_factory.mktemp(f"matrix-{request.param}")
    env = dynamo_env(endpoint_for(request)) if request.param == "dynamodb" else {}
    ws = runtime.build_workspace(make_settings(home, **env))
    runtime.bootstrap_admin(ws)
    with TestClient(runtime.build_single_process(ws)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        ids = seed_records(ws, client)
        client.cookies.clear()
        headers = {}
        for role in (Role.VIEWER, Role.ASSISTANT, Role.OPERATOR):
            email = add_user(ws, role)
            login(client, email, PASSWORD)
            cookie = client.cookies[SESSION_COOKIE]
            client.cookies.clear()
            _, token = auth.create_token(ws, people.SYSTEM, email, f"{role.value} matrix")
            headers[(role, "cookie")] = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
            headers[(role, "token")] = {"Authorization": f"Bearer {token}"}
        yield Matrix(ws, client, ids, headers)
    if request.param == "dynamodb":
        drop_tables(ws.store)  # type: ignore[arg-type]
    ws.store.close()


def _send(matrix: Matrix, route: Route, headers: dict[str, str]) -> int:
    url = route.portal_path(matrix.ids)
    if route.multipart:
        response = matrix.client.request(
            route.method,
            url,
            headers=headers,
            files={"file": ("notes.txt", b"matrix", "text/plain")},
            data={"taskId": matrix.ids["task_id"]},
        )
    elif route.method in UNSAFE:
        body = BODIES.get((route.method, route.path), {})
        response = matrix.client.request(route.method, url, headers=headers, json=body)
    else:
        response = matrix.client.request(route.method, url, headers=headers)
    if response.status_code == 403:
        assert_problem(response, 403)
    return response.status_code


@pytest.mark.parametrize("via", ["cookie", "token"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.ASSISTANT, Role.OPERATOR], ids=str)
def test_every_route_refuses_the_roles_it_does_not_allow(
    matrix: Matrix, role: Role, via: str
) -> None:
    refused = [route for route in ROUTES if role not in ALLOWED[route]]
    assert refused, "every role below admin is refused something"
    before = store_snapshot(matrix.ws)
    outcomes = {route.label: _send(matrix, route, matrix.headers[(role, via)]) for route in refused}
    assert {label: status for label, status in outcomes.items() if status != 403} == {}
    assert_unchanged(before, store_snapshot(matrix.ws))


@pytest.mark.parametrize("via", ["cookie", "token"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.ASSISTANT, Role.OPERATOR], ids=str)
def test_every_read_a_role_may_make_is_served(matrix: Matrix, role: Role, via: str) -> None:
    reads = [r for r in ROUTES if r.method in ("GET", "HEAD") and role in ALLOWED[r]]
    assert any(r.path == "/api/artifacts" for r in reads)
    outcomes = {r.label: _send(matrix, r, matrix.headers[(role, via)]) for r in reads}
    assert {label: status for label, status in outcomes.items() if status in (401, 403)} == {}


def test_the_assistant_is_refused_exactly_what_a_viewer_is_refused_but_its_writes(
    matrix: Matrix,
) -> None:
    """Reads: the assistant is a viewer. Writes: the assistant passes only the guards of
    file, upload and artifact routes (not the review decisions)."""
    for route in ROUTES:
        if route.method in UNSAFE:
            continue
        assert (Role.ASSISTANT in ALLOWED[route]) == (Role.VIEWER in ALLOWED[route]), route
    assistant_writes = {
        r.path for r in ROUTES if r.method in UNSAFE and Role.ASSISTANT in ALLOWED[r]
    }
    assert all(
        path.startswith(("/api/files", "/api/uploads", "/api/artifacts", "/api/notifications"))
        or path == "/api/me"  # one's own e-mail preferences and time zone
        for path in assistant_writes
    )
    for decision in ("approve", "reject", "archive", "supersede"):
        assert f"/api/artifacts/{{artifact_id}}/{decision}" not in assistant_writes
