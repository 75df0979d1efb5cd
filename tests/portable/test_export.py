"""`write_export`: the format (golden files), completeness, redaction, determinism,
snapshot consistency and atomicity."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dataops import runtime
from dataops.domain.accounts import Credential, Session, User, WorkspaceSettings
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    EntityType,
    NotificationType,
    ProofType,
    ReviewPolicy,
    Role,
    StorageProvider,
    TaskStatus,
)
from dataops.domain.messages import AuditEvent, Notification
from dataops.domain.models import (
    Artifact,
    ArtifactRef,
    Bundle,
    BundleLink,
    FileRecord,
    ProofRequirement,
    RecurringConfig,
    RequirementVerdict,
    Task,
    TaskDefinition,
    Template,
)
from dataops.domain.secret_scan import is_secret_key, scan_for_secret_values
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import (
    ENTITY_NAMES,
    EXPORTED,
    MANIFEST,
    SPECS,
    canonical_line,
)
from dataops.portable.writing import spool
from dataops.portable.writing.export import write_export
from dataops.portable.writing.spool import SortedSpool
from dataops.services import tasks
from dataops.services.context import Workspace
from dataops.services.people import SYSTEM
from dataops.store.port import Filters, PageRequest
from tests.conftest import make_settings
from tests.portable.conftest import INFO, Golden
from tests.portable.support import LEGACY_URI, ExportDir, HookedStore, password_hashes

GOLDEN_DIR = Path(__file__).parent / "golden"
STAMP = "2025-01-02T03:04:05.000Z"
HEX = "0123456789abcdef" * 4


# ------------------------------------------------------------------ golden files


def _fixed_records() -> list[tuple[str, Any]]:
    """One record of every entity kind with fixed IDs and times (plus what is never
    exported: a credential and a session)."""
    ref = ArtifactRef("art_1", ArtifactType.REPORT, "Stale title", "https://example.com/r", None)
    return [
        ("users", User("usr_1", "ada@example.com", "Ada", Role.ADMIN, STAMP)),
        ("credentials", Credential("usr_1", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", STAMP)),
        ("sessions", Session("a" * 64, "usr_1", STAMP, STAMP)),
        (
            "settings",
            WorkspaceSettings(
                "workspace",
                STAMP,
                ReviewPolicy.INDEPENDENT,
                expiry_swept_through="2025-01-01",
                updated_by="usr_1",
            ),
        ),
        (
            "templates",
            Template(
                "tpl_1",
                "Episode",
                STAMP,
                STAMP,
                default_assignee_id="usr_1",
                task_definitions=[
                    TaskDefinition(
                        "rec", "Record", 2, proof_requirement=ProofRequirement(ProofType.FILE)
                    )
                ],
            ),
        ),
        (
            "recurring_configs",
            RecurringConfig(
                "rcf_1",
                "tpl_1",
                "Episode {n} ({date})",
                "2025-01-04",
                STAMP,
                STAMP,
                rrule="FREQ=WEEKLY;BYDAY=SA",
                timezone="Europe/Berlin",
                lead_days=3,
                assignee_id="usr_1",
                skipped_dates=["2025-01-25"],
                last_occurrence_date="2025-02-01",
                occurrence_count=4,
            ),
        ),
        (
            "bundles",
            Bundle(
                "bdl_1",
                "Episode 1",
                STAMP,
                STAMP,
                anchor_date="2025-02-01",
                template_id="tpl_1",
                bundle_links=[BundleLink("Page", "https://example.com/page")],
                artifact_refs=[ref],
                recurring_config_id="rcf_1",
                occurrence_date="2025-02-01",
            ),
        ),
        (
            "tasks",
            Task(
                "tsk_2",
                "Record",
                "2025-02-03",
                STAMP,
                STAMP,
                status=TaskStatus.DONE,
                bundle_id="bdl_1",
                template_id="tpl_1",
                proof_requirement=ProofRequirement(ProofType.FILE),
                completed_by="usr_1",
                completed_at=STAMP,
                completion_proof=[
                    RequirementVerdict("file", "Proof file", True, None, {"fileId": "fil_1"})
                ],
                validation={"b": 1, "a": [None, {"z": True}]},
            ),
        ),
        ("tasks", Task("tsk_1", "Book", "2025-02-09", STAMP, STAMP, artifact_refs=[ref])),
        (
            "files",
            FileRecord(
                "fil_1",
                "take1.wav",
                STAMP,
                task_id="tsk_2",
                bundle_id="bdl_1",
                storage_provider=StorageProvider.S3,
                storage_uri="s3://bucket/take1.wav",
                checksum=f"sha256:{HEX}",
                size_bytes=10,
            ),
        ),
        ("files", FileRecord("fil_2", "old.txt", STAMP, task_id="tsk_1", storage_path="/a\\b.txt")),
        (
            "artifacts",
            Artifact(
                "art_1",
                ArtifactType.REPORT,
                "Report — final",
                "https://example.com/r",
                StorageProvider.EXTERNAL_URL,
                STAMP,
                STAMP,
                status=ArtifactStatus.APPROVED,
                bundle_id="bdl_1",
                reviewed_by="usr_1",
                reviewed_at=STAMP,
                created_by="usr_1",
                metadata={"zeta": 1, "alpha": {"camelKey": [1, 2]}},
            ),
        ),
        (
            "notifications",
            Notification("ntf_1", NotificationType.TASK_DUE, "Due", STAMP, user_id="usr_1"),
        ),
        (
            "audit_events",
            AuditEvent(
                "evt_1",
                EntityType.TASK,
                "tsk_1",
                "create",
                STAMP,
                actor_id="system",
                after={"id": "tsk_1", "artifactRefs": []},
            ),
        ),
    ]


def _fixed_store(home: Path) -> Workspace:
    ws = runtime.build_workspace(make_settings(home))
    with ws.store.unit_of_work(write=True) as uow:
        for repo, record in _fixed_records():
            getattr(uow, repo).add(record)
        uow.commit()
    return ws


def test_golden_files(tmp_path: Path) -> None:
    """The exact bytes of every entity file; DATAOPS_UPDATE_GOLDEN=1 rewrites them."""
    ws = _fixed_store(tmp_path / "home")
    out = tmp_path / "export"
    write_export(ws.store, out, INFO)
    ws.store.close()
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["generated_at"] = "<generated_at>"
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    names = sorted(p.name for p in out.iterdir())
    if os.environ.get("DATAOPS_UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        for name in names:
            (GOLDEN_DIR / name).write_bytes((out / name).read_bytes())
    assert names == sorted(p.name for p in GOLDEN_DIR.iterdir())
    for name in names:
        assert (out / name).read_text() == (GOLDEN_DIR / name).read_text(), name


def test_fixed_export_validates(tmp_path: Path) -> None:
    ws = _fixed_store(tmp_path / "home")
    write_export(ws.store, tmp_path / "export.tar.gz", INFO)
    ws.store.close()
    report = validate_export(tmp_path / "export.tar.gz")
    assert report.valid, report.lines()


# ------------------------------------------------------------------ the rich workspace


def test_rich_export_is_valid_and_holds_every_entity(golden: Golden) -> None:
    for path in (golden.directory, golden.archive):
        report = validate_export(path)
        assert report.valid, report.lines()
        assert set(report.entity_counts) == set(EXPORTED)
        assert all(report.entity_counts[name] > 0 for name in EXPORTED), report.entity_counts
        assert report.relationships["tasks.bundle_id -> bundles"] > 0


def test_manifest_is_exactly_the_contract(golden: Golden) -> None:
    export = ExportDir(golden.directory)
    manifest = export.manifest()
    assert list(manifest) == sorted(manifest)
    assert set(manifest) == {
        "schema_version", "generated_at", "source_environment", "source_stack",
        "source_region", "app_git_sha", "export_format_version", "entity_files",
        "entity_counts", "checksums", "redactions", "omitted_entities",
    }  # fmt: skip
    assert manifest["schema_version"] == "dataops.execution.v1"
    assert manifest["export_format_version"] == 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", manifest["generated_at"])
    assert manifest["entity_files"] == {name: f"{name}.jsonl" for name in EXPORTED}
    assert sorted(manifest["omitted_entities"]) == ["assistant_jobs", "sessions"]
    assert set(manifest["entity_files"]) | {"assistant_jobs"} == set(ENTITY_NAMES)
    assert manifest["redactions"] == [
        "users.password_hash",
        "sessions",
        "api_tokens",
        "webhooks",
        "outbox",
    ]
    for name in EXPORTED:
        data = export.path(name).read_bytes()
        assert (
            manifest["checksums"][f"{name}.jsonl"] == "sha256:" + hashlib.sha256(data).hexdigest()
        )
        assert manifest["entity_counts"][name] == len(data.splitlines())
    assert not (golden.directory / "assistant_jobs.jsonl").exists()


def test_records_are_snake_case_with_nested_runtime_shape(golden: Golden) -> None:
    export = ExportDir(golden.directory)
    for name in EXPORTED:
        for line in export.lines(name):
            record = json.loads(line)
            assert line == canonical_line(record)  # compact, keys sorted
            assert SPECS[name].id_field in record
            assert "id" not in record
            for key, value in record.items():
                assert key == key.lower(), (name, key)
                assert value is not None, (name, key)
                assert value != [], (name, key)
    _, task = export.find("tasks", golden.ids.artifact_task)
    assert set(task["artifact_refs"][0]) >= {"artifactId", "status", "title"}
    assert task["completion_proof"][0]["satisfiedBy"]["artifactId"] == golden.ids.proof_artifact
    _, artifact = export.find("artifacts", golden.ids.proof_artifact)
    assert artifact["metadata"] == {
        "model": "m-1",
        "steps": [{"n": 1}],
        "usage": {"tokenCount": 12},
    }
    assert artifact["file_id"]
    assert artifact["assistant_job_id"] == "job-77"
    _, waiting = export.find("tasks", golden.ids.waiting_task)
    assert waiting["assistant_job_refs"] == [
        {"assistantJobId": "job-77", "note": "drafted the email"}
    ]


def test_records_are_in_id_order(golden: Golden) -> None:
    export = ExportDir(golden.directory)
    for name in EXPORTED:
        ids = [r[SPECS[name].id_field] for r in export.records(name)]
        assert ids == sorted(ids), name
    # The store pages tasks by date; the export still orders them by id.
    with golden.ws.store.unit_of_work() as uow:
        by_date = [t.id for t in uow.tasks.find(Filters(), PageRequest(limit=500)).items]
    assert by_date != sorted(by_date)


def test_legacy_file_exports_a_local_dev_uri(golden: Golden) -> None:
    _, record = ExportDir(golden.directory).find("files", golden.ids.legacy_file)
    assert record["storage_uri"] == LEGACY_URI
    assert "storage_path" not in record
    for file_record in ExportDir(golden.directory).records("files"):
        assert file_record["storage_uri"]


def test_refs_carry_the_artifacts_current_status(golden: Golden) -> None:
    with golden.ws.store.unit_of_work() as uow:
        stored = uow.tasks.get(golden.ids.stale_ref_task)
    assert stored is not None
    stale = next(r for r in stored.artifact_refs if r.artifact_id == golden.ids.stale_ref_artifact)
    assert stale.status == ArtifactStatus.NEEDS_REVIEW  # the stored snapshot is stale
    _, task = ExportDir(golden.directory).find("tasks", golden.ids.stale_ref_task)
    ref = next(r for r in task["artifact_refs"] if r["artifactId"] == golden.ids.stale_ref_artifact)
    assert ref["status"] == "approved"


def test_never_exported_hashes_sessions_tokens(golden: Golden) -> None:
    blob = "".join(p.read_text() for p in golden.directory.iterdir())
    for secret in [*password_hashes(golden.ws), golden.ids.session_hash, golden.ids.token_hash]:
        assert secret not in blob
    assert "argon2" not in blob
    for user in ExportDir(golden.directory).records("users"):
        assert set(user) <= {
            "user_id",
            "email",
            "name",
            "role",
            "created_at",
            "email_notifications",
            "timezone",
            "disabled",
            "version",
        }
    with tarfile.open(golden.archive) as tar:
        assert sorted(tar.getnames()) == sorted([MANIFEST, *(f"{n}.jsonl" for n in EXPORTED)])


def test_nothing_the_policy_flags(golden: Golden) -> None:
    export = ExportDir(golden.directory)
    for name in EXPORTED:
        for record in export.records(name):
            assert scan_for_secret_values(record) == []
            assert not any(is_secret_key(k) for k in _all_keys(record)), record


def _all_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in [key, *_all_keys(item)]]
    if isinstance(value, list):
        return [k for item in value for k in _all_keys(item)]
    return []


def test_export_is_deterministic(golden: Golden, tmp_path: Path) -> None:
    write_export(golden.ws.store, tmp_path / "again", INFO)
    for name in EXPORTED:
        file_name = f"{name}.jsonl"
        assert (tmp_path / "again" / file_name).read_bytes() == (
            golden.directory / file_name
        ).read_bytes()


# ------------------------------------------------------------------ streaming / sorting


@pytest.mark.parametrize("fan_in", [128, 3])
def test_spool_sorts_across_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fan_in: int
) -> None:
    monkeypatch.setattr(spool, "MAX_FAN_IN", fan_in)
    monkeypatch.setattr(spool, "OUT_BYTES", 100)  # many pieces handed on
    keys = [f"k{(i * 7919) % 1000:04d}" for i in range(1000)]
    sink = SortedSpool(tmp_path / "out.jsonl", "id", chunk_lines=37)
    for key in keys:
        line = canonical_line({"id": key, "note": "\ud800" if key < "k0100" else "é"})
        sink.add(key, line.encode())
    pieces: list[bytes] = []
    sink.finish(pieces.append)
    data = b"".join(pieces)
    assert len(pieces) > 1
    assert [json.loads(line)["id"] for line in data.splitlines()] == sorted(keys)
    assert data.endswith(b"\n")
    assert list(tmp_path.iterdir()) == []  # runs removed


def test_spool_single_run_for_sorted_input(tmp_path: Path) -> None:
    sink = SortedSpool(tmp_path / "out.jsonl", "id", chunk_lines=10)
    lines = [json.dumps({"id": f"{number:03d}"}).encode() for number in range(95)]
    for line in lines:
        sink.add(json.loads(line)["id"], line)
    assert len(sink._runs) == 1
    pieces: list[bytes] = []
    sink.finish(pieces.append)
    assert b"".join(pieces) == b"".join(line + b"\n" for line in lines)
    assert list(tmp_path.iterdir()) == []


def test_spool_of_nothing_hands_on_nothing(tmp_path: Path) -> None:
    pieces: list[bytes] = []
    SortedSpool(tmp_path / "out.jsonl", "id").finish(pieces.append)
    assert pieces == []


def test_export_pages_through_the_store(golden: Golden, tmp_path: Path) -> None:
    """A page size of 2 gives the same files as one big page."""
    from dataops.portable.writing.export import write_export as export

    export(golden.ws.store, tmp_path / "paged", INFO, page_size=2)
    for name in EXPORTED:
        assert (tmp_path / "paged" / f"{name}.jsonl").read_bytes() == (
            golden.directory / f"{name}.jsonl"
        ).read_bytes()


# ------------------------------------------------------------------ snapshot and atomicity


def test_export_is_one_consistent_snapshot(tmp_path: Path) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path / "home"))
    tasks.create_task(ws, SYSTEM, {"description": "before", "date": "2025-01-01"})
    written: list[str] = []

    def race(entity: str) -> None:  # once the export has started reading
        if not written:
            task = tasks.create_task(ws, SYSTEM, {"description": "raced", "date": "2025-01-01"})
            written.append(task.id)

    write_export(HookedStore(ws.store, race), tmp_path / "snap", INFO)  # type: ignore[arg-type]
    assert written
    exported = ExportDir(tmp_path / "snap")
    assert [t["description"] for t in exported.records("tasks")] == ["before"]
    assert not any(written[0] in line for line in exported.lines("audit_events"))
    write_export(ws.store, tmp_path / "after", INFO)
    assert len(ExportDir(tmp_path / "after").records("tasks")) == 2
    ws.store.close()


@pytest.mark.parametrize("name", ["export", "export.tar.gz"])
@pytest.mark.parametrize("fail_on", ["users", "audit_events"])
def test_failed_export_leaves_nothing(
    golden: Golden, tmp_path: Path, name: str, fail_on: str
) -> None:
    out = tmp_path / name

    def fail(entity: str) -> None:
        if entity == fail_on:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        write_export(HookedStore(golden.ws.store, fail), out, INFO)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("name", ["export", "export.tar.gz"])
def test_a_failed_file_write_leaves_nothing(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, parallel: bool
) -> None:
    """On the writer thread, or in the export worker (which raises it here)."""
    from dataops.portable import archive
    from dataops.portable.writing import output

    def full(self: Any, data: bytes) -> None:
        raise OSError("no space left")

    monkeypatch.setattr(output.FileSink, "write", full)
    monkeypatch.setattr(archive.ArchiveMember, "write", full)
    with pytest.raises(OSError, match="no space left"):
        write_export(golden.ws.store, tmp_path / name, INFO, parallel=parallel)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["export", "export.tar.gz"])
def test_interrupted_before_rename_leaves_nothing(
    golden: Golden, tmp_path: Path, name: str
) -> None:
    seen: list[Path] = []

    def interrupt(finished: Path) -> None:
        seen.append(finished)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_export(golden.ws.store, tmp_path / name, INFO, before_rename=interrupt)
    assert seen
    assert seen[0].name.startswith(".")
    assert list(tmp_path.iterdir()) == []


def test_existing_out_is_refused(golden: Golden, tmp_path: Path) -> None:
    from dataops.domain.errors import Conflict

    (tmp_path / "taken").mkdir()
    with pytest.raises(Conflict, match="already exists"):
        write_export(golden.ws.store, tmp_path / "taken", INFO)
    assert list((tmp_path / "taken").iterdir()) == []


def test_progress_is_drawn_when_asked(golden: Golden, tmp_path: Path) -> None:
    screen = io.StringIO()
    write_export(golden.ws.store, tmp_path / "shown", INFO, progress=screen)
    assert "exporting tasks" in screen.getvalue()
    assert screen.getvalue().endswith("records\n")


def test_record_mapping_matches_the_codec(golden: Golden) -> None:
    """`to_record`/`from_record` are compiled forms of `codec.to_dict`/`from_dict`."""
    from dataops.domain.codec import from_dict, to_dict
    from dataops.portable.format import from_record, runtime_dict, to_record

    export = ExportDir(golden.directory)
    for name in EXPORTED:
        spec = SPECS[name]
        for record in export.records(name):
            entity = from_record(spec, record)
            assert entity == from_dict(spec.model, runtime_dict(spec, record))  # type: ignore[arg-type]
            assert to_record(spec, entity) == record
            expected = {k: v for k, v in to_dict(entity).items() if v is not None and v != []}
            assert runtime_dict(spec, to_record(spec, entity)) == expected
