"""The portal as the security perimeter (CONTRACT §3, issue 3).

Every check is table-driven over the engine app's own route list, so a route added later
is covered without touching this file. Every refused request is also checked to have
changed nothing: the whole SQLite file is snapshotted before and after.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.clock import format_ts, now
from dataops.domain.enums import Role
from dataops.engine.app import create_engine_app
from dataops.portal.app import create_portal_app
from dataops.portal.connectors import HttpEngine
from dataops.services import auth, people
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, make_settings
from tests.portal.support import (
    CONNECTORS,
    ENGINE_SECRET,
    SESSION_COOKIE,
    UNSAFE,
    JsonDict,
    Recorder,
    Route,
    add_user,
    assert_problem,
    assert_unchanged,
    db_snapshot,
    engine_client,
    engine_guard_table,
    engine_route_table,
    ok,
    recorded_portal,
    roles_allowed,
    routes_of,
    seed_records,
)

ROUTES = engine_route_table()
GUARDS = engine_guard_table()
ROLES = {route: roles_allowed(permissions) for route, permissions in GUARDS.items()}
"""Every route and the roles its guards let through."""
UNSAFE_ROUTES = [r for r in ROUTES if r.method in UNSAFE]
ADMIN_ROUTES = sorted(r for r, roles in ROLES.items() if Role.OPERATOR not in roles)
KNOWN_ADMIN_ROUTES = {
    ("POST", "/api/users"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens/{token_id}/revoke"),
}
# Unsafe routes a viewer may call on its own records: dismissing an inbox notification
# changes only the viewer's own inbox state (the service refuses someone else's);
# `PATCH /api/me` changes only the caller's own e-mail choice and time zone.
VIEWER_UNSAFE_ALLOWED = {
    ("PATCH", "/api/me"),
    ("POST", "/api/notifications/{notification_id}/dismiss"),
    ("POST", "/api/notifications/{notification_id}/read"),
}
# What an assistant may write (CONTRACT §7), besides what a viewer may: files, uploads and
# artifacts (draft or needs-review; the service refuses `approved`), submit and attach. A
# new write route is refused to it unless it is added here on purpose.
ASSISTANT_UNSAFE_ALLOWED = VIEWER_UNSAFE_ALLOWED | {
    ("POST", "/api/files"),
    ("POST", "/api/files/register"),
    ("POST", "/api/uploads"),
    ("PUT", "/api/uploads/{upload_id}/content"),
    ("POST", "/api/uploads/{upload_id}/complete"),
    ("POST", "/api/artifacts"),
    ("PATCH", "/api/artifacts/{artifact_id}"),
    ("POST", "/api/artifacts/{artifact_id}/submit"),
    ("POST", "/api/artifacts/{artifact_id}/attach"),
}
ASSISTANT_REFUSED = [
    r for r in UNSAFE_ROUTES if (r.method, r.path) not in ASSISTANT_UNSAFE_ALLOWED
] + sorted(r for r, roles in ROLES.items() if r.method not in UNSAFE and Role.VIEWER not in roles)


def ids(route: Route) -> str:
    return route.label


# ---------------------------------------------------------------------------- world


@dataclass
class World:
    """One workspace with a real record behind every path parameter, users of each role
    and every kind of dead credential, shared by this module's table-driven tests."""

    ws: Workspace
    app: FastAPI
    client: TestClient  # no cookie jar use: every request names its credentials
    ids: dict[str, str]
    admin_id: str
    viewer: dict[str, str]  # id, email, cookie, token
    assistant: dict[str, str]
    operator: dict[str, str]
    dead: dict[str, dict[str, str]]  # credential kind -> request headers

    def cookie(self, who: dict[str, str]) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={who['cookie']}"}

    def bearer(self, who: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {who['token']}"}


def session_token(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the portal and hand back the raw cookie value (the jar is cleared)."""
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.cookies[SESSION_COOKIE]
    client.cookies.clear()
    return token


def expire_session(ws: Workspace, token: str) -> None:
    """Move a live session's expiry into the past, through the store."""
    with ws.store.unit_of_work(write=True) as uow:
        session = uow.sessions.get(auth.secret_hash(token))
        assert session is not None
        updated = copy.deepcopy(session)
        updated.expires_at = format_ts(now() - timedelta(minutes=1))
        updated.version = session.version + 1
        uow.sessions.update(updated, session.version)
        uow.commit()


def member(ws: Workspace, client: TestClient, role: Role) -> dict[str, str]:
    email = add_user(ws, role)
    cookie = session_token(client, email)
    _, token = auth.create_token(ws, people.SYSTEM, email, f"{role.value} script")
    me = ok(client.get("/work/api/me", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}))
    assert me["role"] == role.value
    return {"id": me["id"], "email": email, "cookie": cookie, "token": token}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = runtime.build_workspace(make_settings(tmp_path_factory.mktemp("perimeter")))
    runtime.bootstrap_admin(ws)
    app = runtime.build_single_process(ws)
    with TestClient(app) as client:
        admin_cookie = session_token(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        client.cookies.set(SESSION_COOKIE, admin_cookie)
        record_ids = seed_records(ws, client)
        admin_id = ok(client.get("/work/api/me"))["id"]
        client.cookies.clear()

        revoked, revoked_secret = auth.create_token(ws, people.SYSTEM, ADMIN_EMAIL, "old")
        auth.revoke_token(ws, people.SYSTEM, revoked.id)
        expired = session_token(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        expire_session(ws, expired)
        logged_out = session_token(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        client.post("/auth/logout", headers={"Cookie": f"{SESSION_COOKIE}={logged_out}"})
        client.cookies.clear()
        dead = {
            "none": {},
            "bad-cookie": {"Cookie": f"{SESSION_COOKIE}={secrets.token_urlsafe(32)}"},
            "empty-cookie": {"Cookie": f"{SESSION_COOKIE}="},
            "basic-authorization": {"Authorization": "Basic YWRtaW46YWRtaW4="},
            "bearer-without-token": {"Authorization": "Bearer "},
            "unknown-bearer": {"Authorization": f"Bearer dop_{secrets.token_urlsafe(32)}"},
            "revoked-token": {"Authorization": f"Bearer {revoked_secret}"},
            "expired-session": {"Cookie": f"{SESSION_COOKIE}={expired}"},
            "logged-out-session": {"Cookie": f"{SESSION_COOKIE}={logged_out}"},
        }
        yield World(
            ws=ws,
            app=app,
            client=client,
            ids=record_ids,
            admin_id=admin_id,
            viewer=member(ws, client, Role.VIEWER),
            assistant=member(ws, client, Role.ASSISTANT),
            operator=member(ws, client, Role.OPERATOR),
            dead=dead,
        )
    ws.store.close()


def send(
    client: httpx.Client | TestClient,
    route: Route,
    record_ids: dict[str, str],
    headers: dict[str, str],
    path: str | None = None,
) -> httpx.Response:
    """The route's request with a plausible body (so a missing check would change data)."""
    url = path or route.portal_path(record_ids)
    kwargs: dict[str, Any] = {}
    if route.method in UNSAFE:
        if route.multipart:
            kwargs["files"] = {"file": ("notes.txt", b"perimeter", "text/plain")}
            kwargs["data"] = {"taskId": record_ids["task_id"]}
        else:
            kwargs["json"] = {}
    return client.request(route.method, url, headers=headers, **kwargs)


# ----------------------------------------------------------------- the route table


def test_route_table_is_the_engine_apps_own(world: World) -> None:
    assert routes_of(create_engine_app(world.ws, ENGINE_SECRET)) == ROUTES
    labels = {(r.method, r.path) for r in ROUTES}
    # A sanity floor: the table is really the engine's (not an empty or stale list).
    assert {
        ("GET", "/api/me"),
        ("POST", "/api/artifacts"),
        ("PATCH", "/api/tasks/{task_id}"),
        ("POST", "/api/files"),
    } <= labels
    assert len(UNSAFE_ROUTES) >= 15
    assert {(r.method, r.path) for r in ADMIN_ROUTES} >= KNOWN_ADMIN_ROUTES


def test_every_unsafe_route_needs_more_than_reading() -> None:
    """Structural: every write is behind a guard a viewer does not pass, except the
    documented viewer-owned ones. A new write route without a role check fails here."""
    unguarded = {
        (r.method, r.path)
        for r, roles in ROLES.items()
        if r.method in UNSAFE and Role.VIEWER in roles
    }
    assert unguarded == VIEWER_UNSAFE_ALLOWED


def test_the_assistant_writes_only_what_it_is_meant_to() -> None:
    """Structural: the unsafe routes whose guards let an assistant through are exactly the
    listed ones (a new write route meant for assistants must be added on purpose), and
    every read a viewer may make the assistant may make too."""
    writes = {(r.method, r.path) for r, roles in ROLES.items() if r.method in UNSAFE}
    assistant = {(r.method, r.path) for r, roles in ROLES.items() if Role.ASSISTANT in roles}
    assert assistant & writes == ASSISTANT_UNSAFE_ALLOWED
    reads = {(r.method, r.path) for r, roles in ROLES.items() if r.method not in UNSAFE}
    viewer = {(r.method, r.path) for r, roles in ROLES.items() if Role.VIEWER in roles}
    assert assistant & reads == viewer & reads
    # none of the review decisions, task, bundle or template writes, or admin routes
    assert ("POST", "/api/artifacts/{artifact_id}/approve") not in assistant
    assert ("PATCH", "/api/tasks/{task_id}") not in assistant
    assert not {(r.method, r.path) for r in ADMIN_ROUTES} & assistant


def test_every_route_but_health_names_a_role() -> None:
    unguarded = {(r.method, r.path) for r, permissions in GUARDS.items() if not permissions}
    assert unguarded == {("GET", "/api/health")}


# ------------------------------------------------------------------- 401 everywhere


DEAD = [
    "none",
    "bad-cookie",
    "empty-cookie",
    "basic-authorization",
    "bearer-without-token",
    "unknown-bearer",
    "revoked-token",
    "expired-session",
    "logged-out-session",
]


PUBLIC_PATHS = frozenset({"/api/openapi.json"})
"""Served without credentials (CONTRACT §9: the API description serves no data)."""


@pytest.mark.parametrize("kind", DEAD)
@pytest.mark.parametrize("route", [r for r in ROUTES if r.path in PUBLIC_PATHS], ids=ids)
def test_the_api_description_needs_no_credentials(world: World, route: Route, kind: str) -> None:
    response = send(world.client, route, world.ids, world.dead[kind])
    assert response.status_code == 200


@pytest.mark.parametrize("kind", DEAD)
@pytest.mark.parametrize("route", [r for r in ROUTES if r.path not in PUBLIC_PATHS], ids=ids)
def test_401_without_live_credentials(world: World, route: Route, kind: str) -> None:
    before = db_snapshot(world.ws)
    response = send(world.client, route, world.ids, world.dead[kind])
    if route.method == "HEAD":
        assert response.status_code == 401
    else:
        assert_problem(response, 401)
    assert_unchanged(before, db_snapshot(world.ws))


@pytest.mark.parametrize(
    "path", ["/work/api/no-such-route", "/work/api/", "/work/api/users/../tokens"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_401_on_unknown_api_paths_too(world: World, method: str, path: str) -> None:
    response = world.client.request(method, path)
    assert_problem(response, 401)


REQUIRED_QUERY = {"/api/search": {"q": "episode"}}
"""Query parameters a route cannot answer without (else 422)."""


def test_credentials_in_the_dead_table_are_the_only_difference(world: World) -> None:
    """Control: the same requests with live credentials are served, so the 401s above
    come from the credentials and not from a broken route."""
    for headers in (world.cookie(world.viewer), world.bearer(world.viewer)):
        for route in ROUTES:
            if route.method == "GET" and not route.params:
                query = REQUIRED_QUERY.get(route.path)
                response = world.client.get("/work" + route.path, headers=headers, params=query)
                assert response.status_code in (200, 403), (route.label, response.text)


# ------------------------------------------------------------- 403 for the wrong role


OWN_RECORD_ROUTES = {("PATCH", "/api/me")}
"""Routes that only ever change the caller's own user record (any role may)."""


@pytest.mark.parametrize("via", ["cookie", "token"])
@pytest.mark.parametrize(
    "route", [r for r in UNSAFE_ROUTES if (r.method, r.path) not in OWN_RECORD_ROUTES], ids=ids
)
def test_viewer_refused_on_every_unsafe_route(world: World, route: Route, via: str) -> None:
    # The dismiss route is a viewer's own-inbox action; aimed at the admin's
    # notification it is refused too (it belongs to another user).
    headers = world.cookie(world.viewer) if via == "cookie" else world.bearer(world.viewer)
    before = db_snapshot(world.ws)
    assert_problem(send(world.client, route, world.ids, headers), 403)
    assert_unchanged(before, db_snapshot(world.ws))


@pytest.mark.parametrize("via", ["cookie", "token"])
def test_me_changes_only_the_callers_own_record(world: World, via: str) -> None:
    """`PATCH /api/me` (any role) changes the caller's user record and nothing else: not
    another user's, not the caller's role."""
    headers = world.cookie(world.viewer) if via == "cookie" else world.bearer(world.viewer)
    before = db_snapshot(world.ws)
    choice = "daily" if via == "cookie" else "immediate"
    body = {"emailNotifications": choice, "timezone": "Europe/Berlin"}
    shown = ok(world.client.patch("/work/api/me", json=body, headers=headers))
    assert (shown["id"], shown["role"], shown["emailNotifications"]) == (
        world.viewer["id"],
        "viewer",
        choice,
    )
    after = db_snapshot(world.ws)
    changed = {t for t in after if after[t] != before.get(t)}
    assert changed <= {"users", "audit_events"}, changed
    users_before = {row[0]: row for row in before["users"]}
    moved = [row[0] for row in after["users"] if users_before.get(row[0]) != row]
    assert moved == [world.viewer["id"]]
    refused = world.client.patch("/work/api/me", json={"role": "admin"}, headers=headers)
    assert_problem(refused, 422)


@pytest.mark.parametrize("via", ["cookie", "token"])
@pytest.mark.parametrize("route", ASSISTANT_REFUSED, ids=ids)
def test_assistant_refused_on_every_route_it_may_not_use(
    world: World, route: Route, via: str
) -> None:
    """Review decisions, task/bundle/template writes, admin routes (and someone else's
    notification): 403 for an assistant, nothing changed."""
    headers = world.cookie(world.assistant) if via == "cookie" else world.bearer(world.assistant)
    before = db_snapshot(world.ws)
    body = ADMIN_BODIES.get((route.method, route.path))
    if body is not None:
        response = world.client.request(
            route.method, route.portal_path(world.ids), headers=headers, json=body
        )
    else:
        response = send(world.client, route, world.ids, headers)
    assert_problem(response, 403)
    assert_unchanged(before, db_snapshot(world.ws))


@pytest.mark.parametrize("via", ["cookie", "token"])
def test_assistant_served_on_what_it_may_use(world: World, via: str) -> None:
    """Control for the 403s above: each route an assistant may use answers it (with the
    same plausible bodies: 2xx, or 4xx for the body, never 401/403), aimed at an artifact
    and an upload of its own."""
    headers = world.cookie(world.assistant) if via == "cookie" else world.bearer(world.assistant)
    own = dict(world.ids)
    own["artifact_id"] = ok(
        world.client.post(
            "/work/api/artifacts",
            headers=headers,
            json={
                "type": "assistant-output",
                "title": f"Assistant notes {via}",
                "storageUri": f"https://example.com/assistant-notes-{via}",
                "status": "draft",
            },
        ),
        201,
    )["id"]
    own["upload_id"] = ok(
        world.client.post(
            "/work/api/uploads",
            headers=headers,
            json={
                "filename": "notes.txt",
                "contentType": "text/plain",
                "sizeBytes": 9,
                "checksum": "sha256:" + hashlib.sha256(b"perimeter").hexdigest(),
                "taskId": world.ids["task_id"],
            },
        ),
        201,
    )["uploadId"]
    served = [r for r in ROUTES if (r.method, r.path) in ASSISTANT_UNSAFE_ALLOWED]
    served = [r for r in served if (r.method, r.path) not in VIEWER_UNSAFE_ALLOWED]
    served += [r for r, roles in ROLES.items() if r.method == "GET" and Role.VIEWER in roles]
    for route in served:
        response = send(world.client, route, own, headers)
        assert response.status_code not in (401, 403), (route.label, response.text[:300])


ADMIN_BODIES: dict[tuple[str, str], JsonDict] = {
    ("POST", "/api/users"): {
        "email": "smuggled-admin@example.com",
        "name": "Smuggled",
        "role": "admin",
        "password": "long-enough-password",
    },
}


@pytest.mark.parametrize("via", ["cookie", "token"])
@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=ids)
def test_operator_refused_on_admin_routes(world: World, route: Route, via: str) -> None:
    headers = world.cookie(world.operator) if via == "cookie" else world.bearer(world.operator)
    before = db_snapshot(world.ws)
    body = ADMIN_BODIES.get((route.method, route.path))
    if body is not None:
        response = world.client.request(
            route.method, route.portal_path(world.ids), headers=headers, json=body
        )
    else:
        response = send(world.client, route, world.ids, headers)
    assert_problem(response, 403)
    assert_unchanged(before, db_snapshot(world.ws))


def test_admin_may_do_what_operator_may_not(world: World) -> None:
    """Control for the 403s above: the admin's own requests are served."""
    client = world.client
    headers = {"Authorization": f"Bearer {admin_token(world)}"}
    assert ok(client.get("/work/api/tokens", headers=headers))["items"]
    created = ok(
        client.post(
            "/work/api/users",
            headers=headers,
            json={
                "email": f"new-{secrets.token_hex(4)}@example.com",
                "name": "New",
                "role": "assistant",
                "password": "long-enough-password",
            },
        ),
        201,
    )
    assert created["role"] == "assistant"


def admin_token(world: World) -> str:
    _, secret = auth.create_token(world.ws, people.SYSTEM, ADMIN_EMAIL, "control")
    return secret


# ----------------------------------------------------------------- forged headers


def forged(world: World, secret: str = ENGINE_SECRET) -> dict[str, str]:
    """Everything a client might send to pass as the admin or as the portal (even with
    the real portal secret, as if it had leaked)."""
    return {
        "x-portal-auth": "true",
        "x-portal-secret": secret,
        "X-Portal-Secret-Name": "work-engine",
        "x-user-id": world.admin_id,
        "x-user-email": ADMIN_EMAIL,
        "X-User-Role": "admin",
        "x-user-name": "Admin",
        "x-request-id": "forged-request-id",
    }


@pytest.mark.parametrize("via", ["cookie", "token"])
def test_forged_identity_headers_change_nothing_for_a_viewer(world: World, via: str) -> None:
    own = world.cookie(world.viewer) if via == "cookie" else world.bearer(world.viewer)
    headers = {**forged(world), **own}
    me = ok(world.client.get("/work/api/me", headers=headers))
    assert (me["id"], me["email"], me["role"]) == (
        world.viewer["id"],
        world.viewer["email"],
        "viewer",
    )
    before = db_snapshot(world.ws)
    assert_problem(
        world.client.post(
            "/work/api/users", headers=headers, json=ADMIN_BODIES[("POST", "/api/users")]
        ),
        403,
    )
    assert_problem(world.client.get("/work/api/tokens", headers=headers), 403)
    assert_problem(
        world.client.post(
            "/work/api/artifacts",
            headers=headers,
            json={"type": "event-page", "title": "Forged", "storageUri": "https://lu.ma/x"},
        ),
        403,
    )
    assert_unchanged(before, db_snapshot(world.ws))


@pytest.mark.parametrize("via", ["cookie", "token"])
def test_forged_identity_headers_do_not_change_who_wrote(world: World, via: str) -> None:
    own = world.cookie(world.operator) if via == "cookie" else world.bearer(world.operator)
    headers = {**forged(world), **own}
    me = ok(world.client.get("/work/api/me", headers=headers))
    assert me["id"] == world.operator["id"] != world.admin_id
    assert me["role"] == "operator"
    artifact = ok(
        world.client.post(
            "/work/api/artifacts",
            headers=headers,
            json={
                "type": "event-page",
                "title": f"Forged-header page {via}",
                "storageUri": "https://lu.ma/forged-header-page",
            },
        ),
        201,
    )
    assert artifact["createdBy"] == world.operator["id"]
    events = ok(
        world.client.get(
            "/work/api/audit-events",
            headers=own,
            params={"entityType": "artifact", "entityId": artifact["id"]},
        )
    )["items"]
    assert events
    assert {e["actorId"] for e in events} == {world.operator["id"]}
    # The operator still cannot do admin things with the forged role.
    assert_problem(world.client.get("/work/api/tokens", headers=headers), 403)


def test_forged_headers_without_credentials_are_401(world: World) -> None:
    before = db_snapshot(world.ws)
    for route in ROUTES:
        response = send(world.client, route, world.ids, forged(world))
        expected = 200 if route.path in PUBLIC_PATHS else 401  # (served to anyone)
        assert response.status_code == expected, route.label
    assert_unchanged(before, db_snapshot(world.ws))


# ----------------------------------------------------------- the engine reached directly


def trust(secret: str = ENGINE_SECRET, auth_flag: str = "true") -> dict[str, str]:
    return {"x-portal-auth": auth_flag, "x-portal-secret": secret}


def admin_headers(world: World) -> dict[str, str]:
    return {"x-user-id": world.admin_id, "x-user-email": ADMIN_EMAIL, "x-user-role": "admin"}


UNTRUSTED = {
    "nothing": lambda: {},
    "auth-flag-without-secret": lambda: {"x-portal-auth": "true"},
    "secret-without-auth-flag": lambda: {"x-portal-secret": ENGINE_SECRET},
    "wrong-secret": lambda: trust("t" * 32),
    "secret-prefix": lambda: trust(ENGINE_SECRET[:-1]),
    "secret-with-suffix": lambda: trust(ENGINE_SECRET + "s"),
    "empty-secret": lambda: trust(""),
    "auth-flag-false": lambda: trust(auth_flag="false"),
    "auth-flag-empty": lambda: trust(auth_flag=""),
}


@pytest.fixture(scope="module")
def engine(world: World) -> Iterator[httpx.Client]:
    with engine_client(world.ws) as client:
        yield client


@pytest.mark.parametrize("kind", sorted(UNTRUSTED))
@pytest.mark.parametrize("route", ROUTES, ids=ids)
def test_engine_direct_without_the_secret_is_401(
    world: World, engine: httpx.Client, route: Route, kind: str
) -> None:
    headers = {**UNTRUSTED[kind](), **admin_headers(world)}
    before = db_snapshot(world.ws)
    response = send(engine, route, world.ids, headers, path=route.portal_path(world.ids)[5:])
    if route.method == "HEAD":
        assert response.status_code == 401
    else:
        body = assert_problem(response, 401)
        assert "portal" in body["detail"]
    assert_unchanged(before, db_snapshot(world.ws))


def test_engine_direct_with_the_secret_is_served(world: World, engine: httpx.Client) -> None:
    """Control: with the portal's headers the same engine answers."""
    me = ok(engine.get("/api/me", headers={**trust(), **admin_headers(world)}))
    assert me["id"] == world.admin_id
    assert ok(engine.get("/api/health", headers=trust()))["status"] == "ok"


def test_engine_direct_over_asgi_transport(world: World) -> None:
    """The same through a bare httpx.ASGITransport client (no TestClient)."""
    engine_app = create_engine_app(world.ws, ENGINE_SECRET)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=engine_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            user = admin_headers(world)
            return [
                await client.get("/api/me", headers=user),
                await client.get("/api/me", headers={**trust("x" * 32), **user}),
                await client.get("/api/me", headers={**trust(auth_flag="false"), **user}),
                await client.post(
                    "/api/users",
                    headers={"x-portal-auth": "true", **user},
                    json=ADMIN_BODIES[("POST", "/api/users")],
                ),
                await client.get("/api/me", headers={**trust(), **user}),
            ]

    before = db_snapshot(world.ws)
    *refused, served = asyncio.run(run())
    for response in refused:
        assert_problem(response, 401)
    assert_unchanged(before, db_snapshot(world.ws))
    assert served.status_code == 200


# --------------------------------------------------- what the broker sends the engine

BROKER_SENDS = {
    # the client's allow-listed headers
    "content-type",
    "accept",
    "if-match",
    "idempotency-key",
    # the broker's own
    "x-portal-auth",
    "x-portal-secret",
    "x-user-id",
    "x-user-email",
    "x-user-role",
    "x-request-id",
}
PLUMBING = {
    # framing added by the in-process connector (the body passes through unchanged)
    "asgi": {"host", "content-length"},
    # framing added by httpx
    "http": {
        "host",
        "accept-encoding",
        "connection",
        "user-agent",
        "content-length",
        "transfer-encoding",
    },
}


@pytest.fixture(params=CONNECTORS)
def connector(request: pytest.FixtureRequest) -> str:
    """How the portal reaches the engine: in process (`asgi`) or an httpx transport."""
    return str(request.param)


@pytest.fixture
def recorded(world: World, connector: str) -> Iterator[tuple[TestClient, Recorder, str]]:
    """The portal with each of its engine connectors, every request to the engine kept."""
    recorder = Recorder()
    secret = secrets.token_urlsafe(32)
    with TestClient(recorded_portal(world.ws, recorder, secret, connector)) as client:
        yield client, recorder, secret


def test_broker_never_forwards_cookie_or_authorization(
    world: World, recorded: tuple[TestClient, Recorder, str], connector: str
) -> None:
    client, recorder, secret = recorded
    extra = {
        **forged(world, secret),
        "x-forwarded-for": "203.0.113.9",
        "x-portal-anything": "1",
        "x-user-anything": "1",
        "referer": "https://evil.example/",
        "x-custom": "client-header",
        "if-match": "1",
        "idempotency-key": "key-1",
        "accept": "application/json",
    }
    cookie = world.cookie(world.viewer)
    bearer = world.bearer(world.operator)
    for headers, who in ((cookie, world.viewer), (bearer, world.operator)):
        recorder.requests.clear()
        response = client.get("/work/api/me?x=1&y=%C3%A9", headers={**extra, **headers})
        assert ok(response)["id"] == who["id"]
        assert len(recorder.requests) == 1
        sent = recorder.requests[0]
        names = {name.lower() for name in sent.headers}
        assert "cookie" not in names
        assert "authorization" not in names
        allowed = BROKER_SENDS | PLUMBING[connector]
        assert names <= allowed, names - allowed
        assert sent.headers["x-portal-auth"] == "true"
        assert sent.headers["x-portal-secret"] == secret
        assert sent.headers["x-user-id"] == who["id"]
        assert sent.headers["x-user-email"] == who["email"]
        assert sent.headers["x-user-role"] in ("viewer", "operator")
        assert sent.headers["x-request-id"] != "forged-request-id"
        assert sent.headers["if-match"] == "1"
        assert sent.headers["idempotency-key"] == "key-1"
        for value in sent.headers.values():
            assert who["cookie"] not in value
            assert who["token"] not in value
        assert sent.url.path == "/api/me"
        assert sent.url.query == b"x=1&y=%C3%A9"
        # Each header is sent once: a client copy never rides along a broker one.
        raw_names = [k.lower() for k, _ in sent.headers.raw]
        assert len(raw_names) == len(set(raw_names))


def test_broker_forwards_the_body_and_method(
    world: World, recorded: tuple[TestClient, Recorder, str]
) -> None:
    client, recorder, _ = recorded
    response = client.post(
        "/work/api/artifacts",
        headers=world.bearer(world.operator),
        json={"type": "event-page", "title": "Broker body", "storageUri": "https://lu.ma/b"},
    )
    created = ok(response, 201)
    assert created["createdBy"] == world.operator["id"]
    sent = recorder.requests[-1]
    assert sent.method == "POST"
    assert b'"Broker body"' in sent.content
    assert "authorization" not in {n.lower() for n in sent.headers}


def test_refused_requests_never_reach_the_engine(
    world: World, recorded: tuple[TestClient, Recorder, str]
) -> None:
    client, recorder, _ = recorded
    for route in ROUTES:
        send(client, route, world.ids, world.dead["bad-cookie"])
        send(client, route, world.ids, forged(world))
    public = [r for r in recorder.requests if r.url.path in PUBLIC_PATHS]
    assert [r for r in recorder.requests if r not in public] == []
    for sent in public:  # the description is fetched with no user, whatever was forged
        assert not [name for name in sent.headers if name.lower().startswith("x-user-")]


# --------------------------------------------------------------- broker failure modes


class Failing(httpx.AsyncBaseTransport):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (httpx.ReadTimeout("engine too slow"), 504),
        (httpx.ConnectError("connection refused by 10.0.0.7"), 502),
    ],
)
def test_engine_failures_become_problems(world: World, error: Exception, status: int) -> None:
    engine = HttpEngine(Failing(error), "http://engine.internal")
    app = create_portal_app(world.ws, engine, ENGINE_SECRET)
    with TestClient(app) as client:
        body = assert_problem(
            client.get("/work/api/me", headers=world.cookie(world.viewer)), status
        )
    assert "10.0.0.7" not in body["detail"]
    assert "engine.internal" not in body["detail"]


def test_unexpected_engine_error_is_a_bare_500_problem(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("boom at /srv/secret/path password=hunter2")

    monkeypatch.setattr(people, "describe_actor", explode)
    # Not entered as a context manager: leaving would run the shared app's shutdown.
    client = TestClient(world.app, raise_server_exceptions=False)
    response = client.get("/work/api/me", headers=world.cookie(world.viewer))
    body = assert_problem(response, 500)
    assert "boom" not in response.text
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["detail"]


def test_api_responses_carry_a_request_id(world: World) -> None:
    response = world.client.get("/work/api/me", headers=world.cookie(world.viewer))
    assert ok(response)
    assert len(response.headers.get("x-request-id", "")) >= 16
    forged_id = world.client.get(
        "/work/api/me", headers={**world.cookie(world.viewer), "x-request-id": "forged"}
    )
    assert forged_id.headers.get("x-request-id") != "forged"


# ------------------------------------------------------ what the broker does with paths


@pytest.mark.parametrize(
    "encoded",
    ["%3F", "%23", "%0C", "%7F", "%00", "%0D%0A", "%09"],
    ids=["question-mark", "hash", "form-feed", "delete", "nul", "crlf", "tab"],
)
def test_percent_encoded_characters_in_an_id_are_not_a_500(world: World, encoded: str) -> None:
    """CONTRACT §4: bad input never gives 500. An ID with an encoded reserved or control
    character is just an unknown ID (404) or a malformed request (400)."""
    client = TestClient(world.app, raise_server_exceptions=False)  # not entered: shared app
    for path in (f"/work/api/tasks/x{encoded}y", f"/work/api/artifacts/x{encoded}y/approve"):
        method = "GET" if path.startswith("/work/api/tasks") else "POST"
        response = client.request(method, path, headers=world.cookie(world.operator))
        assert response.status_code in (400, 404), f"{method} {path}: {response.text[:200]}"
        assert_problem(response, response.status_code)


@pytest.mark.parametrize("smuggled", ["..%2Fusers", "%2E%2E%2Fusers", "x%2F..%2F..%2Fusers"])
def test_an_encoded_slash_stays_inside_the_id(
    world: World, recorded: tuple[TestClient, Recorder, str], smuggled: str
) -> None:
    """`/work/api/tasks/{id}` must reach the engine's task route whatever the ID holds: a
    decoded `%2F` must not turn the ID into a path that lands on another route."""
    client, recorder, _ = recorded
    response = client.get(f"/work/api/tasks/{smuggled}", headers=world.cookie(world.viewer))
    sent = [r.url.raw_path for r in recorder.requests]
    assert all(path.startswith(b"/api/tasks/") for path in sent), sent
    assert response.status_code in (400, 404), response.text[:200]


# ------------------------------------------------------------------ trailing slashes


def _slashed(world: World) -> list[str]:
    """Every API path of the engine's route table with a trailing slash, and the bare
    collection root."""
    paths = {route.portal_path(world.ids) + "/" for route in ROUTES if route.method == "GET"}
    return sorted(paths | {"/work/api/"})


@pytest.mark.parametrize("via", ["cookie", "token"])
def test_a_trailing_slash_is_a_404_not_a_redirect(world: World, via: str) -> None:
    """`/work/api/tasks/` once answered 307 with the engine's internal address in
    Location; now no API path redirects anywhere."""
    own = world.cookie(world.operator) if via == "cookie" else world.bearer(world.operator)
    paths = _slashed(world)
    assert "/work/api/tasks/" in paths
    for path in paths:
        for method in ("GET", "POST"):
            response = world.client.request(method, path, headers=own, follow_redirects=False)
            assert "location" not in response.headers, f"{method} {path}"
            assert_problem(response, 404)


def test_a_trailing_slash_on_the_portals_own_routes_is_a_404(world: World) -> None:
    for path in ("/auth/login/", "/auth/session/", "/auth/logout/"):
        method = "GET" if path == "/auth/session/" else "POST"
        response = world.client.request(method, path, follow_redirects=False)
        assert "location" not in response.headers, path
        assert_problem(response, 404)


def test_a_trailing_slash_on_the_engine_itself_is_a_404(world: World, engine: httpx.Client) -> None:
    headers = {**trust(), **admin_headers(world)}
    for path in _slashed(world):
        response = engine.get(path.removeprefix("/work"), headers=headers)
        assert "location" not in response.headers, path
        assert_problem(response, 404)
