"""The import's bulk path: the records of a valid entity file encoded as the target
store writes them, in line order, by worker processes while the caller writes.

Each record is encoded by the store itself (`MetadataStore.encode`: for SQLite the row,
its columns and its search words), so what is stored is what `add` would store, record
by record. For SQLite a line is read by the entity's compiled codec
(`domain.structs`: msgspec decodes it into a struct with the entity's attributes and
writes the stored JSON, in C); a line it cannot prove exact, and every line for other
stores, is read as the reference path reads it (`parse_line`, `from_record`).
A file is cut into ranges of lines (`scan.split_file`); forked workers (one per core)
encode them, at most a few ranges ahead of the writer, so memory stays flat; one pool
serves every file, so the next entity is encoded while the writer ends the last one.
Small files are encoded here, without workers.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Generator, Sequence
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from dataops.domain.structs import LineCodec, Unexact, line_codec
from dataops.portable.checking.parallel import available_cores
from dataops.portable.checking.scan import Chunk, split_file
from dataops.portable.format import EntitySpec, from_record
from dataops.portable.lines import parse_line, read_lines
from dataops.store.port import EncodedRecords, MetadataStore

RANGE_BYTES = 1 << 20
"""Bytes of lines per encoded batch (about 1,500 to 5,000 records)."""
_SMALL = 4 << 20
"""Files this small are encoded here, without workers."""
_AHEAD = 2
"""Ranges in flight per worker."""

_store: MetadataStore | None = None
"""The target store, in a forked worker (its `encode` does no I/O)."""


class _NoDigest:
    def update(self, data: bytes, /) -> None:
        pass


def _encode(chunk: Chunk, spec: EntitySpec, store: MetadataStore) -> EncodedRecords:
    limit = None if chunk.end is None else chunk.end - chunk.start
    codec = _codec(spec, store)
    records: list[Any] = []
    data: list[str | None] = []
    with chunk.path.open("rb") as handle:
        handle.seek(chunk.start)
        for _, raw, newline, long_numbers in read_lines(handle, limit=limit):
            if raw is None or not raw.strip():
                continue  # (a valid export has neither)
            if codec is not None:
                try:
                    record = codec.decode(raw)
                    data.append(codec.runtime_json(record))
                    records.append(record)
                    continue
                except Unexact:
                    pass  # the reference reading below
            record = parse_line(raw, long_numbers=long_numbers, newline=newline)
            records.append(from_record(spec, record))
            data.append(None)
    return store.encode(spec.name, records, data if codec is not None else None)


def _codec(spec: EntitySpec, store: MetadataStore) -> LineCodec | None:
    """The compiled codec of `spec` (`domain.structs`), for a store that takes its JSON
    (SQLite)."""
    if store.name != "sqlite" or spec.model is None:
        return None
    return line_codec(spec.model, spec.id_field)


def _work(chunk: Chunk, spec: EntitySpec) -> EncodedRecords:
    """`_encode` in a worker, the cycle collector paused: a range's records hold no
    cycles (reference counting frees them), and each collection would walk every
    object the worker inherited from its parent."""
    assert _store is not None
    gc.disable()
    try:
        return _encode(chunk, spec, _store)
    finally:
        gc.enable()


Encoded = tuple[str, EncodedRecords | None]
"""(entity, a batch of its records), or (entity, None) after its last batch."""


def encoded_batches(
    store: MetadataStore, files: Sequence[tuple[Path, EntitySpec]], workers: int | None = None
) -> Generator[Encoded, None, None]:
    """The records of the valid entity files `files` (path, spec), encoded by `store`,
    batch by batch in line order, file after file, each file's last batch followed by
    (entity, None). One pool of workers serves every file: while the caller finishes an
    entity (its indexes, its commit), the workers already encode the next one."""
    global _store
    chunks = (
        (spec, chunk)
        for path, spec in files
        for chunk in [*split_file(spec.name, path, _NoDigest(), RANGE_BYTES), None]
    )
    size = sum(path.stat().st_size for path, _ in files)
    if workers is None:
        workers = available_cores() if size > _SMALL else 1
    if workers <= 1:
        for spec, chunk in chunks:
            yield spec.name, None if chunk is None else _encode(chunk, spec, store)
        return
    _store = store
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pending: deque[tuple[str, AsyncResult[EncodedRecords] | None]] = deque()
            for spec, chunk in chunks:
                if chunk is None:
                    pending.append((spec.name, None))
                    continue
                pending.append((spec.name, pool.apply_async(_work, (chunk, spec))))
                while sum(1 for _, job in pending if job is not None) >= _AHEAD * workers:
                    yield _done(pending.popleft())
            while pending:
                yield _done(pending.popleft())
    finally:
        _store = None


def _done(item: tuple[str, AsyncResult[EncodedRecords] | None]) -> Encoded:
    name, job = item
    return name, None if job is None else job.get()
