"""The artifact review state machine (CONTRACT §5)."""

from __future__ import annotations

from enum import StrEnum

from dataops.domain.enums import ArtifactStatus as S
from dataops.domain.errors import IllegalTransition


class ReviewAction(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    ARCHIVE = "archive"
    SUPERSEDE = "supersede"


CREATE_STATUSES = frozenset({S.DRAFT, S.NEEDS_REVIEW, S.APPROVED})

_MOVES: dict[ReviewAction, tuple[frozenset[S], S]] = {
    ReviewAction.SUBMIT: (frozenset({S.DRAFT, S.REJECTED}), S.NEEDS_REVIEW),
    ReviewAction.APPROVE: (frozenset({S.DRAFT, S.NEEDS_REVIEW}), S.APPROVED),
    ReviewAction.REJECT: (frozenset({S.DRAFT, S.NEEDS_REVIEW, S.APPROVED}), S.REJECTED),
    ReviewAction.ARCHIVE: (frozenset(set(S) - {S.SUPERSEDED}), S.ARCHIVED),
    ReviewAction.SUPERSEDE: (frozenset({S.APPROVED}), S.SUPERSEDED),
}

_ACTION_FOR_TARGET = {target: action for action, (_, target) in _MOVES.items()}

REVIEWED = frozenset({S.APPROVED, S.REJECTED})
"""Statuses that record who reviewed and when."""


def target_of(action: ReviewAction) -> S:
    return _MOVES[action][1]


def action_for_status(target: S) -> ReviewAction:
    """The review action a PATCH of `status` to `target` stands for (draft has none)."""
    action = _ACTION_FOR_TARGET.get(target)
    if action is None:
        raise IllegalTransition(f"no move leads to {target.value!r}")
    return action


def check_move(current: S, action: ReviewAction) -> S:
    """The status after `action`, or IllegalTransition naming what is allowed."""
    sources, target = _MOVES[action]
    if current not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise IllegalTransition(
            f"cannot {action.value} an artifact that is {current.value!r} (allowed from: {allowed})"
        )
    return target
