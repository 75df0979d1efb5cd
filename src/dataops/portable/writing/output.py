"""Where the export's files go. An `EntityOutput` takes one entity's lines in batches,
in id order (or sorts them through `spool.SortedSpool` when the store could not give id
order), and counts, hashes (SHA-256) and writes them into a `Sink`: a file of the
directory form, or a member of the archive (`archive.ArchiveMember`).

Writing runs through a `WriterThread`: in a process that encodes alone, a thread, so
hashing, file writes and compression (which release the GIL) use a second core while
records are encoded; chunks of about CHUNK_BYTES are handed over, at most WRITES_AHEAD
wait. In the export worker process (`export_worker.py`) it is `inline`: that process
already shares the two cores with the one reading the store, and a third busy thread
would only contend for them and for the GIL.
"""

from __future__ import annotations

import hashlib
import operator
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dataops.portable.writing.spool import SortedSpool

CHUNK_BYTES = 2 << 20
WRITES_AHEAD = 2


class Sink(Protocol):
    """Where one entity file's bytes go (written by the writer only)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


OpenFile = Callable[[str], Sink]
"""File name → the sink of that entity file."""


@dataclass(frozen=True)
class Written:
    """A finished entity file: records, `sha256:<hex>` checksum, bytes."""

    count: int
    checksum: str
    size: int


@dataclass(frozen=True)
class Block:
    """A batch of lines in id order, joined: each line followed by a newline."""

    first: str
    last: str
    count: int
    data: bytes


def block(name: str, ids: Sequence[str], lines: list[bytes]) -> Block | None:
    """The batch of `name` records `ids`/`lines` as a block (None: no record). Records
    out of id order from a store that promised it are a bug: refused, never written so."""
    if not ids:
        return None
    if not all(map(operator.lt, ids, ids[1:])):
        raise RuntimeError(f"the store returned {name} out of id order")
    return Block(ids[0], ids[-1], len(ids), b"\n".join([*lines, b""]))


class FileSink:
    """An entity file of the directory form, flushed to disk when closed."""

    def __init__(self, path: Path) -> None:
        self._raw = path.open("xb", buffering=0)

    def write(self, data: bytes) -> None:
        self._raw.write(data)

    def close(self) -> None:
        os.fsync(self._raw.fileno())
        self._raw.close()


class WriterThread:
    """Runs the hashing and writing of file chunks on one worker thread, in order (or,
    `inline`, at once in the caller). Errors surface in the calling thread, at the next
    `submit` or at `drain`."""

    def __init__(self, *, inline: bool = False) -> None:
        self._pool = None if inline else ThreadPoolExecutor(1, thread_name_prefix="dataops-export")
        self._pending: deque[Future[None]] = deque()

    def submit(self, work: Callable[[], None]) -> None:
        if self._pool is None:
            work()
            return
        self._pending.append(self._pool.submit(work))
        while len(self._pending) > WRITES_AHEAD:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class EntityOutput:
    """One entity file: its lines counted, hashed and written by the writer."""

    def __init__(
        self,
        name: str,
        file_name: str,
        sink: Sink,
        writer: WriterThread,
        *,
        key_ordered: bool = True,
        id_field: str = "id",
        scratch: Path | None = None,
    ) -> None:
        """`key_ordered`: the batches come in id order; otherwise they are sorted through
        a spool whose run files go into `scratch`."""
        self._name = name
        self._sink = sink
        self._writer = writer
        self._digest = hashlib.sha256()
        self._last: str | None = None
        self._parts: list[bytes] = []
        self._buffered = 0
        self._size = 0
        self._spool = None
        if not key_ordered:
            if scratch is None:
                raise ValueError("sorting an entity file needs a scratch directory")
            self._spool = SortedSpool(scratch / file_name, id_field)
        self.count = 0

    def add(self, ids: Sequence[str], lines: list[bytes]) -> None:
        """Append one batch of records (`lines` without newlines)."""
        if self._spool is not None:
            for key, line in zip(ids, lines, strict=True):
                self._spool.add(key, line)
            return
        joined = block(self._name, ids, lines)
        if joined is not None:
            self.add_block(joined)

    def add_block(self, joined: Block) -> None:
        """Append one batch already in id order and joined (files in id order only)."""
        if self._spool is not None:
            raise RuntimeError(f"{self._name} is sorted here: add its lines, not blocks")
        if self._last is not None and not self._last < joined.first:
            raise RuntimeError(f"the store returned {self._name} out of id order")
        self._last = joined.last
        self.count += joined.count
        self._write(joined.data)

    def finish(self) -> Written:
        """Write what is left, wait for the writer, close the file."""
        if self._spool is not None:
            self._spool.finish(self._write)
            self.count = self._spool.count
        self._submit()
        self._writer.submit(self._sink.close)
        self._writer.drain()
        return Written(self.count, "sha256:" + self._digest.hexdigest(), self._size)

    def _write(self, data: bytes) -> None:
        self._parts.append(data)
        self._buffered += len(data)
        self._size += len(data)
        if self._buffered >= CHUNK_BYTES:
            self._submit()

    def _submit(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts, self._buffered = [], 0
            self._writer.submit(lambda: self._take(data))

    def _take(self, data: bytes) -> None:  # on the writer
        self._digest.update(data)
        self._sink.write(data)
