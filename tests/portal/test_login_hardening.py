"""Logins under load and attack (issue 15): no write lock while a password is hashed, the
hash pool, the throttle counting before the check, /auth/* body limits, concurrent use
of one API token, trusted proxies, nosniff, health, `users passwd --revoke-tokens`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.config import Settings
from dataops.domain.accounts import ApiToken, User
from dataops.domain.enums import Role
from dataops.domain.errors import ConfigurationError, StorageUnavailable, Unauthorized
from dataops.engine.app import create_engine_app
from dataops.portal.gateway import AUTH_BODY_LIMIT, Authenticator
from dataops.portal.logins import HashPool, LoginRefused, Logins, client_address
from dataops.services import auth, passwords, people
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from dataops.services.ratelimit import LoginLimiter
from dataops.store.dynamodb import DynamoStore
from dataops.store.port import Filters, PageRequest
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, login, make_settings
from tests.portal.support import ENGINE_SECRET, add_user, assert_problem, ok


def counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each password check (the hash passed in) and run the real one."""
    checked: list[str] = []
    real = passwords.verify

    def verify(password_hash: str, password: str) -> bool:
        checked.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify", verify)
    return checked


async def post_logins(app: Any, bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """POST every body to /auth/login at once (one event loop, all in flight together)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
        return list(
            await asyncio.gather(*(client.post("/auth/login", json=body) for body in bodies))
        )


# ------------------------------------------------------- no write lock while hashing


def probe_write_lock(ws: Workspace) -> None:
    """Fails at once ('database is locked') when another connection holds the write lock."""
    probe = sqlite3.connect(ws.settings.sqlite_path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    finally:
        probe.close()


AUTH_PATHS: dict[str, Callable[[Workspace], object]] = {
    "login": lambda ws: auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD),
    "login-unknown-user": lambda ws: auth.login(ws, "nobody@example.com", "x" * 12),
    "login-wrong-password": lambda ws: auth.login(ws, ADMIN_EMAIL, "wrong-password"),
    "users-add": lambda ws: people.add_user(
        ws, SYSTEM, "new@example.com", "N", Role.VIEWER, PASSWORD
    ),
    "users-passwd": lambda ws: people.set_password(ws, SYSTEM, ADMIN_EMAIL, PASSWORD),
    "users-passwd-revoke-tokens": lambda ws: people.set_password(
        ws, SYSTEM, ADMIN_EMAIL, PASSWORD, revoke_tokens=True
    ),
    "admin-password-reset": lambda ws: people.reset_password(ws, SYSTEM, _user_id(ws, ADMIN_EMAIL)),
    "own-password-change": lambda ws: auth.change_own_password(
        ws, _user(ws, ADMIN_EMAIL), ADMIN_PASSWORD, "a-new-password-1", None
    ),
}


def _user(ws: Workspace, email: str) -> User:
    with ws.store.unit_of_work() as uow:
        user = people.find_user_by_email(uow, email)
    assert user is not None
    return user


def _user_id(ws: Workspace, email: str) -> str:
    return _user(ws, email).id


@pytest.mark.parametrize("path", list(AUTH_PATHS), ids=list(AUTH_PATHS))
def test_no_authentication_path_holds_the_write_lock_while_hashing(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Every call of argon2 (check, hash, the unknown-user decoy) happens while another
    connection can still take SQLite's write lock."""
    hashed: list[str] = []

    def probed(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            probe_write_lock(workspace)  # raises OperationalError under a held write lock
            hashed.append(real.__name__)
            return real(*args)

        return call

    for name in ("verify", "hash_password", "waste_time"):
        monkeypatch.setattr(passwords, name, probed(getattr(passwords, name)))
    with contextlib.suppress(Unauthorized):
        AUTH_PATHS[path](workspace)
    assert hashed  # the path did hash


def test_bootstrap_admin_hashes_without_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path))
    real = passwords.hash_password

    def hash_password(password: str) -> str:
        probe_write_lock(ws)
        return real(password)

    monkeypatch.setattr(passwords, "hash_password", hash_password)
    assert runtime.bootstrap_admin(ws) is not None
    ws.store.close()


def test_a_user_disabled_while_their_password_was_checked_opens_no_session(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disabled user cannot log in (CONTRACT §9), also when an admin disables them
    between the password check (outside the transaction) and the session's write."""
    add_user(workspace, Role.OPERATOR, "dana@example.com")
    real = passwords.verify

    def verify(password_hash: str, password: str) -> bool:
        result = real(password_hash, password)
        monkeypatch.setattr(passwords, "verify", real)
        people.set_disabled(workspace, SYSTEM, "dana@example.com", True)
        return result

    monkeypatch.setattr(passwords, "verify", verify)
    with pytest.raises(Unauthorized, match="disabled"):
        auth.login(workspace, "dana@example.com", PASSWORD)
    with workspace.store.unit_of_work() as uow:
        user = people.find_user_by_email(uow, "dana@example.com")
        assert user is not None
        assert uow.sessions.find(Filters({"user_id": user.id}), PageRequest(10)).items == []


def test_a_password_changed_while_it_was_checked_opens_no_session(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check runs outside the transaction, so the session is added only if the
    credential is still the one that was checked."""
    real = passwords.verify

    def verify(password_hash: str, password: str) -> bool:
        result = real(password_hash, password)
        monkeypatch.setattr(passwords, "verify", real)
        people.set_password(workspace, SYSTEM, ADMIN_EMAIL, "another-password-1")
        return result

    monkeypatch.setattr(passwords, "verify", verify)
    with pytest.raises(Unauthorized):
        auth.login(workspace, ADMIN_EMAIL, ADMIN_PASSWORD)
    with workspace.store.unit_of_work() as uow:
        assert uow.sessions.find(Filters(), PageRequest(limit=10)).items == []


# ------------------------------------------------------------------- the hash pool


def test_the_login_route_hashes_on_the_dedicated_pool(
    portal: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not on the thread pool that serves synchronous routes and store work."""
    checked = counting_verify(monkeypatch)
    login(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert_problem(
        portal.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-pass"}), 401
    )
    assert len(checked) == 2
    assert all(name.startswith("dataops-hash") for name in checked), checked


def test_hash_pool_places_are_bounded_and_given_back() -> None:
    pool = HashPool(workers=1, queued=1)
    assert pool.reserve()
    assert pool.reserve()
    assert not pool.reserve()  # one running, one waiting: full

    async def run() -> int:
        return await pool.run(lambda: 7)

    assert asyncio.run(run()) == 7
    assert pool.reserve()  # the finished call gave its place back
    pool.release()
    pool.release()
    pool.close()


def test_a_login_beyond_the_pool_queue_is_503_and_not_counted(workspace: Workspace) -> None:
    limiter = LoginLimiter(workspace.store, per_account=5)
    pool = HashPool(workers=1, queued=0)
    logins = Logins(workspace, limiter, pool)
    started, release = threading.Event(), threading.Event()

    def slow_login(ws: Workspace, email: str, password: str) -> auth.NewSession:
        started.set()
        release.wait(10)
        return auth.login(ws, email, password)

    async def run() -> tuple[auth.NewSession, LoginRefused]:
        first = asyncio.ensure_future(pool.run(slow_login, workspace, ADMIN_EMAIL, ADMIN_PASSWORD))
        await asyncio.to_thread(started.wait, 10)
        with pytest.raises(LoginRefused) as refused:
            await logins.login(ADMIN_EMAIL, ADMIN_PASSWORD, "10.0.0.1")
        release.set()
        return await first, refused.value

    assert pool.reserve()  # the place `first` runs in
    session, refused = asyncio.run(run())
    assert session.user.email == ADMIN_EMAIL
    assert (refused.status, refused.retry_after) == (503, 1)
    assert limiter.retry_after(ADMIN_EMAIL, "10.0.0.1") is None
    with workspace.store.unit_of_work() as uow:  # nothing was counted for the refusal
        assert uow.login_throttles.get_many([]) == []
        kept = [row for batch in uow.stored("login_throttles").batches for row in batch]
    assert kept == []
    pool.close()


def test_a_refused_login_answers_503_with_retry_after(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HashPool, "reserve", lambda self: False)
    with TestClient(runtime.build_single_process(workspace)) as client:
        response = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "x"})
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert body["type"].endswith("login-busy")


# ------------------------------------------------ the throttle counts before checking


def test_concurrent_wrong_passwords_check_at_most_the_limit(
    any_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 wrong passwords for one account at once: at most 5 (the account limit) reach
    the password check; the others are 429 (or 503 when the hash queue is full)."""
    checked = counting_verify(monkeypatch)
    victim = add_user(any_workspace, Role.OPERATOR, "raced@example.com")
    app = runtime.build_single_process(any_workspace)
    bodies = [{"email": victim, "password": f"wrong-password-{n}"} for n in range(30)]
    responses = asyncio.run(post_logins(app, bodies))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429, 503}, statuses
    assert 1 <= len(checked) <= 5
    assert statuses.count(401) == len(checked)
    # The right password is locked out now, as after 5 sequential failures.
    locked = asyncio.run(post_logins(app, [{"email": victim, "password": PASSWORD}]))
    assert_problem(locked[0], 429)


def test_the_right_password_within_the_limit_logs_in_and_clears_the_count(
    any_workspace: Workspace,
) -> None:
    email = add_user(any_workspace, Role.OPERATOR, "within@example.com")
    app = runtime.build_single_process(any_workspace)
    for _ in range(4):
        (response,) = asyncio.run(post_logins(app, [{"email": email, "password": "wrong-pw-1"}]))
        assert_problem(response, 401)
    (right,) = asyncio.run(post_logins(app, [{"email": email, "password": PASSWORD}]))
    assert right.status_code == 200, right.text
    # The success cleared the account: 4 more failures still leave one attempt.
    wrong = [{"email": email, "password": "wrong-pw-2"}] * 4
    assert [r.status_code for r in asyncio.run(post_logins(app, wrong))] == [401] * 4
    (again,) = asyncio.run(post_logins(app, [{"email": email, "password": PASSWORD}]))
    assert again.status_code == 200, again.text


def test_successes_do_not_fill_the_address(workspace: Workspace) -> None:
    """An address counts failures only: 25 correct logins from one address (limit 20)."""
    with TestClient(runtime.build_single_process(workspace)) as client:
        for _ in range(25):
            login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


# ------------------------------------------------------------------- /auth/* bodies


async def endless_body(total: int) -> AsyncIterator[bytes]:
    """A JSON body of `total` bytes in pieces, with no Content-Length."""
    yield b'{"email":"admin@example.com","password":"'
    left = total
    while left > 0:
        yield b"x" * min(64 * 1024, left)
        left -= 64 * 1024
    yield b'"}'


@pytest.mark.parametrize("path", ["/auth/login", "/auth/logout"])
def test_auth_routes_refuse_a_large_body_before_reading_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    checked = counting_verify(monkeypatch)
    app = runtime.build_single_process(workspace)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as client:
            declared = await client.post(
                path,
                content=b"{}",
                headers={"Content-Type": "application/json", "Content-Length": "104857600"},
            )
            streamed = await client.post(
                path,
                content=endless_body(4 * 1024 * 1024),
                headers={"Content-Type": "application/json"},
            )
            return [declared, streamed]

    declared, streamed = asyncio.run(run())
    assert_problem(declared, 413)
    if path == "/auth/login":  # logout reads no body: only a declared length is refused
        assert_problem(streamed, 413)
    assert checked == []


def test_a_login_body_under_the_limit_is_read(portal: TestClient) -> None:
    body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "pad": "x" * 1000}
    assert len(str(body)) < AUTH_BODY_LIMIT
    assert portal.post("/auth/login", json=body).status_code == 200


# ------------------------------------------------------ concurrent use of one token


def test_recording_a_tokens_use_survives_a_racing_write(
    any_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request records the same use between this one's read and its write (on
    DynamoDB a version conflict at commit): the recording gives way, it does not fail."""
    token, _ = auth.create_token(any_workspace, SYSTEM, ADMIN_EMAIL, "script")
    real_now_ts = auth.now_ts
    other = threading.Thread(target=auth.touch_token, args=(any_workspace, token))

    def racing_now_ts() -> str:
        if not other.is_alive() and other.ident is None:  # once: the other write lands now
            other.start()
            if isinstance(any_workspace.store, DynamoStore):
                other.join(timeout=30)  # (SQLite: it waits for our write lock, no race)
        return real_now_ts()

    monkeypatch.setattr(auth, "now_ts", racing_now_ts)
    auth.touch_token(any_workspace, token)  # raised 409 version-mismatch on DynamoDB
    monkeypatch.setattr(auth, "now_ts", real_now_ts)
    other.join(timeout=30)
    assert not other.is_alive()
    with any_workspace.store.unit_of_work() as uow:
        stored = uow.api_tokens.get(token.id)
    assert stored is not None
    assert stored.last_used_at is not None


def test_parallel_requests_with_a_fresh_token_all_succeed(any_workspace: Workspace) -> None:
    _, secret = auth.create_token(any_workspace, SYSTEM, ADMIN_EMAIL, "parallel")
    app = runtime.build_single_process(any_workspace)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://portal", headers=headers
        ) as client:
            return list(await asyncio.gather(*(client.get("/work/api/me") for _ in range(8))))

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert auth.find_token_user(any_workspace, secret)[1].last_used_at is not None


def test_a_failed_recording_does_not_fail_the_request(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")

    def unavailable(ws: Workspace, token: ApiToken) -> None:
        raise StorageUnavailable("the store is down for writes")

    monkeypatch.setattr(auth, "touch_token", unavailable)
    with TestClient(runtime.build_single_process(workspace)) as client:
        me = ok(client.get("/work/api/me", headers={"Authorization": f"Bearer {secret}"}))
    assert me["email"] == ADMIN_EMAIL


def test_the_request_does_not_wait_for_the_recording(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")
    release = threading.Event()
    real = auth.touch_token

    def slow(ws: Workspace, token: ApiToken) -> None:
        release.wait(10)
        real(ws, token)

    monkeypatch.setattr(auth, "touch_token", slow)

    async def run() -> None:
        authenticator = Authenticator(workspace)
        user, via, recording = await authenticator.identify(f"Bearer {secret}", None)
        assert (user.email, via) == (ADMIN_EMAIL, "token")
        assert recording is not None
        assert not recording.done()  # named the caller while the write still waits
        again = await authenticator.identify(f"Bearer {secret}", None)
        assert again[2] is None  # one recording per token at a time
        release.set()
        await recording

    asyncio.run(run())
    assert auth.find_token_user(workspace, secret)[1].last_used_at is not None


# ------------------------------------------------------------------ trusted proxies


def scope_of(peer: str, *forwarded: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 40000), "headers": headers}


PROXIES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.0.2.1"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.9", ["198.51.100.1"], "203.0.113.9", id="untrusted-peer"),
        pytest.param("10.0.0.5", [], "10.0.0.5", id="no-header"),
        pytest.param("10.0.0.5", ["198.51.100.1"], "198.51.100.1", id="one-hop"),
        pytest.param(
            "10.0.0.5", ["6.6.6.6, 198.51.100.1, 192.0.2.1"], "198.51.100.1", id="skips-trusted"
        ),
        pytest.param("10.0.0.5", ["6.6.6.6", "198.51.100.1"], "198.51.100.1", id="two-headers"),
        pytest.param("10.0.0.5", ["garbage, 198.51.100.1"], "198.51.100.1", id="spoofed-left"),
        pytest.param("10.0.0.5", ["198.51.100.1, garbage"], "10.0.0.5", id="bad-right"),
        pytest.param("10.0.0.5", ["10.1.1.1, 10.2.2.2"], "10.1.1.1", id="all-trusted"),
        pytest.param("10.0.0.5", ["2001:db8::1"], "2001:db8::1", id="ipv6"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(scope_of(peer, *forwarded), PROXIES) == expected


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_address(scope_of("10.0.0.5", "198.51.100.1"), ()) == "10.0.0.5"


def test_trusted_proxies_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATAOPS_TRUSTED_PROXIES=" 10.0.0.0/8, 192.0.2.1 ,::1")
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(ConfigurationError, match="DATAOPS_TRUSTED_PROXIES"):
        make_settings(tmp_path, DATAOPS_TRUSTED_PROXIES="10.0.0.0/8,proxy.internal")


def test_the_throttle_counts_the_forwarded_address_only_behind_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    """Untrusted: a client varying X-Forwarded-For still fills its own address's count.
    Trusted (the test client's peer is the proxy): each forwarded address counts apart."""
    for trusted, locked in (("", True), ("127.0.0.1", False)):
        home = tmp_path / (trusted or "untrusted")
        ws = runtime.build_workspace(make_settings(home, DATAOPS_TRUSTED_PROXIES=trusted))
        runtime.bootstrap_admin(ws)
        app = runtime.build_single_process(ws)
        with TestClient(app, client=("127.0.0.1", 40000)) as client:
            for n in range(20):  # 20 accounts, one guess each: the address limit
                response = client.post(
                    "/auth/login",
                    json={"email": f"guess-{n}@example.com", "password": "wrong-password"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
                assert_problem(response, 401)
            last = client.post(
                "/auth/login",
                json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.200"},
            )
        assert last.status_code == (429 if locked else 200), (trusted, last.text)
        ws.store.close()


# ------------------------------------------------------------------ headers, health


def test_every_portal_answer_says_nosniff(api: TestClient, portal: TestClient) -> None:
    answers = [
        api.get("/work/api/me"),  # engine JSON through the broker
        api.get("/work/api/tasks/nope"),  # engine problem
        api.get("/work/health"),
        api.get("/auth/session"),
        api.get("/work"),  # the UI
        api.get("/work/static/app.js"),
        api.get("/work/static/missing.js"),  # 404 problem
        api.get("/"),  # redirect
        portal.get("/work/api/me"),  # 401 at the gateway
        portal.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-pass"}),
        portal.post("/auth/login", content=b"{", headers={"Content-Type": "application/json"}),
        portal.post("/auth/logout"),
        portal.get("/auth/nope"),
    ]
    for answer in answers:
        assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url


def test_every_engine_answer_says_nosniff(workspace: Workspace) -> None:
    engine = create_engine_app(workspace, ENGINE_SECRET)
    trusted = {"x-portal-auth": "true", "x-portal-secret": ENGINE_SECRET}
    me = {**trusted, "x-user-id": "usr_x", "x-user-email": ADMIN_EMAIL, "x-user-role": "admin"}
    with TestClient(engine) as client:
        for answer in (
            client.get("/api/health", headers=trusted),
            client.get("/api/users", headers=me),
            client.get("/api/tasks/nope", headers=me),
            client.get("/api/users"),  # 401: no portal secret
            client.post("/api/tasks", headers=me, content=b"{"),
        ):
            assert answer.headers.get("x-content-type-options") == "nosniff", answer.request.url


# ------------------------------------------------------ users passwd --revoke-tokens


@pytest.mark.parametrize("revoke_tokens", [False, True])
def test_a_password_change_revokes_sessions_and_on_request_tokens(
    workspace: Workspace, revoke_tokens: bool
) -> None:
    email = add_user(workspace, Role.OPERATOR, "changing@example.com")
    session = auth.login(workspace, email, PASSWORD)
    _, secret = auth.create_token(workspace, SYSTEM, email, "script")
    _, other = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "admin-script")
    people.set_password(workspace, SYSTEM, email, "a-new-password-1", revoke_tokens=revoke_tokens)
    with pytest.raises(Unauthorized):
        auth.session_user(workspace, session.token)
    if revoke_tokens:
        with pytest.raises(Unauthorized):
            auth.find_token_user(workspace, secret)
    else:
        assert auth.find_token_user(workspace, secret)[0].email == email
    assert auth.find_token_user(workspace, other)[0].email == ADMIN_EMAIL  # others' stay
    with workspace.store.unit_of_work() as uow:
        events = uow.audit_events.find(
            Filters({"entity_type": "user"}), PageRequest(limit=100)
        ).items
    (changed,) = [e for e in events if e.action == "password"]
    assert "1 session(s) revoked" in (changed.summary or "")
    assert ("1 API token(s) revoked" in (changed.summary or "")) is revoke_tokens


def test_sqlite_commits_are_synchronous_full(workspace: Workspace) -> None:
    """Sessions and audit events survive a power loss: every commit is synced (FULL)."""
    with workspace.store.unit_of_work(write=True) as uow:
        conn = uow._connection()  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
