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

Flow. One batch is in flight at a time (sent only when the worker is idle), so neither
side can block on a full pipe while the other waits for it: no deadlock. The export
sends a batch, encodes the next one itself meanwhile, then collects the worker's lines.
For tasks and bundles it sends the stored rows of the artifacts their refs point to,
found by a byte search for `"artifactId":"..."` (a superset: proof records carry the
key too; an ID with escapes is not found, and its batch comes back as None).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
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
    if "fork" not in multiprocessing.get_all_start_methods():
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


class EncodeWorker:
    """One forked process encoding the batches it is sent (at most one at a time)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), name="dataops-export-encoder", daemon=True
        )
        self._process.start()
        child.close()
        self.busy = False
        self.alive = True

    def submit(self, entity: str, rows: list[StoredRow], artifacts: Artifacts | None) -> bool:
        """Send one batch; False if the worker is gone (encode it yourself)."""
        try:
            self._conn.send((entity, rows, artifacts))
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
            result: Lines | None = self._conn.recv()
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


def _serve(conn: Connection) -> None:
    """The worker: encode batches until the None sentinel or a closed pipe."""
    encoders: dict[str, EntityEncoder] = {}

    def encoder(entity: str) -> EntityEncoder:
        found = encoders.get(entity)
        if found is None:
            found = encoders[entity] = EntityEncoder(SPECS[entity])
        return found

    while True:
        try:
            task: Any = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        entity, rows, artifacts = task
        try:
            result: Lines | None = encoder(entity).lines(
                rows, _Given(artifacts, encoder("artifacts"))
            )
        except Exception:  # the export encodes this batch itself, raising it there
            result = None
        conn.send(result)
