"""camelCase codec (dataops.domain.codec): every entity of dataops.domain.models round-trips,
and the wire names are the contract's (CONTRACT §5, §5b)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import types
import typing
from typing import Any

import pytest

from dataops.domain import accounts, messages, models
from dataops.domain.codec import camel, fields_from_dict, from_dict, snake, to_dict
from dataops.domain.enums import ArtifactStatus, ArtifactType, DataClass, ProofType, StorageProvider

ENTITIES: list[type[Any]] = sorted(
    (
        cls
        for module in (models, accounts, messages)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
    ),
    key=lambda cls: cls.__name__,
)

JSON_VALUE: Any = {"nested": [1, "two", {"three": 3.5, "four": None, "five": True}]}


def sample(hint: Any, name: str) -> Any:
    """A non-default value of type `hint` (so a field that is dropped is noticed)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return sample(options[0], name)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [sample(item, f"{name}0"), sample(item, f"{name}1")]
    if origin is dict:
        return {"key": JSON_VALUE, "other": [1, 2]}
    if hint is Any:
        return JSON_VALUE
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return build(hint, name)
        if issubclass(hint, enum.Enum):
            members = list(hint)
            return members[len(name) % len(members)]
        if hint is bool:
            return True
        if hint is int:
            return 7 + len(name)
        if hint is str:
            return f"value-of-{name}"
    raise AssertionError(f"no sample for {hint!r}")


def build(cls: type[Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: sample(hints[f.name], prefix + f.name) for f in dataclasses.fields(cls)})


def test_every_entity_is_covered() -> None:
    names = {cls.__name__ for cls in ENTITIES}
    expected = {
        "Artifact",
        "ArtifactRef",
        "AuditEvent",
        "Bundle",
        "FileRecord",
        "Notification",
        "Task",
        "Template",
        "User",
        "TaskDefinition",
        "ProofRequirement",
    }
    assert expected <= names


@pytest.mark.parametrize("cls", ENTITIES, ids=lambda cls: cls.__name__)
def test_round_trip_with_every_field_set(cls: type[Any]) -> None:
    entity = build(cls)
    wire = to_dict(entity)
    assert json.loads(json.dumps(wire)) == wire  # JSON-ready: no enums, no objects
    assert set(wire) == {camel(f.name) for f in dataclasses.fields(cls)}
    assert from_dict(cls, wire) == entity
    assert from_dict(cls, json.loads(json.dumps(wire))) == entity


@pytest.mark.parametrize("cls", ENTITIES, ids=lambda cls: cls.__name__)
def test_round_trip_with_defaults_and_nulls(cls: type[Any]) -> None:
    hints = typing.get_type_hints(cls)
    required = {
        f.name: sample(hints[f.name], f.name)
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    entity = cls(**required)
    wire = to_dict(entity)
    assert from_dict(cls, json.loads(json.dumps(wire))) == entity


@pytest.mark.parametrize("cls", ENTITIES, ids=lambda cls: cls.__name__)
def test_field_names_survive_camel_and_snake(cls: type[Any]) -> None:
    for f in dataclasses.fields(cls):
        assert snake(camel(f.name)) == f.name
        assert "_" not in camel(f.name)


def test_enums_become_values_and_come_back_as_enums() -> None:
    artifact = build(models.Artifact)
    artifact.status = ArtifactStatus.NEEDS_REVIEW
    artifact.storage_provider = StorageProvider.GOOGLE_DRIVE
    wire = to_dict(artifact)
    assert wire["status"] == "needs-review"
    assert wire["storageProvider"] == "google-drive"
    back = from_dict(models.Artifact, wire)
    assert back.status is ArtifactStatus.NEEDS_REVIEW
    assert isinstance(back.storage_provider, StorageProvider)


def test_nested_dataclasses_round_trip() -> None:
    task = build(models.Task)
    task.proof_requirement = models.ProofRequirement(
        type=ProofType.ARTIFACT, artifact_type=ArtifactType.TRANSCRIPT, required=False
    )
    task.artifact_refs = [models.ArtifactRef("art_1", ArtifactType.REPORT, "T", None, None)]
    wire = to_dict(task)
    assert wire["proofRequirement"] == {
        "type": "artifact",
        "label": None,
        "required": False,
        "artifactType": "transcript",
        "independentReview": False,
        "approvals": 1,
    }
    assert wire["artifactRefs"][0]["artifactId"] == "art_1"
    back = from_dict(models.Task, wire)
    assert isinstance(back.proof_requirement, models.ProofRequirement)
    assert isinstance(back.artifact_refs[0], models.ArtifactRef)
    assert isinstance(back.completion_proof[0], models.RequirementVerdict)
    assert back == task


def test_unknown_keys_are_ignored_and_missing_keys_default() -> None:
    wire = {"artifactId": "art_1", "unknownField": 1, "storage_uri": "snake is not camel"}
    assert from_dict(models.ArtifactRef, wire) == models.ArtifactRef(artifact_id="art_1")


def test_unknown_enum_value_is_refused() -> None:
    wire = to_dict(build(models.Artifact))
    wire["status"] = "Approved"
    with pytest.raises(ValueError, match="Approved"):
        from_dict(models.Artifact, wire)


def test_fields_from_dict_is_a_partial_update() -> None:
    changes = fields_from_dict(
        models.Artifact,
        {"title": "New", "dataClass": "sensitive", "bogus": 1, "supersededBy": None},
    )
    assert changes == {"title": "New", "data_class": "sensitive", "superseded_by": None}
    assert changes["data_class"] is DataClass.SENSITIVE


# Wire names written from the contract, not from the code.
ARTIFACT_FIELDS = {
    "id",
    "type",
    "title",
    "description",
    "status",
    "storageProvider",
    "storageUri",
    "filename",
    "contentType",
    "checksum",
    "sizeBytes",
    "dataClass",
    "taskId",
    "bundleId",
    "assistantJobId",
    "fileId",
    "sourceType",
    "supersedes",
    "supersededBy",
    "reviewReason",
    "createdBy",
    "reviewedBy",
    "createdAt",
    "updatedAt",
    "reviewedAt",
    "tags",
    "metadata",
    "version",
    # CONTRACT §7
    "approvals",
    "selfReviewed",
    "validUntil",
}
TASK_FIELDS = {
    "id",
    "description",
    "date",
    "status",
    "comment",
    "waitingFor",
    "followUpAt",
    "link",
    "requiredLinkName",
    "requiresFile",
    "proofRequirement",
    "externalStatus",
    "bundleId",
    "templateId",
    "templateTaskRef",
    "assigneeId",
    "stageOnComplete",
    "instructionsUrl",
    "instructionDocId",
    "instructionStepId",
    "phase",
    "systems",
    "validation",
    "artifactRefs",
    "assistantJobRefs",
    "auditEventRefs",
    "tags",
    "completedBy",
    "completedAt",
    "completionProof",
    "createdAt",
    "updatedAt",
    "version",
    # CONTRACT §7 (the stored proofExpiresOn is what the expiry sweep and reads use)
    "proofWithdrawn",
    "proofWithdrawnReasons",
    "proofExpiresOn",
    # issue 19: the stored verdict of a todo task that the Blocked lane's index reads
    "proofBlocked",
}
BUNDLE_FIELDS = {
    "id",
    "title",
    "description",
    "anchorDate",
    "templateId",
    "status",
    "stage",
    "references",
    "bundleLinks",
    "artifactRefs",
    "tags",
    "createdAt",
    "updatedAt",
    "version",
    "recurringConfigId",  # CONTRACT §8
    "occurrenceDate",
}
FILE_FIELDS = {
    "id",
    "taskId",
    "bundleId",
    "filename",
    "category",
    "storageProvider",
    "storageUri",
    "contentType",
    "checksum",
    "sizeBytes",
    "tags",
    "createdBy",
    "createdAt",
    "storagePath",
}
AUDIT_FIELDS = {
    "id",
    "actorId",
    "entityType",
    "entityId",
    "action",
    "before",
    "after",
    "summary",
    "createdAt",
}
NOTIFICATION_FIELDS = {
    "id",
    "type",
    "message",
    "userId",
    "taskId",
    "bundleId",
    "templateId",
    "dueAt",
    "dismissed",
    "createdAt",
}
USER_FIELDS = {"id", "email", "name", "role", "createdAt"}
REF_FIELDS = {"artifactId", "type", "title", "storageUri", "status"}


@pytest.mark.parametrize(
    ("cls", "contract", "exact"),
    [
        (models.Artifact, ARTIFACT_FIELDS, True),
        (models.Task, TASK_FIELDS, True),
        (models.Bundle, BUNDLE_FIELDS, True),
        (messages.AuditEvent, AUDIT_FIELDS, True),
        (models.ArtifactRef, REF_FIELDS, True),
        (models.FileRecord, FILE_FIELDS, False),
        (messages.Notification, NOTIFICATION_FIELDS, False),
        (accounts.User, USER_FIELDS, False),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_wire_names_are_the_contracts(cls: type[Any], contract: set[str], exact: bool) -> None:
    wire = set(to_dict(build(cls)))
    if exact:
        assert wire == contract
    else:
        assert contract <= wire


def test_user_record_never_carries_hashes() -> None:
    wire = to_dict(build(accounts.User))
    assert not [key for key in wire if "hash" in key.lower() or "password" in key.lower()]
