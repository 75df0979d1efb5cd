"""Write a portable export of a metadata store.

- One read unit of work for the whole export: on SQLite one read transaction, so the
  files are a consistent snapshot even while the API keeps writing.
- Streaming: records are read page by page and written as they come (sorted by id
  through `spool.SortedSpool`); no table is ever held in memory. Each file is hashed
  while it is written.
- Atomic: everything is written into a hidden temporary sibling of OUT, the manifest
  last, and renamed into place at the end (an archive is packed to a temporary name
  and renamed). A failure removes the temporary files and leaves nothing at OUT.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from dataops.domain.clock import now_ts, parse_ts
from dataops.domain.errors import Conflict, NotFound
from dataops.domain.models import Bundle, Task
from dataops.portable.archive import is_archive, write_archive
from dataops.portable.format import (
    EXPORTED,
    MANIFEST,
    OMITTED,
    SPECS,
    EntityFile,
    EntitySpec,
    SourceInfo,
    build_manifest,
    canonical_line,
    manifest_text,
    to_record,
)
from dataops.portable.spool import SortedSpool
from dataops.store.port import Filters, MetadataStore, PageRequest, Repository, UnitOfWork

PAGE_SIZE = 500
_REFRESH_BATCH = 500


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


def pages(uow: UnitOfWork, spec: EntitySpec, page_size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """Every record of the entity, a page at a time, in the store's stable order."""
    repo: Repository[Any] = getattr(uow, spec.name)
    cursor: str | None = None
    while True:
        page = repo.find(Filters(), PageRequest(limit=page_size, cursor=cursor))
        if page.items:
            yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


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


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_entity_files(
    store: MetadataStore,
    directory: Path,
    info: SourceInfo,
    *,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """Write every entity file into the empty `directory` from one snapshot; return the
    manifest (not written: the caller writes it last)."""
    progress = progress or Progress(None)
    files: list[EntityFile] = []
    with store.unit_of_work() as uow:
        generated_at = now_ts()
        for name in EXPORTED:
            spec = SPECS[name]
            spool = SortedSpool(directory / spec.file_name, spec.id_field)
            for items in pages(uow, spec, page_size):
                for record in present(uow, spec, items):
                    spool.add(record[spec.id_field], canonical_line(record))
                progress.update(name, spool.count)
            checksum = spool.finish()
            progress.update(name, spool.count, force=True)
            files.append(EntityFile(name, spool.count, checksum))
    for entity_file in files:
        _fsync_file(directory / SPECS[entity_file.name].file_name)
    progress.done(sum(f.count for f in files))
    return build_manifest(info, generated_at, files, OMITTED)


def write_export(
    store: MetadataStore,
    out: Path,
    info: SourceInfo,
    *,
    progress: TextIO | None = None,
    page_size: int = PAGE_SIZE,
    before_rename: Callable[[Path], None] | None = None,
) -> ExportResult:
    """Export `store` to `out`: a directory, or an archive when `out` ends `.tar.gz`.
    `before_rename` (tests) runs on the finished temporary path before it is renamed."""
    if out.exists() or out.is_symlink():
        raise Conflict(f"{out} already exists; choose a new name or remove it first")
    parent = out.parent
    if not parent.is_dir():
        raise NotFound("directory", str(parent))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    packed = staging.with_name(staging.name + ".tar.gz")
    try:
        manifest = write_entity_files(
            store, staging, info, progress=Progress(progress), page_size=page_size
        )
        text = manifest_text(manifest).encode("utf-8")
        finished = staging
        if is_archive(out):
            # The manifest goes only into the archive: the staging directory never
            # holds a complete export.
            mtime = int(parse_ts(manifest["generated_at"]).timestamp())
            write_archive(staging, list(manifest["entity_files"].values()), packed, mtime, text)
            finished = packed
        else:
            (staging / MANIFEST).write_bytes(text)
            _fsync_file(staging / MANIFEST)
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
