"""Check chunks of entity files in worker processes, one per core.

Each worker takes chunks from a shared queue, checks them into its own scratch index
(`part-<n>.sqlite`, merged by the caller afterwards) and sends back each chunk's
findings; `scan_parallel` yields them in submission order, so the report reads as if
one process had checked the files line after line. Workers are forked (the validator
runs in the CLI, a single-threaded process): they start in milliseconds, with every
module loaded. A worker that fails or dies stops the validation with an error.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Generator, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from dataops.portable.checking.index import ScratchIndex
from dataops.portable.checking.scan import Chunk, ChunkResult, scan_chunk

_IN_FLIGHT = 3
"""Chunks queued per worker: enough to keep it busy, few enough that the queue's pipe
never fills while results wait to be read."""


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - Linux has sched_getaffinity


def part_name(number: int) -> str:
    """The scratch index file of worker `number`."""
    return f"part-{number}.sqlite"


class Job(Protocol):
    """What a worker does: `start` once (in the worker), then each chunk, then `finish`."""

    def start(self, number: int) -> None: ...

    def __call__(self, chunk: Chunk) -> Any: ...

    def finish(self) -> None: ...


class _Scan:
    """The reference check of chunks into the worker's own scratch index."""

    def __init__(self, scratch: Path, known: dict[str, frozenset[str]], fast: bool) -> None:
        self._scratch = scratch
        self._known = known
        self._fast = fast
        self._index: ScratchIndex | None = None

    def start(self, number: int) -> None:
        self._index = ScratchIndex(self._scratch, part_name(number), self._known)

    def __call__(self, chunk: Chunk) -> ChunkResult:
        assert self._index is not None
        return scan_chunk(chunk, self._index, fast=self._fast)  # findings: a list

    def finish(self) -> None:
        assert self._index is not None
        self._index.flush()
        self._index.close()


def _work(number: int, job: Job, tasks: Any, results: Connection) -> None:
    """A worker: run `job` on chunks until the `None` sentinel, then finish it."""
    try:
        job.start(number)
        while (task := tasks.get()) is not None:
            position, chunk = task
            results.send((position, job(chunk)))
        job.finish()
        results.send(("done", None))
    except BaseException:  # every failure goes to the parent, as text
        results.send(("error", traceback.format_exc()))
    finally:
        results.close()


class WorkerFailed(RuntimeError):
    """A worker process failed or died; the validation cannot be trusted."""


def scan_parallel(
    chunks: Iterable[Chunk],
    scratch: Path,
    workers: int,
    known: dict[str, frozenset[str]] | None = None,
    *,
    fast: bool = True,
) -> Generator[tuple[Chunk, ChunkResult], None, None]:
    """Each of `chunks` with its result, in their order, checked by `workers` processes
    (their indexes know the IDs `known`); once the iterator is exhausted, worker n's
    index is `scratch / part_name(n)`. Closed early, it stops the workers."""
    return run_parallel(chunks, workers, _Scan(scratch, known or {}, fast))


def run_parallel(
    chunks: Iterable[Chunk], workers: int, job: Job
) -> Generator[tuple[Chunk, Any], None, None]:
    """Each of `chunks` with `job`'s result on it, in their order, from `workers`
    forked processes. Closed early, it stops the workers."""
    context = multiprocessing.get_context("fork")
    tasks = context.SimpleQueue()
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]
    processes = [
        context.Process(target=_work, args=(n, job, tasks, pipes[n][1]), daemon=True)
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    for _, sender in pipes:
        sender.close()  # the parent keeps only the reading ends
    try:
        yield from _collect(chunks, tasks, [reader for reader, _ in pipes], processes)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()
        tasks.close()


def _collect(
    chunks: Iterable[Chunk],
    tasks: Any,
    readers: list[Connection],
    processes: Sequence[multiprocessing.process.BaseProcess],
) -> Iterator[tuple[Chunk, ChunkResult]]:
    feed = _Feed(chunks, tasks, _IN_FLIGHT * len(readers), len(readers))
    waiting: dict[int, ChunkResult] = {}
    open_readers = {reader: process for reader, process in zip(readers, processes, strict=True)}
    while open_readers:
        feed.top_up()
        for reader in wait(list(open_readers)):
            assert isinstance(reader, Connection)
            position, result = _receive(reader, open_readers[reader])
            if position == "done":
                del open_readers[reader]
            else:
                waiting[position] = result
        while feed.yielded in waiting:
            yield feed.sent.pop(feed.yielded), waiting.pop(feed.yielded)
            feed.yielded += 1
    if feed.yielded != feed.submitted:  # pragma: no cover - every worker said done
        raise WorkerFailed("a validation worker stopped before its last chunk")


def _receive(reader: Connection, process: multiprocessing.process.BaseProcess) -> Any:
    """A worker's next message: (chunk position, result) or ("done", None)."""
    try:
        position, result = reader.recv()
    except EOFError:
        raise WorkerFailed(f"a validation worker died (exit code {process.exitcode})") from None
    if position == "error":
        raise WorkerFailed(f"a validation worker failed:\n{result}")
    return position, result


class _Feed:
    """Puts chunks on the task queue, at most `ahead` beyond the last one yielded, then
    one `None` per worker."""

    def __init__(self, chunks: Iterable[Chunk], tasks: Any, ahead: int, workers: int) -> None:
        self._pending = iter(enumerate(chunks))
        self._tasks = tasks
        self._ahead = ahead
        self._workers = workers
        self._exhausted = False
        self.sent: dict[int, Chunk] = {}
        self.submitted = 0
        self.yielded = 0

    def top_up(self) -> None:
        while not self._exhausted and self.submitted - self.yielded < self._ahead:
            task = next(self._pending, None)
            if task is None:
                self._exhausted = True
                for _ in range(self._workers):
                    self._tasks.put(None)
            else:
                self._tasks.put(task)
                self.sent[task[0]] = task[1]
                self.submitted += 1
