"""Write a portable export of a metadata store.

- One read unit of work for the whole export: on SQLite one read transaction, so the
  files are a consistent snapshot even while the API keeps writing.
- Streaming: each entity's stored rows are read in batches (`UnitOfWork.stored`) and
  turned into lines by `encode.EntityEncoder` without building entities; no table is
  ever held in memory. Rows come in id order where the store can give it (SQLite: its
  primary key); otherwise (DynamoDB tasks) through `spool.SortedSpool`.
- Cores: a writer thread hashes each file and writes or compresses it (`output.py`,
  `archive.ArchiveWriter`) while records are encoded; where forking is safe a worker
  process encodes batches too (`encode_worker.py`, `_Batches`). The files are the same
  either way.
- Atomic: everything is written into a hidden temporary sibling of OUT, the manifest
  last, and renamed into place at the end (an archive is packed to a temporary name
  and renamed). A failure removes the temporary files and leaves nothing at OUT.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from dataops.domain.clock import now_ts, parse_ts
from dataops.domain.errors import Conflict, NotFound
from dataops.domain.models import Bundle, Task
from dataops.portable.archive import ArchiveWriter, is_archive
from dataops.portable.encode import EntityEncoder, Ref
from dataops.portable.encode_worker import (
    EncodeWorker,
    artifacts_for,
    start_worker,
    worker_possible,
)
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
from dataops.portable.output import EntityOutput, FileSink, Sink, WriterThread
from dataops.portable.spool import SortedSpool
from dataops.store.port import MetadataStore, StoredRow, UnitOfWork

PAGE_SIZE = 500
"""Stored rows per batch: one read, one refs lookup, one chunk for the writer thread."""
_REFRESH_BATCH = 500
_MAX_SHARE = 4
"""Batches sent to the encode worker at once, at most (memory: its lines wait here)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]

    @property
    def total(self) -> int:
        return sum(self.manifest["entity_counts"].values())


def refresh_refs(uow: UnitOfWork, holders: Sequence[Task | Bundle]) -> None:
    """Give each artifact ref the artifact's current type, title, URI and status (the
    API's rule: a ref is a pointer, the artifact record is the truth)."""
    ids = list(dict.fromkeys(ref.artifact_id for h in holders for ref in h.artifact_refs))
    live = {}
    for start in range(0, len(ids), _REFRESH_BATCH):
        live.update({a.id: a for a in uow.artifacts.get_many(ids[start : start + _REFRESH_BATCH])})
    for holder in holders:
        holder.artifact_refs = [
            live[ref.artifact_id].ref() if ref.artifact_id in live else ref
            for ref in holder.artifact_refs
        ]


def present(uow: UnitOfWork, spec: EntitySpec, items: list[Any]) -> list[dict[str, Any]]:
    """Records of one page as the export writes them."""
    if spec.name in ("tasks", "bundles"):
        refresh_refs(uow, items)
    return [to_record(spec, item) for item in items]


class Progress:
    """A one-line counter on a terminal, redrawn at most five times a second."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._shown = 0.0

    def update(self, entity: str, count: int, *, force: bool = False) -> None:
        if self._stream is None:
            return
        moment = time.monotonic()
        if force or moment - self._shown >= 0.2:
            self._shown = moment
            self._stream.write(f"\r\033[Kexporting {entity}: {count:,} records")
            self._stream.flush()

    def done(self, total: int) -> None:
        if self._stream is not None:
            self._stream.write(f"\r\033[Kexported {total:,} records\n")
            self._stream.flush()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LiveRefs:
    """The refs of artifacts as they are in the export's snapshot (for tasks, bundles)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._artifacts = EntityEncoder(SPECS["artifacts"])

    def __call__(self, ids: list[str]) -> dict[str, Ref]:
        found: dict[str, Ref] = {}
        for start in range(0, len(ids), _REFRESH_BATCH):
            for _, raw, _ in self._uow.stored_many(
                "artifacts", ids[start : start + _REFRESH_BATCH]
            ):
                ref = self._artifacts.ref(raw)
                found[ref[0]["artifactId"]] = ref
        return found


class _Batches:
    """One entity's batches encoded here, or in the encode worker, and handed on in batch
    order to `emit(ids, lines)`.

    The worker gets a message of `share` batches whenever it is idle; while it works,
    batches are encoded here. `share` adapts so the worker is never idle for long: it
    grows when the worker was done by the time one local batch was, and shrinks when
    three or more local batches were encoded while waiting for it."""

    def __init__(
        self,
        uow: UnitOfWork,
        spec: EntitySpec,
        refs: _LiveRefs,
        worker: EncodeWorker | None,
        emit: Callable[[list[str], list[bytes]], None],
    ) -> None:
        self._uow = uow
        self._name = spec.name
        self._encoder = EntityEncoder(spec)
        self._refs = refs
        self._worker = worker
        self._emit = emit
        self._slots: deque[list[Any]] = deque()  # [rows, (ids, lines) or None if sent]
        self._gathered: list[StoredRow] = []  # rows for the worker's next message
        self._share = 1
        self._gathered_batches = 0
        self._local_since_sent = 0

    def add(self, rows: list[StoredRow]) -> None:
        worker = self._worker
        if worker is not None and worker.ready():
            self._collect(worker)
        if worker is not None and worker.alive and not worker.busy:
            self._gathered += rows
            self._gathered_batches += 1
            if self._gathered_batches >= self._share:
                self._send(worker)
        else:
            self._slots.append([rows, self._encoder.lines(rows, self._refs)])
            self._local_since_sent += 1
        self._hand_on()

    def finish(self) -> None:
        if self._worker is not None:
            if self._gathered:
                self._send(self._worker)
            if self._worker.busy:
                self._collect(self._worker)
        self._hand_on()

    def _send(self, worker: EncodeWorker) -> None:
        rows, self._gathered, self._gathered_batches = self._gathered, [], 0
        artifacts = artifacts_for(self._uow, rows) if self._encoder.holds_refs else None
        sent = worker.submit(self._name, rows, artifacts)
        self._slots.append([rows, None if sent else self._encoder.lines(rows, self._refs)])
        self._local_since_sent = 0

    def _collect(self, worker: EncodeWorker) -> None:
        if self._local_since_sent <= 1:
            self._share = min(self._share + 1, _MAX_SHARE)
        elif self._local_since_sent >= 3:
            self._share = max(self._share - 1, 1)
        slot = next(slot for slot in self._slots if slot[1] is None)
        slot[1] = worker.collect() or self._encoder.lines(slot[0], self._refs)

    def _hand_on(self) -> None:
        while self._slots and self._slots[0][1] is not None:
            ids, lines = self._slots.popleft()[1]
            self._emit(ids, lines)


def _export_entity(
    uow: UnitOfWork,
    spec: EntitySpec,
    output: EntityOutput,
    refs: _LiveRefs,
    worker: EncodeWorker | None,
    progress: Progress,
    page_size: int,
    scratch: Path,
) -> None:
    stored = uow.stored(spec.name, page_size)
    spool = None if stored.key_ordered else SortedSpool(scratch / spec.file_name, spec.id_field)
    count = 0

    def emit(ids: list[str], lines: list[bytes]) -> None:
        nonlocal count
        if spool is None:
            output.add(ids, lines)
        else:
            for key, line in zip(ids, lines, strict=True):
                spool.add(key, line)
        count += len(ids)
        progress.update(spec.name, count)

    batches = _Batches(uow, spec, refs, worker, emit)
    for rows in stored.batches:
        batches.add(rows)
    batches.finish()
    if spool is not None:
        spool.finish(output.write)
        output.count = spool.count
    progress.update(spec.name, count, force=True)


def write_entity_files(
    store: MetadataStore,
    open_file: Callable[[str], Sink],
    scratch: Path,
    *,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
    parallel: bool | None = None,
) -> list[EntityFile]:
    """Write every entity file, from one snapshot, into the sinks `open_file(file name)`
    gives (in EXPORTED order); `scratch` is an empty private directory for sort runs.
    `parallel`: encode in a worker process too (None: when `worker_possible()`)."""
    progress = progress or Progress(None)
    files: list[EntityFile] = []
    # Forked first: no thread of ours and no open unit may be copied into it.
    worker = start_worker() if (worker_possible() if parallel is None else parallel) else None
    writer = WriterThread()
    try:
        with store.unit_of_work() as uow:
            refs = _LiveRefs(uow)
            for name in EXPORTED:
                spec = SPECS[name]
                output = EntityOutput(name, open_file(spec.file_name), writer)
                _export_entity(uow, spec, output, refs, worker, progress, page_size, scratch)
                files.append(EntityFile(name, output.count, output.finish()))
    finally:
        writer.close()
        if worker is not None:
            worker.close()
    progress.done(sum(f.count for f in files))
    return files


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
        open_file: Callable[[str], Sink] = lambda name: FileSink(staging / name)  # noqa: E731
        if is_archive(out):
            # The staging directory then holds compressed scratch files only, never a
            # complete export.
            archive = ArchiveWriter(staging, int(parse_ts(generated_at).timestamp()))
            open_file = archive.member
        files = write_entity_files(
            store,
            open_file,
            staging,
            progress=Progress(progress),
            page_size=page_size,
            parallel=parallel,
        )
        manifest = build_manifest(info, generated_at, files, OMITTED)
        text = manifest_text(manifest).encode("utf-8")
        finished = staging
        if archive is not None:
            archive.write(packed, text)
            finished = packed
        else:
            with (staging / MANIFEST).open("xb") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename(finished)
        if finished == packed:
            os.link(packed, out)  # fails, rather than overwrites, if OUT appeared meanwhile
            packed.unlink()
            shutil.rmtree(staging)
        else:
            staging.rename(out)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        packed.unlink(missing_ok=True)
        raise
    return ExportResult(out, manifest)


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
