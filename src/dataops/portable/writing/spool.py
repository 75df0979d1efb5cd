"""Lines in key order with bounded memory (an external merge sort), for stores that
cannot read an entity in key order (DynamoDB tasks: by date, then id).

Lines are buffered in chunks (at most CHUNK_LINES lines or about CHUNK_BYTES bytes);
each sorted chunk is appended to the current run file when it continues that run (input
already in key order: one run, no second pass), or starts a new run. `finish` merges
the runs and hands the sorted lines on. Memory is one chunk plus one line per run,
whatever the table size.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

CHUNK_LINES = 20_000
CHUNK_BYTES = 4 << 20
MAX_FAN_IN = 128
OUT_BYTES = 1 << 20
"""About how many bytes `finish` hands on at a time."""
_BUFFER_BYTES = 1 << 20
_MERGE_READ_BYTES = 64 << 10  # per run: the merge keeps every run open


class SortedSpool:
    """Collect `(key, line)` pairs (a line is one record's bytes, without newline) and
    hand the lines on sorted by key. Run files are hidden siblings of `target`;
    `id_field` names the key inside each JSON line (used only to merge runs)."""

    def __init__(self, target: Path, id_field: str, chunk_lines: int = CHUNK_LINES) -> None:
        self._target = target
        self._id_field = id_field
        self._chunk_lines = chunk_lines
        self._buffer: list[tuple[str, bytes]] = []
        self._runs: list[Path] = []
        self._run: BinaryIO | None = None
        self._last_key: str | None = None
        self._run_names = 0
        self._buffered = 0
        self.count = 0

    def add(self, key: str, line: bytes) -> None:
        self._buffer.append((key, line))
        self.count += 1
        self._buffered += len(line)
        if len(self._buffer) >= self._chunk_lines or self._buffered >= CHUNK_BYTES:
            self._flush()

    def finish(self, write: Callable[[bytes], object]) -> None:
        """Pass every line, sorted by key and followed by a newline, to `write` (in
        pieces of about OUT_BYTES); remove the run files."""
        self._flush()
        if self._run is not None:
            self._run.close()
            self._run = None
        while len(self._runs) > MAX_FAN_IN:
            group, self._runs = self._runs[:MAX_FAN_IN], self._runs[MAX_FAN_IN:]
            merged = self._new_run_path()
            with merged.open("wb", buffering=_BUFFER_BYTES) as out:
                self._merge(group, out.write)
            self._runs.append(merged)
        if len(self._runs) == 1:
            with self._runs[0].open("rb") as run:
                while data := run.read(OUT_BYTES):
                    write(data)
            self._runs[0].unlink()
        elif self._runs:
            self._merge(self._runs, write)
        self._runs = []

    def _flush(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort(key=lambda pair: pair[0])
        first_key = self._buffer[0][0]
        continues = self._run is not None and self._last_key is not None
        if not continues or first_key <= (self._last_key or ""):
            if self._run is not None:
                self._run.close()
            path = self._new_run_path()
            self._runs.append(path)
            self._run = path.open("wb", buffering=_BUFFER_BYTES)
        assert self._run is not None
        self._run.write(b"\n".join([line for _, line in self._buffer] + [b""]))
        self._last_key = self._buffer[-1][0]
        self._buffer.clear()
        self._buffered = 0

    def _new_run_path(self) -> Path:
        self._run_names += 1
        return self._target.with_name(f".{self._target.name}.run{self._run_names}")

    def _keyed(self, path: Path) -> Iterator[tuple[str, bytes]]:
        with path.open("rb", buffering=_MERGE_READ_BYTES) as handle:
            for data in handle:
                yield _key(data, self._id_field), data

    def _merge(self, runs: list[Path], write: Callable[[bytes], object]) -> None:
        pending: list[bytes] = []
        size = 0
        for _, data in heapq.merge(*(self._keyed(run) for run in runs), key=lambda p: p[0]):
            pending.append(data)
            size += len(data)
            if size >= OUT_BYTES:
                write(b"".join(pending))
                pending, size = [], 0
        if pending:
            write(b"".join(pending))
        for run in runs:
            run.unlink()


def _key(line: bytes, id_field: str) -> str:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:  # a line orjson cannot read (`\ud800`): json can
        record = json.loads(line)
    key: str = record[id_field]
    return key
