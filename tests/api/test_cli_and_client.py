"""The CLI debts of issue 19 (item 8) and `dataops.client` over the work API (item 7),
against real processes: `dataops --version`, `users list|disable|enable`, `users add`
without a terminal, `artifacts register --type` checked before uploading; the client's
tasks, bundles, templates, instantiate, proof and my-work calls against `dataops serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from dataops.cli import main
from dataops.client import ApiError, DataOpsClient
from dataops.domain.errors import Unauthorized
from dataops.services import auth
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, ServedPortal, make_settings


def _dataops(
    *args: str, home: Path, stdin: int | None = subprocess.DEVNULL, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)}
    env.pop("DATAOPS_SQLITE_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "dataops", *args],
        env=env,
        stdin=stdin,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def _run(
    args: list[str], home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setenv("DATAOPS_ENV", "test")
    monkeypatch.setenv("DATAOPS_HOME", str(home))
    monkeypatch.delenv("DATAOPS_SQLITE_PATH", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_version(tmp_path: Path) -> None:
    result = _dataops("--version", home=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip().startswith("dataops ")
    assert result.stdout.strip() != "dataops unknown"


def test_users_add_without_a_terminal_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = _dataops(
        "users", "add", "pat@example.com", "--name", "Pat", "--role", "viewer", home=tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "--password-stdin" in result.stderr
    listed = _dataops("users", "list", home=tmp_path)
    assert "pat@example.com" not in listed.stdout  # nothing was created


def test_users_list_disable_enable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DATAOPS_ADMIN_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("DATAOPS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setattr(sys, "stdin", _Stdin(PASSWORD + "\n"))
    code, out, _ = _run(
        ["users", "add", "ops@example.com", "--name", "Ops", "--role", "operator",
         "--password-stdin"],
        home, capsys, monkeypatch,
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(["users", "list"], home, capsys, monkeypatch)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split("\t") == ["ID", "EMAIL", "NAME", "ROLE", "STATUS", "CREATED"]
    row = next(r.split("\t") for r in rows if "ops@example.com" in r)
    assert row[1:5] == ["ops@example.com", "Ops", "operator", "active"]

    code, _, err = _run(["users", "disable", "ops@example.com"], home, capsys, monkeypatch)
    assert (code, err.strip()) == (0, "ops@example.com is disabled")
    code, out, _ = _run(["users", "list"], home, capsys, monkeypatch)
    assert "ops@example.com\tOps\toperator\tdisabled" in out
    from dataops import runtime

    ws = runtime.build_workspace(make_settings(home))
    try:
        with pytest.raises(Unauthorized, match="disabled"):
            auth.login(ws, "ops@example.com", PASSWORD)
        code, _, err = _run(["users", "enable", "ops@example.com"], home, capsys, monkeypatch)
        assert (code, err.strip()) == (0, "ops@example.com is enabled")
        assert auth.login(ws, "ops@example.com", PASSWORD).user.email == "ops@example.com"
    finally:
        ws.store.close()
    code, _, err = _run(["users", "disable", "nobody@example.com"], home, capsys, monkeypatch)
    assert code == 1
    assert err.startswith("dataops: ")


class _Stdin:
    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))

    def readline(self) -> str:
        return next(self._lines, "")

    def isatty(self) -> bool:
        return False


def _token(served: ServedPortal, role: str = "operator") -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    added = subprocess.run(
        [sys.executable, "-m", "dataops", "users", "add", email, "--name", "Client",
         "--role", role, "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, check=False,
        env={**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(served.home)},
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = _dataops("tokens", "create", "--user", email, "--name", "client", home=served.home)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def _file_ids(api: httpx.Client) -> set[str]:
    return {f["id"] for f in api.get("/work/api/files", params={"limit": 500}).json()["items"]}


def test_artifacts_register_checks_the_type_before_uploading(
    served: ServedPortal, served_api: httpx.Client, tmp_path: Path
) -> None:
    task = served_api.post(
        "/work/api/tasks", json={"description": "Cut the episode", "date": "2026-12-01"}
    ).json()
    document = tmp_path / "notes.md"
    document.write_text("# notes\n")
    before = _file_ids(served_api)
    result = _dataops(
        "artifacts", "register", str(document), "--task", task["id"], "--type", "podcast",
        home=served.home, DATAOPS_URL=served.base_url, DATAOPS_TOKEN=_token(served),
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid choice: 'podcast'" in result.stderr
    assert "Traceback" not in result.stderr
    assert _file_ids(served_api) == before  # no orphan file record


def test_the_client_covers_tasks_bundles_templates_instantiate_proof_and_my_work(
    served: ServedPortal, served_api: httpx.Client
) -> None:
    template = served_api.post(
        "/work/api/templates",
        json={
            "name": f"Client template {uuid.uuid4().hex[:6]}",
            "taskDefinitions": [
                {"refId": "notes", "description": "Write notes", "offsetDays": 2,
                 "proofRequirement": {"type": "comment", "label": "What was done"}},
            ],
        },
    ).json()  # fmt: skip
    with DataOpsClient(served.base_url, _token(served)) as client:
        assert any(t["id"] == template["id"] for t in client.list_templates())
        assert client.get_template(template["id"])["name"] == template["name"]
        made = client.instantiate(template["id"], "Episode 44", "2026-03-10")
        bundle, (task,) = made["bundle"], made["tasks"]
        assert task["date"] == "2026-03-12"
        assert client.get_bundle(bundle["id"])["title"] == "Episode 44"
        assert any(b["id"] == bundle["id"] for b in client.list_bundles(templateId=template["id"]))
        assert [t["id"] for t in client.list_tasks(bundleId=bundle["id"])] == [task["id"]]
        assert client.get_task(task["id"])["description"] == "Write notes"
        proof = client.task_proof(task["id"])
        assert proof["canComplete"] is False
        with pytest.raises(ApiError) as blocked:
            client.complete_task(task["id"])
        assert blocked.value.status == 409
        with pytest.raises(ApiError) as stale:
            client.complete_task(task["id"], version=99, comment="late")
        assert stale.value.status == 409
        done = client.complete_task(task["id"], version=task["version"], comment="Notes written")
        assert done["status"] == "done"
        assert client.task_proof(task["id"])["canComplete"] is True
        lists = client.my_work()
        assert set(lists) == {"due", "reviews", "rejected", "withdrawn"}
        assert set(client.my_work("due")) == {"items", "nextCursor"}
