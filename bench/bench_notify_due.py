"""What the runner's notification pass (`services/notifications.notify_due`) costs on
SQLite, and whether it grows with the stored tasks or only with the due ones (issue 17:
"the cost grows with due tasks, not stored tasks").

    .venv/bin/python bench/bench_notify_due.py [--due 500] [--tasks 10000,100000]

For each stored-task count, a fresh SQLite store in a temp dir holds `--due` open tasks
dated on or before the pass's day (a fifth of them unassigned, so they go to the three
operators; a tenth with a comment proof requirement, so `missing-evidence` is evaluated)
and the rest of the tasks either done in the past or open but dated in the future (a
fresh bundle's tasks). Three passes are timed (`time.perf_counter`):

- `first`: the day's first pass: every due task's notifications are made;
- `again`: the same day again: nothing to make, every due task read and checked;
- `next-day`: the next day: every due task is overdue, a new notification each.

Writes bench/results/<YYYY-MM-DD>-<hostname>-notify-due.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import tempfile
import time
from pathlib import Path

from dataops import runtime
from dataops.config import Settings
from dataops.domain.clock import now_ts, parse_ts
from dataops.domain.enums import ProofType, Role, TaskStatus
from dataops.domain.models import ProofRequirement, Task
from dataops.services import notifications, people
from dataops.services.context import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
DAY = dt.date(2026, 3, 10)
BATCH = 2000


def _seed(home: Path, stored: int, due: int) -> Workspace:
    ws = runtime.build_workspace(
        Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)})
    )
    operators = [
        people.add_user(
            ws, people.SYSTEM, f"op{i}@example.com", f"Op {i}", Role.OPERATOR, "bench-password-1"
        ).id
        for i in range(3)
    ]
    stamp = now_ts()
    for start in range(0, stored, BATCH):
        with ws.store.unit_of_work(write=True) as uow:
            for n in range(start, min(start + BATCH, stored)):
                task = Task(id=f"tsk_{n:07d}", description=f"Task {n}", date="", created_at=stamp,
                            updated_at=stamp)  # fmt: skip
                if n < due:  # due: today or up to 30 days ago
                    task.date = (DAY - dt.timedelta(days=n % 31)).isoformat()
                    task.assignee_id = None if n % 5 == 0 else operators[n % 3]
                    if n % 10 == 1:
                        task.proof_requirement = ProofRequirement(ProofType.COMMENT)
                elif n % 2:  # done long ago
                    task.date = (DAY - dt.timedelta(days=1 + n % 700)).isoformat()
                    task.status = TaskStatus.DONE
                    task.completed_by, task.completed_at = operators[0], stamp
                else:  # open, not due yet (a fresh bundle's tasks)
                    task.date = (DAY + dt.timedelta(days=1 + n % 700)).isoformat()
                    task.assignee_id = operators[n % 3]
                uow.tasks.add(task)
            uow.commit()
    return ws


def _timed(ws: Workspace, day: dt.date) -> tuple[float, int]:
    start = time.perf_counter()
    made = notifications.notify_due(ws, parse_ts(f"{day.isoformat()}T09:00:00Z"))
    return time.perf_counter() - start, sum(made.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--tasks", default="10000,100000", help="stored task counts")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.tasks.split(",")]
    figures: dict[str, dict[str, float | int]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as home:
            ws = _seed(Path(home), size, args.due)
            first, made = _timed(ws, DAY)
            again, made_again = _timed(ws, DAY)
            next_day, made_next = _timed(ws, DAY + dt.timedelta(days=1))
            ws.store.close()
        figures[str(size)] = {
            "first_s": round(first, 3),
            "first_made": made,
            "again_s": round(again, 3),
            "again_made": made_again,
            "next_day_s": round(next_day, 3),
            "next_day_made": made_next,
        }
        print(
            f"{size:>7} tasks, {args.due} due: first pass {first:.3f} s ({made} made), "
            f"again {again:.3f} s ({made_again} made), next day {next_day:.3f} s "
            f"({made_next} made)"
        )
    low, high = figures[str(sizes[0])], figures[str(sizes[-1])]
    ratios = {
        key: round(float(high[key]) / float(low[key]), 2)
        for key in ("first_s", "again_s", "next_day_s")
    }
    print(f"ratio {sizes[-1]} / {sizes[0]} stored tasks: {ratios}")
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{dt.date.today().isoformat()}-{host}-notify-due.json"
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "due": args.due,
        "figures": figures,
        "ratios": ratios,
        "goal": {"ratio": 1.5},
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
