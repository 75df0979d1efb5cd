"""Shared fixtures: a real SQLite workspace in a temp dir, the portal in front of the
engine (cookie → broker → engine), and a real `dataops serve` process."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.config import TEST_HASHING_VARIABLE, Settings
from dataops.domain.clock import today
from dataops.domain.enums import Role
from dataops.services import people
from dataops.services.context import Workspace
from tests import served_child

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

# argon2 at minimal cost for the hashes made in this process and in the children that
# inherit its environment (`dataops serve`, the CLI): the test suite makes thousands of
# logins and users, and at argon2-cffi's defaults their hashes were a large part of its CPU.
# `DATAOPS_TEST_ONLY_CHEAP_PASSWORD_HASHING=0 pytest ...` runs with the defaults.
os.environ.setdefault(TEST_HASHING_VARIABLE, "1")

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "user-password-1"


def make_settings(home: Path, **overrides: str) -> Settings:
    env = {
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(home),
        "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
        "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    env.update(overrides)
    return Settings.from_env(env)


SettingsFor = Callable[[Path], Settings]
"""Settings for a workspace whose data lives under the given folder."""


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> SettingsFor:
    """Where a test's workspaces keep their metadata: SQLite, then DynamoDB (the
    session's moto server, fresh tables per workspace)."""
    if request.param == "sqlite":
        return make_settings
    from tests.contract.dynamo import dynamo_settings, endpoint_for

    endpoint = endpoint_for(request)
    return lambda home: dynamo_settings(endpoint, home)


@pytest.fixture
def any_workspace(backend: SettingsFor, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with its admin, on each backend; DynamoDB tables dropped after."""
    ws = runtime.build_workspace(backend(tmp_path))
    runtime.bootstrap_admin(ws)
    yield ws
    from dataops.store.dynamodb import DynamoStore

    if isinstance(ws.store, DynamoStore):
        from tests.contract.dynamo import drop_tables

        drop_tables(ws.store)
    ws.store.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = runtime.build_workspace(make_settings(tmp_path))
    runtime.bootstrap_admin(ws)
    yield ws
    ws.store.close()


def day(offset: int) -> str:
    """The date `offset` days from the workspace's today (UTC), as YYYY-MM-DD."""
    return (dt.date.fromisoformat(today()) + dt.timedelta(days=offset)).isoformat()


def login(client: TestClient | httpx.Client, email: str, password: str) -> None:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text


@pytest.fixture
def portal(workspace: Workspace) -> Iterator[TestClient]:
    """An unauthenticated client of the single-process portal."""
    with TestClient(runtime.build_single_process(workspace)) as client:
        yield client


@pytest.fixture
def client_as(workspace: Workspace) -> Iterator[Callable[[Role], TestClient]]:
    """Clients logged in through the portal with a user of the given role."""
    app = runtime.build_single_process(workspace)
    clients: list[TestClient] = []

    def make(role: Role) -> TestClient:
        email = f"{role.value}-{len(clients)}@example.com"
        people.add_user(workspace, people.SYSTEM, email, role.value.title(), role, PASSWORD)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        login(client, email, PASSWORD)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(workspace: Workspace) -> Iterator[TestClient]:
    """The admin, logged in through the portal: requests go cookie → broker → engine."""
    with TestClient(runtime.build_single_process(workspace)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_SERVE_CONTEXT = multiprocessing.get_context("forkserver")
_SERVE_CONTEXT.set_forkserver_preload(["__main__", "tests.served_child"])


class ServedPortal:
    """`dataops serve` on loopback in a child process, forked from a forkserver that
    imported the app once (`tests/served_child.py`); stopped by SIGTERM, as a terminal's
    Ctrl-C or a service manager would."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.home = home
        full_env = {
            **os.environ,
            "DATAOPS_ENV": "test",
            "DATAOPS_HOME": str(home),
            "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
            "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **(env or {}),
        }
        log = home / "serve.log"
        log.write_text("")
        self.process = _SERVE_CONTEXT.Process(
            target=served_child.serve,
            args=(["serve", "--port", str(self.port), *args], full_env, str(log)),
        )
        self.process.start()
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.exitcode is not None:
                raise RuntimeError((self.home / "serve.log").read_text())
            try:
                if httpx.get(self.base_url + "/work/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("dataops serve did not become healthy within 30 s")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def stop(self) -> None:
        if self.process.exitcode is None:
            self.process.terminate()
            self.process.join(timeout=10)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()


def run_dataops(
    args: Sequence[str], env: dict[str, str], stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m dataops ARGS` in a child process with exactly `env`, as `subprocess.run`
    with `input=stdin`, `capture_output` and `text` runs it, but forked from the forkserver
    that imported the app once (`tests/served_child.py`): a command costs its own work, not
    a new interpreter's start and the app's imports (about 2 s of CPU each)."""
    command = [sys.executable, "-m", "dataops", *args]
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder, name) for name in ("stdin", "stdout", "stderr")]
        files[0].write_text(stdin)
        for file in files[1:]:
            file.write_text("")
        process = _SERVE_CONTEXT.Process(
            target=served_child.run, args=(list(args), env, *map(str, files))
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout)
        return subprocess.CompletedProcess(
            command, process.exitcode, files[1].read_text(), files[2].read_text()
        )


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPortal]:
    """One real `dataops serve` process for the whole session."""
    portal = ServedPortal(tmp_path_factory.mktemp("served"))
    yield portal
    portal.stop()


@pytest.fixture
def served_api(served: ServedPortal) -> Iterator[httpx.Client]:
    with served.client() as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server process for the session (DynamoDB, S3, Secrets Manager over HTTP).
    AWS test credentials are put in the environment for boto3 in this process too."""
    from tests.moto_server import AWS_TEST_ENV, MotoServer

    saved = {key: os.environ.get(key) for key in AWS_TEST_ENV}
    os.environ.update(AWS_TEST_ENV)
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


SLOW_FILES = (
    "test_fuzz.py",
    "test_notifications.py",
    "test_webhooks.py",
    "test_recurring.py",
    "test_blocked_lane.py",
    "test_validate_differential.py",
)
"""Files holding a test of 30 s or more (`--durations`): started first."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the browser tests' files (a stable sort: each file's
    order is kept). Started first on the parallel workers (a file per worker), they do
    not end the run alone while the other workers sit idle."""

    def rank(item: pytest.Item) -> int:
        if item.path.name in SLOW_FILES:
            return 0
        return 1 if item.path.parent.name == "e2e" else 2

    items.sort(key=rank)
