"""Split deployment on loopback: `dataops engine serve` and `dataops portal serve
--engine-url` as real child processes sharing WORK_ENGINE_PORTAL_SECRET and DATAOPS_HOME
(CONTRACT §3, issue 3)."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, free_port, login
from tests.portal.support import JsonDict, assert_problem, ok

pytestmark = pytest.mark.slow

STARTUP_DEADLINE_SECONDS = 60.0


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "WORK_ENGINE_"))}
    env.update(
        {
            "DATAOPS_ENV": "test",
            "DATAOPS_HOME": str(home),
            "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
            "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **extra,
        }
    )
    return env


class Child:
    """One `dataops ...` child process, its output in a log file, stopped by its PID."""

    def __init__(self, home: Path, name: str, env: dict[str, str], *args: str) -> None:
        self.name = name
        self.log_path = home / f"{name}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dataops", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Split:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.secret = secrets.token_urlsafe(32)
        self.engine_port = free_port()
        self.portal_port = free_port()
        self.engine_url = f"http://127.0.0.1:{self.engine_port}"
        self.portal_url = f"http://127.0.0.1:{self.portal_port}"
        env = base_env(home, WORK_ENGINE_PORTAL_SECRET=self.secret)
        self.children: list[Child] = []
        self.engine = self._start("engine", env, "engine", "serve", "--port", str(self.engine_port))
        self.portal = self._start(
            "portal",
            env,
            "portal",
            "serve",
            "--port",
            str(self.portal_port),
            "--engine-url",
            self.engine_url,
        )

    def _start(self, name: str, env: dict[str, str], *args: str) -> Child:
        child = Child(self.home, name, env, *args)
        self.children.append(child)
        return child

    def wait_healthy(self) -> None:
        """Poll until the portal answers health through the engine, and the engine port
        answers at all (with its 401); a deadline, never an assertion on time."""
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            for child in self.children:
                child.check_alive()
            try:
                portal = httpx.get(self.portal_url + "/work/health", timeout=2)
                engine = httpx.get(self.engine_url + "/api/health", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if portal.status_code == 200 and engine.status_code == 401:
                return
            time.sleep(0.2)
        logs = "\n".join(f"--- {c.name}\n{c.log()}" for c in self.children)
        raise RuntimeError(f"the split deployment did not become healthy:\n{logs}")

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    deployment = Split(tmp_path_factory.mktemp("split"))
    try:
        deployment.wait_healthy()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def admin(split: Split) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=split.portal_url, timeout=30) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield client


# ----------------------------------------------------------------------- the scenario


def test_public_link_artifact_scenario_end_to_end_through_the_split_portal(
    split: Split, admin: httpx.Client
) -> None:
    """Seed scenario 1: a task requiring an approved artifact is blocked, then completed
    once the operator registers a public URL artifact, attaches it and approves it. Every
    write carries the operator's identity, and it resolves to a user in an export."""
    email = f"operator-{uuid.uuid4().hex[:6]}@example.com"
    created_user = ok(
        admin.post(
            "/work/api/users",
            json={"email": email, "name": "Olu Operator", "role": "operator", "password": PASSWORD},
        ),
        201,
    )
    with httpx.Client(base_url=split.portal_url, timeout=30) as operator:
        login(operator, email, PASSWORD)
        me = ok(operator.get("/work/api/me"))
        assert (me["id"], me["email"], me["role"]) == (created_user["id"], email, "operator")
        task, artifact = _scenario(operator, me["id"])

    export = admin.get("/work/api/export")
    assert export.status_code == 200, export.text
    records = _export_records(export.content)
    user_ids = {u["user_id"] for u in records["users"]}
    assert me["id"] in user_ids
    (stored_task,) = [t for t in records["tasks"] if t["task_id"] == task["id"]]
    (stored_artifact,) = [a for a in records["artifacts"] if a["artifact_id"] == artifact["id"]]
    assert stored_task["completed_by"] == me["id"]
    assert stored_artifact["created_by"] == me["id"]
    assert stored_artifact["reviewed_by"] == me["id"]
    events = [e for e in records["audit_events"] if e["entity_id"] in {task["id"], artifact["id"]}]
    assert events
    assert {e["actor_id"] for e in events} == {me["id"]}


def _export_records(archive: bytes) -> dict[str, list[JsonDict]]:
    records: dict[str, list[JsonDict]] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith(".jsonl"):
                handle = tar.extractfile(member)
                assert handle is not None
                lines = handle.read().decode().splitlines()
                name = member.name.rsplit("/", 1)[-1].removesuffix(".jsonl")
                records[name] = [json.loads(line) for line in lines if line]
    return records


def _scenario(client: httpx.Client, actor_id: str) -> tuple[JsonDict, JsonDict]:
    label = "Published episode page"
    template = ok(
        client.post(
            "/work/api/templates",
            json={
                "name": f"Podcast episode {uuid.uuid4().hex[:6]}",
                "taskDefinitions": [
                    {
                        "refId": "publish",
                        "description": "Publish the episode page",
                        "offsetDays": 2,
                        "proofRequirement": {"type": "artifact", "label": label},
                    }
                ],
            },
        ),
        201,
    )
    created = ok(
        client.post(
            f"/work/api/templates/{template['id']}/instantiate",
            json={"title": "Episode 12", "anchorDate": "2025-03-10"},
        ),
        201,
    )
    bundle = created["bundle"]
    (task,) = created["tasks"]
    assert task["date"] == "2025-03-12"
    assert task["bundleId"] == bundle["id"]
    assert task["proofRequirement"]["type"] == "artifact"

    blocked = assert_problem(
        client.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"}), 409
    )
    assert label in blocked["detail"]
    assert ok(client.get(f"/work/api/tasks/{task['id']}"))["status"] != "done"

    url = f"https://lu.ma/episode-{uuid.uuid4().hex[:8]}"
    artifact = ok(
        client.post(
            "/work/api/artifacts",
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={
                "type": "event-page",
                "title": "Episode 12 public page",
                "storageUri": url,
                "status": "needs-review",
                "dataClass": "public",
            },
        ),
        201,
    )
    assert artifact["storageProvider"] == "external-url"
    assert artifact["createdBy"] == actor_id

    attached = ok(
        client.post(f"/work/api/artifacts/{artifact['id']}/attach", json={"taskId": task["id"]})
    )
    assert attached["taskId"] == task["id"]
    still_blocked = client.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"})
    assert_problem(still_blocked, 409)  # needs-review is not accepted proof

    approved = ok(client.post(f"/work/api/artifacts/{artifact['id']}/approve"))
    assert approved["status"] == "approved"
    assert approved["reviewedBy"] == actor_id

    in_context = ok(client.get("/work/api/artifacts", params={"taskId": task["id"]}))["items"]
    assert [a["id"] for a in in_context] == [artifact["id"]]

    done = ok(client.patch(f"/work/api/tasks/{task['id']}", json={"status": "done"}))
    assert done["status"] == "done"
    assert done["completedBy"] == actor_id
    proof: list[dict[str, Any]] = done["completionProof"]
    satisfied = [r for r in proof if r["kind"] == "artifact"]
    assert len(satisfied) == 1
    assert satisfied[0]["satisfied"] is True
    assert satisfied[0]["satisfiedBy"]["artifactId"] == artifact["id"]
    assert ok(client.get(f"/work/api/tasks/{task['id']}"))["completionProof"] == proof
    return done, approved


# ---------------------------------------------------------- the engine port, directly


def test_engine_port_answers_401_to_direct_calls(split: Split, admin: httpx.Client) -> None:
    user = {"x-user-id": "usr_forged", "x-user-email": ADMIN_EMAIL, "x-user-role": "admin"}
    smuggled = f"smuggled-{uuid.uuid4().hex[:6]}@example.com"
    with httpx.Client(base_url=split.engine_url, timeout=30) as direct:
        attempts: list[tuple[str, str, dict[str, str], JsonDict | None]] = [
            ("GET", "/api/health", {}, None),
            ("GET", "/api/me", user, None),
            ("GET", "/api/openapi.json", {}, None),
            ("GET", "/api/me", {"x-portal-auth": "true", **user}, None),
            (
                "GET",
                "/api/me",
                {"x-portal-auth": "true", "x-portal-secret": "x" * 43, **user},
                None,
            ),
            (
                "GET",
                "/api/me",
                {"x-portal-auth": "false", "x-portal-secret": split.secret, **user},
                None,
            ),
            (
                "POST",
                "/api/users",
                {"x-portal-auth": "true", "x-portal-secret": "wrong-secret-value", **user},
                {"email": smuggled, "name": "S", "role": "admin", "password": "long-password-1"},
            ),
        ]
        for method, path, headers, body in attempts:
            response = direct.request(method, path, headers=headers, json=body)
            assert_problem(response, 401)
        # The engine does not take the portal's cookie either.
        cookie = {"Cookie": f"dataops_session={admin.cookies['dataops_session']}"}
        assert_problem(direct.get("/api/me", headers=cookie), 401)
        # Control: with the shared secret it does answer (so the 401s are the secret's).
        trusted = {"x-portal-auth": "true", "x-portal-secret": split.secret}
        assert ok(direct.get("/api/health", headers=trusted))["status"] == "ok"
    users = ok(admin.get("/work/api/users", params={"limit": "500"}))["items"]
    assert smuggled not in {u["email"] for u in users}


def test_portal_port_needs_credentials(split: Split) -> None:
    with httpx.Client(base_url=split.portal_url, timeout=30) as anonymous:
        assert ok(anonymous.get("/work/health"))["status"] == "ok"
        assert_problem(anonymous.get("/work/api/me"), 401)
        forged = {
            "x-portal-auth": "true",
            "x-portal-secret": split.secret,  # even the real secret, as if leaked
            "x-user-id": "usr_forged",
            "x-user-role": "admin",
        }
        assert_problem(anonymous.get("/work/api/me", headers=forged), 401)


def test_request_id_is_logged_by_both_processes(split: Split, admin: httpx.Client) -> None:
    """Issue 3 (broker hardening): request IDs in logs on both sides."""
    response = admin.get("/work/api/me")
    request_id = response.headers.get("x-request-id")
    assert request_id, "the portal should return the request ID"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if request_id in split.engine.log() and request_id in split.portal.log():
            return
        time.sleep(0.2)
    assert request_id in split.engine.log(), "the engine did not log the request ID"
    assert request_id in split.portal.log(), "the portal did not log the request ID"


# -------------------------------------------------------------- refusing to start


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        (("engine", "serve"), None),
        (("engine", "serve"), ""),
        (("engine", "serve"), "short"),
        (("portal", "serve"), None),
    ],
    ids=["engine-no-secret", "engine-empty-secret", "engine-short-secret", "portal-no-secret"],
)
def test_serve_refuses_to_start_without_a_secret(
    tmp_path: Path, command: tuple[str, ...], secret: str | None
) -> None:
    env = base_env(tmp_path)
    if secret is not None:
        env["WORK_ENGINE_PORTAL_SECRET"] = secret
    port = free_port()
    args = [*command, "--port", str(port)]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "dataops", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # it started serving: that is the failure
        pytest.fail(f"`dataops {' '.join(command)}` started without a secret: {exc.stderr!r}")
    assert result.returncode != 0
    assert "WORK_ENGINE_PORTAL_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
