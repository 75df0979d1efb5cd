"""What Home's Blocked lane costs on SQLite now that its count comes from an index
(issue 19): the stored, indexed verdict of each todo task (`proofBlocked`).

    .venv/bin/python bench/bench_blocked.py [--sizes 1000,100000] [--reps 20]

For each size, a fresh SQLite store seeded by `workload.seed` (as `bench_pages`: 10
artifacts a task, 10 tasks a bundle, every task artifact-gated and overdue, a quarter of
them blocked). The seed writes its records past the services, so none has a stored
verdict yet, as after an upgrade: the first figure is that one-time pass
(`proofs.index_blocked`, every todo task judged, the blocked ones written). Then, timed
(`time.perf_counter`, p50 and p95 of `--reps` calls):

- `lane`: `GET /api/tasks?blocked=true&include=proof&count=true` in process
  (`tasks.task_list`, a page of 20 with its exact count);
- `overview`: `GET /api/overview` in process (Home's one call, every lane and count);
- `judge_all`: what the count cost before (every candidate judged by the proof rule,
  once), and the count that gives: it must equal the index count.

Writes bench/results/<YYYY-MM-DD>-<hostname>-blocked.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload
from dataops.domain.clock import today
from dataops.domain.enums import TaskStatus
from dataops.services import overview, proofs
from dataops.services.context import Workspace
from dataops.services.evidence import PageEvidence
from dataops.services.people import SYSTEM
from dataops.services.tasks import TaskQuery, task_list
from dataops.store.port import Filters, PageRequest

RESULTS = Path(__file__).resolve().parent / "results"
LANE = TaskQuery({}, blocked=True, include_proof=True, include_bundles=True, count=True)


def _timed(call: Callable[[], Any], reps: int) -> dict[str, float]:
    call()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    figures = workload.timing([s * 1000 for s in samples])
    return {"p50_ms": figures.p50_ms, "p95_ms": figures.p95_ms}


def _judge_all(ws: Workspace) -> tuple[int, float]:
    """The blocked todo tasks due by today, every one judged (the count before)."""
    started = time.perf_counter()
    blocked = 0
    cursor: str | None = None
    filters = Filters({"status": TaskStatus.TODO.value}, through=today())
    with ws.store.unit_of_work() as uow:
        while True:
            page = uow.tasks.find(filters, PageRequest(limit=500, cursor=cursor))
            evidence = PageEvidence(uow)
            ids = list(dict.fromkeys(t.bundle_id for t in page.items if t.bundle_id))
            bundles = {b.id: b for b in uow.bundles.get_many(ids)}
            for task in page.items:
                bundle = bundles.get(task.bundle_id) if task.bundle_id else None
                blocked += proofs.open_state(task, bundle, evidence, today())[0]
            cursor = page.next_cursor
            if cursor is None:
                return blocked, time.perf_counter() - started


def measure(size: int, reps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        ws, actor = workload.open_workspace(workload.sqlite_env(Path(home)))
        try:
            seeded = workload.seed(ws, size, actor.id)
            started = time.perf_counter()
            changed = proofs.index_blocked(ws, SYSTEM)
            first_pass = time.perf_counter() - started
            lane = task_list(ws, LANE, PageRequest(limit=20))
            truth, judge_seconds = _judge_all(ws)
            row: dict[str, Any] = {
                "tasks": seeded.tasks,
                "blocked_count": lane.count,
                "blocked_judged": truth,
                "first_pass_s": round(first_pass, 2),
                "first_pass_written": changed,
                "lane": _timed(lambda: task_list(ws, LANE, PageRequest(limit=20)), reps),
                "overview": _timed(lambda: overview.overview(ws, PageRequest(limit=20)), reps),
                "judge_all_ms": round(judge_seconds * 1000, 1),
            }
            assert lane.count == truth, (lane.count, truth)
            return row
        finally:
            ws.store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        figures[str(size)] = measure(size, args.reps)
        print(f"{size:>7} artifacts: {json.dumps(figures[str(size)])}")
    info = workload.host_info()
    RESULTS.mkdir(exist_ok=True)
    name = f"{info['date']}-{info['host']}-blocked.json"
    body = {"host": info, "load_average": workload.load_average(), "sizes": figures}
    (RESULTS / name).write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote bench/results/{name}")


if __name__ == "__main__":
    main()
