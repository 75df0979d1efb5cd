"""Write lines in key order with bounded memory (an external merge sort).

Stores page records in their own stable order (SQLite tasks: by date, then id); the
export wants them by id. Lines are buffered in chunks (at most CHUNK_LINES lines or
about CHUNK_BYTES characters); each sorted chunk is appended to the current run file
when it continues that run (input already in key order: one run, no second pass), or
starts a new run. Several runs are merged at the end. Memory is one chunk plus one
line per run, whatever the table size.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK_LINES = 20_000
CHUNK_BYTES = 4 << 20
MAX_FAN_IN = 128
_BUFFER_BYTES = 1 << 20
_MERGE_READ_BYTES = 64 << 10  # per run: the merge keeps every run open


class SortedSpool:
    """Collect `(key, line)` pairs and write the lines sorted by key into `target`,
    hashing (SHA-256) and counting what is written. `id_field` names the key inside
    each JSON line (used only to merge runs)."""

    def __init__(self, target: Path, id_field: str, chunk_lines: int = CHUNK_LINES) -> None:
        self._target = target
        self._id_field = id_field
        self._chunk_lines = chunk_lines
        self._buffer: list[tuple[str, str]] = []
        self._runs: list[Path] = []
        self._run: BinaryIO | None = None
        self._last_key: str | None = None
        self._first_run_hash = hashlib.sha256()
        self._run_names = 0
        self._buffered = 0
        self.count = 0

    def add(self, key: str, line: str) -> None:
        self._buffer.append((key, line))
        self.count += 1
        self._buffered += len(line)
        if len(self._buffer) >= self._chunk_lines or self._buffered >= CHUNK_BYTES:
            self._flush()

    def finish(self) -> str:
        """Write `target`; return its checksum `sha256:<hex>`."""
        self._flush()
        if self._run is not None:
            self._run.close()
            self._run = None
        if not self._runs:
            self._target.write_bytes(b"")
            return "sha256:" + hashlib.sha256(b"").hexdigest()
        if len(self._runs) == 1:
            self._runs[0].replace(self._target)
            return "sha256:" + self._first_run_hash.hexdigest()
        while len(self._runs) > MAX_FAN_IN:
            group, self._runs = self._runs[:MAX_FAN_IN], self._runs[MAX_FAN_IN:]
            merged = self._new_run_path()
            self._merge(group, merged)
            self._runs.append(merged)
        return self._merge(self._runs, self._target)

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
        is_first_run = len(self._runs) == 1
        for _, line in self._buffer:
            data = line.encode("utf-8") + b"\n"
            self._run.write(data)
            if is_first_run:
                self._first_run_hash.update(data)
        self._last_key = self._buffer[-1][0]
        self._buffer.clear()
        self._buffered = 0

    def _new_run_path(self) -> Path:
        self._run_names += 1
        return self._target.with_name(f".{self._target.name}.run{self._run_names}")

    def _keyed(self, path: Path) -> Iterator[tuple[str, bytes]]:
        with path.open("rb", buffering=_MERGE_READ_BYTES) as handle:
            for data in handle:
                yield json.loads(data)[self._id_field], data

    def _merge(self, runs: list[Path], target: Path) -> str:
        digest = hashlib.sha256()
        with target.open("wb", buffering=_BUFFER_BYTES) as out:
            for _, data in heapq.merge(*(self._keyed(run) for run in runs), key=lambda p: p[0]):
                out.write(data)
                digest.update(data)
        for run in runs:
            run.unlink()
        return "sha256:" + digest.hexdigest()
