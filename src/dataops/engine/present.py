"""Response shaping: entities rendered camelCase, collections as items + nextCursor."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.domain.errors import ValidationFailed
from dataops.domain.proof import ProofVerdict
from dataops.services.artifact_reads import ArtifactView
from dataops.services.tasks import TaskList, TaskQuery, TaskView
from dataops.store.port import Page


class Json(JSONResponse):
    """JSONResponse rendered by orjson: the same bytes as Starlette's compact UTF-8 JSON,
    about ten times faster. What orjson refuses (an integer beyond 64 bits, which a
    free-form field may hold) falls back to the standard encoder."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError
            return super().render(content)


def one(record: Any, status: int = 200) -> JSONResponse:
    body = to_dict(record)
    headers = (
        {"ETag": f'"{body["version"]}"'} if isinstance(body, dict) and "version" in body else None
    )
    return Json(body, status_code=status, headers=headers)


def collection(result: Page[Any]) -> dict[str, Any]:
    """A page as the body of a collection: items and nextCursor."""
    return {"items": to_dict(result.items), "nextCursor": result.next_cursor}


def page(result: Page[Any]) -> JSONResponse:
    return Json(collection(result))


def includes(text: str | None, known: tuple[str, ...]) -> set[str]:
    """The names of a comma-separated `include` parameter; 422 for one not in `known`."""
    if text is None:
        return set()
    names = {name.strip() for name in text.split(",")}
    unknown = sorted(names - set(known))
    if unknown:
        raise ValidationFailed.one("include", f"must be a list of {', '.join(known)}")
    return names


def proof_summary(verdict: ProofVerdict) -> dict[str, Any]:
    """A list's view of a task's proof: whether it may be completed, how many
    requirements it has, and what is missing (kind, label, reason)."""
    return {
        "canComplete": verdict.can_complete,
        "requirementCount": len(verdict.requirements),
        "missing": [
            {"kind": r.kind, "label": r.label, "reason": r.reason} for r in verdict.missing
        ],
    }


def task_list(result: TaskList, query: TaskQuery) -> dict[str, Any]:
    """A page of tasks (`services.tasks.task_list`): items and nextCursor, plus what
    `query` asked for: `count`, each item's `proof` (null for a task that is not open),
    `bundles` (the page's bundles, ID: title)."""
    body = collection(result.page)
    if query.count:
        body["count"] = result.count
    if query.include_proof:
        for item in body["items"]:
            verdict = result.proofs.get(item["id"])
            item["proof"] = proof_summary(verdict) if verdict is not None else None
    if query.include_bundles:
        body["bundles"] = {bundle_id: b.title for bundle_id, b in result.bundles.items()}
    return body


def task_view(view: TaskView) -> dict[str, Any]:
    """A task with what its page asked to include (`services.tasks.task_view`)."""
    included: dict[str, Any] = {}
    if view.proof is not None:
        included["proof"] = {
            "canComplete": view.proof.can_complete,
            "requirements": to_dict(view.proof.requirements),
        }
    if view.bundle is not None:
        included["bundle"] = to_dict(view.bundle)
    if view.files is not None:
        included["files"] = collection(view.files)
    if view.artifacts is not None:
        included["artifacts"] = collection(view.artifacts)
    if view.bundle_artifacts is not None:
        included["bundleArtifacts"] = collection(view.bundle_artifacts)
    return {**to_dict(view.task), "included": included}


def artifact_view(view: ArtifactView) -> dict[str, Any]:
    """An artifact with what its page asked to include (`services.artifacts.artifact_view`)."""
    included: dict[str, Any] = {}
    if view.task is not None:
        included["task"] = to_dict(view.task)
    if view.bundle is not None:
        included["bundle"] = to_dict(view.bundle)
    if view.audit is not None:
        included["audit"] = collection(view.audit)
    if view.chain is not None:
        included["chain"] = {
            "items": to_dict(view.chain.items),
            "earlier": view.chain.earlier,
            "later": view.chain.later,
            "missing": view.chain.missing,
        }
    return {**to_dict(view.artifact), "included": included}
