"""Hostile input (issue 15): the inputs that broke the export, stalled the server or let a
secret into the store, on SQLite and on DynamoDB.

Every case goes through the portal (cookie → broker → engine) and must get its 4xx
problem, change nothing observable (the bad-input suite's snapshot), and leave a store
whose export validates clean. A store that already holds a value too deep for today's
rules (written before them) still exports, and the validator reports that value instead
of crashing.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.clock import new_id, now_ts
from dataops.domain.enums import ArtifactType, EntityType, StorageProvider
from dataops.domain.messages import AuditEvent
from dataops.domain.models import Artifact, Task
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import SourceInfo
from dataops.portable.writing.export import write_export
from dataops.services.context import Workspace
from tests.api.test_bad_input import (
    API,
    ART,
    JSON_CT,
    Case,
    Environment,
    art,
    assert_problem,
    new_task,
    send,
    snapshot,
)
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SettingsFor, login

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOP_TOKEN = "dop_" + "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"
TASK = f"{API}/tasks/<task>"


def nested(depth: int, leaf: Any = None) -> Any:
    """Objects nested `depth` levels deep (`{"a": {"a": ... {}}}`)."""
    value: Any = {} if leaf is None else {"leaf": leaf}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_text(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def raw_task(validation: bytes) -> bytes:
    return b'{"description": "x", "date": "2026-03-02", "validation": ' + validation + b"}"


CASES: list[Case] = [
    # ---- 1. depth: every free-form value is capped at 32 levels (422) ------------------
    art("metadata-depth-33", 422, "metadata", metadata=nested(33)),
    art("metadata-depth-252", 422, "metadata", metadata=nested(252)),
    art("metadata-depth-256", 422, "metadata", metadata=nested(256)),
    Case(
        "metadata-depth-900",
        "POST",
        ART,
        422,
        raw=b'{"type": "report", "title": "t", "storageUri": "https://e.com/a", "metadata": '
        + nested_text(900)
        + b"}",
        content_type=JSON_CT,
        fields=("metadata",),
    ),
    Case(
        "metadata-depth-100000",
        "POST",
        ART,
        400,
        raw=b'{"type": "report", "title": "t", "storageUri": "https://e.com/a", "metadata": '
        + nested_text(100_000)
        + b"}",
        content_type=JSON_CT,
        detail="nested too deeply",
    ),
    Case(
        "metadata-deep-array",
        "POST",
        ART,
        422,
        raw=b'{"type": "report", "title": "t", "storageUri": "https://e.com/a", '
        b'"metadata": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}",
        content_type=JSON_CT,
        fields=("metadata",),
    ),
    Case(
        "task-validation-depth-33",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(validation=nested(33)),
        fields=("validation",),
    ),
    Case(
        "task-validation-depth-300",
        "PATCH",
        TASK,
        422,
        json={"validation": nested(300)},
        fields=("validation",),
    ),
    Case(
        "task-job-ref-extra-deep",
        "PATCH",
        TASK,
        422,
        json={"assistantJobRefs": [{"assistantJobId": "job_1", "extra": nested(40)}]},
        fields=("assistantJobRefs",),
    ),
    Case(
        "template-definition-validation-deep",
        "POST",
        f"{API}/templates",
        422,
        json={
            "name": "T",
            "taskDefinitions": [{"refId": "a", "description": "d", "validation": nested(40)}],
        },
        fields=("taskDefinitions[0].validation",),
    ),
    Case(
        "template-definition-validation-very-deep",
        "PATCH",
        f"{API}/templates/<template>",
        422,
        json={"taskDefinitions": [{"refId": "a", "description": "d", "validation": nested(400)}]},
        fields=("taskDefinitions",),
    ),
    # ---- 2. size: no free-form value can cost seconds (422) -----------------------------
    Case(
        "task-validation-100kb-ending-at",
        "PATCH",
        TASK,
        422,
        json={"validation": "https://" + "a" * 100_000 + "@"},
        fields=("validation",),
    ),
    Case(
        "task-validation-many-schemes",
        "PATCH",
        TASK,
        422,
        json={"validation": "a:" * 50_000},
        fields=("validation",),
    ),
    Case(
        "task-comment-100kb-ending-at",
        "PATCH",
        TASK,
        422,
        json={"comment": "a" * 100_000 + "@"},
        fields=("comment",),
    ),
    Case(
        "task-validation-list-of-long-strings",
        "PATCH",
        TASK,
        422,
        json={"validation": ["x" * 15_000, "y" * 15_000]},
        fields=("validation",),
    ),
    art("metadata-over-4kib-deep-list", 422, "metadata", metadata={"a": ["x" * 100] * 50}),
    # ---- 5. secrets in every form and every free-text field (422) ------------------------
    art(
        "uri-amz-signature-percent-encoded",
        422,
        "storageUri",
        storageUri="https://b.s3.amazonaws.com/q1.pdf?X%2DAmz%2DSignature=abc",
    ),
    art("uri-token-percent-encoded", 422, "storageUri", storageUri="https://e.com/q?%74oken=abc"),
    art("uri-token-double-encoded", 422, "storageUri", storageUri="https://e.com/q?%2574oken=abc"),
    art(
        "uri-user-token-no-colon",
        422,
        "storageUri",
        storageUri="https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git",
    ),
    art(
        "uri-google-signed",
        422,
        "storageUri",
        storageUri="https://storage.googleapis.com/b/o?X-Goog-Signature=abc",
    ),
    art(
        "uri-azure-sas",
        422,
        "storageUri",
        storageUri="https://acct.blob.core.windows.net/c/q1.pdf?sv=2022-11-02&sp=r&sig=abc%3D",
    ),
    art("title-asia-key", 422, "title", title="key ASIAIOSFODNN7EXAMPLE"),
    art("description-bare-aws-secret", 422, "description", description=f"secret {AWS_SECRET}"),
    art("tags-dop-token", 422, "tags[0]", tags=[DOP_TOKEN]),
    art("metadata-dop-token-value", 422, "metadata.note", metadata={"note": DOP_TOKEN}),
    art(
        "description-encoded-signed-url",
        422,
        "description",
        description="https://b.s3.amazonaws.com/k?X%2DAmz%2DCredential=AKIA",
    ),
    Case(
        "task-comment-github-token",
        "PATCH",
        TASK,
        422,
        json={"comment": "use ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
        fields=("comment",),
    ),
    Case(
        "task-external-status-secret",
        "PATCH",
        TASK,
        422,
        json={"externalStatus": "sk-abcdefghijklmnopqrstuvwxyz"},
        fields=("externalStatus",),
    ),
    Case(
        "task-validation-secret-value",
        "PATCH",
        TASK,
        422,
        json={"validation": {"check": AWS_SECRET}},
        fields=("validation.check",),
    ),
    Case(
        "bundle-title-private-key",
        "POST",
        f"{API}/bundles",
        422,
        json={"title": "-----BEGIN RSA PRIVATE KEY-----"},
        fields=("title",),
    ),
    Case(
        "bundle-description-bearer",
        "PATCH",
        f"{API}/bundles/<bundle>",
        422,
        json={"description": "Authorization: Bearer abcdefghijklmnop1234"},
        fields=("description",),
    ),
    Case(
        "template-description-jwt",
        "PATCH",
        f"{API}/templates/<template>",
        422,
        json={"description": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"},
        fields=("description",),
    ),
    Case(
        "file-register-userinfo",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.pdf",
            "storageUri": "https://oauth2@example.com/a.pdf",
        },
        fields=("storageUri",),
    ),
    Case(
        "user-name-secret",
        "POST",
        f"{API}/users",
        422,
        json={
            "email": "new@example.com",
            "name": "ASIAIOSFODNN7EXAMPLE",
            "role": "viewer",
            "password": "long-enough-password",
        },
        fields=("name",),
    ),
    # ---- 8. JSON that is not what it seems (400) ------------------------------------------
    Case(
        "json-number-beyond-float",
        "PATCH",
        f"{ART}/<draft>",
        400,
        raw=b'{"metadata": {"n": 1e400}}',
        content_type=JSON_CT,
        detail="beyond a 64-bit float",
    ),
    Case(
        "json-integer-too-many-digits",
        "PATCH",
        f"{ART}/<draft>",
        400,
        raw=b'{"metadata": {"n": ' + b"9" * 5000 + b"}}",
        content_type=JSON_CT,
        detail="too many digits",
    ),
    Case(
        "json-utf16",
        "POST",
        f"{API}/tasks",
        400,
        raw=json.dumps(new_task()).encode("utf-16"),
        content_type=JSON_CT,
        detail="not UTF-8",
    ),
    Case(
        "json-utf16-le-no-bom",
        "POST",
        f"{API}/tasks",
        400,
        raw=json.dumps(new_task()).encode("utf-16-le"),  # valid UTF-8: NUL between ASCII
        content_type=JSON_CT,
        detail="not valid JSON",
    ),
    Case(
        "json-utf8-bom",
        "POST",
        f"{API}/tasks",
        400,
        raw=b"\xef\xbb\xbf" + json.dumps(new_task()).encode(),
        content_type=JSON_CT,
        detail="byte-order mark",
    ),
    Case(
        "json-duplicate-key",
        "PATCH",
        TASK,
        400,
        raw=b'{"comment": "a", "comment": "b"}',
        content_type=JSON_CT,
        detail="appears twice",
    ),
    Case(
        "json-duplicate-nested-key",
        "PATCH",
        f"{ART}/<draft>",
        400,
        raw=b'{"metadata": {"a": 1, "a": 2}}',
        content_type=JSON_CT,
        detail="appears twice",
    ),
    Case(
        "json-deep-array-body",
        "POST",
        f"{API}/tasks",
        400,
        raw=raw_task(b"[" * 50_000 + b"]" * 50_000),
        content_type=JSON_CT,
        detail="nested too deeply",
    ),
]


def test_the_table_is_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def environment(
    backend: SettingsFor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Environment]:
    env = Environment(tmp_path_factory, backend)
    yield env
    env.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_is_refused_and_changes_nothing(case: Case, environment: Environment) -> None:
    before = environment.pristine()
    api, workspace, ids = environment.client, environment.workspace, environment.ids
    body = assert_problem(send(api, case, ids), case.status)
    assert case.detail in body["detail"]
    if case.fields:
        reported = {error["field"] for error in body["errors"]}
        missing = [name for name in case.fields if name not in reported]
        assert not missing, f"fields {missing} not in errors {body['errors']}"
    assert snapshot(api, workspace, ids) == before, "a refused request changed the state"


def test_after_every_hostile_input_the_export_validates_clean(
    environment: Environment, tmp_path: Path
) -> None:
    environment.pristine()
    api, ids = environment.client, environment.ids
    for case in CASES:
        assert send(api, case, ids).status_code < 500, case.id
    response = api.get(f"{API}/export")
    assert response.status_code == 200, response.text
    archive = tmp_path / "export.tar.gz"
    archive.write_bytes(response.content)
    report = validate_export(archive)
    assert report.valid, report.lines()


# --- a store that already holds values deeper than today's rules allow ------------------


def _store_deep_values(workspace: Workspace, depth: int) -> dict[str, str]:
    """Write, as a store written before the depth rule would hold them, an artifact with
    deep metadata, a task with deep validation and an audit event holding both."""
    stamp = now_ts()
    artifact = Artifact(
        new_id("art"),
        ArtifactType.REPORT,
        "Deep",
        "https://example.com/deep.pdf",
        StorageProvider.EXTERNAL_URL,
        stamp,
        stamp,
        metadata=nested(depth, leaf="x"),
    )
    task = Task(new_id("tsk"), "Deep task", "2026-03-02", stamp, stamp, validation=nested(depth))
    event = AuditEvent(
        new_id("aud"),
        EntityType.ARTIFACT,
        artifact.id,
        "create",
        stamp,
        after={"metadata": nested(depth)},
    )
    with workspace.store.unit_of_work(write=True) as uow:
        uow.artifacts.add(artifact)
        uow.tasks.add(task)
        uow.audit_events.add(event)
        uow.commit()
    return {"artifact": artifact.id, "task": task.id}


def _lines(archive: bytes, name: str) -> list[dict[str, Any]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(name)
        assert member is not None
        return [json.loads(line) for line in member.read().splitlines()]


@pytest.fixture
def fresh(any_workspace: Workspace) -> Workspace:
    return any_workspace


@pytest.mark.parametrize("depth", [252, 300, 600])
def test_a_store_holding_deep_values_still_exports(
    fresh: Workspace, tmp_path: Path, depth: int
) -> None:
    ids = _store_deep_values(fresh, depth)
    with TestClient(runtime.build_single_process(fresh)) as client:
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        response = client.get(f"{API}/export")
        assert response.status_code == 200, response.text[:500]
        shown = client.get(f"{ART}/{ids['artifact']}")
        assert shown.status_code == 200
        assert shown.json()["metadata"] == nested(depth, leaf="x")
    artifacts = {r["artifact_id"]: r for r in _lines(response.content, "artifacts.jsonl")}
    assert artifacts[ids["artifact"]]["metadata"] == nested(depth, leaf="x")  # nothing lost
    tasks = {r["task_id"]: r for r in _lines(response.content, "tasks.jsonl")}
    assert tasks[ids["task"]]["validation"] == nested(depth)

    out = tmp_path / "cli-export"
    write_export(fresh.store, out, SourceInfo.from_environment("test"))
    report = validate_export(out)
    found = {(p.entity, p.field) for p in report.problems}
    assert ("artifacts", "metadata") in found
    assert ("tasks", "validation") in found
    assert ("audit_events", "after.metadata") in found
    assert any("nested at most 32 levels" in line for line in report.lines())


def test_clearing_the_storage_provider_infers_it_again(environment: Environment) -> None:
    """Found by the widened fuzzing: `{"storageProvider": null}` was a 500."""
    environment.pristine()
    api, ids = environment.client, environment.ids
    response = api.patch(f"{ART}/{ids['draft']}", json={"storageProvider": None})
    assert response.status_code == 200, response.text
    assert response.json()["storageProvider"] == "external-url"
    environment.pristine()  # (the change is undone by a rebuild)
