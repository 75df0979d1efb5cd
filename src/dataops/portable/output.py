"""Where the export's files go: each entity file's bytes are counted, hashed (SHA-256)
and written on one writer thread, in order, while the next records are encoded; hashing,
file writes and compression release the GIL, so they use a second core. Chunks of about
CHUNK_BYTES are handed over (each hand-over costs GIL switches); at most WRITES_AHEAD
wait, so memory stays a few chunks."""

from __future__ import annotations

import hashlib
import operator
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 2 << 20
WRITES_AHEAD = 2


class Sink(Protocol):
    """Where one entity file's bytes go (written by the writer thread only)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


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
    """Runs the hashing and writing of file chunks on one worker thread, in order.
    Errors surface in the calling thread, at the next `submit` or at `drain`."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="dataops-export")
        self._pending: deque[Future[None]] = deque()

    def submit(self, work: Callable[[], None]) -> None:
        self._pending.append(self._pool.submit(work))
        while len(self._pending) > WRITES_AHEAD:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class EntityOutput:
    """One entity file: lines in id order, counted, hashed and written by the writer."""

    def __init__(self, name: str, sink: Sink, writer: WriterThread) -> None:
        self._name = name
        self._sink = sink
        self._writer = writer
        self._digest = hashlib.sha256()
        self._last: str | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self.count = 0

    def add(self, ids: Sequence[str], lines: list[bytes]) -> None:
        """Append records whose ids ascend (a store that promised id order and broke it
        is a bug: refused, never written out of order)."""
        if not ids:
            return
        if (self._last is not None and not self._last < ids[0]) or not all(
            map(operator.lt, ids, ids[1:])
        ):
            raise RuntimeError(f"the store returned {self._name} out of id order")
        self._last = ids[-1]
        self.count += len(ids)
        lines.append(b"")
        self.write(b"\n".join(lines))

    def write(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= CHUNK_BYTES:
            self._submit()

    def finish(self) -> str:
        """Wait for the writer, close the file; its checksum `sha256:<hex>`."""
        self._submit()
        self._writer.submit(self._sink.close)
        self._writer.drain()
        return "sha256:" + self._digest.hexdigest()

    def _submit(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts, self._size = [], 0
            self._writer.submit(lambda: self._take(data))

    def _take(self, data: bytes) -> None:  # on the writer thread
        self._digest.update(data)
        self._sink.write(data)
