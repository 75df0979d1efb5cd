"""The export's worker process: it encodes the batches the export sends it and writes
every entity file, its own lines and those the export encodes itself. The export
reads the store and encodes the rest. So an export uses two cores as two processes,
each with one thread (no GIL shared by two busy threads).

Safety. It runs only where forking is safe: the platform forks and the calling process
has no other thread (the CLI, the benchmark), since a fork copies only the calling
thread and a lock another thread held would stay locked in the child. It is forked
before the export opens its unit of work; it never touches the store connections it
inherited and ends through multiprocessing's `os._exit`, so nothing inherited is
flushed or closed by it. It inherits the export's `open_file` and writes the files
into the same staging directory.

Flow. Messages go out in order through a ring of SLOTS in-memory files (memfd) both
processes hold; the pipe carries only slot and size, so a send never waits for the
worker to be scheduled. Each message is acknowledged once done, which frees its slot;
with every slot taken the export waits (back-pressure). The export sends a batch of
stored rows for the worker to encode while fewer than ENCODES_AHEAD such batches wait
there, and otherwise encodes the batch itself and sends the lines, so the split follows
the two processes' speeds. For tasks and bundles it sends the stored rows of the
artifacts their refs point to, found by a byte search for `"artifactId":"..."` (a
superset: proof records carry the key too); a batch with an ID the search cannot read
(escaped characters) is encoded by the export.

Failure. An error in the worker (a record `from_dict` refuses, a full disk) is sent
back and raised by the export, which then removes everything as for any failure; a
worker that dies fails the export (`WorkerFailed`).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dataops.portable.format import SPECS
from dataops.portable.writing.encode import EntityEncoder, Ref
from dataops.portable.writing.output import Block, EntityOutput, OpenFile, WriterThread, Written
from dataops.store.port import StoredReader, StoredRow

Artifacts = tuple[frozenset[str], list[StoredRow]]
"""The artifact IDs looked up for a batch, and the rows of those that exist."""

SLOTS = 4
ENCODES_AHEAD = 2
_ARTIFACT_KEY = b'"artifactId":"'
_ARTIFACT_ID = re.compile(rb'"artifactId":"([^"\\]*)"')
_JOIN_SECONDS = 5


class WorkerFailed(RuntimeError):
    """The export worker died or failed in a way that cannot be raised as is."""


def worker_possible() -> bool:
    """Whether an export in this process may fork its worker (see the module docstring)
    and has a second core for it."""
    if "fork" not in multiprocessing.get_all_start_methods() or not hasattr(os, "memfd_create"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return cores >= 2 and threading.active_count() == 1


def artifacts_for(uow: StoredReader, rows: Sequence[StoredRow]) -> Artifacts | None:
    """The artifacts the refs in `rows` may point to, read in the export's unit; None if
    an ID cannot be read from the bytes (then the export encodes the batch)."""
    found_ids = []
    for _, raw, _ in rows:
        ids = _ARTIFACT_ID.findall(raw)
        if len(ids) != raw.count(_ARTIFACT_KEY):
            return None
        found_ids += ids
    listed = sorted({i.decode() for i in found_ids})
    return frozenset(listed), uow.stored_many("artifacts", listed)


def start_worker(open_file: OpenFile, scratch: Path) -> ExportWorker | None:
    """A new worker, or None when the system refuses another process."""
    try:
        return ExportWorker(open_file, scratch)
    except OSError:
        return None


class _Shared:
    """An anonymous in-memory file (memfd) both processes hold: one side writes a pickled
    message at offset 0 and sends only its size through the pipe."""

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
        return pickle.loads(b"".join(parts))  # noqa: S301 (the other process is ours)


class ExportWorker:
    """The export's side of the worker: files are opened, fed and closed in order."""

    def __init__(self, open_file: OpenFile, scratch: Path) -> None:
        for stream in (sys.stdout, sys.stderr):  # or the child would write their buffers too
            if stream is not None:
                stream.flush()
        context = multiprocessing.get_context("fork")
        self._slots: list[_Shared] = []
        try:
            self._slots += [_Shared(f"dataops-export-{n}") for n in range(SLOTS)]
            self._conn, child = context.Pipe()
            self._process = context.Process(
                target=_serve,
                args=(child, self._slots, open_file, scratch),
                name="dataops-export-worker",
                daemon=True,
            )
            # Objects frozen for the fork are never traversed by the worker's collector,
            # so it does not copy their pages (copy-on-write); the export unfreezes.
            gc.freeze()
            try:
                self._process.start()
            finally:
                gc.unfreeze()
        except OSError:
            for slot in self._slots:
                os.close(slot.fd)
            raise
        child.close()
        self._sent = 0
        self._waiting: deque[str] = deque()  # kinds of the messages not yet acknowledged
        self._written: list[Written] = []

    def wants_rows(self) -> bool:
        """Whether to send the next batch unencoded (few batches wait to be encoded)."""
        while self._waiting and self._conn.poll():
            self._receive()
        return self._waiting.count("encode") < ENCODES_AHEAD

    def open(self, name: str, file_name: str, id_field: str, key_ordered: bool) -> None:
        self._send(("open", name, file_name, id_field, key_ordered))

    def encode(self, entity: str, rows: list[StoredRow], artifacts: Artifacts | None) -> None:
        self._send(("encode", entity, rows, artifacts))

    def add(self, ids: list[str], lines: list[bytes]) -> None:
        self._send(("add", ids, lines))

    def add_block(self, joined: Block) -> None:
        """Lines in id order as one block (one bytes object to pass, not one per line)."""
        self._send(("block", joined))

    def finish(self) -> None:
        """Close the open file once everything sent is written; its `Written` comes with
        `written()` (not waited for here: the next file's batches follow at once)."""
        self._send(("finish",))

    def written(self) -> list[Written]:
        """Every finished file's result, in order, once all sent is done."""
        while self._waiting:
            self._receive()
        return self._written

    def close(self) -> None:
        with contextlib.suppress(OSError):  # (it ends on the closed pipe too)
            self._conn.send(None)
        self._conn.close()
        self._process.join(_JOIN_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        for slot in self._slots:
            os.close(slot.fd)

    def _send(self, message: tuple[Any, ...]) -> None:
        if len(self._waiting) == SLOTS:
            self._receive()
        slot = self._sent % SLOTS
        size = self._slots[slot].put(message)
        try:
            self._conn.send((slot, size))
        except OSError as exc:
            raise WorkerFailed(f"the export worker is gone ({exc})") from exc
        self._sent += 1
        self._waiting.append(message[0])

    def _receive(self) -> None:
        """Wait for the oldest acknowledgement (keeping a finished file's result)."""
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode
            raise WorkerFailed(f"the export worker died (exit code {code})") from exc
        if kind == "failed":
            raise value
        self._waiting.popleft()
        if kind == "finished":
            self._written.append(value)


class _Given:
    """The refs a batch was sent with; asking for any other artifact is a bug."""

    def __init__(self, artifacts: Artifacts | None, encoder: EntityEncoder) -> None:
        self._ids, self._rows = artifacts or (frozenset(), [])
        self._encoder = encoder

    def __call__(self, ids: list[str]) -> dict[str, Ref]:
        if not self._ids.issuperset(ids):
            raise LookupError("an artifact the batch was not sent with")
        refs = (self._encoder.ref(raw) for _, raw, _ in self._rows)
        return {ref[0]["artifactId"]: ref for ref in refs}


class _Session:
    """What the worker holds between messages: the entity file being written and one
    encoder per entity."""

    def __init__(self, open_file: OpenFile, scratch: Path) -> None:
        self._open_file = open_file
        self._scratch = scratch
        self._encoders: dict[str, EntityEncoder] = {}
        self._writer = WriterThread(inline=True)
        self._output: EntityOutput | None = None

    def _encoder(self, entity: str) -> EntityEncoder:
        found = self._encoders.get(entity)
        if found is None:
            found = self._encoders[entity] = EntityEncoder(SPECS[entity])
        return found

    def handle(self, kind: str, args: list[Any]) -> Written | None:
        """Carry out one message; the file's result when it finished one."""
        if kind == "open":
            name, file_name, id_field, key_ordered = args
            self._output = EntityOutput(
                name,
                file_name,
                self._open_file(file_name),
                self._writer,
                key_ordered=key_ordered,
                id_field=id_field,
                scratch=self._scratch,
            )
            return None
        output = self._output
        if output is None:
            raise RuntimeError(f"{kind} before a file was opened")
        if kind == "encode":
            entity, rows, artifacts = args
            given = _Given(artifacts, self._encoder("artifacts"))
            output.add(*self._encoder(entity).lines(rows, given))
        elif kind == "add":
            output.add(*args)
        elif kind == "block":
            output.add_block(*args)
        else:
            self._output = None
            return output.finish()
        return None


def _serve(conn: Connection, slots: list[_Shared], open_file: OpenFile, scratch: Path) -> None:
    """The worker: carry out messages in order until the None sentinel or a closed pipe;
    stop at the first failure, after reporting it. Ctrl-C is the export's to handle: it
    then closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    session = _Session(open_file, scratch)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            kind, *args = slots[task[0]].take(task[1])
            result = session.handle(kind, args)
        except BaseException as exc:  # reported, raised by the export
            conn.send(("failed", _picklable(exc)))
            return
        conn.send(("finished" if result is not None else "done", result))


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own object)
    except Exception:
        return WorkerFailed("".join(traceback.format_exception(exc)))
    return exc
