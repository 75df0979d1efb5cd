"""DynamoDB export benchmark: what the consistent snapshot (`portable/writing/snapshot.py`: every
table copied into a scratch SQLite file, then the records written during the export
re-read until they settle) costs beside reading the tables live, in time and peak memory,
at growing store sizes, against a moto server.

    .venv/bin/python bench/bench_dynamo_export.py [--sizes 5000,20000] [--repeats 1] [--fresh]

Each size gets fresh tables, filled with `bench_portable`'s records (every exported
entity, valid relationships) by BatchWriteItem of the items the store itself would write
(no search words or uniqueness claims: the export reads neither). Each export runs in its
own child process (peak RSS from `os.wait4`): `live` reads the tables as before the
snapshot (the store's `snapshot_reads` forced on), `snapshot` is today's export. The
records are stamped a day ago, so the repair pass has nothing to re-read (a quiet
store); with `--fresh` they are stamped now and it re-reads every one of them, twice
(the worst case: everything written within the two minutes before the export). Prints a
table and writes bench/results/<YYYY-MM-DD>-<hostname>-dynamo-export[-fresh].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import servers
from bench_portable import _bundle_group
from dataops.config import TABLE_ENTITIES, Settings
from dataops.domain.accounts import User
from dataops.domain.clock import format_ts, new_id, now, now_ts
from dataops.domain.enums import Role
from dataops.domain.models import Template
from dataops.store.dynamodb import DynamoStore
from dataops.store.dynamodb.tables import SPECS

RESULTS = Path(__file__).resolve().parent / "results"


def settings(endpoint: str, prefix: str, home: Path) -> Settings:
    env = {
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(home),
        "DATAOPS_STORE": "dynamodb",
        "DATAOPS_DYNAMODB_ENDPOINT": endpoint,
        "DATAOPS_AUTO_CREATE_TABLES": "true",
        **{f"DATAOPS_{e.upper()}_TABLE": f"{prefix}{e.replace('_', '-')}" for e in TABLE_ENTITIES},
    }
    return Settings.from_env(env)


def seed(store: DynamoStore, size: int, settled: bool) -> tuple[int, float]:
    """About `size` records, as the store writes their items, stamped a day ago
    (`settled`) or now; (records, seconds)."""
    started = time.perf_counter()
    rng = random.Random(size)
    stamp = format_ts(now() - dt.timedelta(days=1)) if settled else now_ts()
    users = [
        User(new_id("usr"), f"user{n}@example.com", f"User {n}", Role.OPERATOR, stamp)
        for n in range(5)
    ]
    template = Template(new_id("tpl"), "Bench template", stamp, stamp)
    records: list[tuple[str, Any]] = [("users", u) for u in users] + [("templates", template)]
    while len(records) < size:
        records += _bundle_group(rng, stamp, [u.id for u in users], template.id)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for entity, record in records:
        by_table.setdefault(store.tables[entity], []).append(SPECS[entity].to_item(record))
    for table, items in by_table.items():
        for start in range(0, len(items), 25):
            request = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
            while request:
                request = store.client.batch_write_item(RequestItems=request).get(
                    "UnprocessedItems"
                )
    return len(records), time.perf_counter() - started


def child(mode: str, endpoint: str, prefix: str, out: str) -> dict[str, Any]:
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import write_export

    store = DynamoStore(settings(endpoint, prefix, Path(out).parent))
    if mode == "live":
        store.snapshot_reads = True  # the export of before the snapshot: live reads
    started = time.perf_counter()
    result = write_export(store, Path(out), SourceInfo())
    return {"records": result.total, "seconds": time.perf_counter() - started}


def measure(mode: str, endpoint: str, prefix: str, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, __file__, "--child", mode, endpoint, prefix, str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=os.environ.copy())
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} export failed")
    figures: dict[str, Any] = json.loads(output)
    figures["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="stamp the records now: the repair pass re-reads every one (the worst case)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--seed", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.seed:
        endpoint, prefix, size, fresh = args.seed
        store = DynamoStore(settings(endpoint, prefix, Path(tempfile.gettempdir())))
        print(json.dumps(seed(store, int(size), fresh != "fresh")))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ.update(servers.AWS_TEST_ENV)  # (the children inherit it)
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="dataops-bench-dynamo-") as work,
        servers.moto(Path(work) / "moto.log") as moto,
    ):
        for size in sizes:
            prefix = f"b{uuid.uuid4().hex[:10]}-"
            store = DynamoStore(settings(moto.base_url, prefix, Path(work)))
            # Seeded in a child: a forked child's peak RSS counts this process's pages.
            argv = [sys.executable, __file__, "--seed", moto.base_url, prefix, str(size)]
            argv.append("fresh" if args.fresh else "settled")
            seeded_json = subprocess.run(argv, capture_output=True, check=True, text=True)
            written, seeded = json.loads(seeded_json.stdout)
            print(f"seeded {written:,} records in {seeded:.1f} s")
            for mode in ("live", "snapshot"):
                runs = [
                    measure(mode, moto.base_url, prefix, Path(work) / f"export-{mode}")
                    for _ in range(args.repeats)
                ]
                best = min(runs, key=lambda r: r["seconds"])
                row = {"size": written, "mode": mode, **best}
                rows.append(row)
                print(
                    f"  {mode:9} {written:>8,} records {best['seconds']:7.1f} s "
                    f"{written / best['seconds']:>9,.0f}/s  peak RSS {best['peak_rss_mb']:6.1f} MB"
                )
            for table in store.tables.values():
                store.client.delete_table(TableName=table)
            store.close()
    load = os.getloadavg()
    result = {
        "bench": "dynamo-export",
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "load_average": load,
        "max_rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fresh": args.fresh,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "dynamo-export-fresh" if args.fresh else "dynamo-export"
    name = f"{dt.date.today().isoformat()}-{socket.gethostname()}-{kind}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load[0]:.2f}; wrote {args.out / name}")


if __name__ == "__main__":
    main()
