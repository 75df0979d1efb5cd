"""`validate_export`: every check has a failing fixture, and the report names the
entity, line and field of each problem — all of them, not the first."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dataops.portable.checking.validate import validate_export
from dataops.portable.format import MANIFEST, canonical_line
from dataops.portable.report import Problem, Report
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir

SIGNED = "https://bucket.s3.amazonaws.com/a.pdf?X-Amz-Signature=abc&X-Amz-Credential=k"


def problems(report: Report, entity: str | None = None) -> list[Problem]:
    return [p for p in report.problems if entity is None or p.entity == entity]


def only(report: Report) -> Problem:
    assert len(report.problems) == 1, report.lines()
    return report.problems[0]


def first_id(export: ExportDir, entity: str, **match: object) -> str:
    from dataops.portable.format import SPECS

    for record in export.records(entity):
        if all(record.get(k) == v for k, v in match.items()):
            return str(record[SPECS[entity].id_field])
    raise AssertionError(f"no {entity} matching {match}")


# ------------------------------------------------------------------ integrity


def test_tampered_checksum(tampered: ExportDir) -> None:
    lines = tampered.lines("users")
    lines[0] = lines[0].replace('"name":"', '"name":"X')
    tampered.write_lines("users", lines, reseal=False)
    problem = only(validate_export(tampered.root))
    assert problem.entity == "users"
    assert "checksum mismatch" in problem.message


def test_count_mismatch(tampered: ExportDir) -> None:
    manifest = tampered.manifest()
    manifest["entity_counts"]["tasks"] += 1
    tampered.write_manifest(manifest)
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line) == ("tasks", None)
    assert "count mismatch" in problem.message


def test_missing_manifest_is_reported_and_files_still_checked(tampered: ExportDir) -> None:
    tampered.edit("tasks", first_id(tampered, "tasks"), date="2025-13-01")
    (tampered.root / MANIFEST).unlink()
    report = validate_export(tampered.root)
    assert problems(report, "manifest")[0].message == "manifest.json is missing"
    assert [p.field for p in problems(report, "tasks")] == ["date"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schema_version", "dataops.execution.v2", "dataops.execution.v1"),
        ("export_format_version", "1", "integer 1"),
        ("export_format_version", True, "integer 1"),
        ("generated_at", "2025-01-02 03:04:05", "timestamp"),
        ("generated_at", "2025-01-02T03:04:05", "timestamp"),
        ("redactions", ["sessions"], "users.password_hash"),
        ("source_stack", None, "required"),
    ],
)
def test_manifest_fields(tampered: ExportDir, field: str, value: object, message: str) -> None:
    manifest = tampered.manifest()
    manifest[field] = value
    tampered.write_manifest(manifest)
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("manifest", field)
    assert message in problem.message


def test_manifest_not_json(tampered: ExportDir) -> None:
    (tampered.root / MANIFEST).write_text("{not json")
    report = validate_export(tampered.root)
    assert "not valid JSON" in problems(report, "manifest")[0].message


def test_listed_file_missing_and_unlisted_entity(tampered: ExportDir) -> None:
    tampered.path("notifications").unlink()
    manifest = tampered.manifest()
    del manifest["entity_files"]["files"]
    tampered.write_manifest(manifest)
    report = validate_export(tampered.root)
    texts = report.lines()
    assert "notifications: notifications.jsonl is listed in the manifest but missing" in texts
    assert any("files is neither exported nor listed as omitted" in t for t in texts)
    assert any("files.jsonl is present but not listed" in t for t in texts)


def test_entity_file_name_must_be_the_standard_one(tampered: ExportDir) -> None:
    manifest = tampered.manifest()
    manifest["entity_files"]["users"] = "../../etc/passwd"
    tampered.write_manifest(manifest)
    report = validate_export(tampered.root)
    assert any(p.field == "entity_files.users" for p in report.problems)


# ------------------------------------------------------------------ lines and shapes


def test_invalid_json_and_blank_lines(tampered: ExportDir) -> None:
    lines = tampered.lines("bundles")
    lines.insert(1, "")
    lines.append('{"bundle_id": ')
    lines.append("[1, 2]")
    lines.append('{"bundle_id":"x","title":"t","created_at":NaN}')
    tampered.write_lines("bundles", lines)
    report = validate_export(tampered.root)
    located = {(p.line, p.message.split(":")[0]) for p in problems(report, "bundles")}
    assert (2, "is blank (one JSON object a line)") in located
    n = len(lines)
    assert (n - 2, "is not valid JSON") in located
    assert (n - 1, "must be a JSON object") in located
    assert (n, "is not valid JSON") in located


def test_duplicate_id(tampered: ExportDir) -> None:
    lines = tampered.lines("artifacts")
    tampered.write_lines("artifacts", [*lines, lines[0]])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (
        "artifacts",
        len(lines) + 1,
        "artifact_id",
    )
    assert "duplicate id" in problem.message
    assert "first on line 1" in problem.message


def test_duplicate_user_email(tampered: ExportDir) -> None:
    records = tampered.records("users")
    twin = dict(records[0], user_id="usr_twin", email=records[0]["email"].upper())
    tampered.write_records("users", [*records, twin])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("users", "email")


def test_two_bundles_claiming_one_occurrence(tampered: ExportDir) -> None:
    """The store makes one bundle per (recurring config, occurrence date); an export
    with two cannot be imported."""
    records = tampered.records("bundles")
    made = [r for r in records if r.get("recurring_config_id")]
    assert len(made) == 2  # the rich workspace's January and March meetups
    twin = dict(made[0], bundle_id="bdl_twin")
    tampered.write_records("bundles", [*records, twin])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("bundles", "occurrence_date")
    assert made[0]["recurring_config_id"] in problem.message
    # Another date of the same config is fine.
    tampered.write_records("bundles", [*records, dict(twin, occurrence_date="2030-01-25")])
    assert validate_export(tampered.root).valid


def test_notifications_carry_their_new_fields_and_one_per_dedupe_key(tampered: ExportDir) -> None:
    """Notifications' artifactId, readAt and dedupeKey are exported; the store keeps one
    notification per (type, subject, recipient, day), so an export with two such cannot
    be imported; a readAt must be a timestamp, an artifactId must resolve."""
    records = tampered.records("notifications")
    keyed = [r for r in records if r.get("dedupe_key")]
    assert keyed, "the rich workspace's notifications are deduplicated"
    assert any(r.get("read_at") for r in records)  # the dismissed one was read too
    twin = dict(keyed[0], notification_id="ntf_twin")
    tampered.write_records("notifications", [*records, twin])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("notifications", "dedupe_key")
    tampered.write_records("notifications", [*records, dict(twin, dedupe_key="other")])
    assert validate_export(tampered.root).valid
    tampered.write_records("notifications", [*records, dict(twin, dedupe_key="x", read_at="x")])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("notifications", "read_at")
    bad_link = dict(twin, dedupe_key="y", artifact_id="art_gone")
    tampered.write_records("notifications", [*records, bad_link])
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("notifications", "artifact_id")


def test_a_bundles_recurring_config_must_exist(tampered: ExportDir) -> None:
    bundle = first_id(tampered, "bundles", occurrence_date="2025-01-31")
    tampered.edit("bundles", bundle, recurring_config_id="rcf_gone")
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("bundles", "recurring_config_id")
    assert "rcf_gone" in problem.message


def test_a_recurring_config_with_a_bad_rule_is_reported(tampered: ExportDir) -> None:
    config = first_id(tampered, "recurring_configs")
    tampered.edit("recurring_configs", config, rrule="FREQ=WEEKLY;BYDAY=XX")
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.field) == ("recurring_configs", "rrule")
    assert "BYDAY" in problem.message


@pytest.mark.parametrize(
    ("entity", "field", "value", "expected_field"),
    [
        ("artifacts", "status", "published", "status"),
        ("artifacts", "data_class", "secret", "data_class"),
        (
            "tasks",
            "proof_requirement",
            {"type": "video", "required": True},
            "proof_requirement.type",
        ),
        ("notifications", "type", "reminder", "type"),
        ("users", "role", "owner", "role"),
        ("audit_events", "entity_type", "planet", "entity_type"),
    ],
)
def test_bad_enum(
    tampered: ExportDir, entity: str, field: str, value: object, expected_field: str
) -> None:
    from dataops.portable.format import SPECS

    record_id = tampered.records(entity)[0][SPECS[entity].id_field]
    line = tampered.edit(entity, record_id, **{field: value})
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (entity, line, expected_field)
    assert "unknown value" in problem.message


@pytest.mark.parametrize(
    ("entity", "field", "value"),
    [
        ("tasks", "created_at", "2025-01-02 03:04:05"),
        ("tasks", "completed_at", "2025-01-02T03:04:05"),
        ("artifacts", "reviewed_at", "yesterday"),
        ("audit_events", "created_at", "2025-02-30T00:00:00Z"),
        ("notifications", "created_at", "2025-01-02"),
    ],
)
def test_bad_timestamp(tampered: ExportDir, entity: str, field: str, value: str) -> None:
    from dataops.portable.format import SPECS

    record = next(r for r in tampered.records(entity) if field in r)
    line = tampered.edit(entity, record[SPECS[entity].id_field], **{field: value})
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (entity, line, field)
    assert "timestamp" in problem.message


@pytest.mark.parametrize(
    ("entity", "field", "value"),
    [
        ("tasks", "date", "2025-02-30"),
        ("tasks", "date", "2025-2-3"),
        ("bundles", "anchor_date", "06/01/2025"),
    ],
)
def test_bad_date(tampered: ExportDir, entity: str, field: str, value: str) -> None:
    from dataops.portable.format import SPECS

    record = next(r for r in tampered.records(entity) if field in r)
    line = tampered.edit(entity, record[SPECS[entity].id_field], **{field: value})
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (entity, line, field)
    assert "YYYY-MM-DD" in problem.message


def test_wrong_json_types_and_unknown_fields(tampered: ExportDir) -> None:
    artifact = first_id(tampered, "artifacts", type="transcript")
    line = tampered.edit("artifacts", artifact, size_bytes="48213", visibility="private")
    report = validate_export(tampered.root)
    found = {(p.line, p.field, p.message) for p in problems(report, "artifacts")}
    assert (line, "size_bytes", "must be an integer, not a string") in found
    assert (line, "visibility", "is not a field of artifacts") in found


def test_missing_required_field(tampered: ExportDir) -> None:
    line = tampered.edit("files", first_id(tampered, "files"), storage_uri=None, filename=None)
    report = validate_export(tampered.root)
    assert {(p.line, p.field, p.message) for p in report.problems} == {
        (line, "storage_uri", "is required"),
        (line, "filename", "is required"),
    }


# ------------------------------------------------------------------ relationships


@pytest.mark.parametrize(
    ("entity", "field", "target"),
    [
        ("tasks", "bundle_id", "bundles"),
        ("tasks", "assignee_id", "users"),
        ("tasks", "template_id", "templates"),
        ("files", "task_id", "tasks"),
        ("files", "bundle_id", "bundles"),
        ("artifacts", "task_id", "tasks"),
        ("artifacts", "file_id", "files"),
        ("artifacts", "created_by", "users"),
        ("artifacts", "reviewed_by", "users"),
        ("audit_events", "actor_id", "users"),
        ("notifications", "user_id", "users"),
        ("notifications", "task_id", "tasks"),
        ("bundles", "template_id", "templates"),
        ("templates", "default_assignee_id", "users"),
    ],
)
def test_dangling_relation(tampered: ExportDir, entity: str, field: str, target: str) -> None:
    from dataops.portable.format import SPECS

    record = next(r for r in tampered.records(entity) if field in r)
    line = tampered.edit(entity, record[SPECS[entity].id_field], **{field: "gone_123"})
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (entity, line, field)
    assert problem.message == f"references missing {target} record 'gone_123'"


def test_dangling_artifact_ref(tampered: ExportDir, golden: Golden) -> None:
    _, task = tampered.find("tasks", golden.ids.stale_ref_task)
    task["artifact_refs"][0]["artifactId"] = "art_gone"
    line = tampered.edit("tasks", golden.ids.stale_ref_task, artifact_refs=task["artifact_refs"])
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "artifact_refs[0].artifactId")


def test_system_actor_is_allowed_only_for_actors(tampered: ExportDir) -> None:
    assert any(e.get("actor_id") == "system" for e in tampered.records("audit_events"))
    task = first_id(tampered, "tasks")
    line = tampered.edit("tasks", task, assignee_id="system")
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "assignee_id")


def test_assistant_job_id_is_opaque_until_jobs_are_exported(tampered: ExportDir) -> None:
    assert validate_export(tampered.root).valid  # job-77 resolves nowhere: fine
    (tampered.root / "assistant_jobs.jsonl").write_text('{"assistant_job_id":"job-other"}\n')
    manifest = tampered.manifest()
    manifest["entity_files"]["assistant_jobs"] = "assistant_jobs.jsonl"
    manifest["omitted_entities"].remove("assistant_jobs")
    tampered.write_manifest(manifest)
    tampered.reseal("assistant_jobs")
    report = validate_export(tampered.root)
    assert {(p.entity, p.field) for p in report.problems} == {
        ("artifacts", "assistant_job_id"),
        ("tasks", "assistant_job_refs[0].assistantJobId"),
    }
    (tampered.root / "assistant_jobs.jsonl").write_text(
        '{"assistant_job_id":"job-77"}\n{"assistant_job_id":"job-demo-42"}\n'
    )
    tampered.reseal("assistant_jobs")
    assert validate_export(tampered.root).valid


def test_pre_artifact_export_still_validates(tampered: ExportDir) -> None:
    tampered.path("artifacts").unlink()
    manifest = tampered.manifest()
    del manifest["entity_files"]["artifacts"]
    del manifest["entity_counts"]["artifacts"]
    del manifest["checksums"]["artifacts.jsonl"]
    manifest["omitted_entities"].append("artifacts")
    manifest["redactions"] = ["users.password_hash", "sessions"]
    tampered.write_manifest(manifest)
    report = validate_export(tampered.root)
    assert report.valid, report.lines()
    assert "artifacts" not in report.entity_counts


# ------------------------------------------------------------------ proof


def test_dangling_completion_proof(tampered: ExportDir, golden: Golden) -> None:
    _, task = tampered.find("tasks", golden.ids.artifact_task)
    task["completion_proof"][0]["satisfiedBy"]["artifactId"] = "art_gone"
    line = tampered.edit(
        "tasks", golden.ids.artifact_task, completion_proof=task["completion_proof"]
    )
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line) == ("tasks", line)
    assert problem.field == "completion_proof[0].satisfiedBy.artifactId"


def test_dangling_completion_proof_file(tampered: ExportDir, golden: Golden) -> None:
    _, task = tampered.find("tasks", golden.ids.file_task)
    task["completion_proof"][0]["satisfiedBy"]["fileId"] = "fil_gone"
    tampered.edit("tasks", golden.ids.file_task, completion_proof=task["completion_proof"])
    problem = only(validate_export(tampered.root))
    assert problem.field == "completion_proof[0].satisfiedBy.fileId"


def test_recorded_proof_must_be_satisfied(tampered: ExportDir, golden: Golden) -> None:
    _, task = tampered.find("tasks", golden.ids.url_task)
    task["completion_proof"][0]["satisfied"] = False
    tampered.edit("tasks", golden.ids.url_task, completion_proof=task["completion_proof"])
    problem = only(validate_export(tampered.root))
    assert problem.field == "completion_proof[0].satisfied"


def test_done_without_recorded_proof_uses_the_live_rule(
    tampered: ExportDir, golden: Golden
) -> None:
    # Evidence still there: the live rule passes (legacy records had no completionProof).
    tampered.edit("tasks", golden.ids.file_task, completion_proof=None)
    tampered.edit("tasks", golden.ids.artifact_task, completion_proof=None)
    assert validate_export(tampered.root).valid
    # A done task whose URL proof is gone fails it, naming what is missing.
    line = tampered.edit("tasks", golden.ids.url_task, completion_proof=None, link=None)
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == ("tasks", line, "status")
    assert "Page URL" in problem.message


def test_live_rule_finds_approved_artifacts_only(tampered: ExportDir, golden: Golden) -> None:
    """The artifact task's proof is superseded now: without a recorded proof the live
    rule (approved only) refuses it — the same verdict the API would give."""
    tampered.edit("tasks", golden.ids.artifact_task, completion_proof=None)
    _, artifact = tampered.find("artifacts", golden.ids.proof_artifact)
    assert artifact["status"] == "superseded"
    report = validate_export(tampered.root)
    assert report.valid  # v2 (approved) is attached to the bundle and counts
    v2 = first_id(tampered, "artifacts", title="Report v2")
    tampered.edit("artifacts", v2, status="rejected", review_reason="no")
    problem = only(validate_export(tampered.root))
    assert problem.field == "status"
    assert "approved report artifact" in problem.message


# ------------------------------------------------------------------ redaction and policy


@pytest.mark.parametrize(
    ("entity", "field"),
    [
        ("tasks", "comment"),
        ("bundles", "description"),
        ("notifications", "message"),
        ("users", "name"),
        ("templates", "description"),
    ],
)
def test_signed_url_in_any_field(tampered: ExportDir, entity: str, field: str) -> None:
    from dataops.portable.format import SPECS

    record_id = tampered.records(entity)[0][SPECS[entity].id_field]
    line = tampered.edit(entity, record_id, **{field: f"see {SIGNED}"})
    found = {(p.entity, p.line, p.field) for p in validate_export(tampered.root).problems}
    assert (entity, line, field) in found


def test_signed_url_nested_in_audit_and_metadata(tampered: ExportDir, golden: Golden) -> None:
    event = tampered.records("audit_events")[0]
    line = tampered.edit(
        "audit_events", event["audit_event_id"], after={"link": "x", "deep": [{"u": SIGNED}]}
    )
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "after.deep[0].u")


def test_secret_key_in_metadata_inside_an_array(tampered: ExportDir, golden: Golden) -> None:
    metadata = {"model": "m", "steps": [{"n": 1}, {"apiKey": "not-really"}]}
    line = tampered.edit("artifacts", golden.ids.proof_artifact, metadata=metadata)
    report = validate_export(tampered.root)
    assert {(p.line, p.field) for p in report.problems} == {(line, "metadata.steps[1].apiKey")}


def test_secret_value_in_metadata(tampered: ExportDir, golden: Golden) -> None:
    metadata = {"note": "AKIAIOSFODNN7EXAMPLE"}
    line = tampered.edit("artifacts", golden.ids.proof_artifact, metadata=metadata)
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "metadata.note")


def test_secret_key_anywhere(tampered: ExportDir, golden: Golden) -> None:
    line = tampered.edit(
        "tasks", golden.ids.waiting_task, validation={"rules": [{"clientSecret": "x"}]}
    )
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "validation.rules[0].clientSecret")


def test_owned_artifact_without_checksum(tampered: ExportDir, golden: Golden) -> None:
    line = tampered.edit("artifacts", golden.ids.proof_artifact, checksum=None)
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == ("artifacts", line, "checksum")
    assert "DataOps owns the binary" in problem.message


def test_reviewed_artifact_without_reviewed_at(tampered: ExportDir) -> None:
    artifact = first_id(tampered, "artifacts", status="approved")
    line = tampered.edit("artifacts", artifact, reviewed_at=None)
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "reviewed_at")


def test_provider_contradicting_uri(tampered: ExportDir, golden: Golden) -> None:
    line = tampered.edit("artifacts", golden.ids.proof_artifact, storage_provider="dropbox")
    problem = only(validate_export(tampered.root))
    assert (problem.line, problem.field) == (line, "storage_provider")


def test_password_hash_in_users(tampered: ExportDir, golden: Golden) -> None:
    line = tampered.edit(
        "users", golden.ids.operator, password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    )
    report = validate_export(tampered.root)
    assert report.problems
    assert {(p.entity, p.line, p.field) for p in report.problems} == {
        ("users", line, "password_hash")
    }
    assert any("hashes" in p.message for p in report.problems)


@pytest.mark.parametrize("key", ["hash", "credential", "tokenHash", "salt"])
def test_hash_like_fields_in_users(tampered: ExportDir, golden: Golden, key: str) -> None:
    line = tampered.edit("users", golden.ids.viewer, **{key: "abc"})
    found = {(p.line, p.field) for p in validate_export(tampered.root).problems}
    assert (line, key) in found


# ------------------------------------------------------------------ archives


def test_archive_validates(golden: Golden) -> None:
    assert validate_export(golden.archive).valid


def test_truncated_archive(golden: Golden, tmp_path: Path) -> None:
    data = golden.archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    report = validate_export(cut)
    assert not report.valid
    assert any(
        p.entity == "archive" and "truncated or corrupt" in p.message for p in report.problems
    )


def test_corrupt_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    report = validate_export(junk)
    assert [p.entity for p in report.problems][:1] == ["archive"]


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def test_hostile_archive_members_are_refused(golden: Golden, tmp_path: Path) -> None:
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(golden.archive) as tar:
        for info in tar.getmembers():
            source = tar.extractfile(info)
            assert source is not None
            members.append((info, source.read()))
    evil = tarfile.TarInfo("../evil.jsonl")
    evil.size = 2
    link = tarfile.TarInfo("users.jsonl.link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    absolute = tarfile.TarInfo("/tmp/abs.jsonl")
    absolute.size = 2
    path = tmp_path / "hostile.tar.gz"
    _tar(path, [(evil, b"{}"), (link, None), (absolute, b"{}"), *members])
    report = validate_export(path)
    archive_problems = [p.message for p in problems(report, "archive")]
    assert len(archive_problems) == 3, report.lines()
    assert all("is not an export file" in m for m in archive_problems)
    assert not (tmp_path.parent / "evil.jsonl").exists()
    assert problems(report, "archive") == report.problems  # the export itself is fine


def test_archive_with_dot_slash_names(golden: Golden, tmp_path: Path) -> None:
    """`tar -czf x.tar.gz -C export .` style archives are accepted."""
    path = tmp_path / "dot.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(golden.directory, arcname=".")
    assert validate_export(path).valid


def test_directory_that_is_not_an_export(tmp_path: Path) -> None:
    report = validate_export(tmp_path)
    assert [p.message for p in report.problems] == ["manifest.json is missing"]


def test_every_problem_not_just_the_first(tampered: ExportDir, golden: Golden) -> None:
    tampered.edit("tasks", golden.ids.waiting_task, date="2025-02-30", bundle_id="gone")
    tampered.edit("artifacts", golden.ids.proof_artifact, checksum=None, status="nope")
    lines = tampered.lines("users")
    tampered.write_lines("users", [*lines, lines[0]])
    manifest = tampered.manifest()
    manifest["schema_version"] = "v0"
    tampered.write_manifest(manifest)
    report = validate_export(tampered.root)
    fields = {(p.entity, p.field) for p in report.problems}
    assert {
        ("manifest", "schema_version"),
        ("tasks", "date"),
        ("tasks", "bundle_id"),
        ("artifacts", "status"),
        ("users", "user_id"),
    } <= fields
    assert report.problem_count >= 5


def test_report_text_and_json(tampered: ExportDir, golden: Golden) -> None:
    line = tampered.edit("tasks", golden.ids.waiting_task, bundle_id="gone")
    report = validate_export(tampered.root)
    assert report.lines() == [
        f"tasks line {line} field bundle_id: references missing bundles record 'gone'"
    ]
    data = json.loads(json.dumps(report.as_json()))
    assert data["valid"] is False
    assert data["problems"] == [
        {
            "entity": "tasks",
            "line": line,
            "field": "bundle_id",
            "message": "references missing bundles record 'gone'",
        }
    ]


def test_canonical_line_survives_unencodable_strings() -> None:
    line = canonical_line({"a": "\ud800"})
    line.encode("utf-8")
    assert json.loads(line) == {"a": "\ud800"}


@pytest.mark.parametrize("entity", ["artifacts", "files"])
@pytest.mark.parametrize("value", ["text/plain\r\nX-Injected: 1", "application/pdf\x00", "pdf"])
def test_content_type_that_is_not_a_media_type(
    tampered: ExportDir, entity: str, value: str
) -> None:
    """The rule the API applies: the importer and validator refuse it too."""
    from dataops.portable.format import SPECS

    record_id = tampered.records(entity)[0][SPECS[entity].id_field]
    line = tampered.edit(entity, record_id, content_type=value)
    problem = only(validate_export(tampered.root))
    assert (problem.entity, problem.line, problem.field) == (entity, line, "content_type")
    assert "media type" in problem.message
