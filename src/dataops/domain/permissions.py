"""What each role may do (CONTRACT §3, §7): the one table the engine's route guards
(`engine/deps.py`) and the services' own checks read.

The roles are not a ladder: an `assistant` may register and submit work a `viewer` may
not, yet never decides about it, never touches tasks, bundles or templates, and never
administers anything. So a route or a service asks for a permission, and the table says
which roles hold it.
"""

from __future__ import annotations

from enum import StrEnum

from dataops.domain.enums import ArtifactStatus, ReviewPolicy, Role
from dataops.domain.errors import Forbidden
from dataops.domain.models import Artifact
from dataops.domain.status import ReviewAction


class Permission(StrEnum):
    READ = "read"
    """Every read a viewer makes; dismissing one's own notifications."""
    CONTRIBUTE = "contribute"
    """Upload and register files (`POST /api/files`, `/api/files/register`, two-step
    uploads); register artifacts as `draft` or `needs-review`; submit and attach them;
    PATCH an artifact's descriptive fields (a status move only to `needs-review`)."""
    REVIEW = "review"
    """Approve, reject, archive and supersede artifacts; register one as `approved`."""
    OPERATE = "operate"
    """Create and change templates, bundles and tasks (task completion included)."""
    ADMINISTER = "administer"
    """Users, API tokens, workspace settings, the export."""


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ASSISTANT: frozenset({Permission.READ, Permission.CONTRIBUTE}),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.CONTRIBUTE, Permission.REVIEW, Permission.OPERATE}
    ),
    Role.ADMIN: frozenset(Permission),
}

_REVIEW_NEEDS = {  # the permission a review move needs, and how a refusal names it
    ReviewAction.SUBMIT: (Permission.CONTRIBUTE, "submitting an artifact for review"),
    ReviewAction.APPROVE: (Permission.REVIEW, "approving an artifact"),
    ReviewAction.REJECT: (Permission.REVIEW, "rejecting an artifact"),
    ReviewAction.ARCHIVE: (Permission.REVIEW, "archiving an artifact"),
    ReviewAction.SUPERSEDE: (Permission.REVIEW, "superseding an artifact"),
}


def may(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def holders(permission: Permission) -> list[Role]:
    """The roles that hold `permission`, in the enum's order."""
    return [role for role in Role if permission in GRANTS[role]]


def require_permission(role: Role, permission: Permission, what: str = "this action") -> None:
    """Forbidden unless `role` holds `permission`; the detail names the roles that do."""
    if not may(role, permission):
        *others, last = (r.value for r in holders(permission))
        allowed = f"{', '.join(others)} or {last}" if others else last
        raise Forbidden(f"{what} needs the {allowed} role (you are {role.value})")


def check_review(role: Role, action: ReviewAction) -> None:
    """A review move: submitting is a contribution, every other move a decision."""
    permission, what = _REVIEW_NEEDS[action]
    require_permission(role, permission, what)


def check_status_field(role: Role, status: ArtifactStatus) -> None:
    """A PATCH that names `status`: without the review permission only `needs-review` (a
    submit) or `draft` (no move leads there: the state machine refuses it) may be sent;
    any other value is refused even when it is the status the artifact already has."""
    if status not in (ArtifactStatus.NEEDS_REVIEW, ArtifactStatus.DRAFT):
        require_permission(
            role, Permission.REVIEW, f"setting an artifact's status to {status.value}"
        )


def check_create_status(role: Role, status: ArtifactStatus) -> None:
    """Registering an artifact as `approved` is an approval by its creator."""
    if status == ArtifactStatus.APPROVED:
        require_permission(role, Permission.REVIEW, "registering an artifact as approved")


def barred_as_creator(policy: ReviewPolicy, actor_id: str, created_by: str | None) -> bool:
    """Under the `independent` review policy nobody approves or rejects what they created."""
    return policy == ReviewPolicy.INDEPENDENT and created_by == actor_id


def awaits_decision_by(role: Role, actor_id: str, artifact: Artifact, policy: ReviewPolicy) -> bool:
    """An artifact in `needs-review` that this person may approve or reject now: the role
    may review, the policy does not bar them as its creator, and they have not approved
    it already."""
    return (
        artifact.status == ArtifactStatus.NEEDS_REVIEW
        and may(role, Permission.REVIEW)
        and not barred_as_creator(policy, actor_id, artifact.created_by)
        and all(approval.user_id != actor_id for approval in artifact.approvals)
    )
