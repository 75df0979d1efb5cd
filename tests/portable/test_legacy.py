"""Exports of the earlier TypeScript DataOps (CONTRACT §6 last paragraph, REFERENCE.md
§5): `legacy_export/` is one, hand-written from REFERENCE.md §5.3-5.7 with every entity
and every legacy shape. It validates with a warning per legacy shape (exit 0), imports
into SQLite and DynamoDB with every field mapped, and exports again in today's layout,
valid and without warnings. What cannot be mapped is an error naming the record."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dataops.cli import main
from dataops.domain.enums import NotificationType, Role
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import MANIFEST, SYSTEM_ACTOR
from dataops.portable.importing.importer import ImportRefused, apply_import, plan_import
from dataops.portable.legacy.values import map_schedule
from dataops.portable.writing.export import write_export
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest
from tests.portable.conftest import INFO

LEGACY = Path(__file__).parent / "legacy_export"
U1 = "2f1c6d0e-5b7a-4c1e-9d3f-0a8b7c6d5e41"
U2 = "8e4a2b19-3c5d-4f6e-a7b8-c9d0e1f2a3b4"
TPL1 = "1a7f3e2d-6c5b-4a98-b7e6-d5c4b3a29180"
RC1 = "c3b2a190-8f7e-4d6c-a5b4-a3928170f6e5"
T1 = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
T2 = "3f2e1d0c-9b8a-4796-8574-635241302f1e"
T3 = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
F1 = "2b3c4d5e-6f70-4819-a2b3-c4d5e6f70819"
F2 = "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5"
A1 = "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"
A2 = "8c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f"
N1 = "0a1b2c3d-4e5f-4607-9819-2a3b4c5d6e7f"

SHAPES = {
    "artifacts.created_by": 1,
    "artifacts.metadata": 1,
    "artifacts.visibility": 2,
    "files.storage_uri": 1,
    "notifications.due_at": 1,
    "notifications.notification_type": 3,
    "recurring_configs.cron_expression": 1,
    "tasks.recurring_config_id": 1,
    "tasks.source": 4,
    "templates.source_doc_ids": 1,
    "templates.trigger_schedule": 1,
    "templates.trigger_type": 1,
    "users.role": 2,
}


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(LEGACY, tmp_path / "legacy"))


def _lines(root: Path, entity: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / f"{entity}.jsonl").read_text().splitlines()]


def _rewrite(root: Path, entity: str, records: list[dict[str, Any]]) -> None:
    """Write `records` as the earlier exporter did (sorted keys, a newline after each)
    and fix the manifest's count and checksum, so only the change itself is at fault."""
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    (root / f"{entity}.jsonl").write_text(text)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["entity_counts"][entity] = len(records)
    digest = hashlib.sha256(text.encode()).hexdigest()
    manifest["checksums"][f"{entity}.jsonl"] = f"sha256:{digest}"
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _edit(root: Path, entity: str, index: int, **changes: Any) -> int:
    """Change record `index` (None removes a field); its line number."""
    records = _lines(root, entity)
    for key, value in changes.items():
        if value is None:
            records[index].pop(key, None)
        else:
            records[index][key] = value
    _rewrite(root, entity, records)
    return index + 1


# ---------------------------------------------------------------------- validate


def test_the_fixture_looks_like_an_earlier_export() -> None:
    """Guards the fixture itself: REFERENCE.md §5.3 manifest, §5.4 lines."""
    manifest = json.loads((LEGACY / MANIFEST).read_text())
    assert manifest["redactions"] == ["users.password_hash", "sessions"]
    assert manifest["omitted_entities"] == ["sessions", "assistant_jobs", "audit_events"]
    assert list(manifest["entity_files"]) == [
        "users",
        "tasks",
        "bundles",
        "templates",
        "recurring_configs",
        "files",
        "artifacts",
        "notifications",
    ]
    for name, file_name in manifest["entity_files"].items():
        data = (LEGACY / file_name).read_bytes()
        assert manifest["checksums"][file_name] == "sha256:" + hashlib.sha256(data).hexdigest()
        records = [json.loads(line) for line in data.decode().splitlines()]
        assert manifest["entity_counts"][name] == len(records)
        for record in records:
            assert list(record) == sorted(record)
            assert all(value is not None and value != [] for value in record.values())
    assert all("role" not in user for user in _lines(LEGACY, "users"))


def test_validates_with_a_warning_per_legacy_shape() -> None:
    report = validate_export(LEGACY)
    assert report.valid, report.lines()
    assert report.legacy
    assert report.legacy_shapes == SHAPES
    assert sum(SHAPES.values()) + 1 == report.warnings_total  # + the manifest's
    where = {(w.entity, w.line, w.field) for w in report.warnings}
    assert ("users", 1, "role") in where
    assert ("notifications", 3, "notification_type") in where
    assert ("files", 1, "storage_uri") in where
    assert ("tasks", 2, "recurring_config_id") in where
    assert ("templates", 1, "trigger_schedule") in where
    assert ("manifest", None, None) in where


def test_validate_cli_exit_0_and_json_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAOPS_ENV", "test")
    monkeypatch.setenv("DATAOPS_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as exited:
        main(["validate-export", str(LEGACY)])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "warning: users line 1 field role: legacy: no role; imported as 'viewer'" in out
    assert out.splitlines()[-1].startswith("valid: ")
    assert out.splitlines()[-1].endswith(f", {sum(SHAPES.values()) + 1} warnings")
    with pytest.raises(SystemExit) as exited:
        main(["validate-export", str(LEGACY), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert exited.value.code == 0
    assert report["valid"] is True
    assert report["legacy"] is True
    assert report["problems"] == []
    assert {
        "entity": "notifications",
        "line": 1,
        "field": "notification_type",
        "message": "legacy: mapped to type",
    } in report["warnings"]
    assert report["warning_count"] == len(report["warnings"])


def test_an_archive_of_it_validates_too(tmp_path: Path) -> None:
    archive = tmp_path / "legacy.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(LEGACY.iterdir()):
            tar.add(path, arcname=path.name)
    report = validate_export(archive)
    assert report.valid, report.lines()
    assert report.legacy_shapes == SHAPES


def test_todays_export_is_not_legacy(tmp_path: Path, empty_workspace: Workspace) -> None:
    write_export(empty_workspace.store, tmp_path / "out", INFO)
    report = validate_export(tmp_path / "out")
    assert report.valid
    assert not report.legacy
    assert report.warnings == []


# ---------------------------------------------------------------------- unmappable


@pytest.mark.parametrize(
    ("entity", "index", "changes", "field", "message"),
    [
        ("recurring_configs", 0, {"cron_expression": "*/5 * * * * *"}, "cron_expression", ""),
        ("templates", 0, {"trigger_schedule": "cron(0 9 ? * MON 2027)"}, "trigger_schedule", ""),
        ("templates", 1, {"trigger_type": "on-approval"}, "trigger_schedule", "has none"),
        ("tasks", 1, {"recurring_config_id": "gone"}, "recurring_config_id", "'gone'"),
        ("bundles", 0, {"audit_event_refs": [{"auditEventId": "e1"}]}, "audit_event_refs", ""),
        ("notifications", 0, {"type": "task-overdue"}, "notification_type", "differs"),
        ("artifacts", 0, {"visibility": "secret"}, "visibility", "'secret'"),
        ("tasks", 0, {"proof_requirement": "a photo"}, "proof_requirement", "proof type"),
    ],
)
def test_what_cannot_be_mapped_is_an_error_naming_the_record(
    tmp_path: Path,
    empty_workspace: Workspace,
    entity: str,
    index: int,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    root = _copy(tmp_path)
    line = _edit(root, entity, index, **changes)
    report = validate_export(root)
    assert not report.valid
    found = [p for p in report.problems if (p.entity, p.line, p.field) == (entity, line, field)]
    assert found, report.lines()
    assert found[0].message.startswith("legacy record cannot be mapped: ")
    assert message in found[0].message
    with pytest.raises(ImportRefused):
        apply_import(root, empty_workspace.store)
    assert empty_workspace.store.is_empty()


def test_template_refs_are_a_warning_job_refs_an_error(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    templates = _lines(root, "templates")
    definition = templates[0]["task_definitions"][0]
    definition["artifactRefs"] = [{"artifactId": A1}]
    _rewrite(root, "templates", templates)
    report = validate_export(root)
    assert report.valid, report.lines()
    where = "task_definitions[0].artifactRefs"
    assert ("templates", 1, where) in {(w.entity, w.line, w.field) for w in report.warnings}
    definition["assistantJobRefs"] = [{"assistantJobId": "job-1"}]
    _rewrite(root, "templates", templates)
    problems = validate_export(root).problems
    assert [(p.entity, p.line, p.field) for p in problems] == [
        ("templates", 1, "task_definitions[0].assistantJobRefs")
    ]


def test_lenient_timestamps_and_missing_stamps_are_mapped(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    """The earlier validator took any `Date.parse` text and optional stamps; today's
    records need ISO timestamps and both stamps: each is mapped, with a warning."""
    root = _copy(tmp_path)
    users = _lines(root, "users")
    users[0]["created_at"] = "June 1 2025 14:30"
    _rewrite(root, "users", users)
    tasks = _lines(root, "tasks")
    tasks[1].pop("updated_at")
    tasks[1]["created_at"] = "2026-03-13T09:00:00+01:00"
    tasks[2].pop("created_at")
    tasks[2].pop("updated_at")
    _rewrite(root, "tasks", tasks)
    report = validate_export(root)
    assert report.valid, report.lines()
    warned = {(w.entity, w.line, w.field): w.message for w in report.warnings}
    assert "read as '2025-06-01T14:30:00.000Z'" in warned[("users", 1, "created_at")]
    assert ("tasks", 2, "created_at") not in warned  # an offset is today's form too
    assert "(its created_at)" in warned[("tasks", 2, "updated_at")]
    assert ("tasks", 3, "created_at") in warned
    apply_import(root, empty_workspace.store)
    with empty_workspace.store.unit_of_work() as uow:
        user = uow.users.get(users[0]["user_id"])
        second = uow.tasks.get(tasks[1]["task_id"])
        third = uow.tasks.get(tasks[2]["task_id"])
    assert user is not None
    assert user.created_at == "2025-06-01T14:30:00.000Z"
    assert second is not None
    assert second.updated_at == second.created_at
    assert third is not None
    assert third.created_at
    assert third.updated_at
    unreadable = _copy(tmp_path / "again")
    _edit(unreadable, "users", 0, created_at="sometime soon")
    problems = validate_export(unreadable).problems
    assert [(p.entity, p.line, p.field) for p in problems] == [("users", 1, "created_at")]


def test_plain_text_metadata_and_a_bare_proof_type_are_mapped(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    root = _copy(tmp_path)
    _edit(root, "artifacts", 0, metadata="checked by Ben")
    line = _edit(root, "tasks", 0, proof_requirement="artifact")
    report = validate_export(root)
    assert report.valid, report.lines()
    warned = {(w.entity, w.field) for w in report.warnings}
    assert {("artifacts", "metadata"), ("tasks", "proof_requirement")} <= warned
    apply_import(root, empty_workspace.store)
    artifact_id = _lines(root, "artifacts")[0]["artifact_id"]
    task_id = _lines(root, "tasks")[line - 1]["task_id"]
    with empty_workspace.store.unit_of_work() as uow:
        artifact = uow.artifacts.get(artifact_id)
        task = uow.tasks.get(task_id)
    assert artifact is not None
    assert artifact.metadata == {"text": "checked by Ben"}
    assert task is not None
    assert task.proof_requirement is not None
    assert task.proof_requirement.type == "artifact"


def test_an_unknown_field_is_an_error_not_dropped(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    line = _edit(root, "tasks", 0, emoji="🎙")
    report = validate_export(root)
    assert [(p.entity, p.line, p.field) for p in report.problems] == [("tasks", line, "emoji")]
    assert "is not a field of tasks" in report.problems[0].message


def test_legacy_checksums_and_counts_are_checked(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    with (root / "users.jsonl").open("a") as handle:
        handle.write('{"created_at":"2025-01-01T00:00:00.000Z","email":"x@y.example",')
        handle.write('"name":"X","user_id":"u-extra"}\n')
    texts = validate_export(root).lines()
    assert any(t.startswith("users: checksum mismatch: manifest sha256:") for t in texts)
    assert "users: count mismatch: manifest 2, file 3 records" in texts


def test_a_bad_line_is_reported_at_its_own_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    text = (root / "tasks.jsonl").read_text().splitlines()
    text[2] = "{not json"
    _write_raw(root, "tasks", "\n".join(text) + "\n", len(text))
    problems = validate_export(root).problems
    assert (problems[0].entity, problems[0].line) == ("tasks", 3), problems
    assert "not valid JSON" in problems[0].message


def _write_raw(root: Path, entity: str, text: str, count: int) -> None:
    (root / f"{entity}.jsonl").write_text(text)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["entity_counts"][entity] = count
    digest = hashlib.sha256(text.encode()).hexdigest()
    manifest["checksums"][f"{entity}.jsonl"] = f"sha256:{digest}"
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


@pytest.mark.parametrize(
    ("legacy", "today"),
    [
        ("0 9 * * 1", ("cron_expression", "0 9 * * 1")),
        ("0 0 9 * * 1", ("cron_expression", "0 9 * * 1")),
        ("cron(0 9 ? * 2 *)", ("cron_expression", "0 9 * * 1")),
        ("cron(30 7 1 * ? *)", ("cron_expression", "30 7 1 * *")),
        ("cron(0 9 ? * MON-FRI *)", ("cron_expression", "0 9 * * MON-FRI")),
        ("cron(0 9 ? * 2#1 *)", ("cron_expression", "0 9 * * 1#1")),
        ("rate(7 days)", ("rrule", "FREQ=DAILY;INTERVAL=7")),
        ("RRULE:FREQ=WEEKLY;BYDAY=TU", ("rrule", "FREQ=WEEKLY;BYDAY=TU")),
        ("15 0 9 * * 1", None),
        ("rate(5 minutes)", None),
        ("cron(0 9 ? * 2 2027)", None),
        ("every monday", None),
    ],
)
def test_legacy_schedules(legacy: str, today: tuple[str, str] | None) -> None:
    assert map_schedule(legacy) == today


# ---------------------------------------------------------------------- import


def test_dry_run_counts_what_the_import_writes(empty_workspace: Workspace) -> None:
    plan = plan_import(LEGACY, empty_workspace.store)
    assert plan.importable
    inserts = {name: counts.insert for name, counts in plan.entities.items()}
    assert inserts == {
        "users": 2,
        "templates": 3,  # two, and the one made for the legacy recurring config
        "recurring_configs": 2,  # the legacy one, and the first template's trigger
        "bundles": 1,
        "tasks": 4,
        "files": 2,
        "artifacts": 2,
        "notifications": 3,
    }
    assert empty_workspace.store.is_empty()


def test_imports_every_field_mapped_and_exports_todays_layout(
    any_workspace: Workspace, tmp_path: Path
) -> None:
    plan = apply_import(LEGACY, any_workspace.store)
    assert plan.applied
    assert plan.report.legacy
    with any_workspace.store.unit_of_work() as uow:
        users = uow.users.get_many([U1, U2])
        assert [u.role for u in users] == [Role.VIEWER, Role.VIEWER]
        assert users[0].email == "maya@studio.example"

        notification = uow.notifications.get(N1)
        assert notification.type == NotificationType.TASK_DUE
        assert notification.due_at == "2026-03-13T00:00:00.000Z"

        legacy_file, new_file = uow.files.get_many([F1, F2])
        assert legacy_file.storage_uri == f"local-dev://{T3}/interview%20take2.wav"
        assert legacy_file.storage_provider is None  # no checksum: see records.py
        assert new_file.storage_provider is not None
        assert new_file.storage_provider.value == "local-dev"

        approved, uploaded = uow.artifacts.get_many([A1, A2])
        assert approved.data_class.value == "internal"
        assert approved.metadata == {"pages": 4}
        assert uploaded.data_class.value == "private"  # the stricter of the two
        assert uploaded.created_by == SYSTEM_ACTOR  # was the shared "portal-admin"

        published, recurring = uow.tasks.get_many([T1, T2])
        assert published.template_id == TPL1  # source "template": its template_id
        assert published.status.value == "done"
        assert published.completed_by == U1
        assert recurring.template_id == f"{RC1}-template"
        assert recurring.template_task_ref == "task"

        made = uow.templates.get(f"{RC1}-template")
        assert made.name == "Check the weekly backup"
        assert [d.description for d in made.task_definitions] == ["Check the weekly backup"]
        assert made.default_assignee_id == U2
        podcast = uow.templates.get(TPL1)
        assert [r.title for r in podcast.references] == [
            "Style guide",
            "Source document sop-podcast-v3",
        ]

        config = uow.recurring_configs.get(RC1)
        assert config.template_id == f"{RC1}-template"
        assert config.title == "Check the weekly backup ({date})"
        assert (config.cron_expression, config.rrule) == ("0 8 * * 5", None)
        assert (config.start_date, config.lead_days, config.timezone) == ("2026-03-14", 0, "UTC")
        assert config.assignee_id == U2
        assert config.enabled
        trigger = uow.recurring_configs.get(f"{TPL1}-schedule")
        assert trigger.template_id == TPL1
        assert (trigger.cron_expression, trigger.lead_days) == ("0 9 * * 1", 10)
        assert trigger.title == "Podcast episode ({date})"

    out = tmp_path / "again"
    write_export(any_workspace.store, out, INFO)
    report = validate_export(out)
    assert report.valid, report.lines()
    assert not report.legacy
    assert report.warnings == []
    manifest = json.loads((out / MANIFEST).read_text())
    assert "settings" in manifest["entity_files"]
    for user in _lines(out, "users"):
        assert "role" in user
    assert all("type" in n and "notification_type" not in n for n in _lines(out, "notifications"))
    assert all("source" not in t and "recurring_config_id" not in t for t in _lines(out, "tasks"))


def test_import_refuses_a_legacy_export_with_an_error(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    root = _copy(tmp_path)
    _edit(root, "recurring_configs", 0, cron_expression="whenever")
    with pytest.raises(ImportRefused) as refused:
        apply_import(root, empty_workspace.store)
    assert refused.value.plan is not None
    assert refused.value.plan.entities["recurring_configs"].invalid == 1
    with empty_workspace.store.unit_of_work() as uow:
        assert uow.users.find(Filters(), PageRequest(limit=5)).items == []
