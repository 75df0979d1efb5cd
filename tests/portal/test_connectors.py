"""The broker's in-process connector (`AsgiEngine`, what `dataops serve` uses), driven at the
ASGI level: what the engine is called with, what comes back, streaming both ways, and the
problems for an engine that fails, never answers or is too slow. Also where the portal's
credential reads and the engine's read routes run (event loop or thread pool)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest

from dataops import runtime
from dataops.domain.accounts import User
from dataops.domain.clock import now_ts
from dataops.domain.enums import Role
from dataops.engine import deps
from dataops.engine.app import JSON_BODY_LIMIT
from dataops.portal.app import create_portal_app
from dataops.portal.broker import EngineBroker, EngineBusy, EngineRequest
from dataops.portal.connectors import AsgiEngine
from dataops.portal.gateway import Authenticator
from dataops.services import auth
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.portal.support import ENGINE_SECRET, SESSION_COOKIE, assert_unchanged, db_snapshot

Message = dict[str, Any]
App = Callable[[dict[str, Any], Callable[[], Awaitable[Message]], Any], Awaitable[None]]

ENGINE_GETS = {
    # the client's allow-listed headers
    b"content-type",
    b"accept",
    b"if-match",
    b"idempotency-key",
    # the broker's own
    b"x-portal-auth",
    b"x-portal-secret",
    b"x-request-id",
    b"x-user-id",
    b"x-user-email",
    b"x-user-role",
    # the connector's framing: the body passes unchanged, so its declared length holds
    b"host",
    b"content-length",
}
CLIENT_GETS = {
    b"content-type",
    b"content-length",
    b"content-disposition",
    b"etag",
    b"location",
    b"cache-control",
    b"x-content-type-options",
    b"x-request-id",
    b"retry-after",
}


# ------------------------------------------------------------------------------ helpers


@dataclass
class Answer:
    """What the client received: every ASGI message the portal sent."""

    messages: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def chunks(self) -> list[bytes]:
        return [m.get("body", b"") for m in self.messages[1:]]

    def json(self) -> Any:
        return json.loads(b"".join(self.chunks))

    def problem(self, status: int) -> dict[str, Any]:
        assert self.status == status, (self.status, b"".join(self.chunks)[:300])
        assert self.headers[b"content-type"] == b"application/problem+json"
        body: dict[str, Any] = self.json()
        assert body["status"] == status
        return body


def scope_for(
    method: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]],
    query: bytes = b"",
) -> dict[str, Any]:
    """The scope uvicorn would build for this request (the path percent-decoded)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"portal.example"), *headers],
        "server": ("portal.example", 80),
        "client": ("203.0.113.9", 50000),
    }


async def drive(
    app: App,
    scope: dict[str, Any],
    body: list[bytes] | None = None,
    on_message: Callable[[Message], None] | None = None,
    between_chunks: Callable[[int], Awaitable[None]] | None = None,
) -> Answer:
    """Send one request to `app` (the body in the given pieces) and collect the answer."""
    pieces = list(body or [b""])
    answer = Answer()
    done = asyncio.Event()
    sent = 0

    async def receive() -> Message:
        nonlocal sent
        if sent < len(pieces):
            if between_chunks is not None and sent > 0:
                await between_chunks(sent)
            sent += 1
            return {
                "type": "http.request",
                "body": pieces[sent - 1],
                "more_body": sent < len(pieces),
            }
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        answer.messages.append(message)
        if on_message is not None:
            on_message(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    return answer


@dataclass
class Recording:
    """A stand-in engine: records its scope and the body it read, then answers."""

    answer_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        while True:
            message = await receive()
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = [(b"content-type", b"application/json"), *self.answer_headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


def session_cookie(ws: Workspace) -> tuple[bytes, bytes]:
    session = auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    return (b"cookie", f"{SESSION_COOKIE}={session.token}".encode())


def admin(ws: Workspace) -> User:
    return auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD).user


# ---------------------------------------------------------------- what the engine gets


def test_the_engine_gets_only_allow_listed_and_trusted_headers(workspace: Workspace) -> None:
    engine = Recording()
    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    user = admin(workspace)
    forged = [
        (b"x-user-id", b"usr_forged"),
        (b"x-user-email", b"forged@example.com"),
        (b"x-user-role", b"admin"),
        (b"x-user-anything", b"1"),
        (b"x-portal-auth", b"true"),
        (b"x-portal-secret", b"forged-secret-forged-secret"),
        (b"x-portal-anything", b"1"),
        (b"x-request-id", b"forged-request-id"),
        (b"x-forwarded-for", b"198.51.100.7"),
        (b"referer", b"https://evil.example/"),
        (b"authorization-extra", b"x"),
    ]
    allowed = [
        (b"content-type", b"application/json"),
        (b"accept", b"application/json"),
        (b"if-match", b'"3"'),
        (b"idempotency-key", b"key-1"),
        (b"content-length", b"2"),
    ]
    cookie = session_cookie(workspace)
    scope = scope_for("PATCH", b"/work/api/tasks/tsk_1", [*forged, *allowed, cookie], b"a=1")
    answer = asyncio.run(drive(portal, scope, [b"{}"]))
    assert answer.status == 200

    (sent,) = engine.scopes
    names = [name for name, _ in sent["headers"]]
    assert set(names) <= ENGINE_GETS, set(names) - ENGINE_GETS
    assert len(names) == len(set(names)), "each header once: no client copy rides along"
    headers = dict(sent["headers"])
    assert headers[b"x-user-id"] == user.id.encode()
    assert headers[b"x-user-email"] == ADMIN_EMAIL.encode()
    assert headers[b"x-user-role"] == b"admin"
    assert headers[b"x-portal-auth"] == b"true"
    assert headers[b"x-portal-secret"] == ENGINE_SECRET.encode()
    assert headers[b"x-request-id"] != b"forged-request-id"
    assert len(headers[b"x-request-id"]) >= 16
    for name, value in allowed:
        assert headers[name] == value
    assert b"cookie" not in headers
    assert all(cookie[1] not in value for value in headers.values())
    assert sent["method"] == "PATCH"
    assert (sent["path"], sent["raw_path"], sent["query_string"]) == (
        "/api/tasks/tsk_1",
        b"/api/tasks/tsk_1",
        b"a=1",
    )
    assert engine.chunks == [b"{}"]


def test_a_bearer_token_is_never_forwarded(workspace: Workspace) -> None:
    engine = Recording()
    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")
    bearer = (b"authorization", f"Bearer {secret}".encode())
    answer = asyncio.run(drive(portal, scope_for("GET", b"/work/api/me", [bearer])))
    assert answer.status == 200
    (sent,) = engine.scopes
    assert b"authorization" not in dict(sent["headers"])
    assert all(secret.encode() not in value for _, value in sent["headers"])


@pytest.mark.parametrize(
    ("raw", "query", "path", "engine_raw"),
    [
        (b"/work/api/tasks/a%2Fb", b"", "/api/tasks/a/b", b"/api/tasks/a%2Fb"),
        (b"/work/api/tasks/..%2Fusers", b"", "/api/tasks/../users", b"/api/tasks/..%2Fusers"),
        (b"/work/api/tasks/x%3Fy%23z", b"q=%2F&y=%C3%A9", "/api/tasks/x?y#z", None),
        (b"/work/api/artifacts/%C3%A9t%C3%A9", b"", "/api/artifacts/\u00e9t\u00e9", None),
    ],
)
def test_an_encoded_path_reaches_the_engine_as_sent(
    workspace: Workspace, raw: bytes, query: bytes, path: str, engine_raw: bytes | None
) -> None:
    engine = Recording()
    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    cookie = session_cookie(workspace)
    asyncio.run(drive(portal, scope_for("GET", raw, [cookie], query)))
    (sent,) = engine.scopes
    assert sent["raw_path"] == (engine_raw or raw[len(b"/work") :])
    assert sent["path"] == path
    assert sent["query_string"] == query


# ---------------------------------------------------------------- what the client gets


def test_the_client_gets_only_allow_listed_response_headers(workspace: Workspace) -> None:
    engine = Recording(
        answer_headers=[
            (b"etag", b'"7"'),
            (b"x-request-id", b"rid"),
            (b"cache-control", b"no-store"),
            (b"set-cookie", b"dataops_session=stolen; Path=/"),
            (b"server", b"engine/1.0"),
            (b"x-powered-by", b"engine"),
            (b"access-control-allow-origin", b"*"),
            (b"x-portal-secret", ENGINE_SECRET.encode()),
        ]
    )
    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    answer = asyncio.run(
        drive(portal, scope_for("GET", b"/work/api/me", [session_cookie(workspace)]))
    )
    assert answer.status == 200
    assert set(answer.headers) <= CLIENT_GETS, set(answer.headers) - CLIENT_GETS
    assert answer.headers[b"etag"] == b'"7"'
    assert answer.headers[b"x-request-id"] == b"rid"
    assert answer.json() == {"ok": True}


# --------------------------------------------------------------------------- streaming


def test_the_request_body_streams_to_the_engine(workspace: Workspace) -> None:
    """Each piece reaches the engine before the client sends the next: nothing buffers."""
    engine = Recording()
    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    pieces = [b'{"a":', b'"x' + b"y" * 1000, b'"}']

    async def wait_for_engine(sent: int) -> None:
        for _ in range(200):
            if len(engine.chunks) == sent:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"the engine had {len(engine.chunks)} pieces, not {sent}")

    headers = [session_cookie(workspace), (b"content-type", b"application/json")]
    scope = scope_for("POST", b"/work/api/artifacts", headers)
    answer = asyncio.run(drive(portal, scope, pieces, between_chunks=wait_for_engine))
    assert answer.status == 200
    assert engine.chunks == pieces


def test_a_streamed_body_over_the_limit_is_413_from_the_engine(workspace: Workspace) -> None:
    """No Content-Length: the engine's own limit counts the bytes as they pass through."""
    portal = runtime.build_single_process(workspace)
    piece = b"x" * (256 * 1024)
    head = b'{"type":"event-page","title":"t","storageUri":"https://x.example","description":"'
    pieces = [head, *([piece] * (JSON_BODY_LIMIT // len(piece) + 1)), b'"}']
    headers = [session_cookie(workspace), (b"content-type", b"application/json")]
    before = db_snapshot(workspace)
    answer = asyncio.run(drive(portal, scope_for("POST", b"/work/api/artifacts", headers), pieces))
    assert "larger than" in answer.problem(413)["detail"]
    assert_unchanged(before, db_snapshot(workspace))


def test_the_answer_streams_to_the_client(workspace: Workspace) -> None:
    """The engine's second piece is produced only after the client has the first."""
    first_seen = asyncio.Event()

    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/octet-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.wait_for(first_seen.wait(), timeout=5)
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    def seen(message: Message) -> None:
        if message.get("body") == b"first":
            first_seen.set()

    portal = create_portal_app(workspace, AsgiEngine(engine), ENGINE_SECRET)
    scope = scope_for("GET", b"/work/api/export", [session_cookie(workspace)])
    answer = asyncio.run(drive(portal, scope, on_message=seen))
    assert answer.status == 200
    assert answer.chunks == [b"first", b"second"]


def test_an_export_download_streams_through_the_real_engine(workspace: Workspace) -> None:
    portal = runtime.build_single_process(workspace)
    answer = asyncio.run(
        drive(portal, scope_for("GET", b"/work/api/export", [session_cookie(workspace)]))
    )
    assert answer.status == 200
    assert answer.headers[b"content-type"] == b"application/gzip"
    assert b"attachment" in answer.headers[b"content-disposition"]
    assert b"".join(answer.chunks)[:2] == b"\x1f\x8b"  # gzip


# ----------------------------------------------------------------------------- failures


def broker_call(
    engine: App, *, timeout: float = 30.0, export_timeout: float = 600.0, path: bytes
) -> Answer:
    broker = EngineBroker(
        AsgiEngine(engine), ENGINE_SECRET, timeout=timeout, export_timeout=export_timeout
    )
    user = User(id="usr_1", email="a@example.com", name="A", role=Role.ADMIN, created_at=now_ts())

    async def portal(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await broker.forward(scope, receive, send, user)

    return asyncio.run(drive(portal, scope_for("GET", path, [])))


def test_an_engine_that_raises_before_answering_is_a_502(caplog: pytest.LogCaptureFixture) -> None:
    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom at /srv/secret password=hunter2")

    answer = broker_call(engine, path=b"/work/api/me")
    body = answer.problem(502)
    assert "hunter2" not in json.dumps(body)
    assert body["detail"].endswith(")")  # names the request ID
    assert "hunter2" not in caplog.text  # only the error's type is logged


def test_an_engine_that_never_answers_is_a_502() -> None:
    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    broker_call(engine, path=b"/work/api/me").problem(502)


def test_an_engine_that_answers_then_raises_keeps_its_answer() -> None:
    """Starlette re-raises after it sent its own 500 problem: that answer stands."""

    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/problem+json")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        body = b'{"type":"x","title":"Internal error","status":500,"detail":"logged"}'
        await send({"type": "http.response.body", "body": body})
        raise RuntimeError("already answered")

    assert broker_call(engine, path=b"/work/api/me").problem(500)["detail"] == "logged"


def test_an_engine_that_fails_mid_answer_cuts_the_response() -> None:
    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        broker_call(engine, path=b"/work/api/export")


def slow_engine(seconds: float, cancelled: list[bool]) -> App:
    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    return engine


def portal_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The portal's request lines, in order."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "dataops.portal"]


def test_an_engine_too_slow_to_answer_is_a_504(caplog: pytest.LogCaptureFixture) -> None:
    cancelled: list[bool] = []
    with caplog.at_level("INFO", logger="dataops"):
        answer = broker_call(slow_engine(5, cancelled), timeout=0.05, path=b"/work/api/me")
    detail = answer.problem(504)["detail"]
    assert "0.05 s" in detail
    assert cancelled == [True]  # the engine's work was cancelled, not left running
    (line,) = portal_lines(caplog)  # the ID the problem quotes is in the log
    assert (line["status"], line["path"], line["userId"]) == (504, "/work/api/me", "usr_1")
    assert detail.endswith(f"(request {line['requestId']})")


def test_the_export_has_its_own_timeout() -> None:
    cancelled: list[bool] = []
    engine = slow_engine(0.2, cancelled)
    answer = broker_call(engine, timeout=0.05, export_timeout=5, path=b"/work/api/export")
    assert answer.status == 200
    assert b"".join(answer.chunks) == b"late"
    slow = broker_call(engine, timeout=5, export_timeout=0.05, path=b"/work/api/export")
    slow.problem(504)


def test_a_started_answer_is_not_cut_by_the_timeout() -> None:
    async def engine(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"slow but started"})

    answer = broker_call(engine, timeout=0.05, path=b"/work/api/me")
    assert (answer.status, b"".join(answer.chunks)) == (200, b"slow but started")


class BusyEngine:
    """A connector whose limit of requests in flight is reached (`Http1Engine`'s)."""

    async def call(self, request: EngineRequest, receive: Any, send: Any) -> None:
        raise EngineBusy(request.request_id)

    async def aclose(self) -> None:
        return None


def test_a_connector_with_too_many_requests_in_flight_is_a_503() -> None:
    broker = EngineBroker(BusyEngine(), ENGINE_SECRET)

    async def portal(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await broker.forward(scope, receive, send, None)

    answer = asyncio.run(drive(portal, scope_for("GET", b"/work/api/me", [])))
    body = answer.problem(503)
    assert body["type"] == "urn:dataops:problem:engine-busy"
    assert body["detail"].startswith("too many requests are waiting for the work-engine")
    assert body["detail"].endswith(")")  # names the request ID
    assert answer.headers[b"retry-after"] == b"1"


def test_an_unknown_method_is_a_405_problem(workspace: Workspace) -> None:
    portal = runtime.build_single_process(workspace)
    answer = asyncio.run(drive(portal, scope_for("TRACE", b"/work/api/me", [])))
    answer.problem(405)
    assert b"GET" in answer.headers[b"allow"]


# ----------------------------------------------------- event loop or thread pool


@dataclass
class NamedStore:
    """The real store under another backend's name (what decides where reads run)."""

    inner: Any
    name: str

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


def where_it_ran(ws: Workspace) -> int:
    return threading.get_ident()


@pytest.mark.parametrize(("store", "inline"), [("sqlite", True), ("dynamodb", False)])
def test_engine_reads_run_on_the_loop_only_for_local_stores(
    workspace: Workspace, store: str, inline: bool
) -> None:
    ws = dataclasses.replace(workspace, store=NamedStore(workspace.store, store))

    async def run() -> tuple[int, int]:
        return threading.get_ident(), await deps.read(ws, where_it_ran, ws)

    loop_thread, read_thread = asyncio.run(run())
    assert (loop_thread == read_thread) is inline


@pytest.mark.parametrize(("store", "inline"), [("sqlite", True), ("dynamodb", False)])
def test_credential_reads_run_on_the_loop_only_for_local_stores(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, store: str, inline: bool
) -> None:
    ws = dataclasses.replace(workspace, store=NamedStore(workspace.store, store))
    session = auth.login(workspace, ADMIN_EMAIL, ADMIN_PASSWORD)
    threads: list[int] = []
    real = auth.session_user

    def recorded(ws: Workspace, token: str) -> User:
        threads.append(threading.get_ident())
        return real(ws, token)

    monkeypatch.setattr(auth, "session_user", recorded)

    async def run() -> tuple[int, str]:
        cookie = f"{SESSION_COOKIE}={session.token}"
        user, via = await Authenticator(ws).user(None, cookie)
        assert user.email == ADMIN_EMAIL
        return threading.get_ident(), via

    loop_thread, via = asyncio.run(run())
    assert via == "cookie"
    assert (threads == [loop_thread]) is inline


def test_recording_a_tokens_use_runs_in_the_thread_pool(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write (SQLite's writer lock may be held elsewhere) never runs on the loop."""
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")
    threads: list[int] = []
    real = auth.touch_token

    def recorded(ws: Workspace, token: Any) -> None:
        threads.append(threading.get_ident())
        real(ws, token)

    monkeypatch.setattr(auth, "touch_token", recorded)

    async def run() -> int:
        user, via = await Authenticator(workspace).user(f"Bearer {secret}", None)
        assert (user.email, via) == (ADMIN_EMAIL, "token")
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert len(threads) == 1
    assert threads[0] != loop_thread
    assert auth.find_token_user(workspace, secret)[1].last_used_at is not None


def test_a_revoked_session_fails_on_the_next_request(workspace: Workspace) -> None:
    """No cache between the portal and the store: a logout holds at once."""
    portal = runtime.build_single_process(workspace)
    session = auth.login(workspace, ADMIN_EMAIL, ADMIN_PASSWORD)
    cookie = (b"cookie", f"{SESSION_COOKIE}={session.token}".encode())
    first = asyncio.run(drive(portal, scope_for("GET", b"/work/api/me", [cookie])))
    assert first.status == 200
    auth.logout(workspace, session.token)
    asyncio.run(drive(portal, scope_for("GET", b"/work/api/me", [cookie]))).problem(401)


def test_refusals_and_the_portals_own_pages_get_their_line_too(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """What never reaches the broker (so has no request ID) is logged as well: the
    gateway's refusals, a failed login, the UI."""
    portal = runtime.build_single_process(workspace)
    session = auth.login(workspace, ADMIN_EMAIL, ADMIN_PASSWORD)
    cookie = (b"cookie", f"{SESSION_COOKIE}={session.token}".encode())
    login = json.dumps({"email": ADMIN_EMAIL, "password": "wrong"}).encode()
    json_type = (b"content-type", b"application/json")
    with caplog.at_level("INFO", logger="dataops"):
        for scope, body in [
            (scope_for("GET", b"/work/api/me", []), None),
            (scope_for("POST", b"/work/api/tasks", [cookie, (b"origin", b"https://x.test")]), None),
            (scope_for("TRACE", b"/work/api/me", [cookie]), None),
            (scope_for("POST", b"/auth/login", [json_type]), [login]),
            (scope_for("GET", b"/work", []), None),
        ]:
            asyncio.run(drive(portal, scope, body))
    assert [(line["method"], line["path"], line["status"]) for line in portal_lines(caplog)] == [
        ("GET", "/work/api/me", 401),
        ("POST", "/work/api/tasks", 403),
        ("TRACE", "/work/api/me", 405),
        ("POST", "/auth/login", 401),
        ("GET", "/work", 200),
    ]
    assert [line["requestId"] for line in portal_lines(caplog)] == [None] * 5
    assert [line["userId"] for line in portal_lines(caplog)] == [
        None,
        session.user.id,  # known by then: the write was refused as cross-site
        None,
        None,
        None,
    ]
    assert "wrong" not in caplog.text  # no bodies


def test_serve_logs_one_line_per_request(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """In one process the portal's line (request ID, path, status, user) is the only one;
    the engine logs its own line only when it runs as its own service."""
    portal = runtime.build_single_process(workspace)
    session = auth.login(workspace, ADMIN_EMAIL, ADMIN_PASSWORD)
    cookie = (b"cookie", f"{SESSION_COOKIE}={session.token}".encode())
    with caplog.at_level("INFO", logger="dataops"):
        answer = asyncio.run(drive(portal, scope_for("GET", b"/work/api/me", [cookie])))
    request_id = answer.headers[b"x-request-id"].decode()
    lines = [json.loads(r.getMessage()) for r in caplog.records if request_id in r.getMessage()]
    assert lines == [
        {
            "requestId": request_id,
            "method": "GET",
            "path": "/work/api/me",
            "status": 200,
            "userId": session.user.id,
        }
    ]
