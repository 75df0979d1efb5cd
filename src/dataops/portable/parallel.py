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
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from dataops.portable.index import ScratchIndex
from dataops.portable.scan import Chunk, ChunkResult, scan_chunk

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


def _work(
    number: int,
    scratch: Path,
    known: dict[str, frozenset[str]],
    tasks: Any,
    results: Connection,
) -> None:
    """A worker: check chunks until the `None` sentinel, then flush its index."""
    try:
        index = ScratchIndex(scratch, part_name(number), known)
        while (task := tasks.get()) is not None:
            position, chunk = task
            results.send((position, scan_chunk(chunk, index)))  # findings: a list
        index.flush()
        index.close()
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
) -> Iterator[tuple[Chunk, ChunkResult]]:
    """Each of `chunks` with its result, in their order, checked by `workers` processes
    (their indexes know the IDs `known`); once the iterator is exhausted, worker n's
    index is `scratch / part_name(n)`."""
    context = multiprocessing.get_context("fork")
    tasks = context.SimpleQueue()
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]
    processes = [
        context.Process(
            target=_work, args=(n, scratch, known or {}, tasks, pipes[n][1]), daemon=True
        )
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
    pending = iter(enumerate(chunks))
    sent: dict[int, Chunk] = {}
    submitted = 0
    exhausted = False
    waiting: dict[int, ChunkResult] = {}
    next_out = 0
    open_readers = {reader: process for reader, process in zip(readers, processes, strict=True)}
    while open_readers:
        while not exhausted and submitted - next_out < _IN_FLIGHT * len(readers):
            task = next(pending, None)
            if task is None:
                exhausted = True
                for _ in readers:
                    tasks.put(None)
            else:
                tasks.put(task)
                sent[task[0]] = task[1]
                submitted += 1
        for reader in wait(list(open_readers)):
            assert isinstance(reader, Connection)
            try:
                position, result = reader.recv()
            except EOFError:
                code = open_readers[reader].exitcode
                raise WorkerFailed(f"a validation worker died (exit code {code})") from None
            if position == "error":
                raise WorkerFailed(f"a validation worker failed:\n{result}")
            if position == "done":
                del open_readers[reader]
                continue
            waiting[position] = result
        while next_out in waiting:
            yield sent.pop(next_out), waiting.pop(next_out)
            next_out += 1
    if next_out != submitted:  # pragma: no cover - every worker said done
        raise WorkerFailed("a validation worker stopped before its last chunk")
