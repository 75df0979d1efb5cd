"""Bad input through the portal (cookie → broker → engine).

Every case asserts the contract's status (CONTRACT §4), an RFC 9457 problem body
(`application/problem+json` with type/title/status/detail, plus `errors` for 422), never a
5xx, and that nothing observable changed: every collection, every fixture record, the
proof state of the fixture task and the blob store are captured before and after.

Expectations come from CONTRACT.md, not from the code; where they disagree the test
fails and the disagreement is a bug to fix in `src/`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SettingsFor, login, make_settings

API = "/work/api"
ART = f"{API}/artifacts"
PROBLEM_JSON = "application/problem+json"
JSON_CT = "application/json"
HEX64 = "0123456789abcdef" * 4
SHA = "sha256:" + HEX64
MISSING = "zz_does_not_exist"
NO_BODY: Any = object()

# Placeholders replaced (anywhere in a path, header or body string) by fixture record IDs.
WORLD_KEYS = (
    "template",
    "bundle",
    "task",
    "file",
    "approved",
    "draft",
    "archived",
    "superseded",
    "successor",
    "recurring",
    "user",
)

# --- the fixture world ---------------------------------------------------------------


def _created(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def make_world(api: TestClient) -> dict[str, str]:
    """A template, a bundle, a task with artifact proof, a registered file and artifacts in
    the states the cases need; created through the API like a user would."""
    template = _created(
        api.post(
            f"{API}/templates",
            json={
                "name": "Podcast episode",
                "taskDefinitions": [
                    {
                        "refId": "notes",
                        "description": "Publish show notes",
                        "offsetDays": 2,
                        "proofRequirement": {"type": "artifact"},
                    }
                ],
            },
        )
    )
    bundle = _created(api.post(f"{API}/bundles", json={"title": "Episode 1"}))
    task = _created(
        api.post(
            f"{API}/tasks",
            json={
                "description": "Publish show notes",
                "date": "2026-03-02",
                "bundleId": bundle["id"],
                "proofRequirement": {"type": "artifact", "artifactType": "podcast-doc"},
            },
        )
    )
    file = _created(
        api.post(
            f"{API}/files/register",
            json={
                "taskId": task["id"],
                "filename": "notes.pdf",
                "storageUri": "https://example.com/notes.pdf",
            },
        )
    )
    approved = _created(
        api.post(
            ART,
            headers={"Idempotency-Key": "world-approved"},
            json={
                "type": "podcast-doc",
                "title": "Show notes",
                "storageUri": "https://example.com/approved.pdf",
                "status": "approved",
                "taskId": task["id"],
            },
        )
    )
    draft = _created(
        api.post(
            ART,
            json={
                "type": "report",
                "title": "Draft report",
                "storageUri": "https://example.com/draft.pdf",
                "bundleId": bundle["id"],
            },
        )
    )
    archived = _created(
        api.post(
            ART,
            json={"type": "other", "title": "Old", "storageUri": "https://example.com/old.pdf"},
        )
    )
    response = api.post(f"{ART}/{archived['id']}/archive")
    assert response.status_code == 200, response.text
    superseded = _created(
        api.post(
            ART,
            json={
                "type": "transcript",
                "title": "Transcript v1",
                "storageUri": "https://example.com/t1.txt",
                "status": "approved",
            },
        )
    )
    successor = _created(
        api.post(
            ART,
            json={
                "type": "transcript",
                "title": "Transcript v2",
                "storageUri": "https://example.com/t2.txt",
                "status": "approved",
            },
        )
    )
    response = api.post(
        f"{ART}/{superseded['id']}/supersede", json={"supersededBy": successor["id"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "superseded"
    recurring = _created(
        api.post(
            f"{API}/recurring-configs",
            json={
                "templateId": template["id"],
                "title": "Episode {n}",
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "startDate": "2026-03-03",
            },
        )
    )
    person = _created(
        api.post(
            f"{API}/users",
            json={
                "email": "pat@example.com",
                "name": "Pat",
                "role": "viewer",
                "password": "p" * 12,
            },
        )
    )
    return {
        "user": person["id"],
        "template": template["id"],
        "bundle": bundle["id"],
        "task": task["id"],
        "file": file["id"],
        "approved": approved["id"],
        "draft": draft["id"],
        "archived": archived["id"],
        "superseded": superseded["id"],
        "successor": successor["id"],
        "recurring": recurring["id"],
    }


# --- the observable state ------------------------------------------------------------

COLLECTIONS = (
    "artifacts",
    "tasks",
    "bundles",
    "templates",
    "files",
    "audit-events",
    "notifications",
    "users",
    "recurring-configs",
    "webhooks",
    "tokens",
)
ADMIN_ONLY = frozenset({"webhooks", "tokens"})
"""Collections only an admin may read (a viewer's snapshot leaves them out)."""
RECORDS = {
    "template": "templates",
    "bundle": "bundles",
    "task": "tasks",
    "file": "files",
    "approved": "artifacts",
    "draft": "artifacts",
    "archived": "artifacts",
    "superseded": "artifacts",
    "successor": "artifacts",
    "recurring": "recurring-configs",
}


def _ok(response: Response) -> Any:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    return response.json()


def snapshot(
    client: TestClient, workspace: Workspace, ids: dict[str, str], *, admin: bool = True
) -> dict[str, Any]:
    """Everything a client (and the blob store) can observe."""
    state: dict[str, Any] = {}
    for name in COLLECTIONS:
        if name in ADMIN_ONLY and not admin:
            continue
        body = _ok(client.get(f"{API}/{name}", params={"limit": 500}))
        assert body["nextCursor"] is None, f"{name}: more than one page"
        state[name] = body["items"]
    for key, collection in RECORDS.items():
        state[f"record:{key}"] = _ok(client.get(f"{API}/{collection}/{ids[key]}"))
    state["proof"] = _ok(client.get(f"{API}/tasks/{ids['task']}/proof"))
    state["settings"] = _ok(client.get(f"{API}/settings"))
    root = Path(workspace.settings.blob_root)
    state["blobs"] = (
        sorted(
            (str(path.relative_to(root)), path.stat().st_size)
            for path in root.rglob("*")
            if path.is_file()
        )
        if root.exists()
        else []
    )
    return state


# --- cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    json: Any = NO_BODY
    raw: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    multipart: dict[str, str] | None = None  # form fields; a small file part is added
    part_type: str = "text/plain"  # the Content-Type of that file part
    fields: tuple[str, ...] = ()  # field names that must appear in `errors` (422)
    detail: str = ""  # text the problem's detail must hold


def valid_artifact(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "report",
        "title": "Q1 report",
        "storageUri": "https://example.com/q1.pdf",
    }
    body.update(changes)
    return body


RECURRING = f"{API}/recurring-configs"


def valid_recurring() -> dict[str, Any]:
    return {
        "templateId": "<template>",
        "title": "Episode {n}",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "startDate": "2026-03-03",
    }


def art(case_id: str, expected: int, *fields: str, **changes: Any) -> Case:
    """POST /artifacts with a valid body changed by `changes`."""
    return Case(case_id, "POST", ART, expected, json=valid_artifact(**changes), fields=fields)


def new_task(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"description": "Send invoice", "date": "2026-03-02"}
    body.update(changes)
    return body


def raw_json(value: Any) -> bytes:
    return json.dumps(value).encode()


TOO_LARGE = raw_json(valid_artifact(description="a" * (1024 * 1024 + 16)))

CASES: list[Case] = [
    # ---- 400: the request itself is malformed -----------------------------------------
    Case("malformed-json", "POST", ART, 400, raw=b'{"type": "report",', content_type=JSON_CT),
    Case("json-single-quotes", "POST", ART, 400, raw=b"{'type': 'report'}", content_type=JSON_CT),
    Case("json-trailing-comma", "POST", ART, 400, raw=b'{"type": "report",}', content_type=JSON_CT),
    Case("json-not-utf8", "POST", ART, 400, raw=b'{"title": "\xff\xfe"}', content_type=JSON_CT),
    Case(
        "wrong-content-type-text",
        "POST",
        ART,
        400,
        raw=raw_json(valid_artifact()),
        content_type="text/plain",
    ),
    Case(
        "wrong-content-type-form",
        "POST",
        ART,
        400,
        raw=b"type=report&title=x",
        content_type="application/x-www-form-urlencoded",
    ),
    Case("no-content-type", "POST", ART, 400, raw=raw_json(valid_artifact())),
    Case(
        "json-nan-literal",
        "POST",
        ART,
        400,
        content_type=JSON_CT,
        raw=b'{"type": "report", "title": "t", "storageUri": "https://example.com/a",'
        b' "sizeBytes": NaN}',
    ),
    Case("empty-body", "POST", ART, 400, raw=b"", content_type=JSON_CT),
    # An escaped lone surrogate parses as JSON but is not Unicode text: no store can hold it.
    Case(
        "json-lone-surrogate-title",
        "POST",
        ART,
        400,
        content_type=JSON_CT,
        raw=b'{"type": "report", "title": "a\\ud800b", "storageUri": "https://example.com/a"}',
        detail="unpaired UTF-16 surrogate",
    ),
    Case(
        "json-lone-surrogate-metadata-key",
        "POST",
        ART,
        400,
        content_type=JSON_CT,
        raw=b'{"type": "report", "title": "t", "storageUri": "https://example.com/a",'
        b' "metadata": {"\\uDC00": 1}}',
        detail="unpaired UTF-16 surrogate",
    ),
    Case(
        "json-lone-surrogate-task-comment",
        "PATCH",
        f"{API}/tasks/<task>",
        400,
        content_type=JSON_CT,
        raw=b'{"comment": "\\udfff"}',
        detail="unpaired UTF-16 surrogate",
    ),
    Case("json-array-body", "POST", ART, 400, json=[]),
    Case("json-array-of-objects", "POST", ART, 400, json=[valid_artifact()]),
    Case("json-number-body", "POST", ART, 400, json=5),
    Case("json-string-body", "POST", ART, 400, json="report"),
    Case("json-null-body", "POST", ART, 400, raw=b"null", content_type=JSON_CT),
    Case(
        "task-malformed-json",
        "POST",
        f"{API}/tasks",
        400,
        raw=b'{"description": ',
        content_type=JSON_CT,
    ),
    Case(
        "patch-artifact-malformed-json",
        "PATCH",
        f"{ART}/<draft>",
        400,
        raw=b"{",
        content_type=JSON_CT,
    ),
    Case(
        "patch-task-wrong-content-type",
        "PATCH",
        f"{API}/tasks/<task>",
        400,
        raw=b'{"comment": "x"}',
        content_type="text/plain",
    ),
    Case("template-json-array", "POST", f"{API}/templates", 400, json=[{"name": "x"}]),
    Case("attach-empty-body", "POST", f"{ART}/<draft>/attach", 400, raw=b"", content_type=JSON_CT),
    Case("files-json-body", "POST", f"{API}/files", 400, json={"taskId": "<task>"}),
    Case(
        "files-urlencoded-body",
        "POST",
        f"{API}/files",
        400,
        raw=b"taskId=<task>",
        content_type="application/x-www-form-urlencoded",
    ),
    Case(
        "if-match-malformed",
        "PATCH",
        f"{ART}/<draft>",
        400,
        json={"title": "New"},
        headers={"If-Match": "abc"},
    ),
    Case(
        "if-match-malformed-task",
        "PATCH",
        f"{API}/tasks/<task>",
        400,
        json={"comment": "x"},
        headers={"If-Match": "v1"},
    ),
    Case(
        "if-match-malformed-review",
        "POST",
        f"{ART}/<draft>/approve",
        400,
        headers={"If-Match": "1.0"},
    ),
    # ---- 413 ---------------------------------------------------------------------------
    Case("body-over-1mib", "POST", ART, 413, raw=TOO_LARGE, content_type=JSON_CT),
    Case(
        "patch-body-over-1mib",
        "PATCH",
        f"{API}/tasks/<task>",
        413,
        raw=raw_json({"comment": "a" * (1024 * 1024 + 16)}),
        content_type=JSON_CT,
    ),
    # ---- 422: strict JSON types ---------------------------------------------------------
    art("title-number", 422, "title", title=123),
    art("title-null", 422, "title", title=None),
    art("title-blank", 422, "title", title="   "),
    art("title-too-long", 422, "title", title="t" * 501),
    art("description-number", 422, "description", description=5),
    art("tags-boolean-element", 422, "tags[0]", tags=[True]),
    art("tags-string", 422, "tags", tags="a,b"),
    art("tags-too-many", 422, "tags", tags=[f"t{i}" for i in range(51)]),
    art("size-string", 422, "sizeBytes", sizeBytes="5"),
    art("size-float", 422, "sizeBytes", sizeBytes=1.5),
    art("size-boolean", 422, "sizeBytes", sizeBytes=True),
    art("size-negative", 422, "sizeBytes", sizeBytes=-1),
    art("missing-storage-uri", 422, "storageUri", storageUri=NO_BODY),
    Case("missing-everything", "POST", ART, 422, json={}, fields=("type", "title", "storageUri")),
    Case(
        "task-requires-file-string",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(requiresFile="true"),
        fields=("requiresFile",),
    ),
    Case(
        "task-requires-file-int",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(requiresFile=1),
        fields=("requiresFile",),
    ),
    Case(
        "task-date-number",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(date=20260302),
        fields=("date",),
    ),
    Case(
        "task-date-feb-30",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(date="2026-02-30"),
        fields=("date",),
    ),
    Case(
        "task-date-unpadded",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(date="2026-1-1"),
        fields=("date",),
    ),
    Case(
        "task-date-timestamp",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(date="2026-03-02T00:00:00Z"),
        fields=("date",),
    ),
    Case(
        "task-proof-required-string",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(proofRequirement={"type": "comment", "required": "false"}),
        fields=("proofRequirement.required",),
    ),
    Case(
        "template-offset-days-string",
        "POST",
        f"{API}/templates",
        422,
        json={
            "name": "T",
            "taskDefinitions": [{"refId": "a", "description": "d", "offsetDays": "3"}],
        },
        fields=("taskDefinitions[0].offsetDays",),
    ),
    Case(
        "expected-version-string",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"title": "New", "expectedVersion": "1"},
        fields=("expectedVersion",),
    ),
    Case(
        "bundle-title-number", "POST", f"{API}/bundles", 422, json={"title": 7}, fields=("title",)
    ),
    # ---- 422: unknown enum values (never coerced) ---------------------------------------
    art("type-unknown", 422, "type", type="pdf"),
    art("type-case-variant", 422, "type", type="Report"),
    art("status-case-variant", 422, "status", status="Approved"),
    art("status-unknown", 422, "status", status="published"),
    art("data-class-unknown", 422, "dataClass", dataClass="secret"),
    art("data-class-case-variant", 422, "dataClass", dataClass="Internal"),
    art("visibility-unknown", 422, visibility="confidential"),
    art("source-type-unknown", 422, "sourceType", sourceType="upload"),
    art("storage-provider-unknown", 422, "storageProvider", storageProvider="onedrive"),
    art(
        "storage-provider-case-variant",
        422,
        "storageProvider",
        storageProvider="S3",
        storageUri="s3://bucket/q1.pdf",
        checksum=SHA,
    ),
    Case(
        "proof-type-unknown",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(proofRequirement={"type": "link"}),
        fields=("proofRequirement.type",),
    ),
    Case(
        "proof-artifact-type-unknown",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(proofRequirement={"type": "artifact", "artifactType": "pdf"}),
        fields=("proofRequirement.artifactType",),
    ),
    Case(
        "task-status-case-variant",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"status": "Done"},
        fields=("status",),
    ),
    Case(
        "patch-artifact-status-unknown",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"status": "published"},
        fields=("status",),
    ),
    Case(
        "bundle-status-unknown",
        "POST",
        f"{API}/bundles",
        422,
        json={"title": "B", "status": "open"},
        fields=("status",),
    ),
    Case(
        "file-category-unknown",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.mp4",
            "storageUri": "https://example.com/a",
            "category": "video",
        },
        fields=("category",),
    ),
    Case("list-status-case-variant", "GET", f"{ART}?status=Approved", 422, fields=("status",)),
    Case("list-type-unknown", "GET", f"{ART}?type=pdf", 422, fields=("type",)),
    Case(
        "expiring-zero", "GET", f"{ART}?expiringWithinDays=0", 422, fields=("expiringWithinDays",)
    ),
    Case(
        "expiring-over-60",
        "GET",
        f"{ART}?expiringWithinDays=61",
        422,
        fields=("expiringWithinDays",),
    ),
    Case(
        "expiring-not-int",
        "GET",
        f"{ART}?expiringWithinDays=7.5",
        422,
        fields=("expiringWithinDays",),
    ),
    Case(
        "expiring-word",
        "GET",
        f"{ART}?expiringWithinDays=week",
        422,
        fields=("expiringWithinDays",),
    ),
    Case(
        "expiring-with-filter",
        "GET",
        f"{ART}?expiringWithinDays=7&status=approved",
        422,
        fields=("expiringWithinDays",),
    ),
    # The expiring lane's cursor: [day, store cursor] as base64url JSON (issue 19).
    Case(
        "expiring-cursor-malformed",
        "GET",
        f"{ART}?expiringWithinDays=7&cursor=!!not-a-cursor!!",
        422,
        fields=("cursor",),
    ),
    Case(  # a cursor of the plain artifact list (["x"])
        "expiring-cursor-of-another-list",
        "GET",
        f"{ART}?expiringWithinDays=7&cursor=WyJ4Il0",
        422,
        fields=("cursor",),
    ),
    Case(  # ["2026-13-01", ...]: no such day
        "expiring-cursor-bad-day",
        "GET",
        f"{ART}?expiringWithinDays=7&cursor=WyIyMDI2LTEzLTAxIiwiV3lKNElsMCJd",
        422,
        fields=("cursor",),
    ),
    Case(
        "artifact-include-chains", "GET", f"{ART}/<draft>?include=chains", 422, fields=("include",)
    ),
    Case("list-tasks-bad-date", "GET", f"{API}/tasks?date=2026-02-30", 422, fields=("date",)),
    # Search and the artifact list's filters (issue 19).
    Case("search-no-q", "GET", f"{API}/search", 422, fields=("q",)),
    Case("search-q-one-char", "GET", f"{API}/search?q=a", 422, fields=("q",)),
    Case("search-q-no-words", "GET", f"{API}/search?q=%2D%2D%2D", 422, fields=("q",)),
    Case("search-q-too-long", "GET", f"{API}/search?q={'w' * 201}", 422, fields=("q",)),
    Case("search-q-nine-words", "GET", f"{API}/search?q=a+b+c+d+e+f+g+h+i", 422, fields=("q",)),
    Case("search-kind-unknown", "GET", f"{API}/search?q=ada&kind=file", 422, fields=("kind",)),
    Case("search-bad-cursor", "GET", f"{API}/search?q=ada&cursor=%25%25", 422, fields=("cursor",)),
    Case("search-limit-over", "GET", f"{API}/search?q=ada&limit=501", 422, fields=("limit",)),
    Case("list-data-class-unknown", "GET", f"{ART}?dataClass=secret", 422, fields=("dataClass",)),
    Case("list-provider-unknown", "GET", f"{ART}?provider=ftp", 422, fields=("provider",)),
    Case("list-created-bad-day", "GET", f"{ART}?createdFrom=2026-02-30", 422),
    Case(
        "list-created-backwards",
        "GET",
        f"{ART}?createdFrom=2026-03-02&createdTo=2026-03-01",
        422,
        fields=("createdTo",),
    ),
    Case("bundles-include-unknown", "GET", f"{API}/bundles?include=tasks", 422),
    Case(
        "list-tasks-withdrawn-not-bool",
        "GET",
        f"{API}/tasks?proofWithdrawn=perhaps",
        422,
        fields=("proofWithdrawn",),
    ),
    Case(
        "audit-entity-type-unknown",
        "GET",
        f"{API}/audit-events?entityType=widget",
        422,
        fields=("entityType",),
    ),
    # ---- 422: storage URIs --------------------------------------------------------------
    art("uri-javascript", 422, "storageUri", storageUri="javascript:alert(1)"),
    art("uri-javascript-upper", 422, "storageUri", storageUri="JAVASCRIPT:alert(1)"),
    art("uri-data", 422, "storageUri", storageUri="data:text/html;base64,PHNjcmlwdD4="),
    art("uri-file", 422, "storageUri", storageUri="file:///etc/passwd"),
    art("uri-ftp", 422, "storageUri", storageUri="ftp://example.com/q1.pdf"),
    art("uri-relative-path", 422, "storageUri", storageUri="/reports/q1.pdf"),
    art("uri-protocol-relative", 422, "storageUri", storageUri="//example.com/q1.pdf"),
    art("uri-empty", 422, "storageUri", storageUri=""),
    art("uri-blank", 422, "storageUri", storageUri="   "),
    art("uri-with-space", 422, "storageUri", storageUri="https://example.com/q1 report.pdf"),
    art("uri-no-host", 422, "storageUri", storageUri="https://"),
    art("uri-s3-no-key", 422, "storageUri", storageUri="s3://bucket", checksum=SHA),
    art(
        "uri-local-dev-traversal",
        422,
        "storageUri",
        storageUri="local-dev://../../etc/passwd",
        checksum=SHA,
    ),
    Case(
        "patch-uri-javascript",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"storageUri": "javascript:alert(1)"},
        fields=("storageUri",),
    ),
    Case(
        "file-register-file-uri",
        "POST",
        f"{API}/files/register",
        422,
        json={"taskId": "<task>", "filename": "p", "storageUri": "file:///etc/passwd"},
        fields=("storageUri",),
    ),
    # ---- 422: provider and checksum -----------------------------------------------------
    art(
        "s3-uri-labelled-external-url",
        422,
        "storageProvider",
        storageUri="s3://bucket/q1.pdf",
        storageProvider="external-url",
        checksum=SHA,
    ),
    art("https-uri-labelled-s3", 422, "storageProvider", storageProvider="s3", checksum=SHA),
    art(
        "github-uri-labelled-dropbox",
        422,
        "storageProvider",
        storageUri="https://github.com/org/repo",
        storageProvider="dropbox",
    ),
    art(
        "lookalike-host-labelled-github",
        422,
        "storageProvider",
        storageUri="https://notgithub.com.evil.io/x",
        storageProvider="github",
    ),
    art("s3-without-checksum", 422, "checksum", storageUri="s3://bucket/q1.pdf"),
    art("s3-upper-scheme-without-checksum", 422, "checksum", storageUri="S3://bucket/q1.pdf"),
    art("local-dev-without-checksum", 422, "checksum", storageUri="local-dev://files/q1"),
    # An owned URI must name an object this deployment stores (checksum and size are read
    # from it): a made-up one cannot be vouched for.
    art(
        "local-dev-object-missing",
        422,
        "storageUri",
        storageUri="local-dev://files/fil_not_stored",
        checksum=SHA,
    ),
    art("s3-object-not-held", 422, "storageUri", storageUri="s3://bucket/q1.pdf", checksum=SHA),
    Case(
        "patch-uri-to-missing-local-dev-object",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"storageUri": "local-dev://files/fil_not_stored", "checksum": SHA},
        fields=("storageUri",),
    ),
    art("checksum-md5", 422, "checksum", checksum="md5:" + "a" * 32),
    art("checksum-63-hex", 422, "checksum", checksum="sha256:" + "a" * 63),
    art("checksum-65-hex", 422, "checksum", checksum="sha256:" + "a" * 65),
    art("checksum-not-hex", 422, "checksum", checksum="sha256:" + "g" * 64),
    art("checksum-trailing-newline", 422, "checksum", checksum=SHA + "\n"),
    art("checksum-number", 422, "checksum", checksum=12345),
    Case(
        "patch-s3-uri-without-checksum",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"storageUri": "s3://bucket/q1.pdf"},
        fields=("checksum",),
    ),
    Case(
        "patch-provider-contradicts-uri",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"storageProvider": "s3", "checksum": SHA},
        fields=("storageProvider",),
    ),
    Case(
        "file-register-bad-checksum",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.pdf",
            "storageUri": "https://example.com/a",
            "checksum": "sha256:abc",
        },
        fields=("checksum",),
    ),
    Case(
        "file-register-negative-size",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.pdf",
            "storageUri": "https://example.com/a",
            "sizeBytes": -5,
        },
        fields=("sizeBytes",),
    ),
    # ---- 422: content types (a control character would reach a download's header) ------
    art("content-type-crlf", 422, "contentType", contentType="text/plain\r\nX-Injected: 1"),
    art("content-type-lf", 422, "contentType", contentType="text/html\n"),
    art("content-type-nul", 422, "contentType", contentType="application/pdf\x00"),
    art("content-type-tab", 422, "contentType", contentType="text/plain;\tcharset=utf-8"),
    art("content-type-del", 422, "contentType", contentType="text/plain\x7f"),
    art("content-type-non-ascii", 422, "contentType", contentType="text/plaín"),
    art("content-type-no-subtype", 422, "contentType", contentType="pdf"),
    art("content-type-empty", 422, "contentType", contentType=""),
    art("content-type-bad-parameter", 422, "contentType", contentType="text/plain; charset"),
    Case(
        "patch-content-type-crlf",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"contentType": "text/plain\r\nSet-Cookie: a=b"},
        fields=("contentType",),
    ),
    Case(
        "file-register-content-type-nul",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.pdf",
            "storageUri": "https://example.com/a",
            "contentType": "application/pdf\x00",
        },
        fields=("contentType",),
    ),
    Case(
        "upload-content-type-crlf",
        "POST",
        f"{API}/uploads",
        422,
        json={
            "filename": "a.txt",
            "contentType": "text/plain\r\nX-Injected: 1",
            "sizeBytes": 5,
            "checksum": SHA,
        },
        fields=("contentType",),
    ),
    Case(
        "file-upload-part-content-type-control",
        "POST",
        f"{API}/files",
        422,
        multipart={"taskId": "<task>"},
        part_type="text/plain\x01",
        fields=("contentType",),
    ),
    # ---- 422: signed / tokenised URLs anywhere in the record ---------------------------
    art(
        "uri-x-amz-signature",
        422,
        "storageUri",
        storageUri="https://b.s3.amazonaws.com/q1.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Signature=0abc",
    ),
    art(
        "uri-x-amz-credential",
        422,
        "storageUri",
        storageUri="https://b.s3.amazonaws.com/q1.pdf?X-Amz-Credential=AKIAEXAMPLE%2F2026",
    ),
    art(
        "uri-cloudfront-signature",
        422,
        "storageUri",
        storageUri="https://d1.cloudfront.net/q1.pdf?Expires=1&Signature=abc&Key-Pair-Id=K",
    ),
    art(
        "uri-azure-sig",
        422,
        "storageUri",
        storageUri="https://acct.blob.core.windows.net/c/q1.pdf?sv=2022-11-02&sig=abc",
    ),
    art("uri-token", 422, "storageUri", storageUri="https://example.com/q1.pdf?token=abc"),
    art(
        "uri-access-token",
        422,
        "storageUri",
        storageUri="https://example.com/q1.pdf?access_token=abc",
    ),
    art("uri-user-pass", 422, "storageUri", storageUri="https://user:pass@example.com/q1.pdf"),
    art(
        "description-signed-url",
        422,
        "description",
        description="Draft at https://example.com/d.pdf?token=abc",
    ),
    art(
        "title-signed-url",
        422,
        "title",
        title="Q1 https://b.s3.amazonaws.com/q1.pdf?X-Amz-Signature=abc",
    ),
    art("tags-signed-url", 422, "tags[1]", tags=["ok", "https://example.com/x?sig=abc"]),
    art("filename-credentials", 422, "filename", filename="https://u:p@example.com/q1.pdf"),
    art(
        "metadata-value-signed-url",
        422,
        "metadata.source",
        metadata={"source": "https://example.com/x?access_token=abc"},
    ),
    art(
        "metadata-array-credentials",
        422,
        "metadata.links[0]",
        metadata={"links": ["https://user:pass@example.com/x"]},
    ),
    Case(
        "task-link-signed",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"link": "https://example.com/notes?token=abc"},
        fields=("link",),
    ),
    Case(
        "task-comment-signed",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"comment": "see https://b.s3.amazonaws.com/k?X-Amz-Signature=abc"},
        fields=("comment",),
    ),
    Case(
        "bundle-link-signed",
        "POST",
        f"{API}/bundles",
        422,
        json={"title": "B", "bundleLinks": [{"name": "Doc", "url": "https://x.io/d?sig=1"}]},
        fields=("bundleLinks[0].url",),
    ),
    Case(
        "file-register-signed-uri",
        "POST",
        f"{API}/files/register",
        422,
        json={
            "taskId": "<task>",
            "filename": "a.pdf",
            "storageUri": "https://b.s3.amazonaws.com/a.pdf?X-Amz-Signature=abc",
        },
        fields=("storageUri",),
    ),
    Case(
        "patch-description-signed",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"description": "https://example.com/x?access_token=abc"},
        fields=("description",),
    ),
    # ---- 422: metadata --------------------------------------------------------------------
    art("metadata-array", 422, "metadata", metadata=[{"a": 1}]),
    art("metadata-string", 422, "metadata", metadata="note"),
    art("metadata-number", 422, "metadata", metadata=5),
    art("metadata-over-4kib-utf8", 422, "metadata", metadata={"note": "€" * 1500}),
    art("metadata-secret-key-top", 422, "metadata.password", metadata={"password": "hunter2"}),
    art(
        "metadata-secret-key-deep",
        422,
        "metadata.a.b.clientSecret",
        metadata={"a": {"b": {"clientSecret": "x"}}},
    ),
    art(
        "metadata-secret-key-in-array",
        422,
        "metadata.items[0].apiKey",
        metadata={"items": [{"apiKey": "x"}]},
    ),
    art("metadata-aws-key-value", 422, "metadata.note", metadata={"note": "AKIAIOSFODNN7EXAMPLE"}),
    art(
        "metadata-private-key-value",
        422,
        "metadata.keys[0]",
        metadata={"keys": ["-----BEGIN PRIVATE KEY-----\nMIIEvQ"]},
    ),
    Case(
        "patch-metadata-secret-key",
        "PATCH",
        f"{ART}/<draft>",
        422,
        json={"metadata": {"x-api-key": "abc"}},
        fields=("metadata.x-api-key",),
    ),
    # ---- 422: unknown fields, incoherent fields ------------------------------------------
    art("unknown-field", 422, "foo", foo=1),
    art("snake-case-field", 422, "data_class", data_class="public"),
    art("visibility-disagrees-with-data-class", 422, visibility="public", dataClass="sensitive"),
    Case(
        "task-unknown-field",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"priority": "high"},
        fields=("priority",),
    ),
    Case(
        "template-nested-unknown-field",
        "POST",
        f"{API}/templates",
        422,
        json={"name": "T", "taskDefinitions": [{"refId": "a", "description": "d", "bogus": 1}]},
        fields=("taskDefinitions[0].bogus",),
    ),
    Case(
        "attach-unknown-field",
        "POST",
        f"{ART}/<draft>/attach",
        422,
        json={"taskId": "<task>", "force": True},
        fields=("force",),
    ),
    # ---- 404: relationship IDs in the body -------------------------------------------------
    art("task-id-unknown", 404, taskId=MISSING),
    art("bundle-id-unknown", 404, bundleId=MISSING),
    art("file-id-unknown", 404, fileId=MISSING),
    art("task-id-empty", 422, "taskId", taskId=""),
    Case("attach-task-unknown", "POST", f"{ART}/<draft>/attach", 404, json={"taskId": MISSING}),
    Case("attach-bundle-unknown", "POST", f"{ART}/<draft>/attach", 404, json={"bundleId": MISSING}),
    Case(
        "attach-task-ok-bundle-unknown",
        "POST",
        f"{ART}/<draft>/attach",
        404,
        json={"taskId": "<task>", "bundleId": MISSING},
    ),
    Case("patch-artifact-task-unknown", "PATCH", f"{ART}/<draft>", 404, json={"taskId": MISSING}),
    Case("task-bundle-unknown", "POST", f"{API}/tasks", 404, json=new_task(bundleId=MISSING)),
    Case("task-assignee-unknown", "POST", f"{API}/tasks", 404, json=new_task(assigneeId=MISSING)),
    Case(
        "patch-task-bundle-unknown", "PATCH", f"{API}/tasks/<task>", 404, json={"bundleId": MISSING}
    ),
    Case(
        "bundle-template-unknown",
        "POST",
        f"{API}/bundles",
        404,
        json={"title": "B", "templateId": MISSING},
    ),
    Case(
        "supersede-unknown-successor",
        "POST",
        f"{ART}/<approved>/supersede",
        404,
        json={"supersededBy": MISSING},
    ),
    Case(
        "file-register-task-unknown",
        "POST",
        f"{API}/files/register",
        404,
        json={"taskId": MISSING, "filename": "a.pdf", "storageUri": "https://example.com/a"},
    ),
    Case(
        "file-register-bundle-unknown",
        "POST",
        f"{API}/files/register",
        404,
        json={
            "taskId": "<task>",
            "bundleId": MISSING,
            "filename": "a.pdf",
            "storageUri": "https://example.com/a",
        },
    ),
    Case(
        "file-register-task-missing",
        "POST",
        f"{API}/files/register",
        422,
        json={"filename": "a.pdf", "storageUri": "https://example.com/a"},
        fields=("taskId",),
    ),
    Case("file-upload-task-unknown", "POST", f"{API}/files", 404, multipart={"taskId": MISSING}),
    Case(
        "file-upload-bundle-unknown",
        "POST",
        f"{API}/files",
        404,
        multipart={"taskId": "<task>", "bundleId": MISSING},
    ),
    Case("file-upload-task-missing", "POST", f"{API}/files", 422, multipart={}, fields=("taskId",)),
    Case(
        "file-upload-lone-surrogate-tag",
        "POST",
        f"{API}/files",
        422,
        multipart={"taskId": "<task>", "tags": '["\\ud800"]'},
        fields=("tags",),
        detail="unpaired UTF-16 surrogate",
    ),
    Case(
        "file-upload-bad-category",
        "POST",
        f"{API}/files",
        422,
        multipart={"taskId": "<task>", "category": "video"},
        fields=("category",),
    ),
    # ---- 404: unknown IDs in the path ----------------------------------------------------
    Case("get-artifact-unknown", "GET", f"{ART}/{MISSING}", 404),
    Case("patch-artifact-unknown", "PATCH", f"{ART}/{MISSING}", 404, json={"title": "x"}),
    Case("approve-artifact-unknown", "POST", f"{ART}/{MISSING}/approve", 404),
    Case(
        "attach-artifact-unknown", "POST", f"{ART}/{MISSING}/attach", 404, json={"taskId": "<task>"}
    ),
    Case("artifact-content-unknown", "GET", f"{ART}/{MISSING}/content", 404),
    Case("get-task-unknown", "GET", f"{API}/tasks/{MISSING}", 404),
    Case("patch-task-unknown", "PATCH", f"{API}/tasks/{MISSING}", 404, json={"comment": "x"}),
    Case("task-proof-unknown", "GET", f"{API}/tasks/{MISSING}/proof", 404),
    Case("get-bundle-unknown", "GET", f"{API}/bundles/{MISSING}", 404),
    Case("patch-bundle-unknown", "PATCH", f"{API}/bundles/{MISSING}", 404, json={"title": "x"}),
    Case("get-template-unknown", "GET", f"{API}/templates/{MISSING}", 404),
    Case(
        "instantiate-template-unknown",
        "POST",
        f"{API}/templates/{MISSING}/instantiate",
        404,
        json={"title": "E2", "anchorDate": "2026-03-02"},
    ),
    Case(
        "preview-instance-template-unknown",
        "POST",
        f"{API}/templates/{MISSING}/preview",
        404,
        json={"title": "E2", "anchorDate": "2026-03-02"},
    ),
    Case("get-file-unknown", "GET", f"{API}/files/{MISSING}", 404),
    Case("file-content-unknown", "GET", f"{API}/files/{MISSING}/content", 404),
    Case("unknown-route", "GET", f"{API}/no-such-collection", 404),
    # ---- notifications (issue 17): the inbox routes --------------------------------------
    Case("read-notification-unknown", "POST", f"{API}/notifications/{MISSING}/read", 404),
    Case("dismiss-notification-unknown", "POST", f"{API}/notifications/{MISSING}/dismiss", 404),
    Case("get-notification-read", "GET", f"{API}/notifications/{MISSING}/read", 405),
    Case("post-unread-count", "POST", f"{API}/notifications/unread-count", 405),
    Case("delete-notifications", "DELETE", f"{API}/notifications", 405),
    Case(
        "notifications-unread-not-boolean",
        "GET",
        f"{API}/notifications?unread=maybe",
        422,
        fields=("unread",),
    ),
    Case(
        "notifications-cursor-malformed",
        "GET",
        f"{API}/notifications?unread=true&cursor=!!not-a-cursor!!",
        422,
        fields=("cursor",),
    ),
    Case("notifications-limit-too-big", "GET", f"{API}/notifications?limit=501", 422),
    # ---- 405: wrong methods --------------------------------------------------------------
    Case("delete-artifact", "DELETE", f"{ART}/<approved>", 405),
    Case("put-artifact", "PUT", f"{ART}/<draft>", 405, json=valid_artifact()),
    Case("put-task", "PUT", f"{API}/tasks/<task>", 405, json=new_task()),
    Case("delete-task", "DELETE", f"{API}/tasks/<task>", 405),
    Case("post-to-task", "POST", f"{API}/tasks/<task>", 405, json={"comment": "x"}),
    Case("delete-bundle", "DELETE", f"{API}/bundles/<bundle>", 405),
    Case("delete-template", "DELETE", f"{API}/templates/<template>", 405),
    Case("get-approve", "GET", f"{ART}/<draft>/approve", 405),
    Case("patch-artifact-collection", "PATCH", ART, 405, json={"title": "x"}),
    # ---- 409: illegal status moves ----------------------------------------------------------
    art("create-as-rejected", 409, status="rejected"),
    art("create-as-archived", 409, status="archived"),
    art("create-as-superseded", 409, status="superseded"),
    Case("approve-archived", "POST", f"{ART}/<archived>/approve", 409),
    Case("submit-archived", "POST", f"{ART}/<archived>/submit", 409),
    Case("reject-archived", "POST", f"{ART}/<archived>/reject", 409, json={"reason": "no"}),
    Case("submit-approved", "POST", f"{ART}/<approved>/submit", 409),
    Case("approve-approved", "POST", f"{ART}/<approved>/approve", 409),
    Case(
        "supersede-draft",
        "POST",
        f"{ART}/<draft>/supersede",
        409,
        json={"supersededBy": "<successor>"},
    ),
    Case("archive-superseded", "POST", f"{ART}/<superseded>/archive", 409),
    Case("approve-superseded", "POST", f"{ART}/<superseded>/approve", 409),
    Case(
        "supersede-superseded",
        "POST",
        f"{ART}/<superseded>/supersede",
        409,
        json={"supersededBy": "<approved>"},
    ),
    Case(
        "patch-status-approved-to-draft",
        "PATCH",
        f"{ART}/<approved>",
        409,
        json={"status": "draft"},
    ),
    Case(
        "patch-status-archived-to-approved",
        "PATCH",
        f"{ART}/<archived>",
        409,
        json={"status": "approved"},
    ),
    Case(
        "patch-status-draft-to-superseded",
        "PATCH",
        f"{ART}/<draft>",
        409,
        json={"status": "superseded", "supersededBy": "<successor>"},
    ),
    # ---- workspace settings (CONTRACT §7: PATCH /api/settings) --------------------------------
    Case(
        "settings-unknown-policy",
        "PATCH",
        f"{API}/settings",
        422,
        json={"reviewPolicy": "nobody"},
        fields=("reviewPolicy",),
    ),
    Case(
        "settings-policy-not-a-string",
        "PATCH",
        f"{API}/settings",
        422,
        json={"reviewPolicy": True},
        fields=("reviewPolicy",),
    ),
    Case(
        "settings-unknown-field",
        "PATCH",
        f"{API}/settings",
        422,
        json={"expirySweptThrough": "2020-01-01"},
        fields=("expirySweptThrough",),
    ),
    Case(
        "settings-malformed-json",
        "PATCH",
        f"{API}/settings",
        400,
        raw=b'{"reviewPolicy": ',
        content_type=JSON_CT,
    ),
    Case(
        "settings-stale-if-match",
        "PATCH",
        f"{API}/settings",
        409,
        json={"reviewPolicy": "independent"},
        headers={"If-Match": "99"},
    ),
    Case("settings-wrong-method", "POST", f"{API}/settings", 405, json={}),
    # ---- the actor's own e-mail choice (CONTRACT §8: PATCH /api/me) ---------------------------
    Case(
        "me-unknown-email-choice",
        "PATCH",
        f"{API}/me",
        422,
        json={"emailNotifications": "hourly"},
        fields=("emailNotifications",),
    ),
    Case(
        "me-unknown-timezone",
        "PATCH",
        f"{API}/me",
        422,
        json={"timezone": "Mars/Olympus_Mons"},
        fields=("timezone",),
    ),
    Case(
        "me-timezone-cleared",
        "PATCH",
        f"{API}/me",
        422,
        json={"timezone": None},
        fields=("timezone",),
    ),
    Case(
        "me-role-not-changeable",
        "PATCH",
        f"{API}/me",
        422,
        json={"role": "viewer"},
        fields=("role",),
    ),
    Case(
        "me-stale-if-match",
        "PATCH",
        f"{API}/me",
        409,
        json={"emailNotifications": "daily"},
        headers={"If-Match": "99"},
    ),
    # ---- users and tokens (CONTRACT §9, admin) ------------------------------------------------
    Case("users-patch-unknown", "PATCH", f"{API}/users/{MISSING}", 404, json={"name": "X"}),
    Case(
        "users-patch-unknown-role",
        "PATCH",
        f"{API}/users/<user>",
        422,
        json={"role": "superuser"},
        fields=("role",),
    ),
    Case(
        "users-patch-disabled-as-string",
        "PATCH",
        f"{API}/users/<user>",
        422,
        json={"disabled": "true"},
        fields=("disabled",),
    ),
    Case(
        "users-patch-name-cleared",
        "PATCH",
        f"{API}/users/<user>",
        422,
        json={"name": None},
        fields=("name",),
    ),
    Case(
        "users-patch-name-empty",
        "PATCH",
        f"{API}/users/<user>",
        422,
        json={"name": ""},
        fields=("name",),
    ),
    Case(
        "users-patch-email-not-changeable",
        "PATCH",
        f"{API}/users/<user>",
        422,
        json={"email": "other@example.com"},
        fields=("email",),
    ),
    Case(
        "users-patch-stale-if-match",
        "PATCH",
        f"{API}/users/<user>",
        409,
        json={"name": "Patricia"},
        headers={"If-Match": "99"},
    ),
    Case(
        "users-patch-bad-if-match",
        "PATCH",
        f"{API}/users/<user>",
        400,
        json={"name": "Patricia"},
        headers={"If-Match": "latest"},
    ),
    Case(
        "users-patch-malformed",
        "PATCH",
        f"{API}/users/<user>",
        400,
        raw=b'{"name": ',
        content_type=JSON_CT,
    ),
    Case("users-reset-unknown", "POST", f"{API}/users/{MISSING}/password-reset", 404),
    Case("users-reset-wrong-method", "GET", f"{API}/users/<user>/password-reset", 405),
    Case(
        "tokens-unknown-user",
        "POST",
        f"{API}/tokens",
        404,
        json={"userId": MISSING, "name": "script"},
    ),
    Case(
        "tokens-no-name",
        "POST",
        f"{API}/tokens",
        422,
        json={"userId": "<user>"},
        fields=("name",),
    ),
    Case(
        "tokens-expiry-as-string",
        "POST",
        f"{API}/tokens",
        422,
        json={"userId": "<user>", "name": "script", "expiresIn": "30"},
        fields=("expiresIn",),
    ),
    Case(
        "tokens-expiry-as-boolean",
        "POST",
        f"{API}/tokens",
        422,
        json={"userId": "<user>", "name": "script", "expiresIn": True},
        fields=("expiresIn",),
    ),
    Case(
        "tokens-expiry-too-long",
        "POST",
        f"{API}/tokens",
        422,
        json={"userId": "<user>", "name": "script", "expiresIn": 3651},
        fields=("expiresIn",),
    ),
    Case(
        "tokens-expiry-negative",
        "POST",
        f"{API}/tokens",
        422,
        json={"userId": "<user>", "name": "script", "expiresIn": -1},
        fields=("expiresIn",),
    ),
    # ---- webhooks (CONTRACT §8, admin) --------------------------------------------------------
    Case("webhooks-no-url", "POST", f"{API}/webhooks", 422, json={"events": []}, fields=("url",)),
    Case(
        "webhooks-unknown-event",
        "POST",
        f"{API}/webhooks",
        422,
        json={"url": "https://hooks.example.com/in", "events": ["task.deleted"]},
        fields=("events",),
    ),
    Case(
        "webhooks-no-events",
        "POST",
        f"{API}/webhooks",
        422,
        json={"url": "https://hooks.example.com/in", "events": []},
        fields=("events",),
    ),
    Case(
        "webhooks-ftp-url",
        "POST",
        f"{API}/webhooks",
        422,
        json={"url": "ftp://hooks.example.com/in", "events": ["task.completed"]},
        fields=("url",),
    ),
    Case(
        "webhooks-url-not-a-string",
        "POST",
        f"{API}/webhooks",
        422,
        json={"url": 7, "events": ["task.completed"]},
        fields=("url",),
    ),
    Case(
        "webhooks-chosen-secret",
        "POST",
        f"{API}/webhooks",
        422,
        json={
            "url": "https://hooks.example.com/in",
            "events": ["task.completed"],
            "secret": "whsec_AAAA",
        },
        fields=("secret",),
    ),
    Case(
        "webhooks-malformed-json",
        "POST",
        f"{API}/webhooks",
        400,
        raw=b'{"url": ',
        content_type=JSON_CT,
    ),
    Case("webhooks-patch-missing", "PATCH", f"{API}/webhooks/{MISSING}", 404, json={}),
    Case("webhooks-test-missing", "POST", f"{API}/webhooks/{MISSING}/test", 404),
    Case("webhooks-rotate-missing", "POST", f"{API}/webhooks/{MISSING}/rotate-secret", 404),
    Case("webhooks-deliveries-missing", "GET", f"{API}/webhooks/{MISSING}/deliveries", 404),
    Case(
        "webhooks-redeliver-missing",
        "POST",
        f"{API}/webhooks/{MISSING}/deliveries/{MISSING}/redeliver",
        404,
    ),
    # ---- 409: versions and idempotency ------------------------------------------------------
    Case(
        "stale-if-match",
        "PATCH",
        f"{ART}/<draft>",
        409,
        json={"title": "New"},
        headers={"If-Match": "99"},
    ),
    Case(
        "stale-quoted-if-match",
        "PATCH",
        f"{ART}/<draft>",
        409,
        json={"title": "New"},
        headers={"If-Match": '"99"'},
    ),
    Case(
        "stale-expected-version",
        "PATCH",
        f"{ART}/<draft>",
        409,
        json={"title": "New", "expectedVersion": 99},
    ),
    Case(
        "stale-if-match-review", "POST", f"{ART}/<draft>/approve", 409, headers={"If-Match": "99"}
    ),
    Case(
        "stale-if-match-attach",
        "POST",
        f"{ART}/<draft>/attach",
        409,
        json={"taskId": "<task>"},
        headers={"If-Match": "99"},
    ),
    Case(
        "stale-if-match-task",
        "PATCH",
        f"{API}/tasks/<task>",
        409,
        json={"comment": "x"},
        headers={"If-Match": "42"},
    ),
    Case(
        "stale-if-match-bundle",
        "PATCH",
        f"{API}/bundles/<bundle>",
        409,
        json={"title": "x"},
        headers={"If-Match": "42"},
    ),
    Case(
        "stale-if-match-template",
        "PATCH",
        f"{API}/templates/<template>",
        409,
        json={"name": "x"},
        headers={"If-Match": "42"},
    ),
    Case(
        "idempotency-key-reused-with-other-body",
        "POST",
        ART,
        409,
        json=valid_artifact(title="Something else"),
        headers={"Idempotency-Key": "world-approved"},
    ),
    # ---- 422: review decisions ------------------------------------------------------------
    Case(
        "reject-without-reason", "POST", f"{ART}/<draft>/reject", 422, json={}, fields=("reason",)
    ),
    Case("reject-without-body", "POST", f"{ART}/<draft>/reject", 422, fields=("reason",)),
    Case(
        "reject-blank-reason",
        "POST",
        f"{ART}/<draft>/reject",
        422,
        json={"reason": "  "},
        fields=("reason",),
    ),
    Case(
        "reject-reason-number",
        "POST",
        f"{ART}/<draft>/reject",
        422,
        json={"reason": 1},
        fields=("reason",),
    ),
    Case(
        "patch-reject-without-reason",
        "PATCH",
        f"{ART}/<approved>",
        422,
        json={"status": "rejected"},
        fields=("reviewReason",),
    ),
    Case(
        "supersede-with-itself",
        "POST",
        f"{ART}/<approved>/supersede",
        422,
        json={"supersededBy": "<approved>"},
        fields=("supersededBy",),
    ),
    Case(
        "supersede-without-successor",
        "POST",
        f"{ART}/<approved>/supersede",
        422,
        json={},
        fields=("supersededBy",),
    ),
    Case(
        "patch-supersede-without-successor",
        "PATCH",
        f"{ART}/<approved>",
        422,
        json={"status": "superseded"},
        fields=("supersededBy",),
    ),
    Case("attach-neither", "POST", f"{ART}/<draft>/attach", 422, json={}, fields=("taskId",)),
    Case(
        "attach-nulls",
        "POST",
        f"{ART}/<draft>/attach",
        422,
        json={"taskId": None, "bundleId": None},
        fields=("taskId",),
    ),
    Case(
        "attach-empty-task-id",
        "POST",
        f"{ART}/<draft>/attach",
        422,
        json={"taskId": ""},
        fields=("taskId",),
    ),
    Case(
        "patch-clear-title", "PATCH", f"{ART}/<draft>", 422, json={"title": None}, fields=("title",)
    ),
    # ---- 422: tasks, bundles, templates -----------------------------------------------------
    Case(
        "task-waiting-without-reason-and-follow-up",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"status": "waiting"},
        fields=("waitingFor", "followUpAt"),
    ),
    Case(
        "task-waiting-without-follow-up",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"status": "waiting", "waitingFor": "Guest"},
        fields=("followUpAt",),
    ),
    Case(
        "task-create-waiting",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(status="waiting"),
        fields=("waitingFor", "followUpAt"),
    ),
    Case(
        "task-follow-up-not-a-date",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"status": "waiting", "waitingFor": "Guest", "followUpAt": "tomorrow"},
        fields=("followUpAt",),
    ),
    Case(
        "task-link-javascript",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"link": "javascript:alert(1)"},
        fields=("link",),
    ),
    Case(
        "task-link-data",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(link="data:text/html,<script>alert(1)</script>"),
        fields=("link",),
    ),
    Case(
        "task-instructions-file-uri",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(instructionsUrl="file:///etc/passwd"),
        fields=("instructionsUrl",),
    ),
    Case(
        "task-description-blank",
        "POST",
        f"{API}/tasks",
        422,
        json=new_task(description=" "),
        fields=("description",),
    ),
    Case(
        "task-clear-date",
        "PATCH",
        f"{API}/tasks/<task>",
        422,
        json={"date": None},
        fields=("date",),
    ),
    Case(
        "bundle-link-javascript",
        "POST",
        f"{API}/bundles",
        422,
        json={"title": "B", "bundleLinks": [{"name": "Doc", "url": "javascript:alert(1)"}]},
        fields=("bundleLinks[0].url",),
    ),
    Case(
        "bundle-anchor-date-bad",
        "POST",
        f"{API}/bundles",
        422,
        json={"title": "B", "anchorDate": "2026-13-01"},
        fields=("anchorDate",),
    ),
    Case(
        "template-duplicate-ref-ids",
        "POST",
        f"{API}/templates",
        422,
        json={
            "name": "T",
            "taskDefinitions": [
                {"refId": "a", "description": "one"},
                {"refId": "a", "description": "two"},
            ],
        },
        fields=("taskDefinitions[1].refId",),
    ),
    Case(
        "template-missing-name",
        "POST",
        f"{API}/templates",
        422,
        json={"description": "d"},
        fields=("name",),
    ),
    Case(
        "patch-template-duplicate-ref-ids",
        "PATCH",
        f"{API}/templates/<template>",
        422,
        json={
            "taskDefinitions": [
                {"refId": "a", "description": "one"},
                {"refId": "a", "description": "two"},
            ]
        },
        fields=("taskDefinitions[1].refId",),
    ),
    Case(
        "instantiate-anchor-date-invalid-day",
        "POST",
        f"{API}/templates/<template>/instantiate",
        422,
        json={"title": "E2", "anchorDate": "2026-02-30"},
        fields=("anchorDate",),
    ),
    Case(
        "instantiate-anchor-date-us-format",
        "POST",
        f"{API}/templates/<template>/instantiate",
        422,
        json={"title": "E2", "anchorDate": "03/02/2026"},
        fields=("anchorDate",),
    ),
    Case(
        "instantiate-anchor-date-number",
        "POST",
        f"{API}/templates/<template>/instantiate",
        422,
        json={"title": "E2", "anchorDate": 20260302},
        fields=("anchorDate",),
    ),
    Case(
        "instantiate-without-title",
        "POST",
        f"{API}/templates/<template>/instantiate",
        422,
        json={"anchorDate": "2026-03-02"},
        fields=("title",),
    ),
    Case(
        "preview-instance-anchor-date-invalid-day",
        "POST",
        f"{API}/templates/<template>/preview",
        422,
        json={"title": "E2", "anchorDate": "2026-02-30"},
        fields=("anchorDate",),
    ),
    Case(
        "preview-instance-unknown-field",
        "POST",
        f"{API}/templates/<template>/preview",
        422,
        json={"title": "E2", "anchorDate": "2026-03-02", "dryRun": True},
        fields=("dryRun",),
    ),
    Case(
        "preview-instance-json-array",
        "POST",
        f"{API}/templates/<template>/preview",
        400,
        json=[{}],
    ),
    Case("preview-instance-get", "GET", f"{API}/templates/<template>/preview", 405),
    # ---- 422: paging ------------------------------------------------------------------------
    Case("limit-zero", "GET", f"{ART}?limit=0", 422, fields=("limit",)),
    Case("limit-over-max", "GET", f"{API}/tasks?limit=501", 422, fields=("limit",)),
    Case("limit-not-a-number", "GET", f"{API}/bundles?limit=abc", 422, fields=("limit",)),
    Case("limit-negative", "GET", f"{API}/templates?limit=-1", 422, fields=("limit",)),
    Case("cursor-malformed", "GET", f"{ART}?cursor=!!not-a-cursor!!", 422, fields=("cursor",)),
    Case(
        "cursor-malformed-base64",
        "GET",
        f"{API}/audit-events?cursor=eyJub3QiOiJhIGxpc3QifQ",
        422,
        fields=("cursor",),
    ),
    Case("cursor-garbage-files", "GET", f"{API}/files?cursor=%00%01", 422, fields=("cursor",)),
    # ---- my work (CONTRACT §8) -----------------------------------------------------------
    Case("my-work-list-unknown", "GET", f"{API}/my-work?list=todo", 422, fields=("list",)),
    Case("my-work-list-case-variant", "GET", f"{API}/my-work?list=Due", 422, fields=("list",)),
    Case(
        "my-work-cursor-malformed",
        "GET",
        f"{API}/my-work?list=reviews&cursor=!!not-a-cursor!!",
        422,
        fields=("cursor",),
    ),
    Case(  # a cursor of the reviews list (an artifact ID) sent for the due list (date, ID)
        "my-work-cursor-of-another-list",
        "GET",
        f"{API}/my-work?list=due&cursor=WyJ4Il0",
        422,
        fields=("cursor",),
    ),
    Case(
        "my-work-cursor-without-list",
        "GET",
        f"{API}/my-work?cursor=WyJ4Il0",
        422,
        fields=("cursor",),
    ),
    Case("my-work-limit-zero", "GET", f"{API}/my-work?limit=0", 422, fields=("limit",)),
    Case(
        "my-work-limit-over-max",
        "GET",
        f"{API}/my-work?list=withdrawn&limit=501",
        422,
        fields=("limit",),
    ),
    Case("my-work-limit-word", "GET", f"{API}/my-work?list=due&limit=ten", 422, fields=("limit",)),
    Case("my-work-post", "POST", f"{API}/my-work", 405, json={}),
    # ---- task lanes and the overview (issue 19) ------------------------------------------
    Case("tasks-due-unknown", "GET", f"{API}/tasks?due=later", 422, fields=("due",)),
    Case("tasks-due-case-variant", "GET", f"{API}/tasks?due=Today", 422, fields=("due",)),
    Case("tasks-blocked-word", "GET", f"{API}/tasks?blocked=yes", 422, fields=("blocked",)),
    Case("tasks-count-number", "GET", f"{API}/tasks?count=1", 422, fields=("count",)),
    Case("tasks-include-unknown", "GET", f"{API}/tasks?include=proof,x", 422, fields=("include",)),
    Case(
        "task-include-unknown",
        "GET",
        f"{API}/tasks/<task>?include=proof,x",
        422,
        fields=("include",),
    ),
    Case(
        "artifact-include-unknown",
        "GET",
        f"{ART}/<draft>?include=task,x",
        422,
        fields=("include",),
    ),
    Case(
        "artifacts-include-unknown",
        "GET",
        f"{API}/artifacts?include=context,x",
        422,
        fields=("include",),
    ),
    Case("tasks-include-long", "GET", f"{API}/tasks?include={'p' * 101}", 422, fields=("include",)),
    Case(
        "tasks-blocked-cursor-malformed",
        "GET",
        f"{API}/tasks?blocked=true&cursor=!!not-a-cursor!!",
        422,
        fields=("cursor",),
    ),
    Case("overview-cursor", "GET", f"{API}/overview?cursor=WyJ4Il0", 422, fields=("cursor",)),
    Case("overview-limit-zero", "GET", f"{API}/overview?limit=0", 422, fields=("limit",)),
    Case("overview-post", "POST", f"{API}/overview", 405, json={}),
    # ---- recurring configs (CONTRACT §8) -------------------------------------------------
    *(
        Case(
            f"recurring-{name}",
            "POST",
            RECURRING,
            status,
            json={**valid_recurring(), **changes},
            fields=fields,
            detail=detail,
        )
        for name, status, changes, fields, detail in (
            ("rrule-invalid", 422, {"rrule": "FREQ=WEEKLY;BYDAY=XX"}, ("rrule",), "BYDAY"),
            ("rrule-no-freq", 422, {"rrule": "BYDAY=TU"}, ("rrule",), "freq"),
            ("rrule-hourly", 422, {"rrule": "FREQ=HOURLY"}, ("rrule",), "FREQ"),
            ("rrule-feb-30", 422, {"rrule": "FREQ=YEARLY;BYMONTHDAY=30;BYMONTH=2"}, ("rrule",), ""),
            ("rrule-number", 422, {"rrule": 7}, ("rrule",), ""),
            (
                "cron-four-fields",
                422,
                {"rrule": None, "cronExpression": "0 9 * *"},
                ("cronExpression",),
                "5 fields",
            ),
            (
                "cron-out-of-range",
                422,
                {"rrule": None, "cronExpression": "0 25 * * *"},
                ("cronExpression",),
                "",
            ),
            ("both-rules", 422, {"cronExpression": "0 9 * * *"}, ("rrule",), "exactly one"),
            ("no-rule", 422, {"rrule": None}, ("rrule",), "exactly one"),
            ("zone-unknown", 422, {"timezone": "Mars/Olympus"}, ("timezone",), "IANA"),
            ("zone-path", 422, {"timezone": "../../etc/passwd"}, ("timezone",), ""),
            ("lead-days-string", 422, {"leadDays": "7"}, ("leadDays",), ""),
            ("lead-days-over", 422, {"leadDays": 366}, ("leadDays",), "365"),
            ("lead-days-negative", 422, {"leadDays": -1}, ("leadDays",), ""),
            ("enabled-string", 422, {"enabled": "true"}, ("enabled",), ""),
            ("start-date-invalid", 422, {"startDate": "2026-02-30"}, ("startDate",), ""),
            ("end-before-start", 422, {"endDate": "2026-01-01"}, ("endDate",), ""),
            ("unknown-field", 422, {"horizon": "2027-01-01"}, ("horizon",), ""),
            ("title-missing", 422, {"title": None}, ("title",), ""),
            ("template-unknown", 404, {"templateId": MISSING}, (), "Template ID"),
            ("assignee-unknown", 404, {"assigneeId": MISSING}, (), "Assignee ID"),
        )
    ),
    Case("recurring-json-array", "POST", RECURRING, 400, json=[valid_recurring()]),
    Case("recurring-get-unknown", "GET", f"{RECURRING}/{MISSING}", 404),
    Case("recurring-patch-unknown", "PATCH", f"{RECURRING}/{MISSING}", 404, json={"title": "x"}),
    Case("recurring-delete-unknown", "DELETE", f"{RECURRING}/{MISSING}", 404),
    Case(
        "recurring-skip-unknown",
        "POST",
        f"{RECURRING}/{MISSING}/skip",
        404,
        json={"anchorDate": "2026-03-10"},
    ),
    Case("recurring-put", "PUT", f"{RECURRING}/<recurring>", 405, json=valid_recurring()),
    Case(
        "recurring-patch-bad-rule",
        "PATCH",
        f"{RECURRING}/<recurring>",
        422,
        json={"rrule": "FREQ=SOMETIMES"},
        fields=("rrule",),
    ),
    Case(
        "recurring-patch-template-null",
        "PATCH",
        f"{RECURRING}/<recurring>",
        422,
        json={"templateId": None},
        fields=("templateId",),
    ),
    Case(
        "recurring-patch-title-too-long",
        "PATCH",
        f"{RECURRING}/<recurring>",
        422,
        json={"title": "x" * 401},
        fields=("title",),
    ),
    Case(
        "recurring-patch-stale",
        "PATCH",
        f"{RECURRING}/<recurring>",
        409,
        json={"title": "x"},
        headers={"If-Match": '"99"'},
    ),
    Case(
        "recurring-delete-stale",
        "DELETE",
        f"{RECURRING}/<recurring>",
        409,
        headers={"If-Match": '"99"'},
    ),
    Case(
        "recurring-skip-not-an-occurrence",
        "POST",
        f"{RECURRING}/<recurring>/skip",
        422,
        json={"anchorDate": "2026-03-04"},
        fields=("anchorDate",),
    ),
    Case(
        "recurring-skip-bad-date",
        "POST",
        f"{RECURRING}/<recurring>/skip",
        422,
        json={"anchorDate": "next week"},
        fields=("anchorDate",),
    ),
    Case(
        "recurring-skip-no-date",
        "POST",
        f"{RECURRING}/<recurring>/skip",
        422,
        json={},
        fields=("anchorDate",),
    ),
    # ---- recurring preview (issue 17): the create body's rules, nothing stored ---------------
    *(
        Case(
            f"recurring-preview-{name}",
            "POST",
            f"{RECURRING}/preview",
            status,
            json={**valid_recurring(), **changes},
            fields=fields,
            detail=detail,
        )
        for name, status, changes, fields, detail in (
            ("rrule-invalid", 422, {"rrule": "FREQ=WEEKLY;BYDAY=XX"}, ("rrule",), "BYDAY"),
            (
                "cron-four-fields",
                422,
                {"rrule": None, "cronExpression": "0 9 * *"},
                ("cronExpression",),
                "5 fields",
            ),
            ("zone-unknown", 422, {"timezone": "Mars/Olympus"}, ("timezone",), "IANA"),
            ("end-before-start", 422, {"endDate": "2026-01-01"}, ("endDate",), ""),
            (
                "start-far-back",
                422,
                {"rrule": "FREQ=DAILY", "startDate": "1900-01-01"},
                ("startDate",),
                "1000",
            ),
            ("lead-days-string", 422, {"leadDays": "7"}, ("leadDays",), ""),
            ("unknown-field", 422, {"id": "x", "horizon": 1}, ("horizon",), ""),
            ("config-id-number", 422, {"configId": 7}, ("configId",), ""),
            ("template-unknown", 404, {"templateId": MISSING}, (), "Template ID"),
            ("config-unknown", 404, {"configId": MISSING}, (), ""),
        )
    ),
    Case("recurring-preview-json-array", "POST", f"{RECURRING}/preview", 400, json=[{}]),
    Case("recurring-preview-get", "GET", f"{RECURRING}/preview", 404),
    Case("recurring-preview-put", "PUT", f"{RECURRING}/preview", 405, json=valid_recurring()),
    # ---- uploads (CONTRACT §4: POST /api/uploads) --------------------------------------------
    Case(
        "upload-size-string",
        "POST",
        f"{API}/uploads",
        422,
        json={"filename": "a.txt", "contentType": "text/plain", "sizeBytes": "5", "checksum": SHA},
        fields=("sizeBytes",),
    ),
    Case(
        "upload-bad-checksum",
        "POST",
        f"{API}/uploads",
        422,
        json={
            "filename": "a.txt",
            "contentType": "text/plain",
            "sizeBytes": 5,
            "checksum": "md5:abc",
        },
        fields=("checksum",),
    ),
]


def _drop_missing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_missing(v) for k, v in value.items() if v is not NO_BODY}
    return value


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key in WORLD_KEYS:
            value = value.replace(f"<{key}>", ids[key])
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def send(client: TestClient, case: Case, ids: dict[str, str]) -> Response:
    path = _fill(case.path, ids)
    headers = _fill(dict(case.headers), ids)
    if case.multipart is not None:
        return client.request(
            case.method,
            path,
            headers=headers,
            data=_fill(case.multipart, ids),
            files={"file": ("notes.txt", b"hello world", case.part_type)},
        )
    if case.raw is not None:
        if case.content_type is not None:
            headers["Content-Type"] = case.content_type
        return client.request(case.method, path, headers=headers, content=_fill_bytes(case, ids))
    if case.json is not NO_BODY:
        return client.request(
            case.method, path, headers=headers, json=_fill(_drop_missing(case.json), ids)
        )
    return client.request(case.method, path, headers=headers)


def _fill_bytes(case: Case, ids: dict[str, str]) -> bytes:
    raw = case.raw or b""
    for key in WORLD_KEYS:
        raw = raw.replace(f"<{key}>".encode(), ids[key].encode())
    return raw


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    assert response.status_code == status, f"expected {status}: {response.text[:2000]}"
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    for name in ("type", "title", "detail"):
        assert isinstance(body.get(name), str), f"{name} missing: {body}"
        assert body[name], f"{name} empty: {body}"
    assert body["status"] == status
    if status == 422:
        errors = body.get("errors")
        assert isinstance(errors, list), body
        assert errors, body
        for error in errors:
            assert set(error) >= {"field", "message"}, error
            assert isinstance(error["field"], str)
            assert isinstance(error["message"], str)
    return body


def test_the_table_is_big_and_unique() -> None:
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)
    covered = {case.status for case in CASES}
    assert covered == {400, 404, 405, 409, 413, 422}


class Environment:
    """One workspace, admin client and fixture world shared by the table's cases.

    Every case must leave the state exactly as it found it; if one does not (a bug, and
    that case fails), the environment is rebuilt before the next case so that one failure
    cannot make other cases fail.
    """

    def __init__(
        self, factory: pytest.TempPathFactory, settings: SettingsFor = make_settings
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._stack = contextlib.ExitStack()
        self.client, self.workspace, self.ids, self.baseline = self._build()

    def _build(self) -> tuple[TestClient, Workspace, dict[str, str], dict[str, Any]]:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        workspace = runtime.build_workspace(self._settings(self._factory.mktemp("bad-input")))
        self._stack.callback(workspace.store.close)
        runtime.bootstrap_admin(workspace)
        client = self._stack.enter_context(TestClient(runtime.build_single_process(workspace)))
        login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        ids = make_world(client)
        return client, workspace, ids, snapshot(client, workspace, ids)

    def pristine(self) -> dict[str, Any]:
        """The state before a case: the baseline, rebuilt if an earlier case changed it."""
        state = snapshot(self.client, self.workspace, self.ids)
        if state != self.baseline:
            self.client, self.workspace, self.ids, self.baseline = self._build()
            state = self.baseline
        return state

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    env = Environment(tmp_path_factory)
    yield env
    env.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input(case: Case, environment: Environment) -> None:
    before = environment.pristine()
    api, workspace, ids = environment.client, environment.workspace, environment.ids
    response = send(api, case, ids)
    body = assert_problem(response, case.status)
    assert case.detail in body["detail"]
    if case.fields:
        reported = {error["field"] for error in body["errors"]}
        missing = [name for name in case.fields if name not in reported]
        assert not missing, f"fields {missing} not in errors {body['errors']}"
    assert snapshot(api, workspace, ids) == before, "a refused request changed the state"


@pytest.fixture
def world(api: TestClient) -> dict[str, str]:
    return make_world(api)


def test_snapshot_sees_every_kind_of_change(
    api: TestClient, workspace: Workspace, world: dict[str, str]
) -> None:
    """The "nothing changed" check can fail: accepted writes of each kind change the state."""
    state = snapshot(api, workspace, world)
    writes = [
        ("PATCH", f"{ART}/{world['draft']}", {"json": {"title": "Renamed"}}),
        ("POST", f"{ART}/{world['draft']}/submit", {}),
        ("PATCH", f"{API}/tasks/{world['task']}", {"json": {"comment": "noted"}}),
        ("PATCH", f"{API}/templates/{world['template']}", {"json": {"description": "d"}}),
        (
            "POST",
            f"{API}/files",
            {
                "data": {"taskId": world["task"]},
                "files": {"file": ("n.txt", b"bytes", "text/plain")},
            },
        ),
    ]
    for method, path, kwargs in writes:
        response = api.request(method, path, **kwargs)
        assert response.status_code in (200, 201), response.text
        changed = snapshot(api, workspace, world)
        assert changed != state, f"{method} {path} went unnoticed"
        state = changed
    assert state["blobs"], "the uploaded bytes are not visible in the snapshot"


# --- role checks ---------------------------------------------------------------------


def _viewer_requests(ids: dict[str, str]) -> Iterator[Case]:
    """Well-formed writes an operator could make; a viewer must get 403 for each."""
    yield Case("create-artifact", "POST", ART, 403, json=valid_artifact())
    yield Case("patch-artifact", "PATCH", f"{ART}/<draft>", 403, json={"title": "Viewer"})
    yield Case("attach", "POST", f"{ART}/<draft>/attach", 403, json={"taskId": "<task>"})
    yield Case("submit", "POST", f"{ART}/<draft>/submit", 403)
    yield Case("approve", "POST", f"{ART}/<draft>/approve", 403)
    yield Case("reject", "POST", f"{ART}/<draft>/reject", 403, json={"reason": "no"})
    yield Case("archive", "POST", f"{ART}/<draft>/archive", 403)
    yield Case(
        "supersede",
        "POST",
        f"{ART}/<approved>/supersede",
        403,
        json={"supersededBy": "<successor>"},
    )
    yield Case("create-task", "POST", f"{API}/tasks", 403, json=new_task())
    yield Case("patch-task", "PATCH", f"{API}/tasks/<task>", 403, json={"comment": "x"})
    yield Case("complete-task", "PATCH", f"{API}/tasks/<task>", 403, json={"status": "done"})
    yield Case("create-bundle", "POST", f"{API}/bundles", 403, json={"title": "B"})
    yield Case("patch-bundle", "PATCH", f"{API}/bundles/<bundle>", 403, json={"title": "B2"})
    yield Case("create-template", "POST", f"{API}/templates", 403, json={"name": "T"})
    yield Case("patch-template", "PATCH", f"{API}/templates/<template>", 403, json={"name": "T2"})
    yield Case(
        "instantiate",
        "POST",
        f"{API}/templates/<template>/instantiate",
        403,
        json={"title": "E2", "anchorDate": "2026-03-02"},
    )
    yield Case(
        "preview-instance",
        "POST",
        f"{API}/templates/<template>/preview",
        403,
        json={"title": "E2", "anchorDate": "2026-03-02"},
    )
    yield Case(
        "register-file",
        "POST",
        f"{API}/files/register",
        403,
        json={"taskId": "<task>", "filename": "a.pdf", "storageUri": "https://example.com/a.pdf"},
    )
    yield Case("upload-file", "POST", f"{API}/files", 403, multipart={"taskId": "<task>"})
    yield Case("create-recurring", "POST", RECURRING, 403, json=valid_recurring())
    yield Case("patch-recurring", "PATCH", f"{RECURRING}/<recurring>", 403, json={"enabled": False})
    yield Case("delete-recurring", "DELETE", f"{RECURRING}/<recurring>", 403)
    yield Case(
        "skip-recurring",
        "POST",
        f"{RECURRING}/<recurring>/skip",
        403,
        json={"anchorDate": "2026-03-10"},
    )


def test_viewer_cannot_write(
    api: TestClient,
    workspace: Workspace,
    world: dict[str, str],
    client_as: Callable[[Role], TestClient],
) -> None:
    viewer = client_as(Role.VIEWER)
    before = snapshot(api, workspace, world)
    readable = {k: v for k, v in before.items() if k not in ADMIN_ONLY}
    # ... and of the users only who is who (CONTRACT §9)
    readable["users"] = [{"id": u["id"], "name": u["name"]} for u in readable["users"]]
    # the viewer can read everything but the admin-only collections, and not those
    assert snapshot(viewer, workspace, world, admin=False) == readable
    for name in ADMIN_ONLY:
        assert_problem(viewer.get(f"{API}/{name}"), 403)
    requests = list(_viewer_requests(world))
    assert len(requests) >= 15
    failures = []
    for case in requests:
        response = send(viewer, case, world)
        try:
            assert_problem(response, 403)
        except AssertionError as exc:
            failures.append(f"{case.method} {case.path} ({case.id}): {exc}")
    assert not failures, "\n".join(failures)
    assert snapshot(api, workspace, world) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=utf-8",
        "text/plain;charset=UTF-8",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "audio/mpeg",
        "image/svg+xml",
        'multipart/mixed; boundary="a b:c"',
    ],
)
def test_media_types_in_use_are_accepted(api: TestClient, content_type: str) -> None:
    """The content-type rule refuses control characters, not real media types."""
    created = _created(api.post(ART, json=valid_artifact(contentType=content_type)))
    assert created["contentType"] == content_type
    task = _created(api.post(f"{API}/tasks", json=new_task()))
    record = _created(
        api.post(
            f"{API}/files",
            data={"taskId": task["id"]},
            files={"file": ("notes.txt", b"hello", content_type)},
        )
    )
    assert record["contentType"] == content_type
