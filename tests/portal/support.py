"""Helpers shared by the portal perimeter tests: the engine's own route table, a world of
real records to aim at, database snapshots (to prove a refused request changed nothing),
and a recording connector between the portal and the engine."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import starlette.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops import runtime
from dataops.domain.enums import Role
from dataops.domain.permissions import GRANTS, Permission
from dataops.engine import deps
from dataops.engine.app import create_engine_app
from dataops.portal.app import create_portal_app
from dataops.portal.connectors import AsgiEngine, HttpEngine
from dataops.services import auth, people
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login, make_settings

JsonDict = dict[str, Any]
PROBLEM_JSON = "application/problem+json"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ENGINE_SECRET = "s" * 32
SESSION_COOKIE = "dataops_session"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


# ------------------------------------------------------------------- the route table


@dataclass(frozen=True, order=True)
class Route:
    method: str
    path: str  # the engine path, e.g. /api/tasks/{task_id}
    multipart: bool = field(default=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def portal_path(self, ids: dict[str, str]) -> str:
        """`/work` + the engine path with every path parameter replaced by a real ID (or a
        real-looking one for a parameter no fixture knows)."""

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            return ids.get(name) or f"{name.removesuffix('_id')[:3]}_{uuid.uuid4().hex[:20]}"

        return "/work" + _PARAM.sub(one, self.path)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes, flattened: recent FastAPI keeps included routers as nested
    route objects (walked with `iter_route_contexts`), older ones copy them into
    `app.routes`. Each item has `path`, `methods` and `dependant`."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in iterate(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _plain_routes(app: FastAPI) -> Iterator[starlette.routing.Route]:
    """Routes that are not API routes (e.g. the OpenAPI document)."""
    for route in app.routes:
        if isinstance(route, starlette.routing.Route) and not isinstance(route, APIRoute):
            yield route


def routes_of(app: FastAPI) -> list[Route]:
    """Every (method, path) the engine app serves under /api, from its own route list."""
    found: set[Route] = set()
    for route in _api_routes(app):
        if not route.path.startswith("/api/"):
            continue
        multipart = any(
            getattr(param.field_info, "media_type", "") == "multipart/form-data"
            for param in route.dependant.body_params
        )
        for method in route.methods:
            found.add(Route(method, route.path, multipart))
    for plain in _plain_routes(app):
        if plain.path.startswith("/api/"):
            found.update(Route(method, plain.path) for method in plain.methods or ())
    return sorted(found)


@functools.cache
def _engine_tables() -> tuple[list[Route], dict[Route, frozenset[Permission]]]:
    with tempfile.TemporaryDirectory() as home:
        ws = runtime.build_workspace(make_settings(Path(home)))
        try:
            app = create_engine_app(ws, ENGINE_SECRET)
            return routes_of(app), required_permissions(app)
        finally:
            ws.store.close()


def engine_route_table() -> list[Route]:
    """The engine's routes, computed at collection time (parametrisation needs them before
    any fixture exists) from a throwaway workspace."""
    return list(_engine_tables()[0])


def engine_guard_table() -> dict[Route, frozenset[Permission]]:
    """The permissions the guards of every engine API route ask for (from its dependency
    tree)."""
    return dict(_engine_tables()[1])


def roles_allowed(permissions: frozenset[Permission]) -> set[Role]:
    """The roles whose grants pass every one of the guards (an unguarded route: all)."""
    return {role for role in Role if permissions <= GRANTS[role]}


def required_permissions(app: FastAPI) -> dict[Route, frozenset[Permission]]:
    """For every route, the guard dependencies (`deps.GUARDS`) anywhere in its tree."""
    result: dict[Route, frozenset[Permission]] = {}
    for route in _api_routes(app):
        if not route.path.startswith("/api/"):
            continue
        found: set[Permission] = set()
        stack = list(route.dependant.dependencies)
        while stack:
            dependant = stack.pop()
            if dependant.call in deps.GUARDS:
                found.add(deps.GUARDS[dependant.call])
            stack.extend(dependant.dependencies)
        for method in route.methods:
            result[Route(method, route.path)] = frozenset(found)
    return result


# ------------------------------------------------------------------------- snapshots


def _without_token_use(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An api_tokens row minus what a successful bearer request records (last use)."""
    record_id, _version, data, *rest = row
    fields = json.loads(data)
    fields.pop("lastUsedAt", None)
    fields.pop("version", None)
    return (record_id, json.dumps(fields, sort_keys=True), *rest)


def db_snapshot(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the SQLite file, read over a separate connection.
    A bearer token's last-use stamp is left out: using a token legitimately records it."""
    conn = sqlite3.connect(f"file:{ws.settings.sqlite_path}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        snapshot = {
            table: sorted(
                conn.execute(f'SELECT * FROM "{table}"').fetchall(),  # noqa: S608
                key=repr,
            )
            for table in tables
        }
        snapshot["api_tokens"] = [_without_token_use(row) for row in snapshot["api_tokens"]]
        return snapshot
    finally:
        conn.close()


def dynamo_snapshot(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every item of every table of a DynamoDB store (a test may scan), token use left out
    as in `db_snapshot`."""
    store: Any = ws.store
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for entity, table in sorted(store.tables.items()):
        items: list[tuple[Any, ...]] = []
        for page in store.client.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if entity == "api_tokens" and "data" in item:
                    data = json.loads(item["data"]["S"])
                    data.pop("lastUsedAt", None)
                    data.pop("version", None)
                    item = {**item, "data": {"S": json.dumps(data, sort_keys=True)}, "version": 0}
                items.append(tuple(sorted((k, repr(v)) for k, v in item.items())))
        snapshot[entity] = sorted(items, key=repr)
    return snapshot


def store_snapshot(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored record, whichever the backend (SQLite file or DynamoDB tables)."""
    return dynamo_snapshot(ws) if ws.store.name == "dynamodb" else db_snapshot(ws)


def assert_unchanged(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> None:
    changed = [t for t in sorted(set(before) | set(after)) if before.get(t) != after.get(t)]
    assert not changed, f"a refused request changed the tables {changed}"


def assert_problem(response: httpx.Response, status: int) -> JsonDict:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: JsonDict = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert "Traceback" not in response.text
    return body


def ok(response: httpx.Response, status: int = 200) -> JsonDict:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    body: JsonDict = response.json()
    return body


# ----------------------------------------------------------------- records to aim at


def seed_records(ws: Workspace, admin: httpx.Client) -> dict[str, str]:
    """One real record per path parameter of the engine (the ID to use for `{name}`)."""
    template = ok(
        admin.post(
            "/work/api/templates",
            json={
                "name": "Perimeter template",
                "taskDefinitions": [
                    {
                        "refId": "publish",
                        "description": "Publish the episode page",
                        "offsetDays": 1,
                        "proofRequirement": {"type": "artifact", "label": "Episode page"},
                    }
                ],
            },
        ),
        201,
    )
    created = ok(
        admin.post(
            f"/work/api/templates/{template['id']}/instantiate",
            json={"title": "Perimeter episode", "anchorDate": "2025-03-10"},
        ),
        201,
    )
    task = created["tasks"][0]
    blocked = admin.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"})
    assert blocked.status_code == 409, blocked.text
    notes = ok(admin.get("/work/api/notifications"))["items"]
    assert notes, "a blocked completion should leave a notification"
    artifact = ok(
        admin.post(
            "/work/api/artifacts",
            json={
                "type": "event-page",
                "title": "Perimeter page",
                "storageUri": "https://lu.ma/perimeter-episode",
            },
        ),
        201,
    )
    file = ok(
        admin.post(
            "/work/api/files/register",
            json={
                "taskId": task["id"],
                "filename": "notes.pdf",
                "storageUri": "https://example.com/notes.pdf",
            },
        ),
        201,
    )
    token, _ = auth.create_token(ws, people.SYSTEM, ADMIN_EMAIL, "perimeter")
    person = people.add_user(
        ws,
        people.SYSTEM,
        f"seeded-{uuid.uuid4().hex[:8]}@example.com",
        "Seeded",
        Role.VIEWER,
        PASSWORD,
    )
    ids = {
        "user_id": person.id,
        "template_id": template["id"],
        "bundle_id": created["bundle"]["id"],
        "task_id": task["id"],
        "notification_id": notes[0]["id"],
        "artifact_id": artifact["id"],
        "file_id": file["id"],
        "token_id": token.id,
    }
    upload = admin.post(
        "/work/api/uploads",
        json={
            "filename": "cut.wav",
            "contentType": "audio/wav",
            "sizeBytes": 9,
            "checksum": "sha256:" + hashlib.sha256(b"perimeter").hexdigest(),
            "taskId": task["id"],
        },
    )
    if upload.status_code == 201:  # the route exists (CONTRACT §4) in this build
        ids["upload_id"] = upload.json()["uploadId"]
    return ids


def add_user(ws: Workspace, role: Role, email: str | None = None) -> str:
    email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    people.add_user(ws, people.SYSTEM, email, role.value.title(), role, PASSWORD)
    return email


def logged_in(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app)
    client.__enter__()
    login(client, email, password)
    return client


def admin_client(app: FastAPI) -> TestClient:
    return logged_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)


# ------------------------------------------------------- a recording engine connector


@dataclass(frozen=True)
class Sent:
    """One request the broker sent the engine, as the engine received it."""

    method: str
    url: httpx.URL  # path and query exactly as sent (`url.raw_path`, `url.query`)
    headers: httpx.Headers  # every header, duplicates kept (`headers.raw`)
    content: bytes

    @classmethod
    def of_scope(cls, scope: Scope, body: bytes) -> Sent:
        raw = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        url = httpx.URL("http://engine.internal").copy_with(raw_path=raw)
        return cls(scope["method"], url, httpx.Headers(list(scope["headers"])), body)


@dataclass
class Recorder:
    """Every request the broker sent to the engine, through either connector."""

    requests: list[Sent] = field(default_factory=list)

    def transport(self, inner: httpx.AsyncBaseTransport) -> httpx.MockTransport:
        """An httpx transport (the `HttpEngine` connector) that records, then passes on."""

        async def handle(request: httpx.Request) -> httpx.Response:
            content = await request.aread()
            self.requests.append(Sent(request.method, request.url, request.headers, content))
            return await inner.handle_async_request(request)

        return httpx.MockTransport(handle)

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """The engine app (the `AsgiEngine` connector) recording the scope it is called
        with and the body it reads."""

        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            chunks: list[bytes] = []

            async def counted() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    chunks.append(message.get("body", b""))
                return message

            sent = len(self.requests)
            self.requests.append(Sent.of_scope(scope, b""))
            try:
                await app(scope, counted, send)
            finally:
                self.requests[sent] = Sent.of_scope(scope, b"".join(chunks))

        return record


CONNECTORS = ("asgi", "http")


def recorded_portal(
    ws: Workspace, recorder: Recorder, secret: str = ENGINE_SECRET, connector: str = "asgi"
) -> FastAPI:
    """The portal in front of the real engine, every hop recorded: called in process
    (`asgi`, as `dataops serve`) or through an httpx transport (`http`, as a split
    deployment; here `httpx.ASGITransport`, so no socket)."""
    engine = create_engine_app(ws, secret)
    if connector == "asgi":
        return create_portal_app(ws, AsgiEngine(recorder.asgi(engine)), secret)
    transport = recorder.transport(httpx.ASGITransport(app=engine))
    return create_portal_app(ws, HttpEngine(transport, "http://engine.internal"), secret)


@contextmanager
def engine_client(ws: Workspace, secret: str = ENGINE_SECRET) -> Iterator[httpx.Client]:
    """A client of the engine app itself (no portal in between)."""
    with TestClient(create_engine_app(ws, secret), base_url="http://engine.internal") as client:
        yield client
