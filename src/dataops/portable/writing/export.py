"""Write a portable export of a metadata store.

- One read unit of work for the whole export: on SQLite one read transaction, so the
  files are a consistent snapshot even while the API keeps writing; a store whose reads
  are live (DynamoDB) is first copied and made consistent (`snapshot.py`), and the files
  are written from that copy.
- Streaming: each entity's stored rows are read in batches (`UnitOfWork.stored`) and
  turned into lines by `encode.EntityEncoder` without building entities; no table is
  ever held in memory. Rows come in id order where the reader can give it (SQLite's
  primary key, the snapshot copy's); otherwise (a live read of DynamoDB tasks) they are
  sorted through bounded run files (`output.EntityOutput`, `spool.SortedSpool`).
- Two cores: where forking is safe, the export worker process (`export_worker.py`)
  encodes part of the batches and writes every file while this process reads the store
  and encodes the rest (`_WorkerFiles`); elsewhere (the API's download runs in a
  threaded server) a writer thread hashes, compresses and writes while this thread
  encodes (`_Files`). The files are the same either way.
- Atomic: everything is written into a hidden temporary sibling of OUT, the manifest
  last, and renamed into place at the end (an archive is packed to a temporary name
  and renamed). A failure removes the temporary files and leaves nothing at OUT.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from dataops.domain.clock import now_ts, parse_ts
from dataops.domain.errors import Conflict, NotFound
from dataops.domain.models import refresh_artifact_refs
from dataops.portable.archive import ArchiveWriter, is_archive
from dataops.portable.format import (
    EXPORTED,
    MANIFEST,
    OMITTED,
    SPECS,
    EntityFile,
    EntitySpec,
    SourceInfo,
    build_manifest,
    manifest_text,
    to_record,
)
from dataops.portable.report import Progress
from dataops.portable.writing.encode import EntityEncoder, Ref
from dataops.portable.writing.export_worker import (
    ExportWorker,
    artifacts_for,
    start_worker,
    worker_possible,
)
from dataops.portable.writing.output import (
    EntityOutput,
    FileSink,
    OpenFile,
    WriterThread,
    Written,
    block,
)
from dataops.store.port import MetadataStore, StoredReader, StoredRow, UnitOfWork

PAGE_SIZE = 500
"""Stored rows per batch: one read, one refs lookup, one message to the worker."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]

    @property
    def total(self) -> int:
        return sum(self.manifest["entity_counts"].values())


def present(uow: UnitOfWork, spec: EntitySpec, items: list[Any]) -> list[dict[str, Any]]:
    """Export records of entities, refs refreshed: the defining path the export's lines
    follow (`encode.py`), for readers that hold entities (the importer compares with it)."""
    if spec.name in ("tasks", "bundles"):
        refresh_artifact_refs(items, uow.artifacts.get_many)
    return [to_record(spec, item) for item in items]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LiveRefs:
    """The refs of artifacts as they are in the export's snapshot (for tasks, bundles)."""

    def __init__(self, uow: StoredReader) -> None:
        self._uow = uow
        self._artifacts = EntityEncoder(SPECS["artifacts"])

    def __call__(self, ids: list[str]) -> dict[str, Ref]:
        refs = (self._artifacts.ref(raw) for _, raw, _ in self._uow.stored_many("artifacts", ids))
        return {ref[0]["artifactId"]: ref for ref in refs}


class _Files:
    """The entity files, written in this process (a writer thread hashes, compresses
    and writes while records are encoded); every batch is encoded here."""

    def __init__(self, open_file: OpenFile, scratch: Path) -> None:
        self._open_file = open_file
        self._scratch = scratch
        self._writer = WriterThread()
        self._output: EntityOutput | None = None
        self._written: list[Written] = []

    def open(self, spec: EntitySpec, key_ordered: bool) -> None:
        self._output = EntityOutput(
            spec.name,
            spec.file_name,
            self._open_file(spec.file_name),
            self._writer,
            key_ordered=key_ordered,
            id_field=spec.id_field,
            scratch=self._scratch,
        )

    def send_rows(self, uow: StoredReader, encoder: EntityEncoder, rows: list[StoredRow]) -> bool:
        return False

    def add(self, ids: list[str], lines: list[bytes]) -> None:
        assert self._output is not None
        self._output.add(ids, lines)

    def finish(self) -> None:
        assert self._output is not None
        self._written.append(self._output.finish())
        self._output = None

    def written(self) -> list[Written]:
        return self._written

    def close(self) -> None:
        self._writer.close()


class _WorkerFiles:
    """The entity files, written by the export worker process, which also encodes the
    batches it is sent (see `export_worker.py`)."""

    def __init__(self, worker: ExportWorker) -> None:
        self._worker = worker
        self._name = ""
        self._key_ordered = True

    def open(self, spec: EntitySpec, key_ordered: bool) -> None:
        self._name, self._key_ordered = spec.name, key_ordered
        self._worker.open(spec.name, spec.file_name, spec.id_field, key_ordered)

    def send_rows(self, uow: StoredReader, encoder: EntityEncoder, rows: list[StoredRow]) -> bool:
        """Send `rows` to be encoded there, unless enough batches already wait for that
        (or an artifact ID in them cannot be found by the byte search)."""
        if not self._worker.wants_rows():
            return False
        artifacts = None
        if encoder.holds_refs:
            artifacts = artifacts_for(uow, rows)
            if artifacts is None:
                return False
        self._worker.encode(encoder.spec.name, rows, artifacts)
        return True

    def add(self, ids: list[str], lines: list[bytes]) -> None:
        if not self._key_ordered:
            self._worker.add(ids, lines)  # (sorted there, by id)
        elif (joined := block(self._name, ids, lines)) is not None:
            self._worker.add_block(joined)

    def finish(self) -> None:
        self._worker.finish()

    def written(self) -> list[Written]:
        return self._worker.written()

    def close(self) -> None:
        self._worker.close()


def _export_entity(
    uow: StoredReader,
    spec: EntitySpec,
    files: _Files | _WorkerFiles,
    refs: _LiveRefs,
    progress: Progress,
    page_size: int,
) -> None:
    encoder = EntityEncoder(spec)
    stored = uow.stored(spec.name, page_size)
    files.open(spec, stored.key_ordered)
    count = 0
    for rows in stored.batches:
        if not files.send_rows(uow, encoder, rows):
            files.add(*encoder.lines(rows, refs))
        count += len(rows)
        progress.update(spec.name, count)
    files.finish()
    progress.update(spec.name, count, force=True)


def write_entity_files(
    store: MetadataStore,
    open_file: OpenFile,
    scratch: Path,
    *,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
    parallel: bool | None = None,
) -> dict[str, Written]:
    """Write every entity file, from one snapshot, into the sinks `open_file(file name)`
    gives (in EXPORTED order); `scratch` is an empty private directory for sort runs.
    `parallel`: with the export worker process (None: when `worker_possible()`)."""
    progress = progress or Progress(None)
    # Forked first: no thread of ours and no open unit may be copied into it.
    worker = None
    if worker_possible() if parallel is None else parallel:
        worker = start_worker(open_file, scratch)
    files = _Files(open_file, scratch) if worker is None else _WorkerFiles(worker)
    try:
        with store.unit_of_work() as uow:
            _export_unit(store, uow, files, scratch, progress, page_size)
        written = dict(zip(EXPORTED, files.written(), strict=True))
    finally:
        files.close()
    progress.done(sum(w.count for w in written.values()))
    return written


def _export_unit(
    store: MetadataStore,
    uow: UnitOfWork,
    files: _Files | _WorkerFiles,
    scratch: Path,
    progress: Progress,
    page_size: int,
) -> None:
    """Every entity, in EXPORTED order, from the read unit `uow` (or, where the store's
    reads are live, from one snapshot of it)."""
    snapshot = None
    if not store.snapshot_reads:  # reads are live: make one instant first
        # (imported here: it brings the validator's relationship rules, which an
        # export from SQLite never needs)
        from dataops.portable.writing.snapshot import take_snapshot

        snapshot = take_snapshot(
            uow, scratch / "snapshot.sqlite3", page_size=page_size, on_page=progress.update
        )
    reader: StoredReader = uow if snapshot is None else snapshot
    try:
        refs = _LiveRefs(reader)
        for name in EXPORTED:
            _export_entity(reader, SPECS[name], files, refs, progress, page_size)
    finally:
        if snapshot is not None:
            snapshot.close()


def write_export(
    store: MetadataStore,
    out: Path,
    info: SourceInfo,
    *,
    progress: TextIO | None = None,
    page_size: int = PAGE_SIZE,
    parallel: bool | None = None,
    before_rename: Callable[[Path], None] | None = None,
) -> ExportResult:
    """Export `store` to `out`: a directory, or an archive when `out` ends `.tar.gz`.
    `parallel` as for `write_entity_files`; `before_rename` (tests) runs on the finished
    temporary path before it is renamed."""
    if out.exists() or out.is_symlink():
        raise Conflict(f"{out} already exists; choose a new name or remove it first")
    parent = out.parent
    if not parent.is_dir():
        raise NotFound("directory", str(parent))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    packed = staging.with_name(staging.name + ".tar.gz")
    try:
        # Taken before the unit's first read, so no record is newer than it.
        generated_at = now_ts()
        archive = None
        open_file: OpenFile = lambda name: FileSink(staging / name)  # noqa: E731
        if is_archive(out):
            # The staging directory then holds compressed scratch files only, never a
            # complete export.
            archive = ArchiveWriter(staging, int(parse_ts(generated_at).timestamp()))
            open_file = archive.member
        written = write_entity_files(
            store,
            open_file,
            staging,
            progress=Progress(progress),
            page_size=page_size,
            parallel=parallel,
        )
        files = [EntityFile(name, w.count, w.checksum) for name, w in written.items()]
        manifest = build_manifest(info, generated_at, files, OMITTED)
        text = manifest_text(manifest).encode("utf-8")
        finished = staging
        if archive is not None:
            members = [(SPECS[name].file_name, w.size) for name, w in written.items()]
            archive.write(packed, members, text)
            finished = packed
        else:
            _write_durably(staging / MANIFEST, text)
        if before_rename is not None:
            before_rename(finished)
        _publish(finished, staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        packed.unlink(missing_ok=True)
        raise
    return ExportResult(out, manifest)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _publish(finished: Path, staging: Path, out: Path) -> None:
    """Give the finished export (the staging directory, or the archive beside it) its
    name `out`, never replacing a file that appeared meanwhile."""
    if finished != staging:
        os.link(finished, out)  # fails, rather than overwrites, if OUT appeared meanwhile
        finished.unlink()
        shutil.rmtree(staging)
    else:
        staging.rename(out)
    _fsync_dir(out.parent)


@dataclass(frozen=True)
class TemporaryArchive:
    """An export archive in its own temporary directory; `remove()` deletes both."""

    path: Path
    manifest: dict[str, Any]

    def remove(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def temporary_archive(store: MetadataStore, info: SourceInfo) -> TemporaryArchive:
    """Write a `.tar.gz` export to a fresh temporary directory (for downloads)."""
    directory = Path(tempfile.mkdtemp(prefix="dataops-export-"))
    try:
        result = write_export(store, directory / "export.tar.gz", info)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return TemporaryArchive(result.path, result.manifest)


def download_name(manifest: dict[str, Any]) -> str:
    """`dataops-execution-<generated-at>.tar.gz`, safe as a file name."""
    stamp = str(manifest["generated_at"]).replace(":", "-").replace(".", "-")
    return f"dataops-execution-{stamp}.tar.gz"
