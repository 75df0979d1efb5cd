"""What Home's "Evidence expiring" lane costs on SQLite as expiring evidence grows (issue
19): its exact count and its pages.

    .venv/bin/python bench/bench_expiring.py [--sizes 1000,100000] [--reps 50]

For each size, a fresh SQLite store in a temp dir holds that many artifacts whose
`validUntil` falls in the lane's 14-day window (spread evenly over its 15 days), four in
five approved and the rest rejected or superseded (in the window, not in the lane).
Timed (`time.perf_counter`, median and p95 of `--reps` calls):

- `count`: `services/artifact_reads.expiring_count` over Home's window (15 index counts);
- `first-page`: `expiring_artifacts`, the first page of 20 (what Home shows);
- `page-at-middle`: a page of 20 from a cursor in the middle of the window;
- `overview`: `services/overview.overview` (all six lanes, 20 each), for scale.

Each listed page is checked: 20 approved artifacts in (validUntil, id) order; the count
is checked against the number seeded. Writes
bench/results/<YYYY-MM-DD>-<hostname>-expiring.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataops import runtime
from dataops.config import Settings
from dataops.domain.clock import now_ts, today
from dataops.domain.enums import ArtifactStatus, ArtifactType, StorageProvider
from dataops.domain.models import Artifact
from dataops.services import artifact_reads, overview
from dataops.services.context import Workspace
from dataops.store.port import PageRequest

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 500
DAYS = overview.EXPIRING_DAYS
OTHERS = (ArtifactStatus.REJECTED, ArtifactStatus.SUPERSEDED)


def _seed(home: Path, size: int) -> tuple[Workspace, int]:
    ws = runtime.build_workspace(
        Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)})
    )
    start = dt.date.fromisoformat(today())
    stamp = now_ts()
    approved = 0
    for first in range(0, size, BATCH):
        with ws.store.unit_of_work(write=True) as uow:
            for n in range(first, min(first + BATCH, size)):
                status = ArtifactStatus.APPROVED if n % 5 else OTHERS[n // 5 % 2]
                approved += status == ArtifactStatus.APPROVED
                uow.artifacts.add(
                    Artifact(
                        id=f"art_{n:08d}",
                        type=ArtifactType.REPORT,
                        title=f"Licence {n}",
                        storage_uri=f"https://docs.example.com/{n}",
                        storage_provider=StorageProvider.EXTERNAL_URL,
                        created_at=stamp,
                        updated_at=stamp,
                        status=status,
                        valid_until=(start + dt.timedelta(days=n % (DAYS + 1))).isoformat(),
                    )
                )
            uow.commit()
    return ws, approved


def _time(call: Callable[[], Any], reps: int) -> dict[str, float]:
    for _ in range(3):
        call()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)] * 1000, 3),
    }


def _checked(page: list[Artifact]) -> None:
    keys = [(a.valid_until or "", a.id) for a in page]
    if len(page) != 20 or keys != sorted(keys):
        raise SystemExit(f"wrong page: {keys}")
    if any(a.status != ArtifactStatus.APPROVED for a in page):
        raise SystemExit("a page lists an artifact that is not approved")


def _measure(ws: Workspace, approved: int, reps: int) -> dict[str, object]:
    with ws.store.unit_of_work() as uow:
        counted = artifact_reads.expiring_count(uow, DAYS)
    if counted != approved:
        raise SystemExit(f"count {counted} != {approved} approved")
    _checked(artifact_reads.expiring_artifacts(ws, DAYS, PageRequest(20)).items)
    # A cursor halfway through the lane (set up by one long read, not timed).
    cursor = artifact_reads.expiring_artifacts(ws, DAYS, PageRequest(approved // 2)).next_cursor
    _checked(artifact_reads.expiring_artifacts(ws, DAYS, PageRequest(20, cursor)).items)

    def count() -> int:
        with ws.store.unit_of_work() as uow:
            return artifact_reads.expiring_count(uow, DAYS)

    return {
        "approved_in_window": approved,
        "count": _time(count, reps),
        "first-page": _time(
            lambda: artifact_reads.expiring_artifacts(ws, DAYS, PageRequest(20)), reps
        ),
        "page-at-middle": _time(
            lambda: artifact_reads.expiring_artifacts(ws, DAYS, PageRequest(20, cursor)), reps
        ),
        "overview": _time(lambda: overview.overview(ws, PageRequest(20)), reps),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    figures: dict[str, dict[str, object]] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            ws, approved = _seed(Path(home), size)
            try:
                row = _measure(ws, approved, args.reps)
            finally:
                ws.store.close()
        figures[str(size)] = row
        print(f"{size:>7} expiring artifacts: {json.dumps(row)}")
    RESULTS.mkdir(exist_ok=True)
    name = f"{dt.date.today().isoformat()}-{socket.gethostname()}-expiring.json"
    (RESULTS / name).write_text(json.dumps({"sizes": figures}, indent=2) + "\n")
    print(f"wrote bench/results/{name}")


if __name__ == "__main__":
    main()
