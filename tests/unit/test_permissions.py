"""What each role may do (CONTRACT §3, §7): the one table in `domain/permissions.py`."""

from __future__ import annotations

import pytest

from dataops.domain.enums import ArtifactStatus, ReviewPolicy, Role
from dataops.domain.errors import Forbidden
from dataops.domain.models import Approval
from dataops.domain.permissions import (
    GRANTS,
    Permission,
    awaits_decision_by,
    check_create_status,
    check_review,
    check_status_field,
    may,
)
from dataops.domain.status import ReviewAction
from tests.contract import records as r

P = Permission
EXPECTED = {
    Role.VIEWER: {P.READ},
    Role.ASSISTANT: {P.READ, P.CONTRIBUTE},
    Role.OPERATOR: {P.READ, P.CONTRIBUTE, P.REVIEW, P.OPERATE},
    Role.ADMIN: set(P),
}


def test_every_role_has_exactly_its_grants() -> None:
    assert set(GRANTS) == set(Role)
    assert {role: set(grants) for role, grants in GRANTS.items()} == EXPECTED


@pytest.mark.parametrize("action", list(ReviewAction))
def test_an_assistant_only_submits(action: ReviewAction) -> None:
    if action == ReviewAction.SUBMIT:
        check_review(Role.ASSISTANT, action)
    else:
        with pytest.raises(Forbidden, match="needs the operator or admin role"):
            check_review(Role.ASSISTANT, action)
    check_review(Role.OPERATOR, action)
    with pytest.raises(Forbidden, match="you are viewer"):
        check_review(Role.VIEWER, action)


@pytest.mark.parametrize("status", list(ArtifactStatus))
def test_an_assistant_patches_status_only_to_needs_review(status: ArtifactStatus) -> None:
    if status in (ArtifactStatus.NEEDS_REVIEW, ArtifactStatus.DRAFT):
        check_status_field(Role.ASSISTANT, status)
    else:
        with pytest.raises(Forbidden, match=f"status to {status.value}"):
            check_status_field(Role.ASSISTANT, status)
    check_status_field(Role.OPERATOR, status)


@pytest.mark.parametrize("status", [ArtifactStatus.DRAFT, ArtifactStatus.NEEDS_REVIEW])
def test_an_assistant_creates_drafts_and_needs_review(status: ArtifactStatus) -> None:
    check_create_status(Role.ASSISTANT, status)


def test_creating_approved_is_an_approval() -> None:
    with pytest.raises(Forbidden, match="registering an artifact as approved"):
        check_create_status(Role.ASSISTANT, ArtifactStatus.APPROVED)
    check_create_status(Role.OPERATOR, ArtifactStatus.APPROVED)
    assert not may(Role.ASSISTANT, P.OPERATE)
    assert not may(Role.ASSISTANT, P.ADMINISTER)


@pytest.mark.parametrize(
    ("role", "actor", "status", "policy", "approved_by", "waits"),
    [
        (Role.OPERATOR, "usr_b", ArtifactStatus.NEEDS_REVIEW, ReviewPolicy.INDEPENDENT, [], True),
        (Role.ADMIN, "usr_b", ArtifactStatus.NEEDS_REVIEW, ReviewPolicy.INDEPENDENT, [], True),
        # the creator: only when the policy allows self-review
        (Role.OPERATOR, "usr_a", ArtifactStatus.NEEDS_REVIEW, ReviewPolicy.INDEPENDENT, [], False),
        (Role.OPERATOR, "usr_a", ArtifactStatus.NEEDS_REVIEW, ReviewPolicy.SELF_ALLOWED, [], True),
        # roles that never decide
        (Role.VIEWER, "usr_b", ArtifactStatus.NEEDS_REVIEW, ReviewPolicy.SELF_ALLOWED, [], False),
        (
            Role.ASSISTANT,
            "usr_b",
            ArtifactStatus.NEEDS_REVIEW,
            ReviewPolicy.SELF_ALLOWED,
            [],
            False,
        ),
        # not waiting for review, or already approved by this person
        (Role.OPERATOR, "usr_b", ArtifactStatus.DRAFT, ReviewPolicy.SELF_ALLOWED, [], False),
        (Role.OPERATOR, "usr_b", ArtifactStatus.APPROVED, ReviewPolicy.SELF_ALLOWED, [], False),
        (
            Role.OPERATOR,
            "usr_b",
            ArtifactStatus.NEEDS_REVIEW,
            ReviewPolicy.SELF_ALLOWED,
            ["usr_b"],
            False,
        ),
        (
            Role.OPERATOR,
            "usr_b",
            ArtifactStatus.NEEDS_REVIEW,
            ReviewPolicy.SELF_ALLOWED,
            ["usr_c"],
            True,
        ),
    ],
)
def test_an_artifact_awaits_a_decision_by_who_may_make_it(
    role: Role,
    actor: str,
    status: ArtifactStatus,
    policy: ReviewPolicy,
    approved_by: list[str],
    waits: bool,
) -> None:
    """The reviews list of "my work": created by usr_a."""
    artifact = r.artifact("art_1", status=status, created_by="usr_a")
    artifact.approvals = [Approval(user, r.STAMP) for user in approved_by]
    assert awaits_decision_by(role, actor, artifact, policy) is waits
