"""An archive is checked while it is extracted (`checking.speculate`): the report is the
reference's whatever the archive's member order, the files its manifest lists, its
layout or its damage (test_validate_differential.py covers damaged archives)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dataops.portable.checking import speculate as speculate_module
from dataops.portable.checking.hashes import ORDER
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import MANIFEST, SPECS
from dataops.portable.report import Progress
from tests.portable.support import ExportDir


def _archive(directory: Path, names: list[str], target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for name in names:
            data = (directory / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


def _files(directory: Path) -> list[str]:
    """The export's files in the pass's order, the manifest last (as an export writes)."""
    names = [
        SPECS[name].file_name for name in ORDER if (directory / SPECS[name].file_name).exists()
    ]
    return [*names, MANIFEST]


def _same(archive: Path) -> dict[str, object]:
    fast = validate_export(archive).as_json()
    fast.pop("path")
    reference = validate_export(archive, fast=False).as_json()
    reference.pop("path")
    assert fast == reference
    return fast


@pytest.mark.parametrize("order", ["export", "manifest-first", "reversed"])
@pytest.mark.parametrize("workers", [1, 2])
def test_any_member_order_gives_the_reference_report(
    tampered: ExportDir, tmp_path: Path, order: str, workers: int
) -> None:
    names = _files(tampered.root)
    if order == "manifest-first":
        names = [names[-1], *names[:-1]]
    elif order == "reversed":
        names.reverse()
    archive = _archive(tampered.root, names, tmp_path / "a.tar.gz")
    assert _same(archive)["valid"]
    report = validate_export(archive, workers=workers, chunk_bytes=200)
    assert report.valid


def test_an_omitted_entity_is_checked_as_the_manifest_says(
    tampered: ExportDir, tmp_path: Path
) -> None:
    """The pass reads every entity an export writes; one the manifest omits leaves it
    waiting for a file that never comes, and the files are then checked as listed."""
    manifest = tampered.manifest()
    for key in ("entity_files", "entity_counts"):
        manifest[key].pop("settings")
    manifest["checksums"].pop("settings.jsonl")
    manifest["omitted_entities"].append("settings")
    tampered.write_manifest(manifest)
    (tampered.root / "settings.jsonl").unlink()
    archive = _archive(tampered.root, _files(tampered.root), tmp_path / "a.tar.gz")
    report = _same(archive)
    assert report["valid"], report
    assert "settings" not in report["entity_counts"]


def test_a_bad_line_found_while_extracting_gives_the_reference_report(
    tampered: ExportDir, tmp_path: Path
) -> None:
    path = tampered.root / "tasks.jsonl"
    lines = path.read_bytes().splitlines()
    record = json.loads(lines[0])
    record["date"] = "2026-02-30"
    lines[0] = json.dumps(record).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    archive = _archive(tampered.root, _files(tampered.root), tmp_path / "a.tar.gz")
    report = _same(archive)
    assert not report["valid"]


def test_the_pass_waits_for_each_file_and_never_reads_one_half_written(
    tampered: ExportDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tampered.root, _files(tampered.root), tmp_path / "a.tar.gz")
    seen: list[tuple[str, bool]] = []
    original = speculate_module.Speculation._ready

    def ready(self: speculate_module.Speculation, file_name: str) -> bool:
        whole = original(self, file_name)
        seen.append((file_name, whole))
        if whole:
            expected = (tampered.root / file_name).read_bytes()
            assert (self._root / file_name).read_bytes() == expected
        return whole

    monkeypatch.setattr(speculate_module.Speculation, "_ready", ready)
    root = tmp_path / "out"
    root.mkdir()
    speculation = speculate_module.speculate(archive, root, 1, None, Progress(None))
    assert speculation is not None
    assert speculation.proven is not None
    assert [name for name, _ in seen] == [SPECS[name].file_name for name in ORDER]
