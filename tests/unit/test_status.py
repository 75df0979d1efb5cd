"""The artifact review state machine against the table of CONTRACT §5."""

from __future__ import annotations

import itertools

import pytest

from dataops.domain.enums import ArtifactStatus as S
from dataops.domain.errors import Conflict, IllegalTransition
from dataops.domain.status import (
    CREATE_STATUSES,
    ReviewAction,
    action_for_status,
    check_move,
    target_of,
)

A = ReviewAction

# Written from CONTRACT §5 "Status moves", not from the code:
#   submit    draft/rejected                  -> needs-review
#   approve   draft/needs-review              -> approved
#   reject    draft/needs-review/approved     -> rejected (reason required)
#   archive   any but superseded              -> archived
#   supersede approved                        -> superseded
# Any other move is 409.
CONTRACT_MOVES: dict[tuple[S, A], S] = {
    (S.DRAFT, A.SUBMIT): S.NEEDS_REVIEW,
    (S.REJECTED, A.SUBMIT): S.NEEDS_REVIEW,
    (S.DRAFT, A.APPROVE): S.APPROVED,
    (S.NEEDS_REVIEW, A.APPROVE): S.APPROVED,
    (S.DRAFT, A.REJECT): S.REJECTED,
    (S.NEEDS_REVIEW, A.REJECT): S.REJECTED,
    (S.APPROVED, A.REJECT): S.REJECTED,
    (S.DRAFT, A.ARCHIVE): S.ARCHIVED,
    (S.NEEDS_REVIEW, A.ARCHIVE): S.ARCHIVED,
    (S.APPROVED, A.ARCHIVE): S.ARCHIVED,
    (S.REJECTED, A.ARCHIVE): S.ARCHIVED,
    (S.ARCHIVED, A.ARCHIVE): S.ARCHIVED,
    (S.APPROVED, A.SUPERSEDE): S.SUPERSEDED,
}


def _observed_matrix() -> dict[tuple[S, A], S | None]:
    observed: dict[tuple[S, A], S | None] = {}
    for status, action in itertools.product(S, A):
        try:
            observed[(status, action)] = check_move(status, action)
        except IllegalTransition:
            observed[(status, action)] = None
    return observed


def test_the_whole_matrix_matches_the_contract() -> None:
    expected = {pair: CONTRACT_MOVES.get(pair) for pair in itertools.product(S, A)}
    assert len(expected) == len(S) * len(A) == 30
    assert _observed_matrix() == expected


@pytest.mark.parametrize(
    ("status", "action"),
    sorted(itertools.product(S, A), key=lambda pair: (pair[0].value, pair[1].value)),
    ids=lambda value: value.value,
)
def test_each_pair(status: S, action: A) -> None:
    expected = CONTRACT_MOVES.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            check_move(status, action)
        assert isinstance(info.value, Conflict)  # mapped to HTTP 409
        assert status.value in str(info.value)
        assert action.value in str(info.value)
    else:
        assert check_move(status, action) == expected


def test_illegal_move_names_the_allowed_statuses() -> None:
    with pytest.raises(IllegalTransition, match="draft, rejected"):
        check_move(S.APPROVED, A.SUBMIT)


@pytest.mark.parametrize(
    ("action", "target"),
    [
        (A.SUBMIT, S.NEEDS_REVIEW),
        (A.APPROVE, S.APPROVED),
        (A.REJECT, S.REJECTED),
        (A.ARCHIVE, S.ARCHIVED),
        (A.SUPERSEDE, S.SUPERSEDED),
    ],
)
def test_target_and_patch_action_agree(action: A, target: S) -> None:
    assert target_of(action) == target
    assert action_for_status(target) == action


def test_patch_to_draft_is_never_a_move() -> None:
    with pytest.raises(IllegalTransition):
        action_for_status(S.DRAFT)


def test_create_statuses() -> None:
    assert frozenset({S.DRAFT, S.NEEDS_REVIEW, S.APPROVED}) == CREATE_STATUSES


def test_superseded_is_terminal() -> None:
    assert all(_observed_matrix()[(S.SUPERSEDED, action)] is None for action in A)


def test_every_status_is_reachable_from_draft() -> None:
    observed = _observed_matrix()
    reached = {S.DRAFT}
    frontier = [S.DRAFT]
    while frontier:
        status = frontier.pop()
        for action in A:
            target = observed[(status, action)]
            if target is not None and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)
