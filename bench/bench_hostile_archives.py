"""Hostile archives: what `dataops validate-export` costs on archives built to exhaust it.

    .venv/bin/python bench/bench_hostile_archives.py [--cases braces,long-line,ratio-bomb]
                                                     [--timeout 300] [--out DIR]

Builds, in a temporary directory, the archives of issue 15 item 7, each a `.tar.gz` with
a well-formed manifest (every other entity omitted, count and checksum of the hostile
file right) and one hostile `tasks.jsonl`:

- `braces`: 50 MB of `{}` lines (16.7 million records, each missing every field): about
  65 KB compressed;
- `long-line`: one JSON line of 50 MB (a task whose description never ends);
- `ratio-bomb`: 1 GiB of NUL bytes, about 1 MB compressed (gzip's ratio ceiling, ~1000:1);
- `wide-line`: one line of 16 MiB, the line limit, `[{},{},...]`: 5.6 million
  empty objects, the most Python objects a line of that size can hold (the worst case
  of parsing one line that is read).

Each is validated by `dataops validate-export` in a child process (killed after
`--timeout` seconds); the script prints and writes the child's wall time, peak RSS
(`ru_maxrss` from `wait4`), exit code, number of problems and the first report lines, to
bench/results/<YYYY-MM-DD>-<hostname>-hostile-archives.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataops.portable.format import (
    ENTITY_NAMES,
    FORMAT_VERSION,
    MANIFEST,
    REDACTIONS,
    SCHEMA_VERSION,
)

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1_000_000


class _Repeat(io.RawIOBase):
    """`size` bytes of `head`, then `pattern` repeated (cut at `size`), then `tail`,
    generated as read."""

    def __init__(self, pattern: bytes, size: int, head: bytes = b"", tail: bytes = b"") -> None:
        self._block = pattern * max(1, (1 << 20) // len(pattern))
        self._head, self._tail = head, tail
        self._body = size - len(head) - len(tail)
        self._sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        total = len(self._head) + self._body + len(self._tail)
        if self._sent >= total:
            return 0
        out = bytearray()
        while len(out) < want and self._sent + len(out) < total:
            at = self._sent + len(out)
            if at < len(self._head):
                out += self._head[at:]
            elif at < len(self._head) + self._body:
                offset = (at - len(self._head)) % len(self._block)
                left = len(self._head) + self._body - at
                out += self._block[offset : offset + left]
            else:
                out += self._tail[at - len(self._head) - self._body :]
        data = bytes(out[:want])
        buffer[: len(data)] = data
        self._sent += len(data)
        return len(data)


def _count_and_digest(stream: Callable[[], io.RawIOBase]) -> tuple[int, str]:
    digest, records = hashlib.sha256(), 0
    reader = io.BufferedReader(stream(), 1 << 20)
    while block := reader.read(1 << 20):
        digest.update(block)
        records += block.count(b"\n")
    return records, "sha256:" + digest.hexdigest()


def _manifest(records: int, checksum: str) -> bytes:
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "export_format_version": FORMAT_VERSION,
        "generated_at": "2026-11-26T00:00:00Z",
        "source_environment": "bench",
        "source_stack": "bench",
        "source_region": "local",
        "app_git_sha": "unknown",
        "redactions": list(REDACTIONS),
        "entity_files": {"tasks": "tasks.jsonl"},
        "entity_counts": {"tasks": records},
        "checksums": {"tasks.jsonl": checksum},
        "omitted_entities": [name for name in ENTITY_NAMES if name != "tasks"],
    }
    return json.dumps(manifest, indent=2).encode()


def build(path: Path, size: int, stream: Callable[[], io.RawIOBase]) -> None:
    """A gzip level 9 archive of a manifest and `tasks.jsonl` (`size` bytes of `stream`)."""
    records, checksum = _count_and_digest(stream)
    manifest = _manifest(records, checksum)
    with tarfile.open(path, "w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo("tasks.jsonl")
        info.size = size
        tar.addfile(info, io.BufferedReader(stream(), 1 << 20))


BRACES = 50 * MB - 50 * MB % 3
WIDE = 5 + 3 * (((16 << 20) - 4) // 3)
"""`[`, `{},` n times, `{}]`, a newline: a line of 16 MiB at most (the limit)."""
CASES: dict[str, tuple[int, Callable[[], io.RawIOBase]]] = {
    "braces": (BRACES, lambda: _Repeat(b"{}\n", BRACES)),
    "long-line": (
        50 * MB,
        lambda: _Repeat(b"x", 50 * MB, head=b'{"description": "', tail=b'"}\n'),
    ),
    "ratio-bomb": (1 << 30, lambda: _Repeat(b"\0", 1 << 30)),
    "wide-line": (WIDE, lambda: _Repeat(b"{},", WIDE, head=b"[", tail=b"{}]\n")),
}


def run(archive: Path, timeout: float, workdir: Path) -> dict[str, Any]:
    """`dataops validate-export ARCHIVE` in a child (its own process group, killed whole
    after `timeout` seconds): wall time, peak RSS (the child's or any of its workers',
    from wait4), exit code, the report's first and last lines."""
    output = workdir / "report.txt"
    with output.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "dataops", "validate-export", str(archive)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    with output.open("rb") as report:
        lines = [line.decode(errors="replace").rstrip("\n") for line in report]
    output.unlink()
    return {
        "exit_code": process.returncode,
        "timed_out": timed_out,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "report_lines": len(lines),
        "first_lines": [line[:300] for line in lines[:3]],
        "last_lines": [line[:300] for line in lines[-2:]],
    }


def measure_case(name: str, workdir: Path, timeout: float) -> dict[str, Any]:
    archive = workdir / f"{name}.tar.gz"
    size, stream = CASES[name]
    build(archive, size, stream)
    result = {
        "case": name,
        "archive_bytes": archive.stat().st_size,
        "uncompressed_bytes": size,
        **run(archive, timeout, workdir),
    }
    archive.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n]
    unknown = set(names) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown cases: {sorted(unknown)}")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as workdir:
        for name in names:
            results.append(measure_case(name, Path(workdir), args.timeout))
    print(f"{'case':<12}{'archive KB':>11}{'expands MB':>11}{'exit':>6}{'seconds':>9}{'RSS MB':>8}")
    for r in results:
        print(
            f"{r['case']:<12}{r['archive_bytes'] / 1000:>11.1f}"
            f"{r['uncompressed_bytes'] / MB:>11.1f}{r['exit_code']!s:>6}"
            f"{r['seconds']:>9.2f}{r['peak_rss_mb']:>8.1f}"
            + ("  (killed: timeout)" if r["timed_out"] else "")
        )
        count = r["report_lines"]
        shown = r["first_lines"][: min(2, count)]
        shown += r["last_lines"][len(r["last_lines"]) - min(2, count - len(shown)) :]
        for line in shown:
            print(f"    {line[:150]}")
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{dt.date.today().isoformat()}-{host}-hostile-archives.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "hostile-archives",
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "host": host,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": {"before": load_before, "after": os.getloadavg()},
                "timeout_seconds": args.timeout,
                "cases": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
