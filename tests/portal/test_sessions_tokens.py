"""Sessions, login throttling, API tokens, cross-site protection and body limits
(CONTRACT §3, issue 3)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.accounts import Actor
from dataops.domain.clock import format_ts, now, parse_ts
from dataops.domain.enums import Role
from dataops.domain.errors import Forbidden, ValidationFailed
from dataops.engine.app import JSON_BODY_LIMIT, create_engine_app
from dataops.services import auth, idempotency
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from dataops.services.ratelimit import LoginLimiter
from dataops.store.dynamodb import DynamoStore
from dataops.store.port import MetadataStore, PageRequest
from dataops.store.sqlite import SqliteStore
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    login,
    make_settings,
    run_dataops,
)
from tests.contract.dynamo import drop_tables, dynamo_env, dynamo_store, endpoint_for
from tests.portal.support import (
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
    engine_route_table,
    ok,
    recorded_portal,
    seed_records,
    store_snapshot,
)

UNSAFE_ROUTES = [r for r in engine_route_table() if r.method in UNSAFE]
ARTIFACT = {"type": "event-page", "title": "Episode page", "storageUri": "https://lu.ma/ep-1"}


def set_cookie_attributes(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The session cookie's value and its attributes (lower-case names)."""
    headers = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    ours = [h for h in headers if h.startswith(f"{SESSION_COOKIE}=")]
    assert len(ours) == 1, headers
    first, *attributes = (part.strip() for part in ours[0].split(";"))
    value = first.split("=", 1)[1].strip('"')
    parsed = {}
    for attribute in attributes:
        name, _, setting = attribute.partition("=")
        parsed[name.lower()] = setting
    return value, parsed


def cookie_header(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def login_token(client: TestClient, email: str, password: str) -> str:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    value, _ = set_cookie_attributes(response)
    client.cookies.clear()
    return value


def attempt(client: TestClient, email: str, password: str) -> httpx.Response:
    response = client.post("/auth/login", json={"email": email, "password": password})
    client.cookies.clear()
    return response


def db_bytes(home: Path) -> bytes:
    """Every byte SQLite keeps for the store (main file, WAL and shared memory).

    Read in a child process: opening and closing the files here would drop this
    process's POSIX locks on them (SQLite's well-known close() hazard) and let other
    processes' writes go unseen by the open store."""
    files = sorted(str(f) for f in home.glob("dataops.db*"))
    assert files, f"no SQLite files under {home}"
    script = (
        "import sys\n"
        "for name in sys.argv[1:]:\n"
        "    sys.stdout.buffer.write(open(name, 'rb').read())"
    )
    return subprocess.run(
        [sys.executable, "-c", script, *files], capture_output=True, check=True, timeout=60
    ).stdout


# ------------------------------------------------------------------ login and cookie


def test_login_cookie_is_httponly_lax_and_not_secure_in_test(portal: TestClient) -> None:
    response = portal.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    value, attributes = set_cookie_attributes(response)
    assert len(value) >= 32
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    assert "secure" not in attributes
    assert attributes.get("path") == "/"
    assert int(attributes["max-age"]) == int(auth.SESSION_LIFETIME.total_seconds())
    assert value not in response.text  # the secret travels only in the cookie
    body = response.json()
    assert body["user"]["email"] == ADMIN_EMAIL
    assert parse_ts(body["expiresAt"]) > now()


def test_login_cookie_is_secure_in_staging(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATAOPS_ENV="staging", DATAOPS_BLOB_STORE="disabled")
    ws = runtime.build_workspace(settings)
    try:
        runtime.bootstrap_admin(ws)
        with TestClient(runtime.build_single_process(ws), base_url="https://testserver") as client:
            response = client.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert response.status_code == 200, response.text
            _, attributes = set_cookie_attributes(response)
            assert "secure" in attributes
            assert "httponly" in attributes
            assert attributes.get("samesite", "").lower() == "lax"
            assert ok(client.get("/work/api/me"))["email"] == ADMIN_EMAIL
            logout = client.post("/auth/logout")
            _, cleared = set_cookie_attributes(logout)
            assert "secure" in cleared
    finally:
        ws.store.close()


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (ADMIN_EMAIL, "not-the-password"),
        ("nobody@example.com", ADMIN_PASSWORD),
        ("nobody@example.com", "not-the-password"),
        ("not an email", "not-the-password"),
        (ADMIN_EMAIL, ""),
    ],
)
def test_failed_login_does_not_say_which_part_was_wrong(
    portal: TestClient, email: str, password: str
) -> None:
    response = portal.post("/auth/login", json={"email": email, "password": password})
    body = assert_problem(response, 401)
    reference = assert_problem(
        portal.post("/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-password"}),
        401,
    )
    assert (body["type"], body["title"], body["detail"]) == (
        reference["type"],
        reference["title"],
        reference["detail"],
    )
    assert "set-cookie" not in response.headers
    assert SESSION_COOKIE not in portal.cookies


def test_session_reports_how_the_caller_proved_it(api: TestClient, workspace: Workspace) -> None:
    assert ok(api.get("/auth/session"))["via"] == "cookie"
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")
    api.cookies.clear()
    session = ok(api.get("/auth/session", headers={"Authorization": f"Bearer {secret}"}))
    assert session["via"] == "token"
    assert session["user"]["email"] == ADMIN_EMAIL


# ------------------------------------------------------------ logout, revocation, expiry


def test_logout_revokes_the_session_server_side(portal: TestClient, workspace: Workspace) -> None:
    token = login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    other = login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert ok(portal.get("/work/api/me", headers=cookie_header(token)))["email"] == ADMIN_EMAIL

    response = portal.post("/auth/logout", headers=cookie_header(token))
    assert response.status_code == 200
    _, cleared = set_cookie_attributes(response)
    assert cleared.get("max-age") == "0" or "expires" in cleared

    # The old cookie value, replayed, is dead everywhere.
    assert_problem(portal.get("/work/api/me", headers=cookie_header(token)), 401)
    assert_problem(portal.get("/auth/session", headers=cookie_header(token)), 401)
    assert_problem(
        portal.post("/work/api/artifacts", headers=cookie_header(token), json=ARTIFACT), 401
    )
    with workspace.store.unit_of_work() as uow:
        stored = uow.sessions.get(auth.secret_hash(token))
    assert stored is not None
    assert stored.revoked is True
    # Only that session: the user's other login lives on.
    assert ok(portal.get("/work/api/me", headers=cookie_header(other)))["email"] == ADMIN_EMAIL


def test_logout_with_a_cookie_jar_ends_the_session(api: TestClient) -> None:
    assert ok(api.get("/work/api/me"))
    ok(api.post("/auth/logout"))
    assert_problem(api.get("/work/api/me"), 401)


def test_expired_session_is_refused(portal: TestClient, workspace: Workspace) -> None:
    token = login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert ok(portal.get("/work/api/me", headers=cookie_header(token)))
    with workspace.store.unit_of_work(write=True) as uow:
        session = uow.sessions.get(auth.secret_hash(token))
        assert session is not None
        assert parse_ts(session.expires_at) > now()
        updated = copy.deepcopy(session)
        updated.expires_at = format_ts(now() - timedelta(seconds=1))
        updated.version = session.version + 1
        uow.sessions.update(updated, session.version)
        uow.commit()
    assert_problem(portal.get("/work/api/me", headers=cookie_header(token)), 401)
    assert_problem(portal.get("/auth/session", headers=cookie_header(token)), 401)


def _expire(workspace: Workspace, entity: str, record_id: str, ago: timedelta) -> None:
    with workspace.store.unit_of_work(write=True) as uow:
        repository = getattr(uow, entity)
        record = repository.get(record_id)
        updated = copy.deepcopy(record)
        updated.expires_at = format_ts(now() - ago)
        updated.version = record.version + 1
        repository.update(updated, record.version)
        uow.commit()


def test_a_login_deletes_expired_sessions_and_keeps_live_ones(
    portal: TestClient, workspace: Workspace
) -> None:
    tokens = [login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD) for _ in range(3)]
    expired, live = tokens[:2], tokens[2]
    for token in expired:
        _expire(workspace, "sessions", auth.secret_hash(token), timedelta(seconds=1))
    newest = login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    with workspace.store.unit_of_work() as uow:
        kept = uow.sessions.get_many([auth.secret_hash(t) for t in [*tokens, newest]])
    assert sorted(s.id for s in kept) == sorted(auth.secret_hash(t) for t in (live, newest))
    assert ok(portal.get("/work/api/me", headers=cookie_header(live)))


def test_an_idempotent_create_deletes_expired_keys_and_keeps_live_ones(
    api: TestClient, workspace: Workspace
) -> None:
    def create(key: str) -> str:
        response = api.post(
            "/work/api/artifacts",
            headers={"Idempotency-Key": key},
            json={"type": "report", "title": key, "storageUri": f"https://example.com/{key}"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    me = api.get("/work/api/me").json()
    actor = Actor(id=me["id"], email=me["email"], role=Role(me["role"]))
    keys = ("old-1", "old-2", "live", "new")
    claim = {key: idempotency.record_id(actor, "register-artifact", key) for key in keys}
    first = {key: create(key) for key in keys[:3]}
    for key in ("old-1", "old-2"):
        _expire(workspace, "idempotency", claim[key], timedelta(hours=1))
    create("new")
    with workspace.store.unit_of_work() as uow:
        kept = uow.idempotency.get_many(list(claim.values()))
    assert sorted(r.id for r in kept) == sorted([claim["live"], claim["new"]])
    assert create("live") == first["live"]  # a live key still replays its first result
    assert create("old-1") != first["old-1"]  # an expired key is new again


def test_sessions_are_stored_as_hashes_only(portal: TestClient, workspace: Workspace) -> None:
    token = login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD)
    stored = db_bytes(workspace.settings.home)
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


# ------------------------------------------------------------------- login throttling


def test_five_failures_lock_the_account_but_not_another(
    portal: TestClient, workspace: Workspace
) -> None:
    victim = add_user(workspace, Role.OPERATOR, "victim@example.com")
    bystander = add_user(workspace, Role.OPERATOR, "bystander@example.com")
    for _ in range(5):
        assert_problem(attempt(portal, victim, "wrong-password"), 401)
    for password in ("wrong-password", PASSWORD):  # even the right password waits
        locked = attempt(portal, victim, password)
        body = assert_problem(locked, 429)
        retry_after = locked.headers["retry-after"]
        assert retry_after.isdigit()
        assert int(retry_after) > 0
        assert retry_after in body["detail"]
        assert "set-cookie" not in locked.headers
    assert attempt(portal, bystander, PASSWORD).status_code == 200
    assert attempt(portal, victim.upper(), PASSWORD).status_code == 429


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(str.upper, id="upper-case"),
        pytest.param(lambda e: f" {e}", id="leading-space"),
        pytest.param(lambda e: f"{e} ", id="trailing-space"),
        pytest.param(lambda e: f"\t{e}\n", id="tab-and-newline"),
    ],
)
def test_account_limit_covers_every_spelling_of_the_email(
    portal: TestClient, workspace: Workspace, spelling: object
) -> None:
    """Login accepts the email trimmed and case-folded, so the throttle must count every
    spelling of it as the one account (else each variant gets a fresh 5 guesses)."""
    assert callable(spelling)
    victim = add_user(workspace, Role.OPERATOR, "spelled@example.com")
    assert attempt(portal, spelling(victim), PASSWORD).status_code == 200  # same account
    for _ in range(5):
        assert_problem(attempt(portal, victim, "wrong-password"), 401)
    response = attempt(portal, spelling(victim), PASSWORD)
    assert_problem(response, 429)


def test_failures_from_one_address_lock_that_address(
    portal: TestClient, workspace: Workspace
) -> None:
    real = add_user(workspace, Role.VIEWER, "real@example.com")
    for n in range(20):  # 20 different accounts, 1 guess each: under the account limit
        assert_problem(attempt(portal, f"guess-{n}@example.com", "wrong-password"), 401)
    body = assert_problem(attempt(portal, real, PASSWORD), 429)
    assert body["detail"]
    elsewhere = TestClient(portal.app, client=("203.0.113.7", 40000))
    assert attempt(elsewhere, real, PASSWORD).status_code == 200


def test_failures_spread_over_addresses_still_lock_the_account(
    portal: TestClient, workspace: Workspace
) -> None:
    victim = add_user(workspace, Role.OPERATOR, "distributed@example.com")
    for n in range(5):
        client = TestClient(portal.app, client=(f"198.51.100.{n + 1}", 40000))
        assert_problem(attempt(client, victim, "wrong-password"), 401)
    fresh = TestClient(portal.app, client=("198.51.100.99", 40000))
    assert_problem(attempt(fresh, victim, PASSWORD), 429)


class FakeClock:
    """Seconds from an origin, as the wall-clock datetime the limiter reads."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.now)


@pytest.fixture(params=["sqlite", "dynamodb"])
def throttle_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """The metadata store the limiter keeps its counts in: a SQLite file, or DynamoDB on
    the session's moto server."""
    store: MetadataStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "throttle.db")
    else:
        store = dynamo_store(endpoint_for(request), tmp_path)
    yield store
    if isinstance(store, DynamoStore):
        drop_tables(store)
    store.close()


def test_limiter_window_expires(throttle_store: MetadataStore) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(
        throttle_store, per_account=3, per_address=100, window_seconds=60, clock=clock
    )
    for _ in range(3):
        assert limiter.retry_after("a@example.com", "10.0.0.1") is None
        limiter.attempt("a@example.com", "10.0.0.1")
        clock.now += 1
    wait = limiter.retry_after("a@example.com", "10.0.0.2")
    assert wait is not None
    assert 0 < wait <= 60
    # The first failure (t=1000) leaves the window at t=1060; until then still locked.
    clock.now = 1059.5
    assert limiter.retry_after("a@example.com", "10.0.0.2") == 1
    clock.now = 1060.0
    assert limiter.retry_after("a@example.com", "10.0.0.2") is None
    # One slot freed, not all: the next failure locks again.
    limiter.attempt("a@example.com", "10.0.0.2")
    assert limiter.retry_after("a@example.com", "10.0.0.2") is not None
    clock.now = 2000.0
    assert limiter.retry_after("a@example.com", "10.0.0.2") is None


def test_limiter_counts_accounts_case_insensitively_and_addresses_apart(
    throttle_store: MetadataStore,
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(
        throttle_store, per_account=2, per_address=3, window_seconds=60, clock=clock
    )
    limiter.attempt("A@Example.com", "10.0.0.1")
    limiter.attempt("a@example.COM", "10.0.0.2")
    assert limiter.retry_after("a@example.com", "10.0.0.3") is not None
    assert limiter.retry_after("b@example.com", "10.0.0.3") is None
    limiter.attempt("c@example.com", "10.0.0.1")
    limiter.attempt("d@example.com", "10.0.0.1")
    assert limiter.retry_after("e@example.com", "10.0.0.1") is not None  # address full
    assert limiter.retry_after("e@example.com", "10.0.0.4") is None


def test_limiter_success_clears_the_account_not_the_address(
    throttle_store: MetadataStore,
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(
        throttle_store, per_account=2, per_address=2, window_seconds=60, clock=clock
    )
    limiter.attempt("a@example.com", "10.0.0.1")  # a failure
    right = limiter.attempt("a@example.com", "10.0.0.1")
    limiter.succeeded("A@example.com", "10.0.0.1", right.at)
    limiter.attempt("a@example.com", "10.0.0.2")
    assert limiter.retry_after("a@example.com", "10.0.0.3") is None
    # The success took only its own attempt off the address: its failure still counts.
    limiter.attempt("x@example.com", "10.0.0.1")
    assert limiter.retry_after("y@example.com", "10.0.0.1") is not None


def test_limiter_retry_after_is_the_time_until_the_oldest_failure_leaves(
    throttle_store: MetadataStore,
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(
        throttle_store, per_account=1, per_address=10, window_seconds=900, clock=clock
    )
    limiter.attempt("a@example.com", "10.0.0.1")
    clock.now += 300
    assert limiter.retry_after("a@example.com", "10.0.0.1") == 601


def test_failures_from_a_clock_behind_keep_the_newest(throttle_store: MetadataStore) -> None:
    """Two processes whose clocks differ: the record keeps its attempts in time order,
    whatever order they were written in, and Retry-After counts from the oldest by time."""
    ahead, behind = FakeClock(), FakeClock()
    behind.now = ahead.now - 30
    fast, slow = (
        LoginLimiter(throttle_store, per_account=2, window_seconds=60, clock=clock)
        for clock in (ahead, behind)
    )
    fast.attempt("skew@example.com", "10.0.0.1")  # t=1000
    slow.attempt("skew@example.com", "10.0.0.2")  # t=970, written second
    assert fast.retry_after("skew@example.com", "10.0.0.4") == 31  # 970 leaves at 1030
    assert fast.attempt("skew@example.com", "10.0.0.3").retry_after == 31  # not counted
    ahead.now += 31  # 970 has left; 1000 is kept, a new attempt is counted beside it
    assert fast.attempt("skew@example.com", "10.0.0.3").retry_after is None
    assert fast.retry_after("skew@example.com", "10.0.0.4") == 30  # 1000 leaves at 1060


def test_the_limit_holds_across_portal_processes(throttle_store: MetadataStore) -> None:
    """Two limiters on one store, as two `dataops portal serve` processes or two warm
    Lambda containers have: failures seen by either count for both, also when they are
    written at the same time."""
    clock = FakeClock()
    first, second = (
        LoginLimiter(throttle_store, per_account=6, per_address=100, clock=clock) for _ in range(2)
    )
    start = threading.Barrier(6)

    def fail(limiter: LoginLimiter, n: int) -> None:
        start.wait()
        limiter.attempt("shared@example.com", f"10.0.0.{n}")

    threads = [
        threading.Thread(target=fail, args=(limiter, n))
        for n, limiter in enumerate([first, second] * 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert first.retry_after("shared@example.com", "10.0.0.99") is not None  # all 6 counted
    assert second.retry_after("shared@example.com", "10.0.0.99") is not None
    assert second.retry_after("other@example.com", "10.0.0.99") is None


def test_throttle_records_hold_no_email_or_address_and_expire(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "throttle.db")
    clock = FakeClock()
    limiter = LoginLimiter(store, per_account=5, window_seconds=60, clock=clock)
    limiter.attempt("Private.Person@example.com", "192.0.2.44")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("throttle.db*"))
    for secret in (b"private.person", b"Private.Person", b"192.0.2.44"):
        assert secret not in raw
    clock.now += 61  # both records have expired: the next failure deletes them
    limiter.attempt("someone@example.com", "198.51.100.1")
    with store.unit_of_work() as uow:
        kept = uow.stored("login_throttles")
        rows = [row for batch in kept.batches for row in batch]
    assert len(rows) == 2  # the new account's and address's only
    store.close()


# ------------------------------------------------------------------------ API tokens


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], Workspace]]:
    """A DATAOPS_HOME shared by the CLI child processes and an in-process portal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "WORK_ENGINE_"))}
    env.update({"DATAOPS_HOME": str(tmp_path), "DATAOPS_ENV": "test"})
    ws = runtime.build_workspace(make_settings(tmp_path))
    runtime.bootstrap_admin(ws)
    yield tmp_path, env, ws
    ws.store.close()


def dataops(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_dataops(args, env, stdin)


def test_cli_token_lifecycle(cli_home: tuple[Path, dict[str, str], Workspace]) -> None:
    home, env, ws = cli_home
    email = "assistant@example.com"
    added = dataops(
        env,
        "users",
        "add",
        email,
        "--name",
        "Podcast Assistant",
        "--role",
        "operator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr

    created = dataops(env, "tokens", "create", "--user", email, "--name", "podcast-assistant")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1, created.stdout  # ONLY the token on stdout
    secret = lines[0]
    assert created.stdout == secret + "\n"
    assert secret.startswith(auth.TOKEN_PREFIX)
    assert len(secret) >= 40
    assert secret not in created.stderr

    # The store holds only the hash: the secret's bytes are nowhere in the SQLite files.
    stored = db_bytes(home)
    assert secret.encode() not in stored
    assert secret.removeprefix(auth.TOKEN_PREFIX).encode() not in stored
    token_hash = hashlib.sha256(secret.encode()).hexdigest()
    assert token_hash.encode() in stored  # (proves these are the right files)

    listed = dataops(env, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout + listed.stderr
    assert token_hash not in listed.stdout + listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if "podcast-assistant" in line]
    token_id, name, user, _created, expires, last_used, status = row.split("\t")
    assert (name, user, last_used, status) == ("podcast-assistant", email, "never", "active")
    assert expires.endswith("Z")

    with TestClient(runtime.build_single_process(ws)) as client:
        bearer = {"Authorization": f"Bearer {secret}"}
        me = ok(client.get("/work/api/me", headers=bearer))
        assert (me["email"], me["role"]) == (email, "operator")
        artifact = ok(client.post("/work/api/artifacts", headers=bearer, json=ARTIFACT), 201)
        assert artifact["createdBy"] == me["id"]

        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        for text in (
            client.get("/work/api/tokens").text,
            client.get("/work/api/users").text,
            client.get("/work/api/audit-events").text,
        ):
            assert secret not in text
            assert token_hash not in text
            assert "$argon2" not in text
        tokens = ok(client.get("/work/api/tokens"))["items"]
        (listed_token,) = [t for t in tokens if t["id"] == token_id]
        assert set(listed_token) == {
            "id",
            "userId",
            "userEmail",
            "name",
            "createdAt",
            "expiresAt",
            "lastUsedAt",
            "revokedAt",
        }
        assert listed_token["lastUsedAt"] is not None
        assert listed_token["userEmail"] == email
        assert parse_ts(listed_token["expiresAt"]) - parse_ts(listed_token["createdAt"]) == (
            timedelta(days=90)
        )
        client.cookies.clear()

        revoked = dataops(env, "tokens", "revoke", token_id)
        assert revoked.returncode == 0, revoked.stderr
        assert secret not in revoked.stdout + revoked.stderr
        assert_problem(client.get("/work/api/me", headers=bearer), 401)
        assert_problem(client.post("/work/api/artifacts", headers=bearer, json=ARTIFACT), 401)

    again = dataops(env, "tokens", "revoke", token_id)
    assert again.returncode != 0
    assert "revoked" in again.stderr


@pytest.mark.parametrize("flag", [[], ["--revoke-tokens"]], ids=["passwd", "revoke-tokens"])
def test_cli_passwd_revokes_sessions_and_with_the_flag_tokens(
    cli_home: tuple[Path, dict[str, str], Workspace], flag: list[str]
) -> None:
    _, env, ws = cli_home
    session = auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    _, secret = auth.create_token(ws, SYSTEM, ADMIN_EMAIL, "script")
    changed = dataops(
        env, "users", "passwd", ADMIN_EMAIL, "--password-stdin", *flag, stdin="new-password-1\n"
    )
    assert changed.returncode == 0, changed.stderr
    with pytest.raises(auth.Unauthorized):
        auth.session_user(ws, session.token)
    if flag:
        with pytest.raises(auth.Unauthorized):
            auth.find_token_user(ws, secret)
    else:
        assert auth.find_token_user(ws, secret)[0].email == ADMIN_EMAIL


# ------------------------------------------------------------------- token expiry


@pytest.fixture(params=["sqlite", "dynamodb"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A bootstrapped workspace on SQLite, or on DynamoDB (the session's moto server)."""
    env = dynamo_env(endpoint_for(request)) if request.param == "dynamodb" else {}
    ws = runtime.build_workspace(make_settings(tmp_path, **env))
    runtime.bootstrap_admin(ws)
    yield ws
    if isinstance(ws.store, DynamoStore):
        drop_tables(ws.store)
    ws.store.close()


def set_token_data(ws: Workspace, token_id: str, change: Callable[[JsonDict], None]) -> None:
    """Rewrite a token's stored JSON behind the services' back (as an older release, or
    time passing, would leave it)."""
    store = ws.store
    if isinstance(store, DynamoStore):
        key = {"id": {"S": token_id}}
        table = store.tables["api_tokens"]
        data = json.loads(store.client.get_item(TableName=table, Key=key)["Item"]["data"]["S"])
        change(data)
        store.client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #d = :d",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":d": {"S": json.dumps(data)}},
        )
        return
    conn = sqlite3.connect(ws.settings.sqlite_path)
    try:
        (raw,) = conn.execute("SELECT data FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
        data = json.loads(raw)
        change(data)
        conn.execute("UPDATE api_tokens SET data = ? WHERE id = ?", (json.dumps(data), token_id))
        conn.commit()
    finally:
        conn.close()


def test_an_expired_token_is_401_and_says_when_it_expired(any_store: Workspace) -> None:
    ws = any_store
    email = add_user(ws, Role.ASSISTANT)
    token, secret = auth.create_token(ws, SYSTEM, email, "short-lived", 1)
    bearer = {"Authorization": f"Bearer {secret}"}
    with TestClient(runtime.build_single_process(ws)) as client:
        assert ok(client.get("/work/api/me", headers=bearer))["email"] == email
        past = format_ts(now() - timedelta(seconds=1))
        set_token_data(ws, token.id, lambda data: data.update(expiresAt=past))
        before = store_snapshot(ws)
        for response in (
            client.get("/work/api/me", headers=bearer),
            client.post("/work/api/files/register", headers=bearer, json={}),
            client.get("/auth/session", headers=bearer),
        ):
            body = assert_problem(response, 401)
            assert body["detail"] == f"the API token expired on {past}"
        assert_unchanged(before, store_snapshot(ws))
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        (listed,) = ok(client.get("/work/api/tokens", params={"userId": token.user_id}))["items"]
        assert (listed["expiresAt"], listed["revokedAt"]) == (past, None)


def test_expires_in_zero_never_expires(any_store: Workspace) -> None:
    ws = any_store
    token, secret = auth.create_token(ws, SYSTEM, ADMIN_EMAIL, "forever", 0)
    assert token.expires_at is None
    with TestClient(runtime.build_single_process(ws)) as client:
        me = client.get("/work/api/me", headers={"Authorization": f"Bearer {secret}"})
        assert ok(me)["email"] == ADMIN_EMAIL
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        (listed,) = [t for t in ok(client.get("/work/api/tokens"))["items"] if t["id"] == token.id]
        assert listed["expiresAt"] is None
        assert listed["lastUsedAt"] is not None
        assert listed["userEmail"] == ADMIN_EMAIL


def test_a_token_made_before_tokens_expired_keeps_working(any_store: Workspace) -> None:
    """A stored token without `expiresAt` at all (written by an earlier release) never
    expires."""
    ws = any_store
    email = add_user(ws, Role.OPERATOR)
    token, secret = auth.create_token(ws, SYSTEM, email, "legacy script")
    set_token_data(ws, token.id, lambda data: data.pop("expiresAt"))
    with TestClient(runtime.build_single_process(ws)) as client:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert ok(client.get("/work/api/me", headers=bearer))["role"] == "operator"
        created = client.post("/work/api/artifacts", headers=bearer, json=ARTIFACT)
        assert ok(created, 201)["createdBy"] == token.user_id
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        (listed,) = ok(client.get("/work/api/tokens", params={"userId": token.user_id}))["items"]
        assert listed["expiresAt"] is None


@pytest.mark.parametrize("days", [-1, 3651, True])
def test_token_lifetimes_outside_0_to_3650_days_are_refused(
    workspace: Workspace, days: int
) -> None:
    with pytest.raises(ValidationFailed):
        auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "bad", days)
    assert auth.list_tokens(workspace, PageRequest()).items == []


@pytest.mark.parametrize("role", [Role.ASSISTANT, Role.OPERATOR])
def test_only_an_admin_makes_tokens(workspace: Workspace, role: Role) -> None:
    actor = Actor(id="usr_x", email="x@example.com", role=role)
    with pytest.raises(Forbidden):
        auth.create_token(workspace, actor, ADMIN_EMAIL, "mine")
    assert auth.list_tokens(workspace, PageRequest()).items == []


def test_cli_token_expiry_and_list(cli_home: tuple[Path, dict[str, str], Workspace]) -> None:
    _, env, ws = cli_home
    email = add_user(ws, Role.ASSISTANT)
    forever = dataops(env, "tokens", "create", "--user", email, "--name", "f", "--expires-in", "0")
    assert forever.returncode == 0, forever.stderr
    assert "never expires" in forever.stderr
    week = dataops(env, "tokens", "create", "--user", email, "--name", "w", "--expires-in", "7")
    assert week.returncode == 0, week.stderr
    for bad in ("-1", "3651", "x", "1.5", "²"):
        refused = dataops(
            env, "tokens", "create", "--user", email, "--name", "b", "--expires-in", bad
        )
        assert refused.returncode == 2, bad
        assert "days" in refused.stderr
        assert refused.stdout == ""
    with TestClient(runtime.build_single_process(ws)) as client:
        bearer = {"Authorization": f"Bearer {week.stdout.strip()}"}
        assert ok(client.get("/work/api/me", headers=bearer))["role"] == "assistant"
    listed = dataops(env, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == [
        "ID",
        "NAME",
        "USER",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATUS",
    ]
    by_name = {row.split("\t")[1]: row.split("\t") for row in rows}
    assert set(by_name) == {"f", "w"}
    assert by_name["f"][2] == by_name["w"][2] == email
    assert by_name["f"][4:] == ["never", "never", "active"]
    _, _, _, created, expires, last_used, status = by_name["w"]
    assert parse_ts(expires) - parse_ts(created) == timedelta(days=7)
    assert (last_used != "never", status) == (True, "active")


def test_api_revoke_ends_the_token(api: TestClient, workspace: Workspace) -> None:
    email = add_user(workspace, Role.OPERATOR)
    token, secret = auth.create_token(workspace, SYSTEM, email, "script")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert ok(api.get("/work/api/me", headers=bearer))["email"] == email

    revoked = ok(api.post(f"/work/api/tokens/{token.id}/revoke"))
    assert revoked["id"] == token.id
    assert revoked["revokedAt"]
    assert secret not in json.dumps(revoked)
    assert token.token_hash not in json.dumps(revoked)

    api_cookies = dict(api.cookies)
    api.cookies.clear()
    assert_problem(api.get("/work/api/me", headers=bearer), 401)
    api.cookies.update(api_cookies)
    assert_problem(api.post(f"/work/api/tokens/{token.id}/revoke"), 409)
    assert_problem(api.post("/work/api/tokens/tok_does_not_exist/revoke"), 404)
    listed = ok(api.get("/work/api/tokens", params={"userId": revoked["userId"]}))["items"]
    assert [t["revokedAt"] for t in listed if t["id"] == token.id] == [revoked["revokedAt"]]


def test_a_token_with_the_right_hash_but_no_prefix_is_refused(
    portal: TestClient, workspace: Workspace
) -> None:
    _, secret = auth.create_token(workspace, SYSTEM, ADMIN_EMAIL, "script")
    for wrong in (
        secret.removeprefix(auth.TOKEN_PREFIX),
        secret + "x",
        secret[:-1],
        secret.upper(),
        hashlib.sha256(secret.encode()).hexdigest(),
    ):
        assert_problem(
            portal.get("/work/api/me", headers={"Authorization": f"Bearer {wrong}"}), 401
        )
    assert ok(portal.get("/work/api/me", headers={"Authorization": f"bearer  {secret} "}))


def test_no_secret_or_hash_in_the_export(api: TestClient, workspace: Workspace) -> None:
    """Tokens, sessions and passwords never appear in an export (issue 3, item 3)."""
    email = add_user(workspace, Role.OPERATOR)
    _, secret = auth.create_token(workspace, SYSTEM, email, "assistant")
    assert ok(api.get("/work/api/me", headers={"Authorization": f"Bearer {secret}"}))
    session = api.cookies[SESSION_COOKIE]
    export = api.get("/work/api/export")
    assert export.status_code == 200, export.text[:300]
    contents = b""
    with tarfile.open(fileobj=io.BytesIO(export.content), mode="r:gz") as tar:
        names = [m.name for m in tar.getmembers()]
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                contents += handle.read()
    assert any(name.endswith("users.jsonl") for name in names), names
    assert email.encode() in contents  # (the export is the real thing)
    for forbidden in (
        secret,
        auth.secret_hash(secret),
        session,
        auth.secret_hash(session),
        "$argon2",
    ):
        assert forbidden.encode() not in contents, forbidden[:12]
    assert not any("session" in name or "token" in name for name in names), names


# ------------------------------------------------------------------ cross-site (CSRF)


@pytest.fixture
def admin_cookie(portal: TestClient) -> dict[str, str]:
    return cookie_header(login_token(portal, ADMIN_EMAIL, ADMIN_PASSWORD))


CROSS_SITE = [
    pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
    pytest.param({"Origin": "http://testserver.evil.example"}, id="lookalike-origin"),
    pytest.param({"Origin": "https://testserver"}, id="other-scheme"),
    pytest.param({"Origin": "http://testserver:8080"}, id="other-port"),
    pytest.param({"Origin": "null"}, id="null-origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-cross-site"),
    # Go's CrossOriginProtection refuses same-site (a sibling subdomain) as well.
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="sec-fetch-same-site"),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
        id="sec-fetch-wins-over-origin",
    ),
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_cookie_post_is_refused(
    portal: TestClient, workspace: Workspace, admin_cookie: dict[str, str], headers: dict[str, str]
) -> None:
    before = db_snapshot(workspace)
    response = portal.post(
        "/work/api/artifacts", headers={**admin_cookie, **headers}, json=ARTIFACT
    )
    body = assert_problem(response, 403)
    assert body["type"].endswith("cross-site")
    assert_unchanged(before, db_snapshot(workspace))


@pytest.fixture(scope="module")
def csrf_target(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, TestClient, dict[str, str]]]:
    """The admin (who may do anything), logged in by cookie, and a record per ID."""
    ws = runtime.build_workspace(make_settings(tmp_path_factory.mktemp("csrf")))
    runtime.bootstrap_admin(ws)
    with TestClient(runtime.build_single_process(ws)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield ws, client, seed_records(ws, client)
    ws.store.close()


@pytest.mark.parametrize("route", UNSAFE_ROUTES, ids=lambda r: r.label)
def test_cross_site_cookie_request_refused_on_every_unsafe_route(
    csrf_target: tuple[Workspace, TestClient, dict[str, str]], route: Route
) -> None:
    ws, client, record_ids = csrf_target
    before = db_snapshot(ws)
    response = client.request(
        route.method,
        route.portal_path(record_ids),
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        json={},
    )
    body = assert_problem(response, 403)
    assert body["type"].endswith("cross-site")
    assert_unchanged(before, db_snapshot(ws))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "http://testserver"}, id="same-origin"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, id="sec-fetch-same-origin"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="sec-fetch-none"),
        pytest.param({}, id="no-browser-headers"),
    ],
)
def test_same_origin_cookie_post_is_allowed(
    portal: TestClient, admin_cookie: dict[str, str], headers: dict[str, str]
) -> None:
    response = portal.post(
        "/work/api/artifacts", headers={**admin_cookie, **headers}, json=ARTIFACT
    )
    assert ok(response, 201)["title"] == ARTIFACT["title"]


def test_cross_site_cookie_get_is_allowed(portal: TestClient, admin_cookie: dict[str, str]) -> None:
    headers = {**admin_cookie, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert ok(portal.get("/work/api/me", headers=headers))["email"] == ADMIN_EMAIL


def test_bearer_post_from_a_foreign_origin_is_allowed(
    portal: TestClient, workspace: Workspace
) -> None:
    email = add_user(workspace, Role.OPERATOR)
    _, secret = auth.create_token(workspace, SYSTEM, email, "assistant")
    response = portal.post(
        "/work/api/artifacts",
        headers={
            "Authorization": f"Bearer {secret}",
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
        },
        json=ARTIFACT,
    )
    assert (
        ok(response, 201)["createdBy"]
        == ok(portal.get("/work/api/me", headers={"Authorization": f"Bearer {secret}"}))["id"]
    )


# ------------------------------------------------------------------------ body limits


@pytest.fixture
def small_uploads(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace whose upload limit is tiny, so the portal's limit is just over 1 MiB."""
    ws = runtime.build_workspace(make_settings(tmp_path, DATAOPS_MAX_UPLOAD_BYTES="1000"))
    runtime.bootstrap_admin(ws)
    yield ws
    ws.store.close()


def test_portal_refuses_a_declared_oversize_body(small_uploads: Workspace) -> None:
    recorder = Recorder()
    limit = small_uploads.settings.max_upload_bytes + 1024 * 1024
    with TestClient(recorded_portal(small_uploads, recorder)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        recorder.requests.clear()
        before = db_snapshot(small_uploads)
        body = json.dumps({**ARTIFACT, "description": "x" * limit}).encode()
        response = client.post(
            "/work/api/artifacts",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert_problem(response, 413)
        # A lying Content-Length is refused up front too.
        lying = client.post(
            "/work/api/artifacts",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": str(limit + 1)},
        )
        assert_problem(lying, 413)
        assert recorder.requests == []  # refused at the portal, never brokered
        assert_unchanged(before, db_snapshot(small_uploads))


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A JSON object of `total` bytes, sent in pieces (no Content-Length)."""
    head = b'{"type":"event-page","title":"t","storageUri":"https://x.example","description":"'
    tail = b'"}'
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        piece = min(size, left)
        yield b"x" * piece
        left -= piece
    yield tail


def test_engine_refuses_a_streamed_json_body_over_1_mib(workspace: Workspace) -> None:
    engine = create_engine_app(workspace, ENGINE_SECRET)
    me = {"x-user-id": "usr_x", "x-user-email": ADMIN_EMAIL, "x-user-role": "admin"}
    headers = {
        "x-portal-auth": "true",
        "x-portal-secret": ENGINE_SECRET,
        **me,
        "content-type": "application/json",
    }

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=engine)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            request = client.build_request(
                "POST", "/api/artifacts", headers=headers, content=chunks(JSON_BODY_LIMIT + 10)
            )
            assert "content-length" not in request.headers
            return await client.send(request)

    before = db_snapshot(workspace)
    assert_problem(asyncio.run(run()), 413)
    assert_unchanged(before, db_snapshot(workspace))


def test_streamed_oversize_body_through_the_portal_is_413(
    api: TestClient, workspace: Workspace
) -> None:
    before = db_snapshot(workspace)

    def body() -> Iterator[bytes]:
        yield b'{"type":"event-page","title":"t","storageUri":"https://x.example","description":"'
        yield b"x" * (JSON_BODY_LIMIT + 10)
        yield b'"}'

    response = api.post(
        "/work/api/artifacts", content=body(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413)
    assert_unchanged(before, db_snapshot(workspace))


def test_a_body_under_the_limit_is_not_413(api: TestClient) -> None:
    """Control: just under 1 MiB reaches validation (the description is too long)."""
    body = json.dumps({**ARTIFACT, "description": "x" * (JSON_BODY_LIMIT - 500)})
    assert len(body) < JSON_BODY_LIMIT
    response = api.post(
        "/work/api/artifacts", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422)
