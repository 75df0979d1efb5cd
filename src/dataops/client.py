"""A small typed client for the DataOps work API, for assistants and scripts.

    client = DataOpsClient.from_env()          # DATAOPS_URL, DATAOPS_TOKEN
    upload = client.upload_file(path)          # two-step upload (S3 or local-dev alike)
    artifact = client.register_artifact({...}, idempotency_key="...")

Every call goes through the portal (`<DATAOPS_URL>/work/api/...`) with
`Authorization: Bearer <token>`. Errors raise `ApiError` carrying the server's problem
detail. Presigned upload URLs on another origin are sent the bytes without the token.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

_CHUNK = 1024 * 1024


class ApiError(Exception):
    """A problem response from the API (or a transport failure, status 0)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or "request failed"
        errors = problem.get("errors") or []
        if errors:
            detail += " (" + "; ".join(f"{e['field']}: {e['message']}" for e in errors) + ")"
        super().__init__(f"{status}: {detail}")


def file_digest(path: Path) -> tuple[str, int]:
    """("sha256:<hex>", size) of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


class DataOpsClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        if not base_url or not token:
            raise ValueError("a base URL and an API token are needed")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DataOpsClient:
        env = dict(os.environ if environ is None else environ)
        missing = [name for name in ("DATAOPS_URL", "DATAOPS_TOKEN") if not env.get(name)]
        if missing:
            raise ValueError(f"set {' and '.join(missing)} (the portal URL and an API token)")
        return cls(env["DATAOPS_URL"], env["DATAOPS_TOKEN"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DataOpsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- artifacts -------------------------------------------------------------------

    def register_artifact(
        self, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/artifacts", json=body, headers=headers)

    def get_artifact(self, artifact_id: str) -> dict[str, Any]:
        return self._call("GET", f"/artifacts/{artifact_id}")

    def list_artifacts(self, **filters: str) -> Iterator[dict[str, Any]]:
        """Every artifact matching the filters (taskId, bundleId, status, ...), page by page."""
        yield from self._pages("/artifacts", filters)

    def attach_artifact(
        self, artifact_id: str, *, task_id: str | None = None, bundle_id: str | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in (("taskId", task_id), ("bundleId", bundle_id)) if v}
        return self._call("POST", f"/artifacts/{artifact_id}/attach", json=body)

    def review_artifact(
        self, artifact_id: str, action: str, *, reason: str | None = None
    ) -> dict[str, Any]:
        """action: submit, approve, reject (reason required) or archive."""
        body = {"reason": reason} if reason else None
        return self._call("POST", f"/artifacts/{artifact_id}/{action}", json=body)

    # -- tasks -----------------------------------------------------------------------

    def list_tasks(self, **filters: str) -> Iterator[dict[str, Any]]:
        """Every task matching the filters (bundleId, status, date, assigneeId), page by
        page."""
        yield from self._pages("/tasks", filters)

    def get_task(self, task_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tasks/{task_id}")

    def task_proof(self, task_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tasks/{task_id}/proof")

    def complete_task(
        self, task_id: str, *, version: int | None = None, **evidence: Any
    ) -> dict[str, Any]:
        """Mark the task done; `evidence` (link, comment, externalStatus) is sent with it
        and counts towards proof. Missing proof raises ApiError 409 naming what is
        missing; `version` sends If-Match (409 when the task changed meanwhile)."""
        headers = {"If-Match": str(version)} if version is not None else {}
        body = {**evidence, "status": "done"}
        return self._call("PATCH", f"/tasks/{task_id}", json=body, headers=headers)

    def my_work(self, which: str | None = None) -> dict[str, Any]:
        """The caller's own work: every list's first page, or one list (`which`)."""
        params = {"list": which} if which else None
        return self._call("GET", "/my-work", params=params)

    # -- bundles and templates ---------------------------------------------------------

    def list_bundles(self, **filters: str) -> Iterator[dict[str, Any]]:
        """Every bundle matching the filters (status, templateId, ...), page by page."""
        yield from self._pages("/bundles", filters)

    def get_bundle(self, bundle_id: str) -> dict[str, Any]:
        return self._call("GET", f"/bundles/{bundle_id}")

    def list_templates(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("/templates", {})

    def get_template(self, template_id: str) -> dict[str, Any]:
        return self._call("GET", f"/templates/{template_id}")

    def instantiate(self, template_id: str, title: str, anchor_date: str) -> dict[str, Any]:
        """Start a bundle from a template: `{"bundle", "tasks"}`, each task dated
        `anchor_date` + its definition's `offsetDays`."""
        body = {"title": title, "anchorDate": anchor_date}
        return self._call("POST", f"/templates/{template_id}/instantiate", json=body)

    # -- uploads ---------------------------------------------------------------------

    def upload_file(
        self,
        path: Path,
        *,
        content_type: str | None = None,
        task_id: str | None = None,
        bundle_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Announce, send and complete an upload; the file record on success."""
        checksum, size = file_digest(path)
        kind = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        body: dict[str, Any] = {
            "filename": path.name,
            "contentType": kind,
            "sizeBytes": size,
            "checksum": checksum,
        }
        if task_id:
            body["taskId"] = task_id
        if bundle_id:
            body["bundleId"] = bundle_id
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        ticket = self._call("POST", "/uploads", json=body, headers=headers)
        if ticket.get("status") == "completed" and ticket.get("fileId"):
            return self._call("GET", f"/files/{ticket['fileId']}")  # a replayed upload
        try:
            self._send_bytes(ticket, path)
        except ApiError as exc:
            if exc.status != 409:  # 409: the bytes already arrived (a retry); complete checks
                raise
        return self._call("POST", f"/uploads/{ticket['uploadId']}/complete")

    def _send_bytes(self, ticket: dict[str, Any], path: Path) -> None:
        url = urljoin(self.base_url + "/", ticket["url"])
        headers = dict(ticket.get("headers") or {})
        if _same_origin(url, self.base_url):
            headers["Authorization"] = f"Bearer {self._token}"
        with path.open("rb") as handle:
            content = handle.read()
        try:
            response = self._http.request(ticket["method"], url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(0, {"detail": f"upload transport failed: {exc}"}) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))

    # -- plumbing --------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {**params, "limit": "500", **({"cursor": cursor} if cursor else {})}
            page = self._call("GET", path, params=query)
            yield from page["items"]
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/work/api{path}"
        all_headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            response = self._http.request(
                method, url, json=json, params=params, headers=all_headers
            )
        except httpx.HTTPError as exc:
            raise ApiError(0, {"detail": f"{method} {path} failed: {exc}"}) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        if not response.content:
            return {}
        body: dict[str, Any] = response.json()
        return body


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500] or response.reason_phrase}
    return body if isinstance(body, dict) else {"detail": str(body)[:500]}


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)
