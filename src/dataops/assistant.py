"""Hand an assistant's output to the workflow as a reviewable artifact.

A local file is uploaded through the two-step upload (its file record is NOT attached to
the task, so an unreviewed draft never counts as file proof), then registered as an
artifact of the task or bundle with status needs-review. A URL is registered as metadata
only. Signed URLs and secrets are refused before anything is sent. Both steps carry
idempotency keys derived from the content and the target, so re-running the same command
after a timeout registers nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops.client import DataOpsClient, file_digest
from dataops.domain.errors import FieldError, ValidationFailed
from dataops.domain.policy import check_storage_uri
from dataops.domain.secret_scan import scan_for_secrets


@dataclass(frozen=True)
class Target:
    task_id: str | None = None
    bundle_id: str | None = None
    artifact_type: str | None = None
    title: str | None = None
    assistant_job_id: str | None = None


def _key(*parts: Any) -> str:
    return "dataops-cli-" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]


def _refuse_secrets(fields: dict[str, Any]) -> None:
    problems = scan_for_secrets(fields, "")
    if problems:
        raise ValidationFailed(problems)


def register_output(client: DataOpsClient, source: str, target: Target) -> dict[str, Any]:
    """Register `source` (a local path or an http(s) URL); the artifact record."""
    if not target.task_id and not target.bundle_id:
        raise ValidationFailed([FieldError("task", "give --task or --bundle")])
    relations = {
        "taskId": target.task_id,
        "bundleId": target.bundle_id,
        "assistantJobId": target.assistant_job_id,
    }
    body: dict[str, Any] = {k: v for k, v in relations.items() if v}
    body.update({"sourceType": "assistant-output", "status": "needs-review"})
    if source.startswith(("http://", "https://")):
        return _register_url(client, source, target, body)
    return _register_file(client, source, target, body)


def _register_url(
    client: DataOpsClient, source: str, target: Target, body: dict[str, Any]
) -> dict[str, Any]:
    """An http(s) URL, registered as a link."""
    errors = check_storage_uri(source, "url")
    if errors:
        raise ValidationFailed(errors)
    body.update(
        {
            "type": target.artifact_type or "external-link",
            "title": target.title or source,
            "storageUri": source,
        }
    )
    _refuse_secrets(body)
    return client.register_artifact(body, idempotency_key=_key("url", body))


def _register_file(
    client: DataOpsClient, source: str, target: Target, body: dict[str, Any]
) -> dict[str, Any]:
    """A local file, uploaded first."""
    path = Path(source)
    if not path.is_file():
        raise ValidationFailed([FieldError("path", f"{source} is not a file or an http(s) URL")])
    checksum, size = file_digest(path)
    body.update(
        {
            "type": target.artifact_type or "assistant-output",
            "title": target.title or path.name,
            "filename": path.name,
            "checksum": checksum,
            "sizeBytes": size,
            "contentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        }
    )
    _refuse_secrets(body)
    upload_key = _key("upload", checksum, path.name, target.task_id, target.bundle_id)
    file_record = client.upload_file(
        path, content_type=body["contentType"], idempotency_key=upload_key
    )
    body.update({"storageUri": file_record["storageUri"], "fileId": file_record["id"]})
    return client.register_artifact(body, idempotency_key=_key("artifact", body))
