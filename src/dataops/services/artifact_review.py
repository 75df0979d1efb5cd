"""Artifact review decisions: submit / approve / reject / archive / supersede
(`review_artifact`), the rules of one review move (`apply_review`, the review policy)
and the withdrawal of an approval when the content changes (`reset_review`)."""

from __future__ import annotations

import copy

from dataops.domain.accounts import Actor
from dataops.domain.clock import now_ts
from dataops.domain.codec import camel
from dataops.domain.enums import ArtifactStatus, EntityType
from dataops.domain.errors import Conflict, Forbidden, IllegalTransition, ValidationFailed
from dataops.domain.models import Approval, Artifact
from dataops.domain.permissions import barred_as_creator, check_review
from dataops.domain.status import ReviewAction, check_move
from dataops.services import events, settings
from dataops.services.common import audit, check_version, require, save, save_audited
from dataops.services.context import Workspace
from dataops.services.notifications import notify_review_change, notify_reviewers
from dataops.services.proofs import refresh_citing, refresh_tasks
from dataops.store.port import UnitOfWork

CONTENT_FIELDS = ("storage_uri", "checksum", "file_id", "size_bytes")
"""What an approval certifies besides the record: a change to any of them sends an
approved artifact back to review (CONTRACT §7)."""


def review_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    action: ReviewAction,
    *,
    reason: str | None = None,
    superseded_by: str | None = None,
    expected_version: int | None = None,
) -> Artifact:
    """submit / approve / reject / archive / supersede, as one atomic, audited step."""
    check_review(actor.role, action)
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        if action == ReviewAction.ARCHIVE and current.status == ArtifactStatus.ARCHIVED:
            return current
        updated = copy.deepcopy(current)
        apply_review(uow, actor, updated, action, reason=reason, superseded_by=superseded_by)
        save(uow.artifacts, updated)
        later = refresh_citing(uow, actor, current, updated)
        reviewers = record_change(uow, actor, current, updated, action.value, reason)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, updated, reviewers)
    return updated


def record_change(
    uow: UnitOfWork,
    actor: Actor,
    current: Artifact,
    updated: Artifact,
    action: str,
    summary: str | None,
) -> list[str]:
    """In the unit that changes `current` into `updated`: its audit event, its
    notifications and its webhook events; the reviewers still to notify after the
    commit (`notify_reviewers`)."""
    audit(
        uow,
        actor,
        EntityType.ARTIFACT,
        updated.id,
        action,
        before=current,
        after=updated,
        summary=summary,
    )
    reviewers = notify_review_change(uow, actor.id, current.status, updated)
    events.artifact_changed(uow, current.status, updated)
    return reviewers


def apply_review(
    uow: UnitOfWork,
    actor: Actor,
    artifact: Artifact,
    action: ReviewAction,
    *,
    reason: str | None,
    superseded_by: str | None,
    reason_field: str = "reason",
) -> None:
    """Change `artifact` in place along one review move; the caller saves and audits.
    `reason_field` names the body field that carries the reason (route or PATCH)."""
    if action == ReviewAction.REJECT and (reason is None or not reason.strip()):
        raise ValidationFailed.one(reason_field, "a reason is required to reject an artifact")
    if action == ReviewAction.SUPERSEDE:
        if not superseded_by:
            raise ValidationFailed.one("supersededBy", "is required to supersede an artifact")
        if superseded_by == artifact.id:
            raise ValidationFailed.one("supersededBy", "an artifact cannot supersede itself")
    check_policy(uow, actor, artifact, action)
    stamp = now_ts()
    if action == ReviewAction.APPROVE and artifact.status == ArtifactStatus.APPROVED:
        # A further approval (CONTRACT §7: `approvals: N` needs N distinct people).
        if actor.id in artifact.approvers():
            raise IllegalTransition(f"you have already approved artifact {artifact.id!r}")
        artifact.approvals = [*_recorded(artifact), Approval(actor.id, stamp)]
    else:
        artifact.status = check_move(artifact.status, action)
        artifact.approvals = [Approval(actor.id, stamp)] if action == ReviewAction.APPROVE else []
    artifact.self_reviewed = artifact.created_by in artifact.approvers()
    if action in (ReviewAction.APPROVE, ReviewAction.REJECT):
        artifact.reviewed_by = actor.id
        artifact.reviewed_at = stamp
        artifact.review_reason = reason.strip() if reason else None
    if action == ReviewAction.SUPERSEDE and superseded_by:
        _link_successor(uow, actor, artifact, superseded_by)


def _link_successor(uow: UnitOfWork, actor: Actor, artifact: Artifact, superseded_by: str) -> None:
    """Point `artifact` at its successor and the successor back at it (audited), when the
    successor is live and supersedes nothing else."""
    successor = require(uow.artifacts, superseded_by, "artifact", "supersededBy")
    if successor.status in (
        ArtifactStatus.ARCHIVED,
        ArtifactStatus.SUPERSEDED,
        ArtifactStatus.REJECTED,
    ):
        raise Conflict(f"the successor {successor.id!r} is {successor.status.value}")
    if successor.supersedes not in (None, artifact.id):
        raise Conflict(
            f"the successor {successor.id!r} already supersedes {successor.supersedes!r}"
        )
    artifact.superseded_by = successor.id
    if successor.supersedes != artifact.id:
        before = copy.deepcopy(successor)
        successor.supersedes = artifact.id
        summary = f"supersedes {artifact.id}"
        save_audited(
            uow, actor, uow.artifacts, EntityType.ARTIFACT, "update", before, successor, summary
        )


def check_policy(uow: UnitOfWork, actor: Actor, artifact: Artifact, action: ReviewAction) -> None:
    """Under the `independent` review policy nobody approves or rejects what they
    created (403)."""
    if action not in (ReviewAction.APPROVE, ReviewAction.REJECT):
        return
    if artifact.created_by != actor.id:
        return  # only a creator can be barred: no settings read
    if barred_as_creator(settings.current(uow).review_policy, actor.id, artifact.created_by):
        raise Forbidden(
            f"the review policy is independent: you cannot {action.value} an artifact you "
            "created; ask another reviewer"
        )


def _recorded(artifact: Artifact) -> list[Approval]:
    """The approvals an approved artifact holds (its reviewer's, when it was approved
    before approvals were recorded)."""
    if artifact.approvals or artifact.reviewed_by is None:
        return list(artifact.approvals)
    return [Approval(artifact.reviewed_by, artifact.reviewed_at or now_ts())]


def content_changed(before: Artifact, after: Artifact) -> list[str]:
    """The content fields of an approved artifact that a change alters."""
    if before.status != ArtifactStatus.APPROVED:
        return []
    return [camel(name) for name in CONTENT_FIELDS if getattr(before, name) != getattr(after, name)]


def reset_review(artifact: Artifact, fields: list[str]) -> None:
    """Approval is bound to content: back to needs-review, approvals cleared (the
    decisions stay in the audit trail)."""
    artifact.status = ArtifactStatus.NEEDS_REVIEW
    artifact.approvals = []
    artifact.self_reviewed = False
    artifact.review_reason = (
        f"approval withdrawn: the content changed ({', '.join(fields)}); review it again"
    )
