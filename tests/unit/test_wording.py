"""Field errors read as sentences with the field named in words (issue 19 item 5); the
machine names stay in `errors[].field`."""

from __future__ import annotations

import pytest

from dataops.domain.errors import FieldError, ValidationFailed
from dataops.domain.wording import field_detail, field_label, field_sentence


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("externalStatus", "External status"),
        ("dueDate", "Due date"),
        ("storageUri", "Storage URI"),
        ("assigneeId", "Assignee ID"),
        ("taskDefinitions[0].assigneeId", "Assignee ID (task definition 1)"),
        ("proofRequirement.approvals", "Approvals (proof requirement)"),
        ("tags[2]", "Tag 3"),
        ("sizeBytes", "Size in bytes"),
        ("rrule", "RRULE"),
    ],
)
def test_a_field_path_is_named_in_words(path: str, label: str) -> None:
    assert field_label(path) == label


def test_a_predicate_continues_the_name_and_a_sentence_stands_alone() -> None:
    assert field_sentence("externalStatus", "is empty") == "External status is empty"
    assert (
        field_sentence("checksum", "announced a, received b") == "Checksum: announced a, received b"
    )
    assert field_sentence("reason", "a reason is required to reject an artifact") == (
        "A reason is required to reject an artifact"
    )


def test_the_detail_says_each_thing_once_and_keeps_machine_names_out() -> None:
    same = "a task or a bundle to attach to is required"
    assert field_detail([("taskId", same), ("bundleId", same)]) == (
        "A task or a bundle to attach to is required"
    )
    error = ValidationFailed(
        [FieldError("externalStatus", "is empty"), FieldError("followUpAt", "is required")]
    )
    assert error.detail == "External status is empty; Follow up at is required"
    assert "externalStatus" not in error.detail
    assert [e.field for e in error.errors] == ["externalStatus", "followUpAt"]
