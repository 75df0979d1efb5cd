"""Encode batches of stored rows in a forked worker process, alongside the export's own
encoding (`export._export_entity`), so an export uses a second core.

The worker only accelerates: a batch it cannot encode (it was not given an artifact a
ref points to, or encoding raised) comes back as None and the export encodes that batch
itself, with the same code; if the worker dies, the export carries on without it. So the
files are the same with or without it.

Safety. It runs only where forking is safe: the platform forks and the calling process
has no other thread (the CLI, the benchmark), since a fork copies only the calling
thread and a lock another thread held would stay locked in the child. It is forked
before the export opens its unit of work and before the writer thread starts; it never
touches what it inherited (store connections, files) and ends through multiprocessing's
`os._exit`, so nothing inherited is flushed or closed by it.

Flow. One batch is in flight at a time (sent only when the worker is idle). Batches and
lines travel through two in-memory files (memfd) both processes hold, the pipe carrying
only their sizes, so a send never waits for the other process to be scheduled (nor can
both block on a full pipe). The export sends a batch, encodes the next ones itself
meanwhile, then collects the worker's lines.
For tasks and bundles it sends the stored rows of the artifacts their refs point to,
found by a byte search for `"artifactId":"..."` (a superset: proof records carry the
key too; an ID with escapes is not found, and its batch comes back as None).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import re
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from dataops.portable.encode import EntityEncoder, Ref
from dataops.portable.format import SPECS
from dataops.store.port import StoredRow, UnitOfWork

Lines = tuple[list[str], list[bytes]]
Artifacts = tuple[frozenset[str], list[StoredRow]]
"""The artifact IDs looked up for a batch, and the rows of those that exist."""

_ARTIFACT_ID = re.compile(rb'"artifactId":"([^"\\]*)"')
_JOIN_SECONDS = 5


def worker_possible() -> bool:
    """Whether an export in this process may fork an encoding worker (see the module
    docstring) and has a second core for it."""
    if "fork" not in multiprocessing.get_all_start_methods() or not hasattr(os, "memfd_create"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return cores >= 2 and threading.active_count() == 1


def artifacts_for(uow: UnitOfWork, rows: Sequence[StoredRow]) -> Artifacts:
    """The artifacts the refs in `rows` may point to, read in the export's unit."""
    ids = frozenset(m.decode() for _, raw, _ in rows for m in _ARTIFACT_ID.findall(raw))
    found: list[StoredRow] = []
    listed = sorted(ids)
    for start in range(0, len(listed), 500):
        found += uow.stored_many("artifacts", listed[start : start + 500])
    return ids, found


def start_worker() -> EncodeWorker | None:
    """A new worker, or None when the system refuses another process."""
    try:
        return EncodeWorker()
    except OSError:
        return None


class _Shared:
    """An anonymous in-memory file (memfd) both processes hold: one side writes a pickled
    message at offset 0 and sends only its length through the pipe, so a send never waits
    for the other process to be scheduled and read it."""

    def __init__(self, name: str) -> None:
        self.fd = os.memfd_create(name)

    def put(self, message: Any) -> int:
        data = memoryview(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        written = 0
        while written < len(data):
            written += os.pwrite(self.fd, data[written:], written)
        return len(data)

    def take(self, size: int) -> Any:
        parts, read = [], 0
        while read < size:
            part = os.pread(self.fd, size - read, read)
            if not part:
                raise EOFError("a shared message is shorter than announced")
            parts.append(part)
            read += len(part)
        return pickle.loads(b"".join(parts))  # noqa: S301 (our own process wrote it)


class EncodeWorker:
    """One forked process encoding the batches it is sent (at most one at a time)."""

    def __init__(self) -> None:
        for stream in (sys.stdout, sys.stderr):  # or the child would write their buffers too
            if stream is not None:
                stream.flush()
        context = multiprocessing.get_context("fork")
        self._tasks = _Shared("dataops-export-tasks")
        self._results = _Shared("dataops-export-results")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self._tasks, self._results),
            name="dataops-export-encoder",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.busy = False
        self.alive = True

    def submit(self, entity: str, rows: list[StoredRow], artifacts: Artifacts | None) -> bool:
        """Send one batch; False if the worker is gone (encode it yourself)."""
        try:
            self._conn.send(self._tasks.put((entity, rows, artifacts)))
        except OSError:
            self.alive = False
            return False
        self.busy = True
        return True

    def ready(self) -> bool:
        """Whether the batch in flight is done (its lines wait to be collected)."""
        return self.busy and self._conn.poll()

    def collect(self) -> Lines | None:
        """The lines of the batch in flight (waiting for them); None if the worker could
        not encode it or died."""
        self.busy = False
        try:
            size = self._conn.recv()
            result: Lines | None = None if size is None else self._results.take(size)
        except (EOFError, OSError):
            self.alive = False
            return None
        return result

    def close(self) -> None:
        if self.alive:
            with contextlib.suppress(OSError):  # it ends on the closed pipe too
                self._conn.send(None)
        self._conn.close()
        self._process.join(_JOIN_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        os.close(self._tasks.fd)
        os.close(self._results.fd)


class _Given:
    """The refs a batch was sent with; asking for any other artifact fails the batch."""

    def __init__(self, artifacts: Artifacts | None, encoder: EntityEncoder) -> None:
        self._ids, self._rows = artifacts or (frozenset(), [])
        self._encoder = encoder

    def __call__(self, ids: list[str]) -> dict[str, Ref]:
        if not self._ids.issuperset(ids):
            raise LookupError("an artifact the batch was not sent with")
        refs = (self._encoder.ref(raw) for _, raw, _ in self._rows)
        return {ref[0]["artifactId"]: ref for ref in refs}


def _serve(conn: Connection, tasks: _Shared, results: _Shared) -> None:
    """The worker: encode batches until the None sentinel or a closed pipe."""
    encoders: dict[str, EntityEncoder] = {}

    def encoder(entity: str) -> EntityEncoder:
        found = encoders.get(entity)
        if found is None:
            found = encoders[entity] = EntityEncoder(SPECS[entity])
        return found

    while True:
        try:
            size = conn.recv()
        except (EOFError, OSError):
            return
        if size is None:
            return
        try:
            entity, rows, artifacts = tasks.take(size)
            lines = encoder(entity).lines(rows, _Given(artifacts, encoder("artifacts")))
            answer = results.put(lines)
        except Exception:  # the export encodes this batch itself, raising it there
            answer = None
        conn.send(answer)
