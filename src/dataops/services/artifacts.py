"""Artifact use cases: register, update (a PATCH), attach. Review decisions are in
`artifact_review`, reads (the artifact page, lists, the expiring lane) in `artifact_reads`."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, TypeVar

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts
from dataops.domain.codec import camel, from_dict
from dataops.domain.enums import OWNED_PROVIDERS, ArtifactStatus, EntityType
from dataops.domain.errors import (
    Conflict,
    FieldError,
    IllegalTransition,
    ValidationFailed,
    VersionConflict,
)
from dataops.domain.models import Approval, Artifact, Bundle, Task
from dataops.domain.permissions import check_create_status, check_status_field
from dataops.domain.policy import infer_provider
from dataops.domain.rules import artifact_errors
from dataops.domain.status import CREATE_STATUSES, ReviewAction, action_for_status
from dataops.services import events, idempotency, owned
from dataops.services.artifact_review import (
    apply_review,
    check_policy,
    content_changed,
    record_change,
    reset_review,
)
from dataops.services.common import (
    audit,
    check_version,
    guard_local_storage,
    raise_if,
    require,
    save,
    with_ref,
    without_ref,
)
from dataops.services.context import Workspace
from dataops.services.files import storage_uri_of
from dataops.services.notifications import notify_review_change, notify_reviewers
from dataops.services.proofs import refresh_citing, refresh_tasks
from dataops.store.port import Repository, UnitOfWork

_RELATION_FIELDS = ("task_id", "bundle_id")
H = TypeVar("H", Task, Bundle)
_OBJECT_FIELDS = frozenset({"storage_uri", "storage_provider", "checksum", "size_bytes", "file_id"})
_UPDATABLE = frozenset(
    {
        "type",
        "title",
        "description",
        "storage_uri",
        "storage_provider",
        "filename",
        "content_type",
        "checksum",
        "size_bytes",
        "data_class",
        "assistant_job_id",
        "file_id",
        "source_type",
        "tags",
        "metadata",
        "valid_until",
    }
)


def register_artifact(
    ws: Workspace, actor: Actor, data: dict[str, Any], idempotency_key: str | None = None
) -> Artifact:
    """Create an artifact record (metadata only) and link it to its task and bundle.

    With an idempotency key, a retry with the same body returns the first result and the
    same key with another body is a Conflict; the key is claimed in the creating
    transaction. A backend that lets two claims race rejects the second insert, and the
    retry below then finds the first result."""
    if idempotency_key is None:
        return _register(ws, actor, data, None)
    claim = (
        idempotency.record_id(actor, "register-artifact", idempotency_key),
        idempotency.request_hash(data),
    )
    try:
        return _register(ws, actor, data, claim)
    except Conflict:
        return _register(ws, actor, data, claim)


def _register(
    ws: Workspace, actor: Actor, data: dict[str, Any], claim: tuple[str, str] | None
) -> Artifact:
    artifact = _new_artifact(ws, actor, data)
    with ws.store.unit_of_work(write=True) as uow:
        if artifact.status == ArtifactStatus.APPROVED:
            check_policy(uow, actor, artifact, ReviewAction.APPROVE)
        if claim is not None:
            first = idempotency.replayed(uow, *claim)
            if first is not None:
                replay: Artifact = from_dict(Artifact, first)
                return replay
            idempotency.remember(uow, *claim, artifact.id, artifact)
        _check_relations(uow, artifact, data.keys())
        uow.artifacts.add(artifact)
        _relink(uow, artifact, None, None)
        later = refresh_citing(uow, actor, None, artifact)
        audit(
            uow,
            actor,
            EntityType.ARTIFACT,
            artifact.id,
            "create",
            after=artifact,
            summary=f"registered {artifact.type.value} artifact as {artifact.status.value}",
        )
        reviewers = notify_review_change(uow, actor.id, None, artifact)
        events.artifact_changed(uow, None, artifact)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, artifact, reviewers)
    return artifact


def _new_artifact(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Artifact:
    """The artifact a register body describes, checked (fields, status, storage, the
    object's facts when DataOps owns it), not stored yet."""
    stamp = now_ts()
    uri = data["storage_uri"]
    artifact = Artifact(
        id=new_id("art"),
        type=data["type"],
        title=data["title"],
        storage_uri=uri,
        storage_provider=data.get("storage_provider") or infer_provider(uri),
        created_at=stamp,
        updated_at=stamp,
        created_by=actor.id,
    )
    for name, value in data.items():
        if name in _UPDATABLE or name in ("status", *_RELATION_FIELDS):
            setattr(artifact, name, value if value is not None else getattr(artifact, name))
    check_create_status(actor.role, artifact.status)
    raise_if(_errors_but_fillable(artifact))
    guard_local_storage(ws, artifact.storage_provider)
    if artifact.storage_provider in OWNED_PROVIDERS:
        artifact.checksum, artifact.size_bytes = _object_facts(
            ws, artifact, data.get("checksum"), data.get("size_bytes")
        )
    if artifact.status not in CREATE_STATUSES:
        allowed = ", ".join(s.value for s in CREATE_STATUSES)
        raise IllegalTransition(
            f"an artifact cannot be created as {artifact.status.value!r} (allowed: {allowed})"
        )
    if artifact.status == ArtifactStatus.APPROVED:  # an approval by its creator
        artifact.reviewed_by, artifact.reviewed_at = actor.id, stamp
        artifact.approvals = [Approval(actor.id, stamp)]
        artifact.self_reviewed = True
    return artifact


def get_artifact(ws: Workspace, artifact_id: str) -> Artifact:
    with ws.store.unit_of_work() as uow:
        return require(uow.artifacts, artifact_id, "artifact")


def update_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Artifact:
    """PATCH: metadata fields, relationships (a move, as attach) and status (a review move).
    A change to where a DataOps-owned object is, or to what it holds, is checked against
    the object before the write transaction starts (`_object_facts`)."""
    if changes.get("status") is not None:
        check_status_field(actor.role, changes["status"])
    facts: _Facts | None = None
    if _OBJECT_FIELDS & changes.keys():
        with ws.store.unit_of_work() as uow:
            before = require(uow.artifacts, artifact_id, "artifact")
        check_version(before, expected_version)
        facts = _checked_facts(ws, before, changes)
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        updated, uri_changed = _changed(current, changes)
        if _OBJECT_FIELDS & changes.keys():
            _take_facts(updated, facts)
        raise_if(artifact_errors(updated, uri_changed=uri_changed))
        if uri_changed:
            guard_local_storage(ws, updated.storage_provider)
        relation_changes = {k: changes[k] for k in _RELATION_FIELDS if k in changes}
        for name, value in relation_changes.items():
            setattr(updated, name, value)
        _check_relations(uow, updated, changes.keys())
        action, summary = _patch_review(uow, actor, current, updated, changes)
        if updated == current:
            return current
        later = _save_relinked(uow, actor, current, updated)
        reviewers = record_change(uow, actor, current, updated, action, summary)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, updated, reviewers)
    return updated


def _patch_review(
    uow: UnitOfWork, actor: Actor, current: Artifact, updated: Artifact, changes: dict[str, Any]
) -> tuple[str, str | None]:
    """A PATCH's effect on review, on `updated`: a content change withdraws an approval,
    a new status is a review move. The audit action and summary of the PATCH."""
    reset = content_changed(current, updated)
    status = changes.get("status")
    if reset and (status is None or status == current.status):
        reset_review(updated, reset)
    elif status is not None and status != current.status:
        apply_review(
            uow,
            actor,
            updated,
            action_for_status(status),
            reason=changes.get("review_reason"),
            superseded_by=changes.get("superseded_by"),
            reason_field="reviewReason",
        )
    return _update_audit(current, updated, status, bool(reset))


def _update_audit(
    current: Artifact, updated: Artifact, status: ArtifactStatus | None, reset: bool
) -> tuple[str, str | None]:
    """The audit action and summary of a PATCH: an approval withdrawn by a content change,
    a review move, or a plain update."""
    if reset and updated.status != current.status:
        return "review-reset", updated.review_reason
    if status is not None and status != current.status:
        return action_for_status(status).value, f"status set to {status.value}"
    return "update", None


def _changed(current: Artifact, changes: dict[str, Any]) -> tuple[Artifact, bool]:
    """`current` with the PATCH's field changes applied, and whether its URI changed."""
    updated = copy.deepcopy(current)
    for name in _UPDATABLE & changes.keys():
        setattr(updated, name, changes[name])
    for name in ("tags",):
        if name in changes and changes[name] is None:
            setattr(updated, name, [])
    uri_changed = "storage_uri" in changes or "storage_provider" in changes
    if uri_changed and changes.get("storage_provider") is None:  # null: infer it
        updated.storage_provider = infer_provider(updated.storage_uri)
    for required in ("type", "title", "storage_uri", "data_class", "source_type"):
        if required in changes and changes[required] is None:
            raise ValidationFailed.one(camel(required), "cannot be cleared")
    return updated, uri_changed


def _take_facts(updated: Artifact, facts: _Facts | None) -> None:
    """Put the object facts checked before the write on `updated`; VersionConflict when
    the artifact read in the write no longer agrees with them."""
    owned = updated.storage_provider in OWNED_PROVIDERS
    if (facts is not None and facts.location != _location(updated)) or (facts is None and owned):
        raise VersionConflict(f"artifact {updated.id!r} changed while this request ran")
    if facts is not None:
        updated.checksum, updated.size_bytes = facts.checksum, facts.size_bytes


def _checked_facts(ws: Workspace, current: Artifact, changes: dict[str, Any]) -> _Facts | None:
    """The object facts a PATCH of an owned artifact's object fields must agree with
    (checked outside any write transaction), or None when DataOps does not own it."""
    updated, uri_changed = _changed(current, changes)
    raise_if(_errors_but_fillable(updated, uri_changed=uri_changed))
    if uri_changed:
        guard_local_storage(ws, updated.storage_provider)
    if updated.storage_provider not in OWNED_PROVIDERS:
        return None
    # Only what this request sends is a claim: the values held are the old object's.
    checksum, size = _object_facts(ws, updated, changes.get("checksum"), changes.get("size_bytes"))
    return _Facts(_location(updated), checksum, size)


@dataclass(frozen=True)
class _Facts:
    location: tuple[str, str | None, str | None]
    checksum: str
    size_bytes: int


def _location(artifact: Artifact) -> tuple[str, str | None, str | None]:
    provider = artifact.storage_provider.value if artifact.storage_provider else None
    return artifact.storage_uri, provider, artifact.file_id


def _errors_but_fillable(artifact: Artifact, *, uri_changed: bool = True) -> list[FieldError]:
    errors = artifact_errors(artifact, uri_changed=uri_changed)
    return owned.fillable(errors, artifact.checksum, artifact.storage_provider)


def _object_facts(
    ws: Workspace, artifact: Artifact, checksum: str | None, size_bytes: int | None
) -> owned.Facts:
    """`owned.take_object_facts` for an artifact: the file record its `fileId` names is
    the truth when it has the same URI, else the object in the blob store."""
    known = None
    if artifact.file_id:
        with ws.store.unit_of_work() as uow:
            record = uow.files.get(artifact.file_id)
        if (
            record is not None
            and storage_uri_of(record) == artifact.storage_uri
            and record.checksum is not None
            and record.size_bytes is not None
        ):
            known = (record.checksum, record.size_bytes)
    return owned.take_object_facts(ws, artifact.storage_uri, checksum, size_bytes, known)


def attach_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    *,
    task_id: str | None,
    bundle_id: str | None,
    expected_version: int | None = None,
) -> Artifact:
    """Set taskId and/or bundleId and move the refs, in one transaction."""
    if not task_id and not bundle_id:
        raise ValidationFailed(
            [
                FieldError("taskId", "a task or a bundle to attach to is required"),
                FieldError("bundleId", "a task or a bundle to attach to is required"),
            ]
        )
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        if task_id:
            updated.task_id = task_id
        if bundle_id:
            updated.bundle_id = bundle_id
        _check_relations(uow, updated, ["task_id", "bundle_id"])
        if updated == current:
            _relink(uow, updated, current.task_id, current.bundle_id)
            uow.commit()
            return current
        later = _save_relinked(uow, actor, current, updated)
        audit(
            uow,
            actor,
            EntityType.ARTIFACT,
            updated.id,
            "attach",
            before=current,
            after=updated,
            summary=_where(updated),
        )
        uow.commit()
    refresh_tasks(ws, actor, later)
    return updated


def _check_relations(uow: UnitOfWork, artifact: Artifact, fields: Any) -> None:
    """404 for a relationship ID in the body that does not exist."""
    fields = set(fields)
    if artifact.task_id and "task_id" in fields:
        require(uow.tasks, artifact.task_id, "task", "taskId")
    if artifact.bundle_id and "bundle_id" in fields:
        require(uow.bundles, artifact.bundle_id, "bundle", "bundleId")
    if artifact.file_id and "file_id" in fields:
        require(uow.files, artifact.file_id, "file", "fileId")


def _save_relinked(
    uow: UnitOfWork, actor: Actor, current: Artifact, updated: Artifact
) -> list[str]:
    """Save `updated` (was `current`), move its refs from where it was to where it is, and
    bring up to date the tasks whose proof can read it, here and where it was before; the
    IDs of those left for after the commit (`refresh_citing`)."""
    save(uow.artifacts, updated)
    _relink(uow, updated, current.task_id, current.bundle_id)
    return refresh_citing(
        uow,
        actor,
        current,
        updated,
        also_tasks=[current.task_id],
        also_bundles=[current.bundle_id],
    )


def _relink(
    uow: UnitOfWork, artifact: Artifact, old_task_id: str | None, old_bundle_id: str | None
) -> None:
    """Keep task and bundle refs in step with the artifact's taskId/bundleId: the old
    holder loses its ref, the new holder gains one."""
    _move_ref(uow.tasks, old_task_id, artifact.task_id, artifact, "task", "taskId")
    _move_ref(uow.bundles, old_bundle_id, artifact.bundle_id, artifact, "bundle", "bundleId")


def _move_ref(
    repo: Repository[H],
    old_id: str | None,
    new_id: str | None,
    artifact: Artifact,
    entity: str,
    field: str,
) -> None:
    def holds(holder: H) -> bool:
        return any(r.artifact_id == artifact.id for r in holder.artifact_refs)

    if old_id and old_id != new_id:
        old = repo.get(old_id)
        if old is not None and holds(old):
            old.artifact_refs = without_ref(old.artifact_refs, artifact.id)
            save(repo, old)
    if new_id:
        holder = require(repo, new_id, entity, field)
        if not holds(holder):
            holder.artifact_refs = with_ref(holder.artifact_refs, artifact.ref())
            save(repo, holder)


def _where(artifact: Artifact) -> str:
    parts = []
    if artifact.task_id:
        parts.append(f"task {artifact.task_id}")
    if artifact.bundle_id:
        parts.append(f"bundle {artifact.bundle_id}")
    return "attached to " + " and ".join(parts)
