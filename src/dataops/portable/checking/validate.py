"""Validate a portable export (directory or `.tar.gz`) and report every problem.

Checks, in order: archive safety and integrity; the manifest (present, JSON, schema
and format version, strict `generated_at`, entity files, counts, checksums, redaction
markers, every entity either exported or omitted); each line of each entity file
(JSON object, shape and enum values, the domain's field rules, strict dates and
timestamps, redaction with the API's storage policy); duplicate IDs; every
relationship whose target entity is exported (`assistant_job_id` stays opaque until
`assistant_jobs.jsonl` exists); done tasks' proof with the API's own proof rule.

Memory stays flat: lines are streamed and IDs, edges and evidence go to a scratch
index on disk (`index.ScratchIndex`). Whatever the export holds: archives are read within
limits (`archive`), lines up to `lines.MAX_LINE_BYTES`, the manifest up to
`MAX_MANIFEST_BYTES`, and the validation stops at `report.MAX_PROBLEMS` problems (then
the cross-record checks, counts and checksums, which need every line, are skipped).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from dataops.domain.clock import parse_ts
from dataops.domain.errors import NotFound
from dataops.domain.proof import evaluate
from dataops.portable.archive import extract_archive, is_archive
from dataops.portable.checking.fast import FAST_CHUNK, prove_export
from dataops.portable.checking.index import ExportEvidence, ScratchIndex
from dataops.portable.checking.parallel import available_cores, part_name, scan_parallel
from dataops.portable.checking.scan import Chunk, ChunkResult, relationships, scan_chunk, split_file
from dataops.portable.checking.speculate import Speculation, speculate
from dataops.portable.format import (
    ENTITY_NAMES,
    FORMAT_VERSION,
    MANIFEST,
    OMITTED,
    REQUIRED_REDACTIONS,
    SCHEMA_VERSION,
    SPECS,
    EntitySpec,
    from_record,
    is_entity_file_name,
)
from dataops.portable.legacy import convert as legacy
from dataops.portable.lines import parse_line
from dataops.portable.report import MAX_PROBLEMS, Problem, Progress, Report, size_text

_CHECKSUM = re.compile(r"^sha256:[0-9a-f]{64}$")
PARALLEL_BYTES = 16 << 20
"""Entity files this large (in all) are checked by one process per core."""
_CHUNKS_PER_WORKER = 8
_MIN_CHUNK = 1 << 20
_SMALL_FILE = 2 << 20
"""Files this small are checked first, in one piece, and their IDs kept in memory while
the others are checked (`ScratchIndex.collect_ids`)."""
_SMALL_FIRST = 256 << 10
"""The same, before worker processes start: that part runs alone, so it stays short."""
MAX_MANIFEST_BYTES = 1 << 20
"""The largest manifest read (1 MiB; an export's is about 2 KB)."""
_SOURCE_FIELDS = ("source_environment", "source_stack", "source_region", "app_git_sha")
_NEVER_EXPORTED = frozenset(OMITTED) | {"sessions", "api_tokens", "credentials"}


@contextmanager
def opened(
    path: Path,
    workers: int | None = None,
    chunk_bytes: int | None = None,
    progress: TextIO | None = None,
    *,
    fast: bool = True,
) -> Iterator[tuple[Path, Report, ScratchIndex]]:
    """Validate `path` and yield (the directory holding its files, the report, the
    scratch index); temporary files are removed afterwards. `workers`: processes that
    check lines (default: one per core for a large export, else only this one), given
    ranges of lines of about `chunk_bytes`. `progress`: a terminal to count records on.
    A legacy export is checked in today's layout (`legacy.convert.prepare`): the
    directory yielded is then its mapped copy. `fast=False` takes the reference paths
    only (no pre-filter, stdlib gzip): the fast ones must report exactly the same."""
    if not path.exists():
        raise NotFound("export", str(path))
    with tempfile.TemporaryDirectory(prefix="dataops-validate-") as scratch:
        report = Report(str(path))
        shown = Progress(progress, "validating", "validated")
        root = path
        speculation = None
        if is_archive(path) and path.is_file():
            root = Path(scratch) / "files"
            root.mkdir()
            if fast:
                speculation = speculate(path, root, workers, chunk_bytes, shown)
            problems = extract_archive(path, root, fast=fast) if speculation is None else []
            for problem in problems:
                report.add(problem)
        elif not path.is_dir():
            report.add(Problem("export", "is neither a directory nor a .tar.gz archive"))
        index = ScratchIndex(Path(scratch))
        try:
            if path.is_dir() or root != path:
                extracted = root
                root = legacy.prepare(root, Path(scratch), report)  # today's layout
                validator = _Validator(root, report, index, Path(scratch), fast=fast)
                if root == extracted:
                    validator.speculation = speculation
                validator.run(workers, chunk_bytes, shown)
            yield root, report, index
        finally:
            index.close()


def validate_export(
    path: Path,
    workers: int | None = None,
    chunk_bytes: int | None = None,
    progress: TextIO | None = None,
    *,
    fast: bool = True,
) -> Report:
    with opened(path, workers, chunk_bytes, progress, fast=fast) as (_, report, _index):
        return report


class _Validator:
    def __init__(
        self, root: Path, report: Report, index: ScratchIndex, scratch: Path, *, fast: bool
    ) -> None:
        self._fast = fast
        self._root = root
        self._report = report
        self._index = index
        self._scratch = scratch
        self._relationships: dict[str, int] = {}
        self._progress = Progress(None)
        self._records: dict[str, int] = {}
        self.speculation: Speculation | None = None
        """The fast pass run while the archive was extracted, if it was."""

    def _add(
        self, entity: str, message: str, line: int | None = None, field: str | None = None
    ) -> None:
        self._report.add(Problem(entity, message, line, field))

    def run(
        self,
        workers: int | None = None,
        chunk_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._progress = progress or self._progress
        try:
            self._check(workers, chunk_bytes)
        finally:
            self._progress.done(sum(self._report.entity_counts.values()))

    def _check(self, workers: int | None, chunk_bytes: int | None) -> None:
        manifest = self._manifest()
        files = self._entity_files(manifest)
        exported = [spec.name for spec, _, _ in files]
        size = sum((self._root / spec.file_name).stat().st_size for spec, _, _ in files)
        if workers is None:
            workers = available_cores() if size >= PARALLEL_BYTES else 1
        target = chunk_bytes or max(_MIN_CHUNK, size // (workers * _CHUNKS_PER_WORKER))
        if self._fast and self._report.valid and self._proven(files, workers, target):
            return  # a valid export, proven so by the fast pass
        if workers > 1:
            self._scan_parallel(files, workers, target)
        else:
            self._scan(files)
        if self._report.stopped:
            return  # the index lacks the lines not checked: no cross-record checks
        self._index.seal()
        for key, value, line, first in self._index.duplicates():
            if self._report.stopped:
                return
            entity, _, field = key.partition(".")
            what = field or "id"
            message = f"duplicate {what} {value!r} (first on line {first})"
            self._add(entity, message, line, field or SPECS[entity].id_field)
        for entity, line, field, target_name, target_id in self._index.dangling(exported):
            if self._report.stopped:
                return
            message = f"references missing {target_name} record {target_id!r}"
            self._add(entity, message, line, field)
        self._live_proofs()
        self._report.relationships = dict(sorted(self._relationships.items()))

    # ------------------------------------------------------------------ manifest

    def _manifest(self) -> dict[str, Any] | None:
        path = self._root / MANIFEST
        if not path.is_file():
            self._add("manifest", "manifest.json is missing")
            return None
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            limit = size_text(MAX_MANIFEST_BYTES)
            self._add("manifest", f"manifest.json is larger than {limit} (its limit); not read")
            return None
        try:
            data = parse_line(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            self._add("manifest", f"manifest.json is not valid JSON: {exc}")
            return None
        if not isinstance(data, dict):
            self._add("manifest", "manifest.json must hold a JSON object")
            return None
        self._manifest_fields(data)
        return data

    def _manifest_fields(self, data: dict[str, Any]) -> None:
        """The manifest's own fields: versions, when and where it was written, and the
        redaction markers."""
        if data.get("schema_version") != SCHEMA_VERSION:
            self._add("manifest", f"must be {SCHEMA_VERSION!r}", field="schema_version")
        version = data.get("export_format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            self._add(
                "manifest", f"must be the integer {FORMAT_VERSION}", None, "export_format_version"
            )
        generated = data.get("generated_at")
        try:
            parse_ts(generated if isinstance(generated, str) else "")
        except ValueError:
            message = "must be an ISO 8601 timestamp with a zone (…Z)"
            self._add("manifest", message, field="generated_at")
        for name in _SOURCE_FIELDS:
            if not isinstance(data.get(name), str) or not data[name]:
                self._add("manifest", "is required (a non-empty string)", field=name)
        redactions = data.get("redactions")
        if not isinstance(redactions, list) or not all(isinstance(r, str) for r in redactions):
            self._add("manifest", "must be an array of strings", field="redactions")
        else:
            for marker in REQUIRED_REDACTIONS:
                if marker not in redactions:
                    self._add("manifest", f"must declare {marker!r}", field="redactions")

    def _entity_files(self, manifest: dict[str, Any] | None) -> list[tuple[EntitySpec, Any, Any]]:
        """(spec, expected count, expected checksum) of every entity file to read."""
        if manifest is None:
            found = [SPECS[n] for n in ENTITY_NAMES if (self._root / SPECS[n].file_name).is_file()]
            return [(spec, None, None) for spec in found]
        listed = self._mapping(manifest, "entity_files")
        counts = self._mapping(manifest, "entity_counts")
        checksums = self._mapping(manifest, "checksums")
        omitted = manifest.get("omitted_entities")
        if not isinstance(omitted, list) or not all(isinstance(o, str) for o in omitted):
            self._add("manifest", "must be an array of entity names", field="omitted_entities")
            omitted = []
        files: list[tuple[EntitySpec, Any, Any]] = []
        for name, file_name in listed.items():
            spec = SPECS.get(name)
            where = f"entity_files.{name}"
            if spec is None:
                self._add("manifest", "is not an entity of this format", field=where)
            elif file_name != spec.file_name:
                self._add("manifest", f"must be {spec.file_name!r}", field=where)
            elif not (self._root / file_name).is_file():
                self._add(name, f"{file_name} is listed in the manifest but missing")
            else:
                files.append((spec, counts.get(name), checksums.get(file_name)))
                self._expect_count_and_checksum(spec, counts, checksums)
        self._omitted_and_unlisted(listed, omitted)
        return files

    def _omitted_and_unlisted(self, listed: dict[str, Any], omitted: list[str]) -> None:
        """Every entity is exported or omitted, never both; every entity file present is
        listed."""
        for name in ENTITY_NAMES:
            if name in listed and name in omitted:
                self._add(
                    "manifest", f"{name} is both exported and omitted", field="omitted_entities"
                )
            elif name not in listed and name not in omitted:
                message = f"{name} is neither exported nor listed as omitted"
                self._add("manifest", message, field="omitted_entities")
        for name in omitted:
            if name not in SPECS and name not in _NEVER_EXPORTED:
                self._add("manifest", f"{name!r} is not an entity", field="omitted_entities")
        for path in sorted(self._root.iterdir()):
            if is_entity_file_name(path.name) and path.name not in listed.values():
                self._add(
                    "manifest", f"{path.name} is present but not listed", field="entity_files"
                )

    def _mapping(self, manifest: dict[str, Any], name: str) -> dict[str, Any]:
        value = manifest.get(name)
        if not isinstance(value, dict):
            self._add("manifest", "must be an object", field=name)
            return {}
        return value

    def _expect_count_and_checksum(
        self, spec: EntitySpec, counts: dict[str, Any], checksums: dict[str, Any]
    ) -> None:
        count = counts.get(spec.name)
        if type(count) is not int or count < 0:
            self._add(
                "manifest", "must be a non-negative integer", field=f"entity_counts.{spec.name}"
            )
        checksum = checksums.get(spec.file_name)
        if not isinstance(checksum, str) or not _CHECKSUM.match(checksum):
            message = "must be sha256:<64 lowercase hex digits>"
            self._add("manifest", message, field=f"checksums.{spec.file_name}")

    # ------------------------------------------------------------------ records

    def _proven(self, files: list[tuple[EntitySpec, Any, Any]], workers: int, target: int) -> bool:
        """Whether the fast pass (`fast`) proves every line and relationship free of
        problems; then the report is complete but for the counts and checksums, checked
        here. Else nothing was reported, and the reference checks follow."""
        specs = [spec for spec, _, _ in files]
        speculation = self.speculation
        if speculation is not None and speculation.covers([spec.name for spec in specs]):
            proven = speculation.proven  # (checked while the archive was extracted)
        else:
            chunk = min(target, FAST_CHUNK)
            proven = prove_export(
                self._root, specs, workers, chunk, self._progress, scratch=self._scratch
            )
        if proven is None:
            return False
        for spec, count, checksum in files:
            self._records[spec.name] = proven.records[spec.name]
            digest = proven.digests[spec.name]
            self._file_done(spec, proven.records[spec.name], count, checksum, digest)
        self._report.relationships = proven.relationships
        return True

    def _scan_small(
        self, files: list[tuple[EntitySpec, Any, Any]], small_file: int
    ) -> dict[str, tuple[ChunkResult, Any]]:
        """Check the files of at most `small_file` bytes first, here, keeping their IDs
        in memory for the others; their results (with their digests) by entity."""
        early: dict[str, tuple[ChunkResult, Any]] = {}
        budget = MAX_PROBLEMS - self._report.problem_count
        sizes = {spec.name: (self._root / spec.file_name).stat().st_size for spec, _, _ in files}
        for spec, _, _ in sorted(files, key=lambda file: sizes[file[0].name]):
            path = self._root / spec.file_name
            if sizes[spec.name] <= small_file and budget > 0:  # smallest first: the users
                self._index.collect_ids(spec.name)
                digest = hashlib.sha256()
                chunk = Chunk(spec.name, path)
                result = scan_chunk(chunk, self._index, None, digest, budget, fast=self._fast)
                early[spec.name] = (result, digest)
                budget -= len(result.problems)
                self._index.ids_complete(spec.name)
        return early

    def _scan(self, files: list[tuple[EntitySpec, Any, Any]]) -> None:
        """Check the files' lines here, each file in one piece (small files first)."""
        early = self._scan_small(files, _SMALL_FILE)
        for spec, count, checksum in files:
            if self._report.stopped:
                return
            if spec.name in early:
                result, digest = early.pop(spec.name)
            else:
                digest = hashlib.sha256()
                chunk = Chunk(spec.name, self._root / spec.file_name)
                budget = MAX_PROBLEMS - self._report.problem_count
                result = scan_chunk(
                    chunk, self._index, self._report.add, digest, budget, fast=self._fast
                )
            self._file_done(spec, self._take(spec, result), count, checksum, digest)

    def _scan_parallel(
        self, files: list[tuple[EntitySpec, Any, Any]], workers: int, target: int
    ) -> None:
        """Check the small files here first (their IDs are then known to the workers),
        the others' lines in `workers` processes, in ranges of about `target` bytes;
        report in file order."""
        early = self._scan_small(files, min(_SMALL_FIRST, target))
        digests = {spec.name: hashlib.sha256() for spec, _, _ in files if spec.name not in early}

        def chunks() -> Iterator[Chunk]:
            for spec, _, _ in files:
                if spec.name in digests:
                    path = self._root / spec.file_name
                    yield from split_file(spec.name, path, digests[spec.name], target)

        if not digests:
            workers = 0  # nothing left for them
        results = scan_parallel(
            chunks(), self._scratch, workers, self._index.known, fast=self._fast
        )
        try:
            ahead: tuple[Chunk, ChunkResult] | None = next(results, None)
            for spec, count, checksum in files:
                if spec.name in early:
                    done, digest = early.pop(spec.name)
                    records = self._take(spec, done)
                else:
                    digest, records = digests[spec.name], 0
                    while ahead is not None and ahead[0].entity == spec.name:
                        records += self._take(spec, ahead[1])
                        ahead = None if self._report.stopped else next(results, None)
                self._file_done(spec, records, count, checksum, digest)
                if self._report.stopped:
                    return  # the workers are stopped (closing `results`), unmerged
        finally:
            results.close()
        for number in range(workers):
            self._index.absorb(self._scratch / part_name(number))

    def _take(self, spec: EntitySpec, result: ChunkResult) -> int:
        """Report what a chunk found; its number of records."""
        for problem in result.problems:
            self._report.add(problem)
            if self._report.stopped:
                break
        relationships(spec.name, result.edges, self._relationships)
        seen = self._records[spec.name] = self._records.get(spec.name, 0) + result.records
        self._progress.update(spec.name, seen)
        return result.records

    def _file_done(
        self, spec: EntitySpec, records: int, count: Any, checksum: Any, digest: Any
    ) -> None:
        self._report.entity_counts[spec.name] = records  # read so far, if stopped
        self._progress.update(spec.name, records, force=True)
        if self._report.stopped:
            return  # the file was not read to its end
        actual = "sha256:" + digest.hexdigest()
        if isinstance(checksum, str) and _CHECKSUM.match(checksum) and checksum != actual:
            self._add(spec.name, f"checksum mismatch: manifest {checksum}, file {actual}")
        if type(count) is int and count >= 0 and count != records:
            self._add(spec.name, f"count mismatch: manifest {count}, file {records} records")

    def _live_proofs(self) -> None:
        """Done tasks without a recorded proof must pass the proof rule the API uses."""
        evidence = ExportEvidence(self._index)
        for line, raw in self._index.pending_tasks():
            if self._report.stopped:
                return
            task = from_record(SPECS["tasks"], parse_line(raw))
            bundle = self._index.bundle(task.bundle_id) if task.bundle_id else None
            verdict = evaluate(task, bundle, evidence)
            if not verdict.can_complete:
                missing = "; ".join(f"{r.label} ({r.reason})" for r in verdict.missing)
                self._add("tasks", f"is done without its proof: {missing}", line, "status")
