"""What importing one export record costs, stage by stage: the ceiling over `dataops
import`'s records/s. Issue 20 asks 50,000 records/s into SQLite at 1M records on this
machine's 2 cores: 40 µs of CPU per record for everything, on both cores together.

    .venv/bin/python bench/import_floor.py [EXPORT] [--size 100000] [--out DIR]

EXPORT is a portable export (directory or `.tar.gz`, extracted once, untimed); without
it, a store of `--size` records is seeded as `bench_portable.py` seeds one and exported.
The import's stages then run one after the other, each alone on the machine, and their
CPU (user + system, `getrusage`, workers included) is taken:

1. `validate`: `validate_export` of the export, as the import runs it first (its
   workers on every core), measured once and shared out among the entities by records;
2. `encode`: what the import's workers do per range of lines (`bulk._encode`: the
   compiled codec, the store's row, columns and search words), in this process, plus
   pickling the batch as a worker sends it;
3. `receive`: unpickling the batches, as the writer does;
4. the writer, into an empty SQLite store, entity after entity in the import's order,
   through the import's own calls (`bulk_writes`, `bulk_insert`, `add_encoded`):
   `insert` (the rows), `search` (the search index, `index_new`), `indexes` (the
   secondary indexes built after the rows) and `commit`.

Only one connection can write a SQLite file, so the writer's stages run on one core
whatever the workers do: the import cannot beat 1 / (writer µs per record). Nor can it
beat cores / (all stages' µs per record), with every core busy all the time. Prints
µs of CPU per record per entity and both ceilings; writes
bench/results/<YYYY-MM-DD>-<hostname>-import-floor.json. One entity's encoded batches
are held in memory at a time (about 2 KB a record): this is a measurement, not the
import.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataops.portable.checking.parallel import available_cores
from dataops.portable.checking.scan import split_file
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import EXPORTED, SPECS
from dataops.portable.importing import bulk
from dataops.portable.importing.bulk import RANGE_BYTES, _NoDigest
from dataops.store.sqlite import SqliteStore
from dataops.store.sqlite import search as search_index
from validate_floor import RESULTS, export_root, stage_rows, write_result

TARGET = 50_000
WRITER = ("insert", "search", "indexes", "commit")
STAGES = ("validate", "encode", "receive", *WRITER)


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _all_cpu() -> float:
    return _cpu() + _cpu(resource.RUSAGE_CHILDREN)


@contextmanager
def _search_timed(spent: dict[str, float]) -> Iterator[None]:
    """`index_new`'s CPU counted apart from the rest of `add_encoded`."""
    original = search_index.index_new

    def timed(*args: Any) -> None:
        started = _cpu()
        try:
            original(*args)
        finally:
            spent["search"] += _cpu() - started

    search_index.index_new = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        search_index.index_new = original


def _encoded(store: SqliteStore, path: Path, entity: str, cpu: dict[str, float]) -> list[Any]:
    """The entity's batches as the writer receives them; `encode` and `receive` counted."""
    spec = SPECS[entity]
    sent: list[bytes] = []
    started = _cpu()
    for chunk in split_file(entity, path, _NoDigest(), RANGE_BYTES):
        sent.append(pickle.dumps(bulk._encode(chunk, spec, store), pickle.HIGHEST_PROTOCOL))
    cpu["encode"] = _cpu() - started
    started = _cpu()
    batches = [pickle.loads(data) for data in sent]  # noqa: S301 (made just above)
    cpu["receive"] = _cpu() - started
    return batches


def measure(root: Path, scratch: Path) -> dict[str, dict[str, Any]]:
    """Per entity: records and CPU seconds per stage (`validate` for the whole export)."""
    started = _all_cpu()
    report = validate_export(root)
    validate = _all_cpu() - started
    if not report.valid:
        raise SystemExit(f"the export is not valid: {report.problems[0]}")
    counts = report.entity_counts
    total = max(sum(counts.values()), 1)
    store = SqliteStore(scratch / "floor.db")
    figures: dict[str, dict[str, Any]] = {}
    with store.bulk_writes() as unit:
        if unit is not None:
            raise SystemExit("another connection holds the scratch store")
        for entity in EXPORTED:
            path = root / SPECS[entity].file_name
            if not counts.get(entity) or not path.is_file() or SPECS[entity].model is None:
                continue  # (nothing to write)
            cpu = dict.fromkeys(STAGES, 0.0)
            # (`validate_export` is measured once, for the whole export: shared out by records)
            cpu["validate"] = validate * counts[entity] / total
            batches = _encoded(store, path, entity, cpu)
            with _search_timed(cpu), store.unit_of_work(write=True) as uow:
                with uow.bulk_insert(entity, rebuild_indexes=True):
                    started = _cpu()
                    for batch in batches:
                        uow.add_encoded(batch)
                    cpu["insert"] = _cpu() - started - cpu["search"]
                    started = _cpu()  # (the block's end builds the indexes)
                cpu["indexes"] = _cpu() - started
                started = _cpu()
                uow.commit()
                cpu["commit"] = _cpu() - started
            del batches
            figures[entity] = {"records": counts[entity], "cpu_seconds": cpu}
    store.close()
    return figures


def _table(figures: dict[str, dict[str, Any]], cores: int) -> tuple[str, dict[str, Any]]:
    lines, per_record, records = stage_rows(figures, STAGES, 9)
    everything = sum(per_record.values())
    writer = sum(per_record[stage] for stage in WRITER)
    budget = cores * 1e6 / TARGET
    ceiling_cores = cores * 1e6 / everything
    ceiling_writer = 1e6 / writer
    lines.append(
        f"\nall stages {everything:.1f} µs of CPU per record: at most {ceiling_cores:,.0f} "
        f"records/s on {cores} cores, every core busy throughout."
        f"\nthe writer (one core) {writer:.1f} µs per record: at most {ceiling_writer:,.0f} "
        f"records/s, the other stages free."
        f"\n{TARGET:,} records/s on {cores} cores leaves {budget:.1f} µs of CPU per record "
        f"in all, and {1e6 / TARGET:.1f} µs to the writer."
    )
    summary = {
        "records": records,
        "us_per_record": {s: round(v, 2) for s, v in per_record.items()},
        "us_per_record_all": round(everything, 2),
        "us_per_record_writer": round(writer, 2),
        "ceiling_records_per_second_all_cores": round(ceiling_cores),
        "ceiling_records_per_second_writer": round(ceiling_writer),
        "budget_us_per_record": round(budget, 2),
    }
    return "\n".join(lines), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", nargs="?", type=Path, help="a directory or .tar.gz")
    parser.add_argument("--size", type=int, default=100_000, help="records to seed (no EXPORT)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dataops-import-floor-") as work:
        workdir = Path(work)
        figures = measure(export_root(args.export, args.size, workdir), workdir)
    cores = available_cores()
    table, summary = _table(figures, cores)
    print(table)
    fields = {
        "seconds": round(time.perf_counter() - started, 1),
        "summary": summary,
        "entities": figures,
    }
    write_result(args.out, "import-floor", args.export, args.size, fields)


if __name__ == "__main__":
    main()
