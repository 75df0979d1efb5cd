"""Rewrite a legacy export into today's layout, so the usual checks (and the import)
run on it unchanged.

A separate step before validation (`validate.opened` calls `prepare`): the legacy
files are read once, line by line, each record mapped (`records.LegacyMapper`) and
written to a scratch copy, one line for each line, so every problem today's checks find
names the legacy line. What cannot be parsed is copied as it is, for today's checks to
report. Records made for the mapping (the template of a legacy recurring config, the
recurring config of a template's trigger) follow the mapped lines of their file. The
legacy manifest's counts and checksums are checked against the legacy files here; the
copy gets its own. Memory stays flat: one line at a time, plus the ids of the recurring
configs and the records made for them.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataops.portable.format import (
    MANIFEST,
    SPECS,
    canonical_line,
    is_entity_file_name,
    manifest_text,
)
from dataops.portable.legacy.detect import legacy_reason
from dataops.portable.legacy.records import LegacyMapper
from dataops.portable.lines import MAX_LINE_BYTES, parse_line, read_lines, too_many_values
from dataops.portable.report import Problem, Report

_FIRST = ("recurring_configs", "templates")
"""Mapped first: tasks name recurring configs, and these two gain made records."""
_MAX_MANIFEST_BYTES = 1 << 20
_TOO_LONG_LINE = b" " * (MAX_LINE_BYTES + 1)
"""Stands for a legacy line too long to read: today's checks report it the same way."""


def _manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    if not path.is_file() or path.stat().st_size > _MAX_MANIFEST_BYTES:
        return None
    try:
        data = parse_line(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def prepare(root: Path, scratch: Path, report: Report) -> Path:
    """The directory to validate: `root` itself, or for a legacy export a copy of it in
    today's layout (under `scratch`), its mapping reported as warnings on `report`."""
    manifest = _manifest(root)
    reason = legacy_reason(manifest)
    if manifest is None or reason is None:
        return root
    report.legacy = True
    report.warn(Problem("manifest", reason))
    out = scratch / "legacy-mapped"
    out.mkdir()
    _Converter(root, out, manifest, report).run()
    return out


class _Converter:
    def __init__(self, root: Path, out: Path, manifest: dict[str, Any], report: Report) -> None:
        self._root = root
        self._out = out
        self._manifest = manifest
        self._report = report
        generated = manifest.get("generated_at")
        start = generated[:10] if isinstance(generated, str) else ""
        if len(start) != 10:
            start = datetime.now(UTC).date().isoformat()
        self._mapper = LegacyMapper(start, self._note)

    def _note(self, problem: Problem, error: bool) -> None:
        if error:
            self._report.add(problem)
        else:
            self._report.warn(problem)

    def run(self) -> None:
        listed = self._manifest.get("entity_files")
        listed = dict(listed) if isinstance(listed, dict) else {}
        counts = self._manifest.get("entity_counts")
        checksums = self._manifest.get("checksums")
        counts = counts if isinstance(counts, dict) else {}
        checksums = checksums if isinstance(checksums, dict) else {}
        omitted = self._manifest.get("omitted_entities")
        omitted = list(omitted) if isinstance(omitted, list) else omitted
        order = [n for n in _FIRST if n in listed] + [n for n in listed if n not in _FIRST]
        files: dict[str, str] = {}
        new_counts: dict[str, Any] = {}
        new_checksums: dict[str, Any] = {}
        for name in order:
            file_name = listed[name]
            spec = SPECS.get(name)
            source = self._root / file_name if isinstance(file_name, str) else None
            files[name] = file_name
            if spec is None or file_name != spec.file_name or source is None:
                continue  # today's checks say what is wrong with the entry
            if not source.is_file():
                continue
            records, checksum = self._file(name, source, counts.get(name), checksums.get(file_name))
            new_counts[name], new_checksums[file_name] = records, checksum
        self._append_made(files, new_counts, new_checksums, omitted)
        if isinstance(omitted, list) and "settings" not in omitted:
            omitted.append("settings")  # the earlier system had no workspace settings
        for path in sorted(self._root.iterdir()):
            if is_entity_file_name(path.name) and path.name not in files.values():
                shutil.copyfile(path, self._out / path.name)  # reported as not listed
        self._report.legacy_shapes = dict(sorted(self._mapper.shapes.items()))
        manifest = {
            **self._manifest,
            "entity_files": files,
            "entity_counts": {**counts, **new_counts},
            "checksums": {**checksums, **new_checksums},
            "omitted_entities": omitted,
        }
        (self._out / MANIFEST).write_text(manifest_text(manifest), encoding="utf-8")

    def _append_made(
        self,
        files: dict[str, str],
        counts: dict[str, Any],
        checksums: dict[str, Any],
        omitted: Any,
    ) -> None:
        """Append the templates and recurring configs the mapping made to their files
        (listing them in the manifest's `files`, `counts` and `checksums`)."""
        made = {"templates": self._mapper.made_templates}
        made["recurring_configs"] = self._mapper.made_configs
        for name, extra in made.items():
            if not extra or (name in files and name not in counts):
                continue  # none made, or the file is not readable (today's checks say so)
            file_name = SPECS[name].file_name
            files[name] = file_name
            before = counts.get(name, 0)
            counts[name], checksums[file_name] = self._append(file_name, extra, before)
            if isinstance(omitted, list) and name in omitted:
                omitted.remove(name)

    def _file(self, name: str, source: Path, count: Any, checksum: Any) -> tuple[int, str]:
        """Map `source` into the copy; (records written, checksum of the copy)."""
        legacy_digest = hashlib.sha256()
        digest = hashlib.sha256()
        records = read = 0
        with source.open("rb") as handle, (self._out / source.name).open("wb") as target:
            for number, raw, newline, long_numbers in read_lines(handle, legacy_digest):
                line = self._line(name, number, raw, newline, long_numbers)
                if line.strip():
                    records += 1
                if raw is None or raw.strip():
                    read += 1
                data = line + b"\n"
                digest.update(data)
                target.write(data)
        actual = "sha256:" + legacy_digest.hexdigest()
        if isinstance(checksum, str) and checksum != actual:
            message = f"checksum mismatch: manifest {checksum}, file {actual}"
            self._report.add(Problem(name, message))
        if type(count) is int and count != read:
            message = f"count mismatch: manifest {count}, file {read} records"
            self._report.add(Problem(name, message))
        return records, "sha256:" + digest.hexdigest()

    def _line(
        self, name: str, number: int, raw: bytes | None, newline: bytes, long_numbers: bool
    ) -> bytes:
        if raw is None:
            return _TOO_LONG_LINE
        if not raw.strip() or too_many_values(raw):
            return raw
        try:
            record = parse_line(raw, long_numbers=long_numbers, newline=newline)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return raw
        if not isinstance(record, dict):
            return raw
        mapped = self._mapper.map(name, number, record)
        return canonical_line(mapped).encode("utf-8")

    def _append(self, file_name: str, made: list[dict[str, Any]], before: int) -> tuple[int, str]:
        """Add `made` records after the mapped lines of `file_name`; (records, checksum)."""
        path = self._out / file_name
        with path.open("ab") as target:
            for record in made:
                target.write(canonical_line(record).encode("utf-8") + b"\n")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        return before + len(made), "sha256:" + digest.hexdigest()
