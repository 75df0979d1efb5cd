"""The import's write side (issue 20, item 3): `dataops import` of a portable export
into an empty SQLite store against `validate-export` of the same export, so the time the
import spends writing (its time less the validation's) shows apart from the validator's.

    .venv/bin/python bench/bench_import_write.py [--sizes 100000] [--repeats 3]
        [--warmups 1] [--workdir DIR] [--label NAME] [--out DIR]

Each size gets a store seeded and exported as `bench_portable.py` does (an archive
kept in `--workdir` when given, and reused by a later run: the code before a change can
be measured on the same export, e.g. with PYTHONPATH pointing at its `src`). Validate and
import then run as `bench_portable.py` runs them: each in a fresh child process, medians
of `--repeats` runs after `--warmups`, peak RSS and CPU (with the workers) from wait4.
Prints a table and writes bench/results/<YYYY-MM-DD>-<hostname>-import-write[-LABEL].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench_portable import RESULTS, Runs, Step, _measure_once, measure, seed


def _export(size: int, workdir: Path) -> Path:
    """The archive of a seeded store of `size` records (made once per workdir)."""
    where = workdir / str(size)
    archive = where / "export.tar.gz"
    if not archive.exists():
        where.mkdir(parents=True, exist_ok=True)
        records, seconds = seed(where / "source.db", size)
        print(f"seeded {records:,} records in {seconds:.1f} s", file=sys.stderr)
        _measure_once("export", size, str(where / "source.db"), str(archive))
        (where / "source.db").unlink()
        for side in ("-wal", "-shm"):
            (where / f"source.db{side}").unlink(missing_ok=True)
    return archive


def run_size(size: int, workdir: Path, runs: Runs) -> tuple[Step, Step]:
    """(validate, import) of the export of `size` records."""
    archive = _export(size, workdir)
    target = archive.parent / "target.db"
    validate = measure(runs, "validate", size, str(archive))
    imported = measure(runs, "import", size, str(archive), str(target), output=target)
    return validate, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated record counts")
    parser.add_argument("--repeats", type=int, default=Runs.repeats)
    parser.add_argument("--warmups", type=int, default=Runs.warmups)
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the exports here")
    parser.add_argument("--label", default="", help="a suffix of the result file's name")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    runs = Runs(max(1, args.repeats), max(0, args.warmups))
    load_before = os.getloadavg()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dataops-bench-import-"))
    results: list[dict[str, object]] = []
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            validate, imported = run_size(size, workdir, runs)
            write_seconds = max(imported.seconds - validate.seconds, 0.01)
            results.append(
                {
                    "size": size,
                    "validate": asdict(validate),
                    "import": asdict(imported),
                    "write_seconds": round(write_seconds, 2),
                    "write_records_per_s": round(imported.records / write_seconds),
                }
            )
            for step in (imported, validate):
                print(
                    f"{step.step:<9}{step.records:>10,} records {step.seconds:>7.2f} s "
                    f"{step.records_per_s:>9,}/s  peak RSS {step.peak_rss_mb:>6.1f} MB  "
                    f"CPU {step.cpu_seconds:.1f} s"
                )
            print(
                f"write side (import - validate) {write_seconds:.2f} s "
                f"{round(imported.records / write_seconds):,}/s  load {os.getloadavg()[0]:.1f}"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    host = socket.gethostname()
    name = f"{dt.date.today():%Y-%m-%d}-{host}-import-write{'-' + args.label if args.label else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "import write side",
        "host": host,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "runs": asdict(runs),
        "load": {"before": load_before, "after": os.getloadavg()},
        "sizes": results,
    }
    (args.out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out / name}.json")


if __name__ == "__main__":
    main()
