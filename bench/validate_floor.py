"""What checking one export record costs, stage by stage, in one process: the floor under
the validator's records/s. Issue 8 asks 200,000 records/s on this machine's 2 cores,
which leaves 10 µs of CPU per record for everything.

    .venv/bin/python bench/validate_floor.py [EXPORT] [--size 100000] [--repeats 3]
                                             [--warmups 1] [--out DIR]

EXPORT is a portable export (directory or `.tar.gz`, extracted once, untimed); without
it, a store of `--size` records is seeded as `bench_portable.py` seeds one and exported.
Every entity file is then read in full by each stage, in this process, and its CPU time
(`time.process_time`) taken; a stage's figure is the median of `--repeats` runs after
`--warmups` unmeasured ones:

1. `orjson`: `orjson.loads` of every line of the file — the C parser and nothing else;
2. `read + parse`: the validator's line reading and strict parse (`read_lines`,
   `parse_line`: exact big integers, the reference errors), nothing checked;
3. `+ index`: 2 and the scratch-index rows the cross-record checks need — the record's
   ID and its relationship edges (`edges`, `ScratchIndex`), nothing checked;
4. `check`: `scan_chunk`, what a validation worker runs per line (shape, field rules,
   timestamps, redaction, index rows, proof evidence).

Stages 3 and 4 start from an empty index (the validator knows the IDs of the small
files, users and templates, in memory, so it stores a few edges fewer than both). Prints
µs of CPU per record per entity and overall, and the records/s each stage would allow on
all cores if nothing else ran (no archive extraction, index merge or final queries);
writes bench/results/<YYYY-MM-DD>-<hostname>-validate-floor.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from dataops.portable.archive import extract_archive, is_archive
from dataops.portable.checking.checks import edges
from dataops.portable.checking.index import ScratchIndex
from dataops.portable.checking.parallel import available_cores
from dataops.portable.checking.scan import Chunk, _record_id, scan_chunk
from dataops.portable.format import SPECS
from dataops.portable.lines import parse_line, read_lines

RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("orjson", "read + parse", "+ index", "check")
TARGET = 200_000


def _orjson(path: Path, entity: str, scratch: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def _read_parse(path: Path, entity: str, scratch: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for number, raw, newline, long_numbers in read_lines(handle):
            if raw is None:
                raise SystemExit(f"{entity} line {number}: longer than the validator reads")
            parse_line(raw, long_numbers=long_numbers, newline=newline)
            count += 1
    return count


def _indexed(path: Path, entity: str, scratch: Path) -> int:
    spec = SPECS[entity]
    index = ScratchIndex(scratch, "floor.sqlite")
    count = 0
    with path.open("rb") as handle:
        for number, raw, newline, long_numbers in read_lines(handle):
            if raw is None:
                raise SystemExit(f"{entity} line {number}: longer than the validator reads")
            record = parse_line(raw, long_numbers=long_numbers, newline=newline)
            _record_id(spec, number, record, index)
            found = list(edges(spec, record))
            if found:
                index.add_refs(entity, number, found)
            count += 1
    index.flush()
    index.close()
    return count


def _check(path: Path, entity: str, scratch: Path) -> int:
    index = ScratchIndex(scratch, "floor.sqlite")
    result = scan_chunk(Chunk(entity, path), index)
    index.flush()
    index.close()
    if result.problems:
        raise SystemExit(f"{entity}: the export is not valid: {result.problems[0]}")
    return result.records


STAGE_RUNS: dict[str, Callable[[Path, str, Path], int]] = {
    "orjson": _orjson,
    "read + parse": _read_parse,
    "+ index": _indexed,
    "check": _check,
}


def measure(root: Path, repeats: int, warmups: int) -> dict[str, dict[str, Any]]:
    """Per entity: records and, per stage, the median CPU seconds of `repeats` runs (after
    `warmups` unmeasured ones)."""
    figures: dict[str, dict[str, Any]] = {}
    for entity, spec in SPECS.items():
        path = root / spec.file_name
        if not path.is_file():
            continue
        entry: dict[str, Any] = {"records": 0, "cpu_seconds": {}}
        for stage, run in STAGE_RUNS.items():
            seconds = []
            for number in range(warmups + repeats):
                with tempfile.TemporaryDirectory(prefix="dataops-floor-") as scratch:
                    started = time.process_time()
                    entry["records"] = run(path, entity, Path(scratch))
                    if number >= warmups:
                        seconds.append(time.process_time() - started)
            entry["cpu_seconds"][stage] = statistics.median(seconds)
        figures[entity] = entry
    return figures


def _seeded_export(size: int, workdir: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_portable import seed
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import write_export
    from dataops.store.sqlite import SqliteStore

    records, seconds = seed(workdir / "source.db", size)
    print(f"seeded {records:,} records in {seconds:.1f} s", file=sys.stderr)
    store = SqliteStore(workdir / "source.db")
    target = workdir / "export"
    write_export(store, target, SourceInfo())
    store.close()
    return target


def export_root(export: Path | None, size: int, workdir: Path) -> Path:
    """The directory of `export` (a `.tar.gz` is extracted into `workdir`, untimed), or
    of a store of `size` records seeded as `bench_portable.py` seeds one and exported."""
    source = export or _seeded_export(size, workdir)
    if not (is_archive(source) and source.is_file()):
        return source
    root = workdir / "files"
    root.mkdir()
    problems = extract_archive(source, root)
    if problems:
        raise SystemExit(f"cannot read {source}: {problems[0]}")
    return root


def stage_rows(
    figures: dict[str, dict[str, Any]], stages: Sequence[str], width: int
) -> tuple[list[str], dict[str, float], int]:
    """A table of µs of CPU per record, an entity a row and a stage a column, its last
    row `all`; with each stage's µs per record over every entity, and the records."""
    lines = [
        f"{'entity':<14} {'records':>9}  " + " ".join(f"{stage:>{width}}" for stage in stages),
        f"{'':<14} {'':>9}  " + " ".join(f"{'µs/record':>{width}}" for _ in stages),
    ]
    totals = dict.fromkeys(stages, 0.0)
    records = 0
    for entity, entry in figures.items():
        count = max(entry["records"], 1)
        records += entry["records"]
        cells = []
        for stage in stages:
            seconds = entry["cpu_seconds"][stage]
            totals[stage] += seconds
            cells.append(f"{seconds / count * 1e6:>{width}.1f}")
        lines.append(f"{entity:<14} {entry['records']:>9,}  " + " ".join(cells))
    per_record = {stage: totals[stage] / max(records, 1) * 1e6 for stage in stages}
    lines.append(
        f"{'all':<14} {records:>9,}  " + " ".join(f"{per_record[s]:>{width}.1f}" for s in stages)
    )
    return lines, per_record, records


def _table(figures: dict[str, dict[str, Any]], cores: int) -> tuple[str, dict[str, Any]]:
    lines, per_record, records = stage_rows(figures, STAGES, 12)
    ceiling = {stage: cores * 1e6 / per_record[stage] for stage in STAGES}
    lines.append(
        f"{'records/s':<14} {f'{cores} cores':>9}  "
        + " ".join(f"{ceiling[stage]:>12,.0f}" for stage in STAGES)
    )
    budget = cores * 1e6 / TARGET
    lines.append(
        f"\n{TARGET:,} records/s on {cores} cores leaves {budget:.1f} µs of CPU per record; "
        f"reading and parsing take {per_record['read + parse']:.1f}, with the index rows "
        f"{per_record['+ index']:.1f}, the whole check {per_record['check']:.1f}."
    )
    summary = {
        "records": records,
        "us_per_record": {s: round(v, 2) for s, v in per_record.items()},
        "records_per_second_ceiling": {s: round(v) for s, v in ceiling.items()},
        "budget_us_per_record": round(budget, 2),
    }
    return "\n".join(lines), summary


def write_result(
    out_dir: Path, name: str, export: Path | None, size: int, fields: dict[str, Any]
) -> None:
    """bench/results/<YYYY-MM-DD>-<hostname>-<name>.json: the host, its cores and load,
    the export measured, then `fields`."""
    host = socket.gethostname().split(".")[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{dt.date.today().isoformat()}-{host}-{name}.json"
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "cores": available_cores(),
        "load_average": os.getloadavg(),
        "export": str(export) if export else f"seeded {size:,} records",
        **fields,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", nargs="?", type=Path, help="a directory or .tar.gz")
    parser.add_argument("--size", type=int, default=100_000, help="records to seed (no EXPORT)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per stage (median)")
    parser.add_argument("--warmups", type=int, default=1, help="unmeasured runs first")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dataops-floor-work-") as work:
        workdir = Path(work)
        root = export_root(args.export, args.size, workdir)
        figures = measure(root, max(args.repeats, 1), max(args.warmups, 0))
    cores = available_cores()
    table, summary = _table(figures, cores)
    print(table)
    fields = {
        "repeats": args.repeats,
        "warmups": args.warmups,
        "summary": summary,
        "entities": figures,
    }
    write_result(args.out, "validate-floor", args.export, args.size, fields)


if __name__ == "__main__":
    main()
