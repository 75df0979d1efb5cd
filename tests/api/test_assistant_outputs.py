"""Assistant outputs become reviewable artifacts through the client and the CLI, against a
real `dataops serve` process; the podcast assistant's folders stay out of Git."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dataops.assistant import Target, register_output
from dataops.client import ApiError, DataOpsClient, file_digest
from dataops.domain.errors import ValidationFailed
from tests.aws.test_upload_round_trip import new_bucket, s3_settings
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login, run_dataops
from tests.moto_server import MotoServer

REPO = Path(__file__).resolve().parents[2]
PODCAST = REPO / "assistants" / "podcast"


def _cli(
    served: ServedPortal, *args: str, token: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **extra,
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(served.home),
        "DATAOPS_URL": served.base_url,
    }
    if token:
        env["DATAOPS_TOKEN"] = token
    return run_dataops(args, env)


def _assistant_token(served: ServedPortal, email: str, **extra: str) -> str:
    """`dataops users add EMAIL --role assistant`, then `dataops tokens create`: the token."""
    added = run_dataops(
        [
            *("users", "add", email),
            *("--name", "Podcast assistant", "--role", "assistant", "--password-stdin"),
        ],
        {**os.environ, **extra, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(served.home)},
        "assistant-password-1\n",
    )
    assert added.returncode == 0, added.stderr
    created = _cli(
        served, "tokens", "create", "--user", email, "--name", "podcast-assistant", **extra
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


@pytest.fixture(scope="module")
def token(served: ServedPortal) -> str:
    return _assistant_token(served, f"assistant-{uuid.uuid4().hex[:8]}@example.com")


@pytest.fixture
def artifact_task(served_api: httpx.Client) -> str:
    """A task whose completion needs an approved artifact."""
    response = served_api.post(
        "/work/api/tasks",
        json={
            "description": "Approve the guest prep document",
            "date": "2026-12-01",
            "proofRequirement": {"type": "artifact", "label": "Approved prep doc"},
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def document() -> Iterator[Path]:
    """A prep document in the assistant's (git-ignored) documents folder."""
    folder = PODCAST / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"prep-{uuid.uuid4().hex[:8]}.md"
    path.write_text("# Guest prep: Ada Lovelace\n\n- Analytical Engine\n- Notes on Menabrea\n")
    yield path
    path.unlink(missing_ok=True)


def test_assistant_folders_are_ignored_by_git() -> None:
    for folder in ("documents", "inbox", "heru_runs"):
        probe = f"assistants/podcast/{folder}/run-output.txt"
        result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO, check=False)
        assert result.returncode == 0, f"{probe} is not ignored by git"
    tracked = subprocess.run(
        ["git", "ls-files", "assistants/podcast"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.split()
    assert all(
        not t.startswith(
            (
                "assistants/podcast/documents/",
                "assistants/podcast/inbox/",
                "assistants/podcast/heru_runs/",
            )
        )
        for t in tracked
    )


@pytest.mark.slow
def test_cli_registers_a_document_that_completes_the_task_once_approved(
    served: ServedPortal,
    served_api: httpx.Client,
    token: str,
    artifact_task: str,
    document: Path,
) -> None:
    checksum, size = file_digest(document)
    result = _cli(
        served,
        "artifacts",
        "register",
        str(document),
        "--task",
        artifact_task,
        "--type",
        "podcast-doc",
        "--assistant-job",
        "run-42",
        token=token,
    )
    assert result.returncode == 0, result.stderr
    artifact_id = result.stdout.strip()
    assert artifact_id.startswith("art_")
    assert "\n" not in artifact_id

    artifact = served_api.get(f"/work/api/artifacts/{artifact_id}").json()
    assert artifact["status"] == "needs-review"
    assert artifact["sourceType"] == "assistant-output"
    assert artifact["checksum"] == checksum
    assert artifact["sizeBytes"] == size
    assert artifact["assistantJobId"] == "run-42"
    assert artifact["storageUri"].startswith("local-dev://")
    assert str(document) not in str(artifact)  # metadata, not the local path
    content = served_api.get(f"/work/api/artifacts/{artifact_id}/content")
    assert content.content == document.read_bytes()
    # The uploaded file is not the task's file proof: only the artifact, once approved.
    files = served_api.get("/work/api/files", params={"taskId": artifact_task}).json()["items"]
    assert files == []

    # The assistant's token may not decide about its own output, nor complete the task.
    with httpx.Client(
        base_url=served.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as own:
        assert own.get("/work/api/me").json()["role"] == "assistant"
        assert own.post(f"/work/api/artifacts/{artifact_id}/approve").status_code == 403
        done_by_assistant = own.patch(f"/work/api/tasks/{artifact_task}", json={"status": "done"})
        assert done_by_assistant.status_code == 403
    assert served_api.get(f"/work/api/artifacts/{artifact_id}").json()["status"] == "needs-review"

    blocked = served_api.patch(f"/work/api/tasks/{artifact_task}", json={"status": "done"})
    assert blocked.status_code == 409
    assert served_api.post(f"/work/api/artifacts/{artifact_id}/approve").status_code == 200
    done = served_api.patch(f"/work/api/tasks/{artifact_task}", json={"status": "done"})
    assert done.status_code == 200, done.text
    assert done.json()["completionProof"][0]["satisfiedBy"]["artifactId"] == artifact_id

    status = subprocess.run(
        ["git", "status", "--porcelain", "assistants"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    assert document.name not in status


@pytest.mark.slow
def test_rerunning_the_cli_registers_nothing_twice(
    served: ServedPortal,
    served_api: httpx.Client,
    token: str,
    artifact_task: str,
    document: Path,
) -> None:
    ids = set()
    for _ in range(3):
        result = _cli(
            served, "artifacts", "register", str(document), "--task", artifact_task, token=token
        )
        assert result.returncode == 0, result.stderr
        ids.add(result.stdout.strip())
    assert len(ids) == 1
    listed = served_api.get("/work/api/artifacts", params={"taskId": artifact_task}).json()
    assert [a["id"] for a in listed["items"]] == list(ids)


@pytest.mark.slow
def test_cli_refuses_signed_urls_and_secrets_before_sending(
    served: ServedPortal, served_api: httpx.Client, token: str, artifact_task: str
) -> None:
    before = served_api.get("/work/api/artifacts", params={"taskId": artifact_task}).json()
    for url in (
        "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=x",
        "https://example.com/doc?token=abc123",
    ):
        result = _cli(served, "artifacts", "register", url, "--task", artifact_task, token=token)
        assert result.returncode == 1
        assert "signed" in result.stderr or "token" in result.stderr
    result = _cli(
        served,
        "artifacts",
        "register",
        "https://example.com/ok",
        "--task",
        artifact_task,
        "--title",
        "key AKIAABCDEFGHIJKLMNOP",
        token=token,
    )
    assert result.returncode == 1
    assert "secret" in result.stderr
    after = served_api.get("/work/api/artifacts", params={"taskId": artifact_task}).json()
    assert after == before


@pytest.mark.slow
def test_concurrent_retries_with_one_key_create_one_artifact(
    served: ServedPortal, served_api: httpx.Client, token: str, artifact_task: str
) -> None:
    body = {
        "type": "assistant-output",
        "title": "Show notes",
        "taskId": artifact_task,
        "storageUri": "https://example.com/show-notes-42",
        "status": "needs-review",
        "sourceType": "assistant-output",
    }
    key = f"retry-{uuid.uuid4().hex}"
    results: list[str] = []
    errors: list[Exception] = []

    def send() -> None:
        with DataOpsClient(served.base_url, token) as client:
            try:
                results.append(client.register_artifact(body, idempotency_key=key)["id"])
            except ApiError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8
    assert len(set(results)) == 1
    listed = served_api.get("/work/api/artifacts", params={"taskId": artifact_task}).json()
    assert [a["id"] for a in listed["items"]] == results[:1]
    with DataOpsClient(served.base_url, token) as client, pytest.raises(ApiError) as refused:
        client.register_artifact({**body, "title": "Other notes"}, idempotency_key=key)
    assert refused.value.status == 409


def test_register_output_needs_a_target() -> None:
    with (
        DataOpsClient("http://127.0.0.1:9", "dop_x") as client,
        pytest.raises(ValidationFailed, match="--task or --bundle"),
    ):
        register_output(client, "https://example.com/x", Target())


@pytest.mark.slow
def test_cli_registers_a_document_on_s3_that_completes_the_task_once_approved(
    moto: MotoServer, tmp_path: Path, document: Path
) -> None:
    """The same flow with DataOps-owned storage on S3 (moto): the document goes up through
    the presigned PUT, the artifact points at s3://, and approval unblocks the task."""
    bucket = new_bucket(moto)
    served = ServedPortal(tmp_path, env=s3_settings(moto, bucket))
    try:
        with served.client() as api:
            login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
            task = api.post(
                "/work/api/tasks",
                json={
                    "description": "Approve the transcript",
                    "date": "2026-12-02",
                    "proofRequirement": {"type": "artifact", "artifactType": "transcript"},
                },
            )
            task_id = task.json()["id"]
            token = _assistant_token(served, "bot@example.com", **s3_settings(moto, bucket))
            result = _cli(
                served,
                "artifacts",
                "register",
                str(document),
                "--task",
                task_id,
                "--type",
                "transcript",
                token=token,
            )
            assert result.returncode == 0, result.stderr
            artifact = api.get(f"/work/api/artifacts/{result.stdout.strip()}").json()
            checksum, size = file_digest(document)
            assert artifact["status"] == "needs-review"
            assert artifact["storageUri"].startswith(f"s3://{bucket}/files/")
            assert artifact["checksum"] == checksum
            assert artifact["sizeBytes"] == size
            assert (
                api.patch(f"/work/api/tasks/{task_id}", json={"status": "done"}).status_code == 409
            )
            approved = api.post(f"/work/api/artifacts/{artifact['id']}/approve")
            assert approved.status_code == 200
            done = api.patch(f"/work/api/tasks/{task_id}", json={"status": "done"})
            assert done.status_code == 200, done.text
    finally:
        served.stop()
