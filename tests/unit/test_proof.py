"""The proof rule (dataops.domain.proof) with an in-memory EvidenceSource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from dataops.domain.enums import ArtifactStatus, ArtifactType, ProofType, StorageProvider
from dataops.domain.models import Artifact, ArtifactRef, Bundle, ProofRequirement, Task
from dataops.domain.proof import EvidenceSource, describe_missing, evaluate

STAMP = "2026-01-01T00:00:00.000Z"


@dataclass
class FakeEvidence:
    """In-memory evidence; records every call so tests can see what the rule asked."""

    files: dict[str, list[str]] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def first_file_id(self, task_id: str) -> str | None:
        self.calls.append(f"file:{task_id}")
        ids = self.files.get(task_id, [])
        return ids[0] if ids else None

    def approved_artifacts(
        self,
        *,
        task_id: str | None,
        bundle_id: str | None,
        artifact_type: ArtifactType | None,
        limit: int,
    ) -> list[Artifact]:
        self.calls.append(f"attached:{task_id}:{bundle_id}")
        found = []
        for artifact in self.artifacts:
            if task_id is not None and artifact.task_id != task_id:
                continue
            if bundle_id is not None and artifact.bundle_id != bundle_id:
                continue
            if artifact.status != ArtifactStatus.APPROVED:
                continue
            if artifact_type is not None and artifact.type != artifact_type:
                continue
            found.append(artifact)
        return found[:limit]

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        self.calls.append("by-id:" + ",".join(ids))
        by_id = {a.id: a for a in self.artifacts}
        return [by_id[i] for i in ids if i in by_id]


def _source(evidence: FakeEvidence) -> EvidenceSource:
    return evidence


def make_task(**changes: object) -> Task:
    task = Task(
        id="tsk_1", description="Publish", date="2026-03-02", created_at=STAMP, updated_at=STAMP
    )
    for name, value in changes.items():
        setattr(task, name, value)
    return task


def make_bundle(**changes: object) -> Bundle:
    bundle = Bundle(id="bdl_1", title="Episode 1", created_at=STAMP, updated_at=STAMP)
    for name, value in changes.items():
        setattr(bundle, name, value)
    return bundle


def make_artifact(
    artifact_id: str,
    status: ArtifactStatus = ArtifactStatus.APPROVED,
    artifact_type: ArtifactType = ArtifactType.PODCAST_DOC,
    **changes: object,
) -> Artifact:
    artifact = Artifact(
        id=artifact_id,
        type=artifact_type,
        title=f"title of {artifact_id}",
        storage_uri=f"https://example.com/{artifact_id}.pdf",
        storage_provider=StorageProvider.EXTERNAL_URL,
        created_at=STAMP,
        updated_at=STAMP,
        status=status,
        reviewed_by="usr_reviewer",
        version=3,
    )
    for name, value in changes.items():
        setattr(artifact, name, value)
    return artifact


def artifact_req(
    artifact_type: ArtifactType | None = None, label: str | None = None
) -> ProofRequirement:
    return ProofRequirement(type=ProofType.ARTIFACT, label=label, artifact_type=artifact_type)


def ref(artifact_id: str, status: ArtifactStatus = ArtifactStatus.APPROVED) -> ArtifactRef:
    return ArtifactRef(artifact_id=artifact_id, status=status, title="snapshot")


# --- no requirements ------------------------------------------------------------------


def test_no_requirements_can_complete() -> None:
    verdict = evaluate(make_task(), None, _source(FakeEvidence()))
    assert verdict.requirements == []
    assert verdict.can_complete
    assert verdict.missing == []


# --- link, file, comment, external status ---------------------------------------------


@pytest.mark.parametrize("link", [None, "", "   "])
def test_required_link_name_needs_a_link(link: str | None) -> None:
    verdict = evaluate(
        make_task(required_link_name="Show notes", link=link), None, _source(FakeEvidence())
    )
    assert not verdict.can_complete
    (req,) = verdict.requirements
    assert (req.kind, req.label, req.satisfied) == ("link", "Show notes", False)
    assert req.reason
    assert req.satisfied_by is None


def test_required_link_name_satisfied_by_link() -> None:
    task = make_task(required_link_name="Show notes", link="https://example.com/notes")
    verdict = evaluate(task, None, _source(FakeEvidence()))
    assert verdict.can_complete
    (req,) = verdict.requirements
    assert req.satisfied_by == {"link": "https://example.com/notes"}


def test_requires_file_missing_and_present() -> None:
    task = make_task(requires_file=True)
    assert not evaluate(task, None, _source(FakeEvidence())).can_complete
    evidence = FakeEvidence(files={"tsk_1": ["fil_a", "fil_b"]})
    verdict = evaluate(task, None, _source(evidence))
    assert verdict.can_complete
    (req,) = verdict.requirements
    assert (req.kind, req.label) == ("file", "Required file")
    assert req.satisfied_by == {"fileId": "fil_a"}


def test_requires_file_of_another_task_does_not_count() -> None:
    evidence = FakeEvidence(files={"tsk_other": ["fil_a"]})
    assert not evaluate(make_task(requires_file=True), None, _source(evidence)).can_complete


def test_requires_file_while_creating_ignores_evidence() -> None:
    evidence = FakeEvidence(files={"tsk_1": ["fil_a"]})
    verdict = evaluate(make_task(requires_file=True), None, _source(evidence), task_exists=False)
    assert not verdict.can_complete
    assert not any(call.startswith("file:") for call in evidence.calls)


@pytest.mark.parametrize(
    ("proof_type", "kind", "default_label", "field_name", "value"),
    [
        (ProofType.URL, "url", "Proof URL", "link", "https://example.com/proof"),
        (ProofType.COMMENT, "comment", "Comment", "comment", "Sent to the editor"),
        (
            ProofType.EXTERNAL_STATUS,
            "external-status",
            "External status",
            "external_status",
            "published",
        ),
    ],
)
def test_text_proof_kinds(
    proof_type: ProofType, kind: str, default_label: str, field_name: str, value: str
) -> None:
    requirement = ProofRequirement(type=proof_type)
    for blank in (None, "", "  \t"):
        verdict = evaluate(
            make_task(proof_requirement=requirement, **{field_name: blank}),
            None,
            _source(FakeEvidence()),
        )
        (req,) = verdict.requirements
        assert (req.kind, req.label, req.satisfied) == (kind, default_label, False)
        assert not verdict.can_complete
    verdict = evaluate(
        make_task(proof_requirement=requirement, **{field_name: value}),
        None,
        _source(FakeEvidence()),
    )
    (req,) = verdict.requirements
    assert req.satisfied
    assert verdict.can_complete
    assert value in (req.satisfied_by or {}).values()


def test_text_proof_ignores_other_fields() -> None:
    """A comment does not satisfy a URL requirement, nor a link a comment requirement."""
    url_task = make_task(proof_requirement=ProofRequirement(type=ProofType.URL), comment="done")
    assert not evaluate(url_task, None, _source(FakeEvidence())).can_complete
    comment_task = make_task(
        proof_requirement=ProofRequirement(type=ProofType.COMMENT), link="https://example.com/x"
    )
    assert not evaluate(comment_task, None, _source(FakeEvidence())).can_complete


def test_proof_file_kind() -> None:
    requirement = ProofRequirement(type=ProofType.FILE, label="Invoice PDF")
    task = make_task(proof_requirement=requirement)
    verdict = evaluate(task, None, _source(FakeEvidence()))
    (req,) = verdict.requirements
    assert (req.kind, req.label, req.satisfied) == ("file", "Invoice PDF", False)
    evidence = FakeEvidence(files={"tsk_1": ["fil_x"]})
    assert evaluate(task, None, _source(evidence)).can_complete
    assert not evaluate(task, None, _source(evidence), task_exists=False).can_complete


def test_custom_label_is_used() -> None:
    requirement = ProofRequirement(type=ProofType.URL, label="Episode page")
    (req,) = evaluate(
        make_task(proof_requirement=requirement), None, _source(FakeEvidence())
    ).requirements
    assert req.label == "Episode page"


@pytest.mark.parametrize("proof_type", list(ProofType))
def test_required_false_switches_the_requirement_off(proof_type: ProofType) -> None:
    requirement = ProofRequirement(type=proof_type, required=False)
    evidence = FakeEvidence()
    verdict = evaluate(make_task(proof_requirement=requirement), make_bundle(), _source(evidence))
    assert verdict.requirements == []
    assert verdict.can_complete


def test_every_requirement_is_listed_and_described() -> None:
    task = make_task(
        required_link_name="Show notes",
        requires_file=True,
        proof_requirement=ProofRequirement(type=ProofType.COMMENT, label="Editor note"),
    )
    verdict = evaluate(task, None, _source(FakeEvidence()))
    assert [r.kind for r in verdict.requirements] == ["link", "file", "comment"]
    assert [r.label for r in verdict.missing] == ["Show notes", "Required file", "Editor note"]
    detail = describe_missing(verdict)
    for label in ("Show notes", "Required file", "Editor note"):
        assert label in detail


def test_partially_met_requirements_still_block() -> None:
    task = make_task(
        required_link_name="Show notes", link="https://example.com/n", requires_file=True
    )
    verdict = evaluate(task, None, _source(FakeEvidence()))
    assert not verdict.can_complete
    assert [r.label for r in verdict.missing] == ["Required file"]


# --- artifact proof ----------------------------------------------------------------------


def test_artifact_missing() -> None:
    verdict = evaluate(make_task(proof_requirement=artifact_req()), None, _source(FakeEvidence()))
    (req,) = verdict.requirements
    assert (req.kind, req.satisfied) == ("artifact", False)
    assert req.label
    assert req.reason
    assert not verdict.can_complete


def test_approved_artifact_attached_to_task() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_1", task_id="tsk_1")])
    verdict = evaluate(make_task(proof_requirement=artifact_req()), None, _source(evidence))
    assert verdict.can_complete
    (req,) = verdict.requirements
    assert req.satisfied_by is not None
    assert req.satisfied_by["artifactId"] == "art_1"
    assert req.satisfied_by["version"] == 3
    assert req.satisfied_by["reviewedBy"] == "usr_reviewer"


@pytest.mark.parametrize(
    "status",
    [s for s in ArtifactStatus if s != ArtifactStatus.APPROVED],
    ids=lambda s: s.value,
)
def test_only_approved_counts(status: ArtifactStatus) -> None:
    evidence = FakeEvidence(
        artifacts=[make_artifact("art_1", status, task_id="tsk_1", bundle_id="bdl_1")]
    )
    task = make_task(
        proof_requirement=artifact_req(), bundle_id="bdl_1", artifact_refs=[ref("art_1")]
    )
    bundle = make_bundle(artifact_refs=[ref("art_1")])
    assert not evaluate(task, bundle, _source(evidence)).can_complete


def test_artifact_attached_to_another_task_does_not_count() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_1", task_id="tsk_other")])
    assert not evaluate(
        make_task(proof_requirement=artifact_req()), None, _source(evidence)
    ).can_complete


def test_approved_artifact_attached_to_the_bundle() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_b", bundle_id="bdl_1")])
    task = make_task(proof_requirement=artifact_req(), bundle_id="bdl_1")
    verdict = evaluate(task, make_bundle(), _source(evidence))
    assert verdict.can_complete
    assert verdict.requirements[0].satisfied_by is not None
    assert verdict.requirements[0].satisfied_by["artifactId"] == "art_b"


def test_bundle_attachment_needs_the_bundle() -> None:
    """Without a bundle (the task has none) a bundle-attached artifact does not count."""
    evidence = FakeEvidence(artifacts=[make_artifact("art_b", bundle_id="bdl_1")])
    assert not evaluate(
        make_task(proof_requirement=artifact_req()), None, _source(evidence)
    ).can_complete


def test_artifact_of_another_bundle_does_not_count() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_b", bundle_id="bdl_other")])
    task = make_task(proof_requirement=artifact_req(), bundle_id="bdl_1")
    assert not evaluate(task, make_bundle(), _source(evidence)).can_complete


def test_task_ref_to_an_approved_artifact_counts() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_r")])  # not attached anywhere
    task = make_task(proof_requirement=artifact_req(), artifact_refs=[ref("art_r")])
    assert evaluate(task, None, _source(evidence)).can_complete


def test_bundle_ref_to_an_approved_artifact_counts() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_r")])
    task = make_task(proof_requirement=artifact_req(), bundle_id="bdl_1")
    bundle = make_bundle(artifact_refs=[ref("art_r")])
    assert evaluate(task, bundle, _source(evidence)).can_complete


def test_ref_to_a_missing_artifact_never_counts() -> None:
    task = make_task(
        proof_requirement=artifact_req(), bundle_id="bdl_1", artifact_refs=[ref("art_gone")]
    )
    bundle = make_bundle(artifact_refs=[ref("art_gone_too")])
    assert not evaluate(task, bundle, _source(FakeEvidence())).can_complete


@pytest.mark.parametrize(
    "status",
    [s for s in ArtifactStatus if s != ArtifactStatus.APPROVED],
    ids=lambda s: s.value,
)
def test_ref_snapshot_saying_approved_is_ignored(status: ArtifactStatus) -> None:
    """The ref claims `approved`; the record says otherwise: the record wins."""
    evidence = FakeEvidence(artifacts=[make_artifact("art_r", status)])
    task = make_task(
        proof_requirement=artifact_req(),
        bundle_id="bdl_1",
        artifact_refs=[ref("art_r", ArtifactStatus.APPROVED)],
    )
    bundle = make_bundle(artifact_refs=[ref("art_r", ArtifactStatus.APPROVED)])
    assert not evaluate(task, bundle, _source(evidence)).can_complete


def test_ref_snapshot_saying_draft_does_not_hide_an_approved_record() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_r")])
    task = make_task(
        proof_requirement=artifact_req(), artifact_refs=[ref("art_r", ArtifactStatus.DRAFT)]
    )
    assert evaluate(task, None, _source(evidence)).can_complete


def test_artifact_type_narrows_attached_artifacts() -> None:
    requirement = artifact_req(ArtifactType.TRANSCRIPT)
    report = make_artifact("art_rep", artifact_type=ArtifactType.REPORT, task_id="tsk_1")
    evidence = FakeEvidence(artifacts=[report])
    verdict = evaluate(make_task(proof_requirement=requirement), None, _source(evidence))
    assert not verdict.can_complete
    assert "transcript" in (verdict.requirements[0].reason or "")
    evidence.artifacts.append(
        make_artifact("art_tr", artifact_type=ArtifactType.TRANSCRIPT, task_id="tsk_1")
    )
    verdict = evaluate(make_task(proof_requirement=requirement), None, _source(evidence))
    assert verdict.can_complete
    assert verdict.requirements[0].satisfied_by is not None
    assert verdict.requirements[0].satisfied_by["artifactId"] == "art_tr"


def test_artifact_type_narrows_bundle_attachments_and_refs() -> None:
    requirement = artifact_req(ArtifactType.TRANSCRIPT)
    evidence = FakeEvidence(
        artifacts=[
            make_artifact("art_b", artifact_type=ArtifactType.REPORT, bundle_id="bdl_1"),
            make_artifact("art_r", artifact_type=ArtifactType.RECORDING),
        ]
    )
    task = make_task(proof_requirement=requirement, bundle_id="bdl_1", artifact_refs=[ref("art_r")])
    bundle = make_bundle(artifact_refs=[ref("art_r"), ref("art_b")])
    assert not evaluate(task, bundle, _source(evidence)).can_complete
    evidence.artifacts.append(make_artifact("art_t", artifact_type=ArtifactType.TRANSCRIPT))
    bundle.artifact_refs.append(ref("art_t"))
    assert evaluate(task, bundle, _source(evidence)).can_complete


def test_task_not_yet_created_ignores_task_attachments() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_1", task_id="tsk_1")])
    verdict = evaluate(
        make_task(proof_requirement=artifact_req()), None, _source(evidence), task_exists=False
    )
    assert not verdict.can_complete
    assert "attached:tsk_1:None" not in evidence.calls


def test_task_not_yet_created_still_sees_bundle_and_refs() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_b", bundle_id="bdl_1")])
    task = make_task(proof_requirement=artifact_req(), bundle_id="bdl_1")
    assert evaluate(task, make_bundle(), _source(evidence), task_exists=False).can_complete
    evidence = FakeEvidence(artifacts=[make_artifact("art_r")])
    task = make_task(proof_requirement=artifact_req(), artifact_refs=[ref("art_r")])
    assert evaluate(task, None, _source(evidence), task_exists=False).can_complete


def test_artifact_label_and_reason() -> None:
    verdict = evaluate(
        make_task(proof_requirement=artifact_req(label="Signed-off notes")),
        make_bundle(),
        _source(FakeEvidence()),
    )
    (req,) = verdict.requirements
    assert req.label == "Signed-off notes"
    assert "Signed-off notes" in describe_missing(verdict)


def test_artifact_and_other_requirements_together() -> None:
    evidence = FakeEvidence(artifacts=[make_artifact("art_1", task_id="tsk_1")])
    task = make_task(proof_requirement=artifact_req(), required_link_name="Episode page")
    verdict = evaluate(task, None, _source(evidence))
    assert [(r.kind, r.satisfied) for r in verdict.requirements] == [
        ("link", False),
        ("artifact", True),
    ]
    assert not verdict.can_complete
