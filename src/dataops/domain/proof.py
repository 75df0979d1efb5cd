"""The proof rule: what a task needs before it may be done, and what satisfies it.

One function, `evaluate`, serves task completion, `GET /tasks/{id}/proof` and the
export validator. It reads evidence through `EvidenceSource`, which the store (live)
and the validator (exported records) each implement.

Artifact lookup rule: an artifact counts for a task whose proof requirement is
`artifact` when it is attached to the task, attached to the task's bundle, or
referenced by the task's or the bundle's `artifactRefs` — and the artifact record
exists, is `approved`, and has the required `artifactType` if one is set. A ref alone
never counts; its own `status` is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dataops.domain.enums import ArtifactStatus, ArtifactType, ProofType
from dataops.domain.models import Artifact, Bundle, RequirementVerdict, Task


class EvidenceSource(Protocol):
    """Read-only lookups the rule needs. Implementations must use indexes, not scans."""

    def first_file_id(self, task_id: str) -> str | None:
        """The earliest file record attached to the task, if any."""

    def first_approved_artifact(
        self, *, task_id: str | None, bundle_id: str | None, artifact_type: ArtifactType | None
    ) -> Artifact | None:
        """The earliest approved artifact attached to the task (or the bundle)."""

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        """The artifact records that exist among `ids`, in the order of `ids`."""


@dataclass(frozen=True)
class ProofVerdict:
    requirements: list[RequirementVerdict]

    @property
    def can_complete(self) -> bool:
        return all(r.satisfied for r in self.requirements)

    @property
    def missing(self) -> list[RequirementVerdict]:
        return [r for r in self.requirements if not r.satisfied]


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def evaluate(
    task: Task, bundle: Bundle | None, source: EvidenceSource, *, task_exists: bool = True
) -> ProofVerdict:
    """Check every requirement of `task` (its prospective state) against the evidence.

    `task_exists` is False while a task is being created: it can have no files or
    attached artifacts of its own yet.
    """
    verdicts: list[RequirementVerdict] = []
    if task.required_link_name:
        verdicts.append(_link(task, task.required_link_name))
    if task.requires_file:
        verdicts.append(_file(task, "Required file", source, task_exists))
    requirement = task.proof_requirement
    if requirement is not None and requirement.required:
        label = requirement.label
        if requirement.type == ProofType.URL:
            verdicts.append(_link(task, label or "Proof URL", kind="url"))
        elif requirement.type == ProofType.FILE:
            verdicts.append(_file(task, label or "Proof file", source, task_exists))
        elif requirement.type == ProofType.COMMENT:
            verdicts.append(_text(task.comment, "comment", label or "Comment", "comment"))
        elif requirement.type == ProofType.EXTERNAL_STATUS:
            verdicts.append(
                _text(
                    task.external_status,
                    "external-status",
                    label or "External status",
                    "externalStatus",
                )
            )
        else:
            verdicts.append(
                _artifact(task, bundle, label, requirement.artifact_type, source, task_exists)
            )
    return ProofVerdict(verdicts)


def _link(task: Task, label: str, kind: str = "link") -> RequirementVerdict:
    if _blank(task.link):
        return RequirementVerdict(kind, label, False, f"the link '{label}' is not filled in")
    return RequirementVerdict(kind, label, True, None, {"link": task.link})


def _text(value: str | None, kind: str, label: str, field: str) -> RequirementVerdict:
    if _blank(value):
        return RequirementVerdict(kind, label, False, f"{field} is empty")
    return RequirementVerdict(kind, label, True, None, {field: value})


def _file(task: Task, label: str, source: EvidenceSource, task_exists: bool) -> RequirementVerdict:
    file_id = source.first_file_id(task.id) if task_exists else None
    if file_id is None:
        return RequirementVerdict("file", label, False, "no file has been uploaded or registered")
    return RequirementVerdict("file", label, True, None, {"fileId": file_id})


def _artifact(
    task: Task,
    bundle: Bundle | None,
    label: str | None,
    artifact_type: ArtifactType | None,
    source: EvidenceSource,
    task_exists: bool,
) -> RequirementVerdict:
    kind_text = f"approved {artifact_type.value} artifact" if artifact_type else "approved artifact"
    shown = label or kind_text[0].upper() + kind_text[1:]
    found = _find_approved(task, bundle, artifact_type, source, task_exists)
    if found is None:
        where = "the task or its bundle" if bundle is not None else "the task"
        reason = f"no {kind_text} is attached to {where}"
        return RequirementVerdict("artifact", shown, False, reason)
    by = {
        "artifactId": found.id,
        "title": found.title,
        "reviewedBy": found.reviewed_by,
        "version": found.version,
    }
    return RequirementVerdict("artifact", shown, True, None, by)


def _find_approved(
    task: Task,
    bundle: Bundle | None,
    artifact_type: ArtifactType | None,
    source: EvidenceSource,
    task_exists: bool,
) -> Artifact | None:
    def qualifies(artifact: Artifact) -> bool:
        return artifact.status == ArtifactStatus.APPROVED and (
            artifact_type is None or artifact.type == artifact_type
        )

    if task_exists:
        found = source.first_approved_artifact(
            task_id=task.id, bundle_id=None, artifact_type=artifact_type
        )
        if found is not None:
            return found
    ref_ids = [ref.artifact_id for ref in task.artifact_refs]
    if bundle is not None:
        found = source.first_approved_artifact(
            task_id=None, bundle_id=bundle.id, artifact_type=artifact_type
        )
        if found is not None:
            return found
        ref_ids += [ref.artifact_id for ref in bundle.artifact_refs]
    for artifact in source.artifacts_by_id(list(dict.fromkeys(ref_ids))):
        if qualifies(artifact):
            return artifact
    return None


def describe_missing(verdict: ProofVerdict) -> str:
    """The 409 detail: every missing requirement, by label and reason."""
    parts = [f"{r.label} ({r.reason})" for r in verdict.missing]
    return "cannot mark the task done; missing proof: " + "; ".join(parts)
