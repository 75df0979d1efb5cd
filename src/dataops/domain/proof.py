"""The proof rule: what a task needs before it may be done, and what satisfies it.

One function, `evaluate`, serves task completion, `GET /tasks/{id}/proof` and the
export validator. It reads evidence through `EvidenceSource`, which the store (live)
and the validator (exported records) each implement.

Artifact lookup rule: an artifact counts for a task whose proof requirement is
`artifact` when it is attached to the task, attached to the task's bundle, or
referenced by the task's or the bundle's `artifactRefs` — and the artifact record
exists, is `approved`, has the required `artifactType` if one is set, was approved by
someone other than its creator if the requirement asks `independentReview`, by at least
`approvals` distinct people, and is not past its `validUntil` (CONTRACT §7). A ref alone
never counts; its own `status` is ignored. The first artifact that qualifies, in that
order, satisfies the requirement; when none does, the reason says what the best
candidate lacks ("approved by 1 of 2 required reviewers").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dataops.domain.enums import ArtifactStatus, ArtifactType, ProofType
from dataops.domain.models import Artifact, Bundle, ProofRequirement, RequirementVerdict, Task
from dataops.domain.wording import field_label

CANDIDATES = 50
"""How many approved artifacts of the task (and of its bundle) are weighed, earliest first."""


class EvidenceSource(Protocol):
    """Read-only lookups the rule needs. Implementations must use indexes, not scans."""

    def first_file_id(self, task_id: str) -> str | None:
        """The earliest file record attached to the task, if any."""

    def approved_artifacts(
        self,
        *,
        task_id: str | None,
        bundle_id: str | None,
        artifact_type: ArtifactType | None,
        limit: int,
    ) -> list[Artifact]:
        """The earliest `limit` approved artifacts attached to the task (or the bundle)."""

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
    task: Task,
    bundle: Bundle | None,
    source: EvidenceSource,
    *,
    task_exists: bool = True,
    today: str | None = None,
) -> ProofVerdict:
    """Check every requirement of `task` (its prospective state) against the evidence.

    `task_exists` is False while a task is being created: it can have no files or
    attached artifacts of its own yet. `today` (YYYY-MM-DD) is the date evidence must
    still be valid on; None ignores `validUntil` (the validator's reading of history).
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
            verdicts.append(_artifact(task, bundle, requirement, source, task_exists, today))
    return ProofVerdict(verdicts)


def _link(task: Task, label: str, kind: str = "link") -> RequirementVerdict:
    if _blank(task.link):
        return RequirementVerdict(kind, label, False, f"the link '{label}' is not filled in")
    return RequirementVerdict(kind, label, True, None, {"link": task.link})


def _text(value: str | None, kind: str, label: str, field: str) -> RequirementVerdict:
    if _blank(value):
        return RequirementVerdict(kind, label, False, f"{field_label(field)} is empty")
    return RequirementVerdict(kind, label, True, None, {field: value})


def _file(task: Task, label: str, source: EvidenceSource, task_exists: bool) -> RequirementVerdict:
    file_id = source.first_file_id(task.id) if task_exists else None
    if file_id is None:
        return RequirementVerdict("file", label, False, "no file has been uploaded or registered")
    return RequirementVerdict("file", label, True, None, {"fileId": file_id})


def artifact_shortfall(
    artifact: Artifact, requirement: ProofRequirement | None, today: str | None
) -> str | None:
    """Why an artifact does not satisfy an artifact requirement, or None when it does."""
    if artifact.status != ArtifactStatus.APPROVED:
        return f"it is {artifact.status.value}, not approved"
    if requirement is not None and requirement.artifact_type not in (None, artifact.type):
        return f"it is a {artifact.type.value}, not a {requirement.artifact_type.value}"
    approvers = artifact.approvers()
    needed = requirement.approvals if requirement is not None else 1
    if len(approvers) < needed:
        return f"approved by {len(approvers)} of {needed} required reviewers"
    independent = requirement is not None and requirement.independent_review
    if independent and not [who for who in approvers if who != artifact.created_by]:
        return "approved only by its creator"
    if today is not None and artifact.valid_until is not None and artifact.valid_until < today:
        return f"expired on {artifact.valid_until}"
    return None


def _artifact(
    task: Task,
    bundle: Bundle | None,
    requirement: ProofRequirement,
    source: EvidenceSource,
    task_exists: bool,
    today: str | None,
) -> RequirementVerdict:
    artifact_type = requirement.artifact_type
    kind_text = f"approved {artifact_type.value} artifact" if artifact_type else "approved artifact"
    shown = requirement.label or kind_text[0].upper() + kind_text[1:]
    found, nearest = _find_qualifying(task, bundle, requirement, source, task_exists, today)
    if found is None:
        where = "the task or its bundle" if bundle is not None else "the task"
        if nearest is not None:
            artifact, why = nearest
            noun = kind_text.removeprefix("approved ")
            reason = f"the {noun} {artifact.title!r} does not count: {why}"
        else:
            reason = f"no {kind_text} is attached to {where}"
        return RequirementVerdict("artifact", shown, False, reason)
    by = {
        "artifactId": found.id,
        "title": found.title,
        "reviewedBy": found.reviewed_by,
        "version": found.version,
    }
    return RequirementVerdict("artifact", shown, True, None, by)


def _find_qualifying(
    task: Task,
    bundle: Bundle | None,
    requirement: ProofRequirement,
    source: EvidenceSource,
    task_exists: bool,
    today: str | None,
) -> tuple[Artifact | None, tuple[Artifact, str] | None]:
    """The first artifact that satisfies the requirement (task's, bundle's, then refs),
    else None and the first approved candidate with what it lacks."""
    artifact_type = requirement.artifact_type
    nearest: tuple[Artifact, str] | None = None

    def weigh(candidates: Sequence[Artifact]) -> Artifact | None:
        nonlocal nearest
        for artifact in candidates:
            why = artifact_shortfall(artifact, requirement, today)
            if why is None:
                return artifact
            if nearest is None and artifact.status == ArtifactStatus.APPROVED:
                nearest = (artifact, why)
        return None

    groups: list[Sequence[Artifact]] = []
    if task_exists:
        groups.append(
            source.approved_artifacts(
                task_id=task.id, bundle_id=None, artifact_type=artifact_type, limit=CANDIDATES
            )
        )
    ref_ids = [ref.artifact_id for ref in task.artifact_refs]
    if bundle is not None:
        groups.append(
            source.approved_artifacts(
                task_id=None, bundle_id=bundle.id, artifact_type=artifact_type, limit=CANDIDATES
            )
        )
        ref_ids += [ref.artifact_id for ref in bundle.artifact_refs]
    for group in groups:
        found = weigh(group)
        if found is not None:
            return found, None
    found = weigh(source.artifacts_by_id(list(dict.fromkeys(ref_ids))))
    return found, nearest


def withdrawal_reasons(task: Task, artifacts: Sequence[Artifact], today: str | None) -> list[str]:
    """Why the artifacts a done task's completion proof cites no longer satisfy it (empty:
    the proof holds). `artifacts` are the cited records that still exist."""
    if task.completion_proof is None:
        return []
    by_id = {a.id: a for a in artifacts}
    requirement = task.proof_requirement
    reasons = []
    for verdict in task.completion_proof:
        cited = (verdict.satisfied_by or {}).get("artifactId")
        if verdict.kind != "artifact" or not isinstance(cited, str):
            continue
        artifact = by_id.get(cited)
        if artifact is None:
            reasons.append(f"{verdict.label}: the artifact {cited} no longer exists")
            continue
        why = artifact_shortfall(artifact, requirement, today)
        if why is not None:
            reasons.append(f"{verdict.label}: {artifact.title!r} {_withdrawn_phrase(why)}")
    return reasons


def _withdrawn_phrase(why: str) -> str:
    if why.startswith("it is "):
        return "was " + why.removeprefix("it is ").removesuffix(", not approved")
    return why


def cited_artifact_ids(task: Task) -> list[str]:
    """The artifacts a task's completion proof cites."""
    ids = []
    for verdict in task.completion_proof or []:
        cited = (verdict.satisfied_by or {}).get("artifactId")
        if verdict.kind == "artifact" and isinstance(cited, str):
            ids.append(cited)
    return ids


def describe_missing(verdict: ProofVerdict) -> str:
    """The 409 detail: every missing requirement, by label and reason."""
    parts = [
        r.reason if r.reason and r.reason.startswith(r.label) else f"{r.label} ({r.reason})"
        for r in verdict.missing
    ]
    return "cannot mark the task done; missing proof: " + "; ".join(parts)
